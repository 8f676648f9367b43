//! Fuzz targets as data: the `[[fuzz]]` tables of a project's `ksock.toml`.
//!
//! A target names the module(s) it loads and the interfaces it drives; everything the
//! campaign and the guest's session need follows from the table. The smallest one:
//!
//! ```toml
//! [[fuzz]]
//! name = "sockopt_srv"
//! module = "sockopt_srv"
//! sockopt = { level = "SOL_IP", set = [128, 129], get = [128, 129] }
//! ```
//!
//! Interfaces (at least one): `sockopt` (set/get calls), `tcp_server` (connections and
//! messages to a module that listens), both together (interleaved in one sequence), or
//! `tcp_client` (a module that connects out; ksock listens and is its peer, each input
//! loads it). Optional: `params`, `also` (modules loaded beside it), `reset` (a set before
//! every input), `model` (named contracts, [`Named`]: one name, or a list with at most one
//! per interface), `max_ops`. Without a model only the generic oracles speak. A
//! structured optname's argument is described by a `[[fuzz.layout]]` table (its optnames
//! and typed fields, [`ksock_fuzz::layout`]), so sets build that struct.

use anyhow::{bail, Result};
use ksock_fuzz::lang::client::ClientTarget;
use ksock_fuzz::lang::msg::MsgTarget;
use ksock_fuzz::lang::sockopt::Reload;
use ksock_fuzz::layout::{Layout, Layouts};
use ksock_fuzz::model::{Model, Named};
use ksock_fuzz::params::Vary;
use ksock_fuzz::{Language, Reset};
use serde::{Deserialize, Serialize};

/// One `[[fuzz]]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FuzzTable {
    /// What `ksock fuzz NAME` calls it; also its directory under `target/ksock/fuzz/`.
    pub name: String,
    /// The module under test (a module directory of the project).
    pub module: String,
    /// Its parameters (`name=value` words), at every load.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub params: String,
    /// Modules loaded beside it for the whole campaign (instrumented too).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<AlsoTable>,
    /// Named contracts checked beside the generic oracles: `model = "message_store"`, or
    /// `model = ["message_store", "echo_log"]` (at most one per interface).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelNames>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sockopt: Option<SockoptTable>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_server: Option<TcpServerTable>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_client: Option<TcpClientTable>,
    /// A set made before every input, so an input means the same whenever it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<ResetTable>,
    /// Longest sequence an input decodes to (the language's default otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ops: Option<usize>,
    /// Parameters reload ops vary, each with the values the module accepts, first and last
    /// (`vary = { optmin = [64, 4095] }`, at most four). Without them (and without a
    /// model) a reload loads `params` again.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub vary: std::collections::BTreeMap<String, [i64; 2]>,
    /// Argument layouts of structured optnames, `[[fuzz.layout]]` tables
    /// ([`ksock_fuzz::layout`]): `optnames = [128]` and `fields = [{ name = "magic", type =
    /// "u32", values = [0x4b534f43] }, …]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layout: Vec<toml::Spanned<Layout>>,
}

/// `model = "name"` or `model = ["name", …]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ModelNames {
    One(String),
    Many(Vec<String>),
}

