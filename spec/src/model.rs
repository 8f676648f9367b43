//! The spec's types. Field names here are the YAML keys users write.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A field at its default is left out when a spec is written ([`crate::to_yaml`]): the
/// minimal YAML a person would write. A field with a default of its own (`timeout_ms: 5000`)
/// has a predicate beside that default, and `#[schemars(!skip_serializing_if)]` so that the
/// JSON Schema still shows editors the value.
fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// One scenario.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Filled from the file name (`specs/hello.yaml` → `hello`).
    #[serde(skip)]
    pub name: String,
    #[serde(default, skip_serializing_if = "is_default")]
    pub description: String,
    /// Kernels this spec applies to (`">= 7.3"`); others skip it.
    #[serde(default, skip_serializing_if = "is_default")]
    pub kernels: Option<KernelReq>,
    /// For a regression spec: the parameters its bug was found with. The spec states the
    /// correct behaviour (it passes in the normal suite); `cargo xtask repro` runs it with
    /// these filled into the module's load steps, where it fails while the bug is there.
    #[serde(default, skip_serializing_if = "is_default")]
    pub found_with: Option<FoundWith>,
    pub steps: Vec<Step>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub expect: Expect,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FoundWith {
    pub module: String,
    /// Filled into the module's load steps, where a step does not give the parameter.
    #[serde(default, skip_serializing_if = "is_default")]
    pub params: BTreeMap<String, ParamValue>,
    /// The finding's title (`set reads past optlen in ksock_sockopt`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub title: String,
    /// The kernel release it was found on.
    #[serde(default, skip_serializing_if = "is_default")]
    pub kernel: String,
}

impl Spec {
    /// This spec as its bug was found: `found_with`'s parameters filled into its module's
    /// load steps (a step's own values win). Unchanged without `found_with`.
    pub fn as_found(&self) -> Spec {
        let mut s = self.clone();
        if let Some(f) = &self.found_with {
            for step in &mut s.steps {
                if let Step::Load(l) = step {
                    if l.module == f.module {
                        for (k, v) in &f.params {
                            l.params.entry(k.clone()).or_insert_with(|| v.clone());
                        }
                    }
                }
            }
        }
        s
    }
}

/// One step, written as a single-key map: `- load: {module: ksock_hello}`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Load a module from kmods/ with parameters.
    Load(Load),
    /// Unload a module loaded earlier in this spec.
    Unload(String),
    /// Wait until a kernel log line matches.
    WaitDmesg(WaitDmesg),
    /// Sleep, in milliseconds.
    Sleep(u64),
    /// A userspace TCP client in the guest.
    Client(Client),
    /// A userspace TCP server in the guest; runs in the background until `join`ed.
    Server(Server),
    /// Wait for a background peer (`server`, or a `client` with `background`) and check it.
    Join(String),
    /// setsockopt/getsockopt from userspace on an AF_INET socket.
    Sockopt(Sockopt),
    /// Socket state from NETLINK_SOCK_DIAG: waits (up to `timeout_ms`) until it holds.
    Sockets(Sockets),
    /// A bounded, deterministic fuzz campaign: `runs` op sequences generated from `seed`,
    /// each on a freshly loaded module, with every oracle checked after every op.
    Fuzz(Fuzz),
}

/// What a `fuzz` step fuzzes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FuzzTarget {
    /// ksock_sockopt's setsockopt/getsockopt channel, with its reference model.
    Sockopt,
}

