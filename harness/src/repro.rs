//! Regression reproduction. A fuzzer finding becomes a spec in the spec language: decoded
//! ops (not fuzzer bytes, so it survives changes to the op encoding), each stated with the
//! behaviour a correct module has ([`ksock_ops::model`]), and `found_with` holding the
//! parameters the bug was found with. The spec passes in the normal suite; run as found
//! ([`Spec::as_found`]) on every catalog kernel and flavour, it fails wherever the bug is:
//! [`run_matrix`] makes the table, [`bisect`] names where the outcome changes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use ksock_ops::client::{ClientOp, ClientTarget, Port};
use ksock_ops::mixed::{Split, Step};
use ksock_ops::model::{self, Expected, SockoptModel};
use ksock_ops::msg::{MsgOp, MsgTarget};
use ksock_ops::{Op, Param, Place, Target};
use ksock_proto::{FindingMeta, Language, FINDING_META};
use ksock_spec::Spec;
use ksock_vm::kernel::Flavour;
use ksock_vm::Cache;

use crate::judge::{Failure, Status};
use crate::project::Project;
use crate::runner::{run_kernel, RunOptions};

/// A finding saved by a campaign (`findings/<title>/`).
#[derive(Debug, Clone)]
pub struct Finding {
    pub dir: PathBuf,
    pub meta: FindingMeta,
    pub ops: Ops,
}

/// A finding's sequence, in the language of its target.
#[derive(Debug, Clone)]
pub enum Ops {
    Sockopt(Vec<Op>),
    Msg(Vec<MsgOp>),
    Client(Vec<ClientOp>),
    Mixed(Vec<Step>),
}