impl ModelNames {
    fn names(&self) -> &[String] {
        match self {
            ModelNames::One(n) => std::slice::from_ref(n),
            ModelNames::Many(v) => v,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlsoTable {
    pub module: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub params: String,
}

/// `sockopt = { level = "SOL_IP", set = [128, 129], get = [128, 129] }`: half-open
/// optname ranges, each direction optional (but not both absent).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SockoptTable {
    #[serde(default = "sol_ip")]
    pub level: Level,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<[i32; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get: Option<[i32; 2]>,
    /// The size the module's buffer holds: lengths are tried at its edges (64 if unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<usize>,
}

fn sol_ip() -> Level {
    Level::Name("SOL_IP".into())
}

/// A socket level by name (`SOL_IP`) or number.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Level {
    Number(i32),
    Name(String),
}

/// Level names a table may use.
const LEVELS: &[(&str, i32)] = &[
    ("SOL_IP", libc::SOL_IP),
    ("SOL_SOCKET", libc::SOL_SOCKET),
    ("SOL_TCP", libc::SOL_TCP),
    ("SOL_UDP", libc::SOL_UDP),
    ("SOL_IPV6", libc::SOL_IPV6),
    ("SOL_RAW", libc::SOL_RAW),
];

impl Level {
    fn value(&self) -> Result<i32> {
        match self {
            Level::Number(n) => Ok(*n),
            Level::Name(n) => LEVELS
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| *v)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "level {n:?} is not one of {} (or give a number)",
                        LEVELS
                            .iter()
                            .map(|(k, _)| *k)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }),
        }
    }
}

/// `tcp_server = { port = 8888, buffer = 1024 }`: the module listens on `port`; message
/// sizes are tried at the edges of its receive `buffer` (1024 if unset).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TcpServerTable {
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffer: Option<usize>,
}

/// `tcp_client = { port_param = "port" }`: ksock listens on `port` (9200 if unset) and each
/// input loads the module with that port in its `port_param` parameter (or a closed port,
/// or one out of range), the values `vary` declares, and a text in `text_param` if given.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TcpClientTable {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_param: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_param: Option<String>,
}

/// `reset = { set = 128, data = "a message from kernel" }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResetTable {
    pub set: i32,
    pub data: String,
}

/// libFuzzer's settings for a language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Knobs {
    /// Longest sequence an input decodes to. Sockopt calls are cheap: long sequences
    /// spread libFuzzer's own cost per input over more syscalls. Message ops wait on the
    /// network.
    pub max_ops: usize,
    /// Longest input libFuzzer makes: room for `max_ops` ops.
    pub max_input: usize,
    /// `-len_control`: 0 lets inputs reach `max_input` at once: for sockopt, more module
    /// syscalls per second (measured); for messages, sends of a size that matters from the
    /// first inputs (a sized send takes ~15 bytes; grown from 4 at libFuzzer's default
    /// pace, inputs were still too short for one after a minute at ~12 execs/s). Clients
    /// and mixed sequences keep libFuzzer's default growth.
    pub len_control: u32,
    /// `-reduce_inputs`: off for sockopt, whose long inputs are cheap (libFuzzer would
    /// replace them by shorter ones with the same features).
    pub reduce_inputs: u8,
}

impl Knobs {
    pub fn of(l: Language) -> Self {
        let (max_ops, max_input, len_control, reduce_inputs) = match l {
            Language::Sockopt => (128, 2048, 0, 0),
            Language::Msg => (16, 256, 0, 1),
            Language::Client => (8, 512, 100, 1),
            Language::Mixed => (32, 512, 100, 1),
        };
        Self {
            max_ops,
            max_input,
            len_control,
            reduce_inputs,
        }
    }
}

/// The port no one listens on, for a client's refused connections: the next one.
fn closed_port(port: u16) -> u16 {
    port.wrapping_add(1)
}

impl FuzzTable {
    /// The op language its interfaces make.
    pub fn language(&self) -> Result<Language> {
        Ok(match (&self.sockopt, &self.tcp_server, &self.tcp_client) {
            (Some(_), None, None) => Language::Sockopt,
            (None, Some(_), None) => Language::Msg,
            (Some(_), Some(_), None) => Language::Mixed,
            (None, None, Some(_)) => Language::Client,
            (None, None, None) => bail!(
                "no interface: give sockopt = {{ … }}, tcp_server = {{ … }} or \
                     tcp_client = {{ … }}"
            ),
            _ => bail!("tcp_client cannot be combined with sockopt or tcp_server"),
        })
    }