impl FuzzTarget {
    /// The module the target loads.
    pub fn module(self) -> &'static str {
        match self {
            FuzzTarget::Sockopt => "ksock_sockopt",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fuzz {
    pub target: FuzzTarget,
    /// Parameters of the module (`optmin`/`optmax` move the served range).
    #[serde(default, skip_serializing_if = "is_default")]
    pub params: BTreeMap<String, ParamValue>,
    pub seed: u64,
    #[serde(default = "default_fuzz_runs", skip_serializing_if = "is_fuzz_runs")]
    #[schemars(!skip_serializing_if)]
    pub runs: u64,
    #[serde(default = "default_fuzz_ops", skip_serializing_if = "is_fuzz_ops")]
    #[schemars(!skip_serializing_if)]
    pub max_ops: usize,
    /// The campaign must find something (to prove the oracles catch a seeded bug).
    #[serde(default, skip_serializing_if = "is_default")]
    pub expect_finding: bool,
}

fn default_fuzz_runs() -> u64 {
    100
}

fn is_fuzz_runs(v: &u64) -> bool {
    *v == default_fuzz_runs()
}

fn default_fuzz_ops() -> usize {
    16
}

fn is_fuzz_ops(v: &usize) -> bool {
    *v == default_fuzz_ops()
}

impl Fuzz {
    /// An integer parameter, or `default`.
    pub fn int_param(&self, name: &str, default: i64) -> i64 {
        match self.params.get(name) {
            Some(ParamValue::Int(i)) => *i,
            _ => default,
        }
    }
}

fn localhost() -> String {
    "127.0.0.1".into()
}

fn is_localhost(v: &str) -> bool {
    v == localhost()
}

fn default_peer_ms() -> u64 {
    5000
}

fn is_peer_ms(v: &u64) -> bool {
    *v == default_peer_ms()
}

fn one() -> usize {
    1
}

fn is_one(v: &usize) -> bool {
    *v == one()
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Client {
    #[serde(default = "localhost", skip_serializing_if = "is_localhost")]
    #[schemars(!skip_serializing_if)]
    pub addr: String,
    pub port: u16,
    /// Text, or `{hex: '00ff', times: N}` for bytes (repeated `times` times).
    #[serde(default, skip_serializing_if = "is_default")]
    pub messages: Vec<Message>,
    /// Every message must come back unchanged.
    #[serde(default, skip_serializing_if = "is_default")]
    pub expect_echo: bool,
    /// Close with a reset instead of a FIN.
    #[serde(default, skip_serializing_if = "is_default")]
    pub abort: bool,
    /// Keep the connection open this long after the last message (ms).
    #[serde(default, skip_serializing_if = "is_default")]
    pub hold_ms: u64,
    #[serde(default = "default_peer_ms", skip_serializing_if = "is_peer_ms")]
    #[schemars(!skip_serializing_if)]
    pub timeout_ms: u64,
    /// The connection must fail with this errno (`ECONNREFUSED`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub expect_error: Option<Errno>,
    /// Run in the background under this name; a later `join` waits for it.
    #[serde(default, skip_serializing_if = "is_default")]
    pub background: Option<String>,
}

impl Client {
    /// A client of `port` on loopback, every other field at its default.
    pub fn new(port: u16) -> Self {
        Self {
            addr: localhost(),
            port,
            messages: Vec::new(),
            expect_echo: false,
            abort: false,
            hold_ms: 0,
            timeout_ms: default_peer_ms(),
            expect_error: None,
            background: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Name for `join`.
    pub name: String,
    #[serde(default = "localhost", skip_serializing_if = "is_localhost")]
    #[schemars(!skip_serializing_if)]
    pub addr: String,
    pub port: u16,
    /// Connections to accept (each read until the peer closes it).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    #[schemars(!skip_serializing_if)]
    pub accept: usize,
    #[serde(default = "default_peer_ms", skip_serializing_if = "is_peer_ms")]
    #[schemars(!skip_serializing_if)]
    pub timeout_ms: u64,
    /// What must have arrived, one string per connection (concatenated messages).
    #[serde(default, skip_serializing_if = "is_default")]
    pub expect_received: Option<Vec<String>>,
    /// listen() backlog. 0 queues one connection and drops later SYNs (to make a connect
    /// time out).
    #[serde(default = "default_backlog", skip_serializing_if = "is_backlog")]
    #[schemars(!skip_serializing_if)]
    pub backlog: i32,
    /// Keep listening this long (ms) after the last accept.
    #[serde(default, skip_serializing_if = "is_default")]
    pub hold_ms: u64,
}

impl Server {
    /// A server named `name` on loopback `port`, every other field at its default.
    pub fn new(name: &str, port: u16) -> Self {
        Self {
            name: name.to_string(),
            addr: localhost(),
            port,
            accept: one(),
            timeout_ms: default_peer_ms(),
            expect_received: None,
            backlog: default_backlog(),
            hold_ms: 0,
        }
    }
}

fn default_backlog() -> i32 {
    16
}

fn is_backlog(v: &i32) -> bool {
    *v == default_backlog()
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sockopt {
    /// Protocol level; 0 is IPPROTO_IP, where netfilter's sockopt range lives.
    #[serde(default, skip_serializing_if = "is_default")]
    pub level: i32,
    pub optname: i32,
    /// setsockopt with this text as the value.
    #[serde(default, skip_serializing_if = "is_default")]
    pub set: Option<String>,
    /// setsockopt with these bytes, in hex (`"00ff41"`), for values that are not text.
    #[serde(default, skip_serializing_if = "is_default")]
    pub set_hex: Option<String>,
    /// Length passed to setsockopt instead of the text's length.
    #[serde(default, skip_serializing_if = "is_default")]
    pub optlen: Option<usize>,
    /// With `optlen`: the buffer is `optlen` bytes holding the value repeated (in its first
    /// 4 KiB, zeros after, up to 1 MiB), as the fuzzer fills it.
    #[serde(default, skip_serializing_if = "is_default")]
    pub repeat: bool,
    /// getsockopt with a buffer of this many bytes (a negative length is passed as is,
    /// with an empty buffer).
    #[serde(default, skip_serializing_if = "is_default")]
    pub get_len: Option<i64>,
    /// Pass an unmapped user pointer (the same as `buffer: unmapped`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub bad_pointer: bool,
    /// Where the user buffer lies; every buffer ends where an inaccessible page begins, so
    /// a kernel touching one byte past the stated length faults.
    #[serde(default, skip_serializing_if = "is_default")]
    pub buffer: Buffer,
    #[serde(default, skip_serializing_if = "is_default")]
    pub expect_error: Option<Errno>,
    /// The call must fail with one of these (where the kernel's answer may differ by path).
    #[serde(default, skip_serializing_if = "is_default")]
    pub expect_error_any: Vec<Errno>,
    /// The call may succeed or fail, but not with one of these (`[EFAULT]`: whatever a
    /// correct module answers, it does not fault past a valid buffer). `[]`: any outcome.
    /// The returned optlen and the canaries are checked all the same.
    #[serde(default, skip_serializing_if = "is_default")]
    pub expect_not: Option<Vec<Errno>>,
    /// getsockopt must return exactly this text (up to the returned length).
    #[serde(default, skip_serializing_if = "is_default")]
    pub expect_value: Option<String>,
    /// getsockopt must return exactly these bytes, in hex.
    #[serde(default, skip_serializing_if = "is_default")]
    pub expect_hex: Option<String>,
}

impl Sockopt {
    /// A call on `optname` at level 0, every other field at its default (a step needs
    /// `set`, `set_hex` or `get_len` besides).
    pub fn new(optname: i32) -> Self {
        Self {
            level: 0,
            optname,
            set: None,
            set_hex: None,
            optlen: None,
            repeat: false,
            get_len: None,
            bad_pointer: false,
            buffer: Buffer::default(),
            expect_error: None,
            expect_error_any: Vec::new(),
            expect_not: None,
            expect_value: None,
            expect_hex: None,
        }
    }
}

/// Where a `sockopt` step's user buffer lies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Buffer {
    /// Exactly the stated length, then an inaccessible page.
    #[default]
    Guarded,
    /// The stated length, 16 canary bytes that must stay intact, then the page.
    Canary,
    /// A NULL pointer.
    Null,
    /// An address that is never mapped.
    Unmapped,
    /// Readable, not writable.
    ReadOnly,
}

/// `"00ff41"` → bytes; `None` for anything that is not an even number of hex digits.
pub fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sockets {
    pub port: u16,
    /// A socket listens on the port (`false`: none does).
    #[serde(default, skip_serializing_if = "is_default")]
    pub listening: Option<bool>,
    /// Exactly this many ESTABLISHED sockets have the port at either end.
    #[serde(default, skip_serializing_if = "is_default")]
    pub established: Option<usize>,
    /// No socket has the port at either end (TIME_WAIT entries and orphans, which have no
    /// socket behind them, do not count).
    #[serde(default, skip_serializing_if = "is_default")]
    pub none: bool,
    #[serde(default = "default_sockets_ms", skip_serializing_if = "is_sockets_ms")]
    #[schemars(!skip_serializing_if)]
    pub timeout_ms: u64,
}

impl Sockets {
    /// A wait, with the default timeout, until something listens on `port`.
    pub fn listening(port: u16) -> Self {
        Self {
            port,
            listening: Some(true),
            established: None,
            none: false,
            timeout_ms: default_sockets_ms(),
        }
    }
}

fn default_sockets_ms() -> u64 {
    3000
}

fn is_sockets_ms(v: &u64) -> bool {
    *v == default_sockets_ms()
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Load {
    pub module: String,
    #[serde(default, skip_serializing_if = "is_default")]
    pub params: BTreeMap<String, ParamValue>,
    /// The load must fail with this errno name (`EINVAL`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub expect_error: Option<Errno>,
    /// Load in the background under this name: the module's init may block (in
    /// `kernel_accept`, say) and later steps run meanwhile; `join: NAME` waits for the load
    /// and checks it as a plain load is checked (`expect_error` too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<String>,
}

impl Load {
    /// A load of `module` without parameters, expected to succeed.
    pub fn new(module: &str) -> Self {
        Self {
            module: module.to_string(),
            params: BTreeMap::new(),
            expect_error: None,
            background: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitDmesg {
    pub pattern: Pattern,
    #[serde(default = "default_wait_ms", skip_serializing_if = "is_wait_ms")]
    #[schemars(!skip_serializing_if)]
    pub timeout_ms: u64,
}

impl WaitDmesg {
    /// A wait for `pattern` with the default timeout.
    pub fn new(pattern: Pattern) -> Self {
        Self {
            pattern,
            timeout_ms: default_wait_ms(),
        }
    }
}

fn default_wait_ms() -> u64 {
    5000
}

fn is_wait_ms(v: &u64) -> bool {
    *v == default_wait_ms()
}

/// A module parameter value: integers, booleans, or strings.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum ParamValue {
    Int(i64),
    Bool(bool),
    Str(String),
}

/// What a parameter accepts, in the words of error messages.
const PARAM_FORMS: &str =
    "an integer (`port: 8888`), true/false, or a string (`addr: 127.0.0.1`); \
     a module parameter takes one value, not a list or a map";

impl<'de> Deserialize<'de> for ParamValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ParamValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(PARAM_FORMS)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ParamValue, E> {
                Ok(ParamValue::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ParamValue, E> {
                i64::try_from(v)
                    .map(ParamValue::Int)
                    .map_err(|_| E::custom(format!("{v} is too large for a parameter")))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<ParamValue, E> {
                Ok(ParamValue::Bool(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ParamValue, E> {
                Ok(ParamValue::Str(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Int(i) => write!(f, "{i}"),
            ParamValue::Bool(b) => write!(f, "{}", if *b { "Y" } else { "N" }),
            ParamValue::Str(s) => write!(f, "{s}"),
        }
    }
}

/// Expectations checked on the host after the guest ran the steps.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Patterns that must match kernel log lines, in this order.
    #[serde(default, skip_serializing_if = "is_default")]
    pub dmesg: Vec<Pattern>,
    /// Patterns no kernel log line may match (on top of the default splat list).
    #[serde(default, skip_serializing_if = "is_default")]
    pub absent: Vec<Pattern>,
    /// Patterns that must match exactly `times` kernel log lines.
    #[serde(default, skip_serializing_if = "is_default")]
    pub counts: Vec<Count>,
    /// Patterns with named groups `len` and `data` (`recv len=(?P<len>\d+)
    /// data=(?P<data>.*)$`): a log line they match may show at most `len` bytes of data
    /// (`\xNN` counts as one byte). How a module that logs memory it did not fill shows.
    #[serde(default, skip_serializing_if = "is_default")]
    pub log_lengths: Vec<Pattern>,
    /// Per-kernel overrides: when the condition holds, these replace `dmesg`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub overrides: Vec<Override>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Count {
    pub pattern: Pattern,
    pub times: usize,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Override {
    pub kernels: KernelReq,
    pub dmesg: Vec<Pattern>,
}

impl Spec {
    /// The ordered dmesg expectations that apply on kernel `version`.
    pub fn dmesg_for(&self, version: &KernelVersion) -> &[Pattern] {
        self.expect
            .overrides
            .iter()
            .find(|o| o.kernels.matches(version))
            .map(|o| o.dmesg.as_slice())
            .unwrap_or(&self.expect.dmesg)
    }

    /// Module names this spec loads, in order, without repeats.
    pub fn modules(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for s in &self.steps {
            let m = match s {
                Step::Load(l) => l.module.as_str(),
                Step::Fuzz(f) => f.target.module(),
                _ => continue,
            };
            if !out.contains(&m) {
                out.push(m);
            }
        }
        out
    }
}

/// A regular expression, checked when the spec is read.
#[derive(Clone)]
pub struct Pattern(pub regex::Regex);

impl Pattern {
    /// Compiles `re`, as the reader does.
    pub fn new(re: &str) -> Result<Self, regex::Error> {
        regex::Regex::new(re).map(Pattern)
    }
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
    pub fn is_match(&self, s: &str) -> bool {
        self.0.is_match(s)
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}/", self.0.as_str())
    }
}

/// Two patterns are equal when they are written the same.
impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Serialize for Pattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        regex::Regex::new(&s).map(Pattern).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid regular expression {s:?}: {}",
                e.to_string().lines().last().unwrap_or("")
            ))
        })
    }
}

/// An errno by name (`EINVAL`), as specs write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    /// The name specs write for `v` (`EINVAL`), or `errnoN` for a value with no name.
    pub fn name_of(v: i32) -> String {
        ksock_proto::errno::name(v)
    }

    /// The errno a spec names `n` (`EINVAL`), if it is one.
    pub fn by_name(n: &str) -> Option<Errno> {
        ksock_proto::errno::by_name(n).map(Errno)
    }
}

impl Serialize for Errno {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&Errno::name_of(self.0))
    }
}

impl<'de> Deserialize<'de> for Errno {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ksock_proto::errno::by_name(&s).map(Errno).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown errno {s:?}: want a Linux errno name such as EINVAL or ECONNREFUSED"
            ))
        })
    }
}