impl Ops {
    pub fn len(&self) -> usize {
        match self {
            Ops::Sockopt(o) => o.len(),
            Ops::Msg(o) => o.len(),
            Ops::Client(o) => o.len(),
            Ops::Mixed(o) => o.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reads a finding's `finding.json` and `sequence.json`.
pub fn load_finding(dir: &Path) -> Result<Finding> {
    let meta_file = dir.join(FINDING_META);
    let meta: FindingMeta =
        serde_json::from_slice(&std::fs::read(&meta_file).with_context(|| {
            format!(
                "{}: not a finding directory (findings saved before ksock wrote {FINDING_META} \
                 have none: fuzz again to save it anew)",
                meta_file.display()
            )
        })?)
        .with_context(|| format!("parsing {}", meta_file.display()))?;
    let seq = dir.join("sequence.json");
    let bytes = std::fs::read(&seq).with_context(|| format!("reading {}", seq.display()))?;
    let parsed = match meta.language {
        Language::Mixed => serde_json::from_slice(&bytes).map(Ops::Mixed),
        Language::Msg => serde_json::from_slice(&bytes).map(Ops::Msg),
        Language::Client => serde_json::from_slice(&bytes).map(Ops::Client),
        Language::Sockopt => serde_json::from_slice(&bytes).map(Ops::Sockopt),
    };
    let ops = parsed.with_context(|| format!("parsing {}", seq.display()))?;
    Ok(Finding {
        dir: dir.to_path_buf(),
        meta,
        ops,
    })
}

/// Where a finding's regression spec goes by default: `specs/regressions/<title>.yaml`.
pub fn default_spec_path(specs_dir: &Path, f: &Finding) -> PathBuf {
    specs_dir
        .join("regressions")
        .join(format!("{}.yaml", ksock_proto::slug(&f.meta.title)))
}

/// `seed_bugs=1 port=9100` → `{seed_bugs: 1, port: 9100}` in YAML flow style.
fn params_yaml(params: &str) -> String {
    let items: Vec<String> = params
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| match v.parse::<i64>() {
            Ok(n) => format!("{k}: {n}"),
            Err(_) => format!("{k}: {}", quote(v)),
        })
        .collect();
    format!("{{{}}}", items.join(", "))
}

/// A YAML single-quoted scalar.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `key: 'text'` for printable ASCII, else `hex_key: 'hex'`.
fn bytes_field(key: &str, hex_key: &str, b: &[u8]) -> String {
    if !b.is_empty() && b.iter().all(|c| (0x20..0x7f).contains(c)) {
        format!("{key}: {}", quote(&String::from_utf8_lossy(b)))
    } else {
        format!("{hex_key}: '{}'", hex(b))
    }
}

fn expect_fields(exp: &Expected) -> Vec<String> {
    match exp {
        Expected::Ok(None) => vec![],
        Expected::Ok(Some(v)) => vec![bytes_field("expect_value", "expect_hex", v)],
        Expected::Err([e]) => vec![format!("expect_error: {}", ksock_spec::Errno::name_of(*e))],
        Expected::Err(es) => vec![format!(
            "expect_error_any: [{}]",
            es.iter()
                .map(|e| ksock_spec::Errno::name_of(*e))
                .collect::<Vec<_>>()
                .join(", ")
        )],
    }
}

fn buffer_field(p: Place) -> Option<String> {
    let name = match p {
        Place::Guarded => return None,
        Place::Canary => "canary",
        Place::Null => "'null'",
        Place::Unmapped => "unmapped",
        Place::ReadOnly => "read_only",
    };
    Some(format!("buffer: {name}"))
}

/// The spec steps of one op, given the served range before it, whether the module was
/// loaded, and what a correct module does.
fn op_steps(op: &Op, t: &Target, module: &str, loaded: bool, exp: &Expected) -> Vec<String> {
    let flow = |fields: Vec<String>| format!("sockopt: {{{}}}", fields.join(", "));
    match op {
        Op::Set {
            opt,
            len,
            fill,
            place,
        } => {
            let n = model::set_len(*len, t);
            let mut f = vec![format!("optname: {}", opt.resolve(t))];
            if n <= t.capacity as u64 {
                f.push(bytes_field(
                    "set",
                    "set_hex",
                    &model::filled(fill, n as usize),
                ));
            } else {
                // The fuzzer's buffer: the pattern repeated to the stated length.
                f.extend([
                    format!("set_hex: '{}'", hex(fill)),
                    format!("optlen: {n}"),
                    "repeat: true".into(),
                ]);
            }
            f.extend(buffer_field(*place));
            f.extend(expect_fields(exp));
            vec![flow(f)]
        }
        Op::Get { opt, len, place } => {
            let mut f = vec![
                format!("optname: {}", opt.resolve(t)),
                format!("get_len: {}", len.resolve(t)),
            ];
            f.extend(buffer_field(*place));
            f.extend(expect_fields(exp));
            vec![flow(f)]
        }
        Op::Reload(r) => {
            let mut steps = Vec::new();
            if loaded {
                steps.push(format!("unload: {module}"));
            }
            // 0 stands for "the mask it was found with": the spec leaves it to found_with.
            let (min, max, bugs) = r.resolve(0);
            let mut params = vec![format!("optmin: {min}"), format!("optmax: {max}")];
            if matches!(r.seed_bugs, Param::Below(_) | Param::Above(_)) {
                params.push(format!("seed_bugs: {bugs}"));
            }
            let mut load = format!(
                "load: {{module: {module}, params: {{{}}}",
                params.join(", ")
            );
            if let Expected::Err(_) = exp {
                load.push_str(", expect_error: EINVAL");
            }
            load.push('}');
            steps.push(load);
            steps
        }
    }
}

/// The steps of a sockopt sequence, from loading the module to unloading it.
fn sockopt_steps(m: &FindingMeta, ops: &[Op]) -> Vec<String> {
    let mut model = SockoptModel::new(m.target, 0);
    let mut steps = vec![format!("load: {{module: {}}}", m.module)];
    for op in ops {
        let (t, loaded) = (model.target, model.loaded);
        let exp = model.step(op);
        steps.extend(op_steps(op, &t, &m.module, loaded, &exp));
    }
    if model.loaded {
        steps.push(format!("unload: {}", m.module));
    }
    steps
}

/// One client connection of a message sequence.
#[derive(Default)]
struct Conn {
    messages: Vec<Vec<u8>>,
    /// Sends after a half-close are refused: the fuzzer's did not happen either.
    half_closed: bool,
    abort: bool,
}

/// The client connections a message sequence makes, one after another, as the fuzzer's
/// executor (the agent's `msgfuzz`) makes them. Connections held open at the same time
/// have no spec form yet.
fn connections(ops: &[MsgOp], t: &MsgTarget) -> Result<Vec<Conn>> {
    let mut done = Vec::new();
    let mut open: Option<Conn> = None;
    for op in ops {
        match op {
            MsgOp::Connect if open.is_some() => {
                bail!("the sequence holds two connections at once; only one at a time has a spec form yet")
            }
            MsgOp::Connect => open = Some(Conn::default()),
            MsgOp::Send { payload, .. } => {
                let c = open.get_or_insert_with(Conn::default);
                if !c.half_closed {
                    c.messages.push(payload.bytes(t));
                }
            }
            MsgOp::Recv { .. } => {}
            MsgOp::HalfClose { .. } => {
                if let Some(c) = &mut open {
                    c.half_closed = true;
                }
            }
            MsgOp::Reset { .. } => {
                if let Some(mut c) = open.take() {
                    c.abort = true;
                    done.push(c);
                }
            }
        }
    }
    done.extend(open);
    Ok(done)
}

fn message_yaml(m: &[u8]) -> String {
    match m {
        [] => "''".into(),
        [first, ..] if m.iter().all(|b| b == first) && m.len() > 1 => {
            format!("{{hex: '{first:02x}', times: {}}}", m.len())
        }
        _ if m.iter().all(|c| (0x20..0x7f).contains(c)) => quote(&String::from_utf8_lossy(m)),
        _ => format!("{{hex: '{}'}}", hex(m)),
    }
}

/// The steps of a message sequence against a server module, and its log expectation.
fn msg_steps(m: &FindingMeta, t: &MsgTarget, ops: &[MsgOp]) -> Result<Vec<String>> {
    let params = params_yaml(&split_params(&m.params).1);
    let echo = m.params.split_whitespace().any(|w| w == "echo=1");
    let mut steps = vec![
        format!("load: {{module: {}, params: {params}}}", m.module),
        format!("wait_dmesg: {{pattern: '{}: listening '}}", m.module),
    ];
    for c in connections(ops, t)? {
        let msgs: Vec<String> = c.messages.iter().map(|b| message_yaml(b)).collect();
        let mut f = vec![
            format!("port: {}", t.port),
            format!("messages: [{}]", msgs.join(", ")),
        ];
        if echo {
            f.push("expect_echo: true".into());
        }
        if c.abort {
            f.push("abort: true".into());
        }
        steps.push(format!("client: {{{}}}", f.join(", ")));
    }
    steps.push(format!("unload: {}", m.module));
    Ok(steps)
}

/// The steps of a client sequence: each load as the module's contract has it. A load to
/// the fuzzer's port gets a server peer that must receive the payload, whole, `count`
/// times; an out-of-range load must fail with EINVAL. The fuzzer's reads, answers and
/// resets are not steps: the peer reads everything, and what it must receive is fixed by
/// the parameters.
fn client_steps(m: &FindingMeta, t: &ClientTarget, ops: &[ClientOp]) -> Vec<String> {
    let seed_bugs = ksock_proto::seed_bugs_in(&m.params);
    let mut steps = Vec::new();
    let loads = ops.iter().filter_map(|op| match op {
        ClientOp::Load(l) => Some(l),
        _ => None,
    });
    for (n, l) in loads.enumerate() {
        let (port, count, size, bugs) = l.resolve(t, seed_bugs);
        let mut p = vec![
            format!("port: {port}"),
            format!("count: {count}"),
            format!("size: {size}"),
            format!("message: {}", quote(&String::from_utf8_lossy(&l.message()))),
        ];
        if bugs != seed_bugs {
            p.push(format!("seed_bugs: {bugs}"));
        }
        let load = format!("module: {}, params: {{{}}}", m.module, p.join(", "));
        if !l.valid(t, seed_bugs) {
            steps.push(format!("load: {{{load}, expect_error: EINVAL}}"));
            continue;
        }
        let peer = format!("peer{}", n + 1);
        let ours = l.port == Port::Listener;
        if ours {
            let whole = l.payload(t, seed_bugs).repeat(count as usize);
            steps.push(format!(
                "server: {{name: {peer}, port: {port}, accept: 1, expect_received: [{}]}}",
                quote(&String::from_utf8_lossy(&whole))
            ));
        }
        steps.push(format!("load: {{{load}}}"));
        if ours {
            steps.push(format!("join: {peer}"));
        }
        steps.push(format!("unload: {}", m.module));
    }
    steps
}

/// The parameters that plant bugs, which go to `found_with`; the rest stay in the steps.
const BUG_PARAMS: &[&str] = &["seed_bugs"];

/// `params` split into the bug-planting ones (for `found_with`) and the rest.
fn split_params(params: &str) -> (String, String) {
    let (bug, rest): (Vec<&str>, Vec<&str>) = params.split_whitespace().partition(|w| {
        BUG_PARAMS
            .iter()
            .any(|b| w.split_once('=').is_some_and(|(k, _)| k == *b))
    });
    (bug.join(" "), rest.join(" "))
}

/// A mixed finding whose shrunk sequence holds one language, as a finding of the module
/// that language speaks to (the server's parameters are the campaign's).
fn unmix(f: &Finding) -> Result<Finding> {
    let Ops::Mixed(steps) = &f.ops else {
        return Ok(f.clone());
    };
    let mut out = f.clone();
    match ksock_ops::mixed::split(steps) {
        Split::Sockopt(ops) => {
            out.meta.server = None;
            out.meta.language = Language::Sockopt;
            out.ops = Ops::Sockopt(ops);
        }
        Split::Msg(ops) => {
            f.meta
                .server
                .context("a mixed finding without its server")?;
            // The server is the module loaded beside the one under test.
            let server = f
                .meta
                .also
                .first()
                .context("a mixed finding without the server module it loaded")?;
            out.meta.module = server.name.clone();
            out.meta.params = server.params.clone();
            out.meta.language = Language::Msg;
            out.ops = Ops::Msg(ops);
        }
        Split::Both => bail!(
            "{}: the shrunk sequence needs sockopt calls and messages together; a spec \
             cannot state that yet (replay its input.bin with `cargo xtask fuzz mixed`)",
            f.dir.display()
        ),
    }
    Ok(out)
}

/// The regression spec of a finding, as YAML.
pub fn regression_yaml(f: &Finding) -> Result<String> {
    let f = &unmix(f)?;
    let m = &f.meta;
    let (steps, expect) = match (&f.ops, &m.server) {
        (Ops::Sockopt(ops), _) => (sockopt_steps(m, ops), None),
        (Ops::Msg(ops), Some(t)) => (
            msg_steps(m, t, ops)?,
            Some(format!(
                "  log_lengths: [{}]",
                quote(&format!("{}{}", m.module, ksock_ops::msg::RECV_LOG))
            )),
        ),
        (Ops::Msg(_), None) => bail!("a message sequence without its server target"),
        (Ops::Mixed(_), _) => unreachable!("unmixed above"),
        (Ops::Client(ops), _) => match &m.client {
            Some(t) => (client_steps(m, t, ops), None),
            None => bail!("a client sequence without its client target"),
        },
    };
    let mut y = String::new();
    let _ = writeln!(
        y,
        "# Written by `cargo xtask repro` from {}; edit freely.",
        f.dir.display()
    );
    let _ = writeln!(y, "description: >");
    let text = format!(
        "Regression for \"{}\", found by fuzzing {} ({}) on {}: the {} oracle fired ({}). \
         The steps state what a correct module does, so this spec passes in the normal \
         suite and fails while the bug is there; `cargo xtask repro` runs it as found.",
        m.title, m.module, m.params, m.kernel, m.oracle, m.detail
    );
    for line in wrap(&text, 88) {
        let _ = writeln!(y, "  {line}");
    }
    let _ = writeln!(y, "found_with:");
    let _ = writeln!(y, "  module: {}", m.module);
    let _ = writeln!(y, "  params: {}", params_yaml(&split_params(&m.params).0));
    let _ = writeln!(y, "  title: {}", quote(&m.title));
    let _ = writeln!(y, "  kernel: {}", quote(&m.kernel));
    let _ = writeln!(y, "steps:");
    for s in steps {
        let _ = writeln!(y, "  - {s}");
    }
    if let Some(e) = expect {
        let _ = writeln!(y, "expect:\n{e}");
    }
    Ok(y)
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for w in text.split_whitespace() {
        let cur = lines.last_mut().expect("one line");
        if !cur.is_empty() && cur.len() + 1 + w.len() > width {
            lines.push(w.to_string());
        } else {
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(w);
        }
    }
    lines
}

/// How a spec fared, as found, on one kernel and flavour.
#[derive(Debug, Clone)]
pub struct Cell {
    pub kernel: String,
    pub release: String,
    pub flavour: Flavour,
    pub runs: usize,
    /// Runs in which the spec failed: the bug showed.
    pub failed: usize,
    /// Why it could not run (`Some`: not applicable).
    pub skipped: Option<String>,
    pub first_failure: Option<Failure>,
}

impl Cell {
    pub fn outcome(&self) -> String {
        match (&self.skipped, self.failed) {
            (Some(_), _) => "not applicable".into(),
            (None, 0) => format!("does not reproduce (0/{})", self.runs),
            (None, n) => format!("reproduces {n}/{}", self.runs),
        }
    }

    fn reproduces(&self) -> Option<bool> {
        self.skipped.is_none().then_some(self.failed > 0)
    }
}

/// The flavours of `module` a kernel can run: Rust where the kernel has Rust and the module
/// has a Rust source, C where it has a C port.
fn flavours(project: &Project, module: &str, kernel: &str) -> Vec<Flavour> {
    let src = project.modules.get(module);
    let rust_kernel = ksock_vm::catalog::lookup(kernel).is_ok_and(|e| e.rust);
    let mut out = Vec::new();
    if rust_kernel && src.is_some_and(|s| s.rust.is_some()) {
        out.push(Flavour::Rust);
    }
    if src.is_some_and(|s| s.c.is_some()) {
        out.push(Flavour::C);
    }
    out
}

/// Runs `spec` as found `runs` times on each kernel and flavour.
pub fn run_matrix(
    cache: &Cache,
    project: &Project,
    spec: &Spec,
    kernels: &[String],
    runs: usize,
    opts: &RunOptions,
) -> Result<Vec<Cell>> {
    let found = spec.as_found();
    let module = spec
        .found_with
        .as_ref()
        .map(|f| f.module.clone())
        .or_else(|| {
            spec.steps.iter().find_map(|s| match s {
                ksock_spec::Step::Load(l) => Some(l.module.clone()),
                _ => None,
            })
        })
        .unwrap_or_default();
    let mut cells = Vec::new();
    for k in kernels {
        for flavour in flavours(project, &module, k) {
            let mut cell = Cell {
                kernel: k.clone(),
                release: String::new(),
                flavour,
                runs,
                failed: 0,
                skipped: None,
                first_failure: None,
            };
            let o = RunOptions {
                flavour: Some(flavour),
                ..opts.clone()
            };
            for _ in 0..runs {
                let v = run_kernel(cache, project, k, std::slice::from_ref(&found), &o)?;
                let v = v
                    .into_iter()
                    .next()
                    .context("the runner returned no verdict")?;
                cell.release = v.release.clone();
                match v.status {
                    Status::Fail => {
                        cell.failed += 1;
                        cell.first_failure = cell.first_failure.or(v.failure);
                    }
                    Status::Skip => {
                        cell.skipped = Some(v.note);
                        break;
                    }
                    Status::Pass => {}
                }
            }
            cells.push(cell);
        }
    }
    Ok(cells)
}

/// The table of [`run_matrix`]'s cells.
pub fn render_table(spec: &str, cells: &[Cell]) -> String {
    let mut out = format!("{spec}, run as found:\n");
    let _ = writeln!(
        out,
        "{:<7} {:<22} {:<8} {:<22} first failing expectation",
        "kernel", "release", "flavour", "outcome"
    );
    for c in cells {
        let why = match (&c.skipped, &c.first_failure) {
            (Some(note), _) => note.clone(),
            (None, Some(f)) => cut(&format!("{} — {}", f.expected, first_line(&f.actual)), 160),
            (None, None) => String::new(),
        };
        let _ = writeln!(
            out,
            "{:<7} {:<22} {:<8} {:<22} {why}",
            c.kernel,
            c.release,
            c.flavour.to_string(),
            c.outcome()
        );
    }
    out
}

/// At most `n` characters, `…` where cut.
fn cut(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Catalog kernels, oldest first.
pub fn kernels_by_version() -> Vec<String> {
    let mut k: Vec<(ksock_spec::KernelVersion, String)> = ksock_vm::catalog::CATALOG
        .iter()
        .filter_map(|e| {
            Some((
                ksock_spec::KernelVersion::parse(e.name)?,
                e.name.to_string(),
            ))
        })
        .collect();
    k.sort();
    k.into_iter().map(|(_, n)| n).collect()
}

/// Where, in version order, the outcome first differs from the oldest kernel's: the pair
/// of adjacent kernels (per flavour) between which it changes.
pub fn bisect(cells: &[Cell]) -> Vec<String> {
    let order = kernels_by_version();
    let mut by_flavour: BTreeMap<String, Vec<&Cell>> = BTreeMap::new();
    for c in cells.iter().filter(|c| c.reproduces().is_some()) {
        by_flavour.entry(c.flavour.to_string()).or_default().push(c);
    }
    let mut out = Vec::new();
    for (flavour, mut cs) in by_flavour {
        cs.sort_by_key(|c| order.iter().position(|k| *k == c.kernel));
        let change = cs
            .windows(2)
            .find(|w| w[0].reproduces() != w[1].reproduces());
        out.push(match change {
            Some(w) => format!(
                "{flavour}: the outcome changes between {} ({}) and {} ({})",
                w[0].kernel,
                w[0].outcome(),
                w[1].kernel,
                w[1].outcome()
            ),
            None => format!(
                "{flavour}: the same outcome on every kernel tried ({})",
                cs.iter()
                    .map(|c| c.kernel.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ksock_ops::{Len, Opt, Reload};
    use ksock_spec::{ParamValue, Step};

    fn finding(ops: Vec<Op>) -> Finding {
        Finding {
            dir: PathBuf::from("findings/x"),
            meta: FindingMeta {
                title: "set reads past optlen in ksock_sockopt".into(),
                oracle: "guard page".into(),
                detail: "set faulted: the kernel's copy: past it".into(),
                module: "ksock_sockopt".into(),
                params: "seed_bugs=1".into(),
                language: Language::Sockopt,
                target: Target::KSOCK_SOCKOPT,
                model: Some(ksock_ops::model::Model::MessageStore),
                server: None,
                client: None,
                also: Vec::new(),
                kernel: "7.2.13+deb14-amd64".into(),
            },
            ops: Ops::Sockopt(ops),
        }
    }

    #[test]
    fn a_client_finding_becomes_a_peer_that_must_receive_the_message_and_refused_loads() {
        use ksock_ops::client::{ClientLoad, Size};
        let load = |port, message: &[u8]| {
            ClientOp::Load(ClientLoad {
                port,
                count: Param::In(2),
                size: Size::Message,
                message: message.to_vec(),
                seed_bugs: Param::Default,
            })
        };
        let mut f = finding(vec![]);
        f.meta.module = "ksock_client".into();
        f.meta.title = "ksock_client sends bytes it was not given".into();
        f.meta.client = Some(ClientTarget::KSOCK_CLIENT);
        f.meta.language = Language::Client;
        f.ops = Ops::Client(vec![
            load(Port::Above(0), b"x"),
            load(Port::Listener, b"msg-"),
            ClientOp::Read,
            ClientOp::Reset,
        ]);
        let yaml = regression_yaml(&f).unwrap();
        let spec = ksock_spec::parse_str(&yaml, Path::new("r.yaml"), &["ksock_client".into()])
            .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        assert!(yaml.contains("port: 65536"), "{yaml}");
        assert!(yaml.contains("expect_error: EINVAL"), "{yaml}");
        assert!(
            yaml.contains("accept: 1, expect_received: ['msg-msg-']"),
            "{yaml}"
        );
        assert_eq!(
            spec.steps.len(),
            5,
            "refused load; peer, load, join, unload"
        );
        let seed = |s: &Spec| match &s.steps[2] {
            Step::Load(l) => l.params.get("seed_bugs").cloned(),
            _ => panic!("not a load"),
        };
        assert_eq!(seed(&spec), None);
        assert_eq!(seed(&spec.as_found()), Some(ParamValue::Int(1)));
    }

    fn parse(yaml: &str) -> Spec {
        ksock_spec::parse_str(yaml, Path::new("r.yaml"), &["ksock_sockopt".to_string()])
            .unwrap_or_else(|e| panic!("{e}\n{yaml}"))
    }

    #[test]
    fn a_finding_becomes_a_spec_of_the_correct_behaviour_with_its_parameters_aside() {
        let f = finding(vec![
            Op::Set {
                opt: Opt::Served(0),
                len: Len::Small(1),
                fill: b"ab".to_vec(),
                place: Place::Guarded,
            },
            Op::Get {
                opt: Opt::Served(0),
                len: Len::Small(0),
                place: Place::Canary,
            },
            Op::Set {
                opt: Opt::Served(0),
                len: Len::Page,
                fill: vec![0, 1],
                place: Place::Null,
            },
        ]);
        let yaml = regression_yaml(&f).unwrap();
        let spec = parse(&yaml);
        assert!(yaml.contains("set: 'ab'"), "{yaml}");
        assert!(
            yaml.contains("get_len: 1, buffer: canary, expect_value: 'a'"),
            "{yaml}"
        );
        assert!(
            yaml.contains(
                "set_hex: '0001', optlen: 4096, repeat: true, buffer: 'null', expect_error: EINVAL"
            ),
            "{yaml}"
        );
        assert_eq!(spec.steps.len(), 5, "load, three calls, unload");
        // In the suite the module loads as it is; as found, with seed_bugs=1.
        let load = |s: &Spec| match &s.steps[0] {
            Step::Load(l) => l.params.get("seed_bugs").cloned(),
            _ => panic!("not a load"),
        };
        assert_eq!(load(&spec), None);
        assert_eq!(load(&spec.as_found()), Some(ParamValue::Int(1)));
    }

    #[test]
    fn reloads_become_unload_and_load_steps_and_a_refused_load_is_expected() {
        let bad = Reload {
            optmin: ksock_ops::Param::Below(0),
            width: ksock_ops::Param::Default,
            seed_bugs: ksock_ops::Param::Default,
        };
        let moved = Reload {
            optmin: ksock_ops::Param::In(1),
            ..bad
        };
        let get = Op::Get {
            opt: Opt::Served(0),
            len: Len::Capacity,
            place: Place::Guarded,
        };
        let f = finding(vec![Op::Reload(bad), get.clone(), Op::Reload(moved), get]);
        let yaml = regression_yaml(&f).unwrap();
        let spec = parse(&yaml);
        assert!(
            yaml.contains("load: {module: ksock_sockopt, params: {optmin: 63, optmax: 64}, expect_error: EINVAL}"),
            "{yaml}"
        );
        assert!(
            yaml.contains("optname: 128, get_len: 64, expect_error: ENOPROTOOPT"),
            "{yaml}"
        );
        assert!(
            yaml.contains("params: {optmin: 256, optmax: 257}}"),
            "{yaml}"
        );
        assert!(
            yaml.contains("optname: 256, get_len: 64, expect_value: 'a message from kernel'"),
            "{yaml}"
        );
        // load, unload, refused load, get, load, get, unload
        assert_eq!(spec.steps.len(), 7, "{yaml}");
    }

    #[test]
    fn a_message_sequence_becomes_client_steps_and_the_servers_log_oracle() {
        use ksock_ops::msg::{Payload, Size};
        let mut f = finding(vec![]);
        f.meta.module = "ksock_server".into();
        f.meta.params = "port=9100 echo=1 seed_bugs=1".into();
        f.meta.server = Some(MsgTarget::KSOCK_SERVER);
        f.meta.language = Language::Msg;
        let send = |payload| MsgOp::Send { conn: 255, payload };
        // Raw sizes are modulo 8192: 11775 bytes is 3583.
        f.ops = Ops::Msg(vec![
            MsgOp::Connect,
            send(Payload::Sized {
                size: Size::Raw(11775),
                fill: 0x2b,
            }),
            MsgOp::Reset { conn: 0 },
            send(Payload::Bytes(b"hi".to_vec())),
            MsgOp::HalfClose { conn: 0 },
            send(Payload::Bytes(b"never".to_vec())),
        ]);
        let yaml = regression_yaml(&f).unwrap();
        let spec = ksock_spec::parse_str(&yaml, Path::new("r.yaml"), &["ksock_server".into()])
            .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        assert!(
            yaml.contains("load: {module: ksock_server, params: {port: 9100, echo: 1}}"),
            "{yaml}"
        );
        assert!(
            yaml.contains("client: {port: 9100, messages: [{hex: '2b', times: 3583}], expect_echo: true, abort: true}"),
            "{yaml}"
        );
        assert!(
            yaml.contains("client: {port: 9100, messages: ['hi'], expect_echo: true}"),
            "{yaml}"
        );
        assert_eq!(spec.steps.len(), 5, "load, wait, two clients, unload");
        assert_eq!(spec.expect.log_lengths.len(), 1);
        let two = Ops::Msg(vec![MsgOp::Connect, MsgOp::Connect]);
        f.ops = two;
        assert!(regression_yaml(&f).is_err(), "two connections at once");
    }

    #[test]
    fn the_table_says_where_it_reproduces_and_bisect_where_that_changes() {
        let cell = |k: &str, failed| Cell {
            kernel: k.into(),
            release: format!("{k}.0"),
            flavour: Flavour::C,
            runs: 2,
            failed,
            skipped: None,
            first_failure: None,
        };
        let cells = vec![
            cell("5.10", 0),
            cell("6.1", 0),
            cell("6.12", 2),
            cell("7.2", 1),
        ];
        let t = render_table("r", &cells);
        assert!(
            t.contains("does not reproduce (0/2)") && t.contains("reproduces 1/2"),
            "{t}"
        );
        assert_eq!(
            bisect(&cells),
            ["c: the outcome changes between 6.1 (does not reproduce (0/2)) and 6.12 (reproduces 2/2)"]
        );
    }
}