    /// What sockopt ops are relative to (the sockopt language's defaults without a `sockopt` table).
    pub fn sockopt_target(&self) -> Result<ksock_fuzz::lang::sockopt::Target> {
        let Some(s) = &self.sockopt else {
            return Ok(ksock_fuzz::lang::sockopt::Target::KSOCK_SOCKOPT);
        };
        let ranges: Vec<[i32; 2]> = s.set.iter().chain(&s.get).copied().collect();
        if ranges.is_empty() {
            bail!("sockopt: give `set = [first, end]`, `get = [first, end]` or both");
        }
        for (what, r) in [("set", s.set), ("get", s.get)] {
            if let Some([a, b]) = r {
                anyhow::ensure!(
                    a < b,
                    "sockopt.{what} = [{a}, {b}] is empty: want [first, one past the last]"
                );
            }
        }
        Ok(ksock_fuzz::lang::sockopt::Target {
            level: s
                .level
                .value()
                .map_err(|e| anyhow::anyhow!("sockopt.{e}"))?,
            optmin: ranges.iter().map(|r| r[0]).min().unwrap_or(0),
            optmax: ranges.iter().map(|r| r[1]).max().unwrap_or(1),
            capacity: s.capacity.unwrap_or(64),
            layouts: self.layouts()?,
        })
    }

    /// The argument layouts, each checked ([`FuzzTable::check_layout`]), no optname in two.
    pub fn layouts(&self) -> Result<Layouts> {
        for l in &self.layout {
            self.check_layout(l.get_ref())?;
        }
        let all = Layouts::new(self.layout.iter().map(|l| l.get_ref().clone()).collect());
        all.check().map_err(|e| anyhow::anyhow!("layout: {e}"))?;
        Ok(all)
    }

    /// One layout: it describes a struct, on optnames the sockopt interface serves, in a
    /// table without a sockopt model (a model's contract reads the fill as it is).
    pub fn check_layout(&self, l: &Layout) -> Result<()> {
        let Some(s) = &self.sockopt else {
            bail!("layout: a layout is a sockopt argument's; the table has no sockopt interface");
        };
        l.check().map_err(|e| anyhow::anyhow!("layout: {e}"))?;
        let served = |o: i32| {
            [s.set, s.get]
                .iter()
                .flatten()
                .any(|[a, b]| (*a..*b).contains(&o))
        };
        if let Some(o) = l.optnames.iter().find(|o| !served(**o)) {
            bail!("layout: optname {o} is in neither sockopt.set nor sockopt.get");
        }
        if self.model()?.is_some() {
            bail!("layout: the model's contract reads a set's fill as it is; drop one of them");
        }
        Ok(())
    }

    /// What message ops are relative to, with the server's named contract if the table
    /// names one.
    pub fn server(&self) -> Result<Option<MsgTarget>> {
        let model = self.models()?.into_iter().find_map(|m| match m {
            Named::Server(s) => Some(s),
            Named::Sockopt(_) | Named::Client(_) => None,
        });
        Ok(self.tcp_server.as_ref().map(|t| MsgTarget {
            port: t.port,
            buffer: t.buffer.unwrap_or(1024),
            model,
        }))
    }

    pub fn client(&self) -> Result<Option<ClientTarget>> {
        let model = self.models()?.into_iter().find_map(|m| match m {
            Named::Client(c) => Some(c),
            Named::Sockopt(_) | Named::Server(_) => None,
        });
        Ok(self.tcp_client.as_ref().map(|t| {
            let port = t.port.unwrap_or(9200);
            ClientTarget {
                port,
                closed_port: closed_port(port),
                port_param: t.port_param.clone().unwrap_or_else(|| "port".into()),
                text_param: t.text_param.clone(),
                model,
            }
        }))
    }

    /// The contract sockopt calls are checked against, if the table names one.
    pub fn model(&self) -> Result<Option<Model>> {
        Ok(self.models()?.into_iter().find_map(|m| match m {
            Named::Sockopt(s) => Some(s),
            Named::Server(_) | Named::Client(_) => None,
        }))
    }