/// `major.minor` of a kernel, as the catalog names kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
}

impl KernelVersion {
    /// Reads the leading `major.minor` of `7.2`, `7.2.13+deb14-amd64`, `5.10.0-30-amd64`.
    pub fn parse(s: &str) -> Option<Self> {
        let mut it = s.split(|c: char| !c.is_ascii_digit());
        let major = it.next()?.parse().ok()?;
        let minor = it.next()?.parse().ok()?;
        Some(Self { major, minor })
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A condition on the kernel version: `>= 7.3`, `< 6.1`, `== 7.2`, or several joined by `,`
/// (all must hold).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelReq {
    pub clauses: Vec<(Op, KernelVersion)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl KernelReq {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut clauses = Vec::new();
        for part in s.split(',') {
            let part = part.trim();
            let (op, rest) = [
                (">=", Op::Ge),
                ("<=", Op::Le),
                ("==", Op::Eq),
                (">", Op::Gt),
                ("<", Op::Lt),
                ("=", Op::Eq),
            ]
            .iter()
            .find_map(|(t, op)| part.strip_prefix(t).map(|r| (*op, r)))
            .unwrap_or((Op::Eq, part));
            let v = rest.trim();
            let ver = KernelVersion::parse(v)
                .filter(|_| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
                .ok_or_else(|| {
                    format!("invalid kernel condition {s:?}: expected e.g. \">= 7.3\" or \"< 6.1, >= 5.10\"")
                })?;
            clauses.push((op, ver));
        }
        Ok(Self { clauses })
    }

    pub fn matches(&self, v: &KernelVersion) -> bool {
        self.clauses.iter().all(|(op, want)| match op {
            Op::Lt => v < want,
            Op::Le => v <= want,
            Op::Eq => v == want,
            Op::Ge => v >= want,
            Op::Gt => v > want,
        })
    }
}

impl Op {
    /// The operator as a condition writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "==",
            Op::Ge => ">=",
            Op::Gt => ">",
        }
    }
}