    /// The contracts the table names, each for an interface it has, at most one per
    /// interface.
    pub fn models(&self) -> Result<Vec<Named>> {
        let names = self.model.as_ref().map_or(&[][..], ModelNames::names);
        let mut out: Vec<Named> = Vec::new();
        for name in names {
            let m = Named::by_name(name).ok_or_else(|| {
                anyhow::anyhow!(
                    "model = {name:?}: no such model (there is {})",
                    Named::ALL
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
            let has = match m {
                Named::Sockopt(_) => self.sockopt.is_some(),
                Named::Server(_) => self.tcp_server.is_some(),
                Named::Client(_) => self.tcp_client.is_some(),
            };
            anyhow::ensure!(
                has,
                "model {name:?} judges {} ops: the table has no {} interface",
                m.interface(),
                m.interface()
            );
            if let Some(other) = out.iter().find(|o| o.interface() == m.interface()) {
                bail!(
                    "model: {name:?} and {:?} both judge {} ops; name one",
                    other.name(),
                    m.interface()
                );
            }
            out.push(m);
        }
        Ok(out)
    }

    /// What reload ops vary, checked: at most four, each range in order, none with a model
    /// (a model says what its reloads load).
    pub fn vary(&self) -> Result<Vec<Vary>> {
        let n = Reload::PARAMS;
        anyhow::ensure!(
            self.vary.len() <= n,
            "vary: {} parameters; a reload varies at most {n}",
            self.vary.len()
        );
        if !self.vary.is_empty() && self.model.is_some() {
            bail!("vary: the model says what its reloads load; drop one of them");
        }
        self.vary
            .iter()
            .map(|(name, [first, last])| {
                anyhow::ensure!(
                    first <= last,
                    "vary: {name} = [{first}, {last}]: want [first, last], first <= last"
                );
                Ok(Vary {
                    name: name.clone(),
                    first: *first,
                    last: *last,
                })
            })
            .collect()
    }

    pub fn reset(&self) -> Option<Reset> {
        self.reset.as_ref().map(|r| Reset {
            optname: r.set,
            data: r.data.as_bytes().to_vec(),
        })
    }

    /// libFuzzer's settings, `max_ops` overridden by the table.
    pub fn knobs(&self) -> Result<Knobs> {
        let mut k = Knobs::of(self.language()?);
        if let Some(n) = self.max_ops {
            anyhow::ensure!((1..=1024).contains(&n), "max_ops = {n}: want 1..=1024");
            k.max_input = k.max_input * n / k.max_ops.max(1) + 64;
            k.max_ops = n;
        }
        Ok(k)
    }

    /// The modules it loads: the one under test, then `also`'s.
    pub fn modules(&self) -> Vec<&str> {
        std::iter::once(self.module.as_str())
            .chain(self.also.iter().map(|a| a.module.as_str()))
            .collect()
    }

    /// The modules, for people: `srv + ctl`.
    pub fn label(&self) -> String {
        self.modules().join(" + ")
    }

    /// Every check a table must pass before a campaign (names, ranges, interfaces).
    pub fn check(&self) -> Result<()> {
        anyhow::ensure!(
            !self.name.is_empty()
                && self
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)),
            "name = {:?}: want letters, digits, `_`, `-` or `.` (it names a directory)",
            self.name
        );
        self.knobs()?;
        self.sockopt_target()?;
        self.model()?;
        self.vary()?;
        if self.reset.is_some() && self.sockopt.is_none() {
            bail!("reset is a set: it needs a sockopt interface");
        }
        Ok(())
    }
}

/// The tables of one file, checked: errors name the file, the table's line and the field.
pub fn check_all(tables: &[toml::Spanned<FuzzTable>], text: &str, file: &str) -> Result<()> {
    let line = |t: &toml::Spanned<FuzzTable>| text[..t.span().start].lines().count().max(1);
    let mut seen = std::collections::BTreeMap::new();
    for t in tables {
        let at = line(t);
        for l in &t.get_ref().layout {
            // The layout's own line: its `[[fuzz.layout]]` header.
            let at = text[..l.span().start].matches('\n').count() + 1;
            t.get_ref().check_layout(l.get_ref()).map_err(|e| {
                anyhow::anyhow!("{file}:{at}: [[fuzz]] {:?}: {e}", t.get_ref().name)
            })?;
        }
        t.get_ref()
            .check()
            .map_err(|e| anyhow::anyhow!("{file}:{at}: [[fuzz]] {:?}: {e}", t.get_ref().name))?;
        if let Some(first) = seen.insert(t.get_ref().name.clone(), at) {
            bail!(
                "{file}:{at}: [[fuzz]] {:?}: a second target of that name (the first is at \
                 line {first})",
                t.get_ref().name
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(toml_text: &str) -> FuzzTable {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn the_minimal_form_is_a_sockopt_target_with_generic_oracles() {
        let t = table(
            r#"name = "sockopt_srv"
module = "sockopt_srv"
sockopt = { level = "SOL_IP", set = [128, 129], get = [128, 129] }"#,
        );
        t.check().unwrap();
        assert_eq!(t.language().unwrap(), Language::Sockopt);
        let s = t.sockopt_target().unwrap();
        assert_eq!((s.level, s.optmin, s.optmax, s.capacity), (0, 128, 129, 64));
        assert_eq!(t.model().unwrap(), None);
        assert_eq!(t.knobs().unwrap(), Knobs::of(Language::Sockopt));
    }

    #[test]
    fn interfaces_make_the_language() {
        let both = table(
            r#"name = "m"
module = "a"
sockopt = { set = [64, 66] }
tcp_server = { port = 9100 }"#,
        );
        assert_eq!(both.language().unwrap(), Language::Mixed);
        let s = both.sockopt_target().unwrap();
        assert_eq!((s.optmin, s.optmax), (64, 66));
        let none = table("name = \"n\"\nmodule = \"a\"");
        assert!(none
            .check()
            .unwrap_err()
            .to_string()
            .contains("no interface"));
    }

    #[test]
    fn bad_fields_are_named() {
        let bad_level =
            table("name = \"x\"\nmodule = \"a\"\nsockopt = { level = \"SOL_NOPE\", get = [1, 2] }");
        let e = bad_level.check().unwrap_err().to_string();
        assert!(e.contains("sockopt.level \"SOL_NOPE\""), "{e}");
        let empty = table("name = \"x\"\nmodule = \"a\"\nsockopt = { set = [5, 5] }");
        assert!(empty
            .check()
            .unwrap_err()
            .to_string()
            .contains("sockopt.set = [5, 5] is empty"));
        let model =
            table("name = \"x\"\nmodule = \"a\"\nmodel = \"nope\"\nsockopt = { set = [1, 2] }");
        assert!(model
            .check()
            .unwrap_err()
            .to_string()
            .contains("model = \"nope\""));
    }

    #[test]
    fn models_are_named_one_per_interface() {
        let mixed = table(
            r#"name = "m"
module = "a"
model = ["message_store", "echo_log"]
sockopt = { set = [64, 66] }
tcp_server = { port = 9100 }"#,
        );
        mixed.check().unwrap();
        assert_eq!(mixed.model().unwrap(), Some(Model::MessageStore));
        let server = mixed.server().unwrap().unwrap();
        assert_eq!(server.model, Some(ksock_fuzz::model::ServerModel::EchoLog));
        // Without a model, only the generic oracles judge the server.
        let plain = table("name = \"s\"\nmodule = \"a\"\ntcp_server = { port = 8888 }");
        plain.check().unwrap();
        assert_eq!(plain.server().unwrap().unwrap().model, None);
        let e = |text: &str| table(text).check().unwrap_err().to_string();
        let wrong =
            e("name = \"s\"\nmodule = \"a\"\nmodel = \"echo_log\"\nsockopt = { set = [1, 2] }");
        assert!(wrong.contains("no tcp_server interface"), "{wrong}");
        let twice = e(
            "name = \"s\"\nmodule = \"a\"\nmodel = [\"echo_log\", \"echo_log\"]\n\
             tcp_server = { port = 1 }",
        );
        assert!(twice.contains("both judge tcp_server ops"), "{twice}");
    }

    #[test]
    fn reloads_vary_declared_ranges_and_bad_ones_are_named() {
        let t = table(
            "name = \"v\"\nmodule = \"a\"\nsockopt = { set = [1, 2] }\n\
             vary = { port = [1, 65535], count = [0, 9] }",
        );
        t.check().unwrap();
        let names: Vec<String> = t.vary().unwrap().into_iter().map(|v| v.name).collect();
        assert_eq!(names, ["count", "port"], "a deterministic order");
        let e = |text: &str| table(text).check().unwrap_err().to_string();
        let backwards = e("name = \"v\"\nmodule = \"a\"\nsockopt = { set = [1, 2] }\n\
                           vary = { port = [9, 1] }");
        assert!(backwards.contains("vary: port = [9, 1]"), "{backwards}");
        let five = e("name = \"v\"\nmodule = \"a\"\nsockopt = { set = [1, 2] }\n\
                      vary = { a = [0, 1], b = [0, 1], c = [0, 1], d = [0, 1], e = [0, 1] }");
        assert!(five.contains("at most 4"), "{five}");
    }

    #[test]
    fn layouts_reach_the_target_and_a_bad_one_is_named_at_its_line() {
        #[derive(Deserialize)]
        struct File {
            fuzz: Vec<toml::Spanned<FuzzTable>>,
        }
        let table = |fields: &str| {
            format!(
                "[[fuzz]]\nname = \"ctl\"\nmodule = \"ctl\"\n\
                 sockopt = {{ set = [128, 130], get = [128, 130] }}\n\n\
                 [[fuzz.layout]]\noptnames = [128]\nfields = [\n\
                 {{ name = \"magic\", type = \"u32\", values = [0x4b534f43] }},\n\
                 {{ name = \"len\", type = \"u16\", len_of = \"{fields}\" }},\n\
                 {{ name = \"data\", type = \"bytes\", size = 32 }},\n]\n"
            )
        };
        let good = table("data");
        let f: File = toml::from_str(&good).unwrap();
        check_all(&f.fuzz, &good, "ksock.toml").unwrap();
        let t = f.fuzz[0].get_ref().sockopt_target().unwrap();
        assert_eq!(t.layout(128).map(|l| l.size()), Some(38));
        assert_eq!(t.for_opt(128).capacity, 38);
        assert_eq!(t.for_opt(129).capacity, 64);
        let bad = table("nope");
        let f: File = toml::from_str(&bad).unwrap();
        let e = check_all(&f.fuzz, &bad, "ksock.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "ksock.toml:6: [[fuzz]] \"ctl\": layout: field \"len\": len_of = \"nope\""
            ),
            "{e}"
        );
        let outside = good.replace("optnames = [128]", "optnames = [131]");
        let f: File = toml::from_str(&outside).unwrap();
        let e = check_all(&f.fuzz, &outside, "ksock.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("optname 131 is in neither"), "{e}");
    }

    #[test]
    fn errors_carry_the_file_and_the_table_line() {
        #[derive(Deserialize)]
        struct File {
            fuzz: Vec<toml::Spanned<FuzzTable>>,
        }
        let text = "[[fuzz]]\nname = \"a\"\nmodule = \"m\"\nsockopt = { set = [1, 2] }\n\n\
                    [[fuzz]]\nname = \"a\"\nmodule = \"m\"\nsockopt = { set = [1, 2] }\n";
        let f: File = toml::from_str(text).unwrap();
        let e = check_all(&f.fuzz, text, "ksock.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("ksock.toml:"), "{e}");
        assert!(e.contains("a second target of that name"), "{e}");
    }
}