/// `>= 5.10, < 6.12`, which [`KernelReq::parse`] reads back.
impl fmt::Display for KernelReq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (op, v)) in self.clauses.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{} {v}", op.as_str())?;
        }
        Ok(())
    }
}

impl Serialize for KernelReq {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KernelReq {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        KernelReq::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Pattern {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Pattern".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "regex",
            "description": "A Rust regular expression, matched against kernel log lines"
        })
    }
}

/// A client message: text, or `{hex: '2b', times: 11775}` (bytes, repeated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message(pub Vec<u8>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageBytes {
    hex: String,
    #[serde(default = "one")]
    times: usize,
}

/// Text up to this long is written as text; longer runs of one byte as `{hex, times}`.
const MESSAGE_TEXT_MAX: usize = 64;

/// Written the shortest way that reads back the same bytes: short printable text as text,
/// one byte repeated as `{hex: '2b', times: 3583}`, longer text as text, else `{hex: …}`.
impl Serialize for Message {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let m = &self.0;
        let text = m.iter().all(|c| (0x20..0x7f).contains(c));
        if text && m.len() <= MESSAGE_TEXT_MAX {
            return s.serialize_str(&String::from_utf8_lossy(m));
        }
        let (unit, times) = match m.as_slice() {
            [first, ..] if m.iter().all(|b| b == first) => (std::slice::from_ref(first), m.len()),
            _ if text => return s.serialize_str(&String::from_utf8_lossy(m)),
            _ => (m.as_slice(), 1),
        };
        let hex: String = unit.iter().map(|b| format!("{b:02x}")).collect();
        let mut map = s.serialize_map(Some(if times == 1 { 1 } else { 2 }))?;
        map.serialize_entry("hex", &hex)?;
        if times != 1 {
            map.serialize_entry("times", &times)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Message {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Message;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a text message or {hex: HEX, times: N}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Message, E> {
                Ok(Message(v.as_bytes().to_vec()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, m: A) -> Result<Message, A::Error> {
                let b = MessageBytes::deserialize(serde::de::value::MapAccessDeserializer::new(m))?;
                let bytes = parse_hex(&b.hex).ok_or_else(|| {
                    serde::de::Error::custom(format!("`{}` is not hex bytes", b.hex))
                })?;
                Ok(Message(bytes.repeat(b.times)))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Message {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Message".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "oneOf": [
                { "type": "string" },
                {
                    "type": "object",
                    "properties": {
                        "hex": { "type": "string" },
                        "times": { "type": "integer", "minimum": 0 }
                    },
                    "required": ["hex"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

impl JsonSchema for Errno {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Errno".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names = ksock_proto::errno::names();
        schemars::json_schema!({ "type": "string", "enum": names })
    }
}

impl JsonSchema for KernelReq {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "KernelReq".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^\\s*(>=|<=|==|=|>|<)?\\s*[0-9]+\\.[0-9]+\\s*(,\\s*(>=|<=|==|=|>|<)?\\s*[0-9]+\\.[0-9]+\\s*)*$",
            "description": "Kernel versions the spec applies to, e.g. \">= 7.3\" or \">= 5.10, < 6.12\""
        })
    }
}

/// The JSON Schema of a spec file, for editors (`specs/ksock-spec.schema.json`).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Spec);
    serde_json::to_string_pretty(&schema).expect("schema serialises") + "\n"
}
