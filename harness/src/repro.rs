//! Regression reproduction. A fuzzer finding becomes a spec in the spec language: decoded
//! ops (not fuzzer bytes, so it survives changes to the op encoding), each stated with the
//! behaviour a correct module has ([`ksock_fuzz::model`]), and `found_with` holding the
//! parameters the bug was found with. The spec passes in the normal suite; run as found
//! ([`Spec::as_found`]) on every catalog kernel and flavour, it fails wherever the bug is:
//! [`run_matrix`] makes the table, [`bisect`] names where the outcome changes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use ksock_fuzz::lang::client::{ClientOp, ClientTarget, Port};
use ksock_fuzz::lang::mixed::Split;
use ksock_fuzz::lang::msg::{MsgOp, MsgTarget, MAX_CONNS};
use ksock_fuzz::lang::sockopt::{Op, Place, Reload, Target};
use ksock_fuzz::model::{self, Expected, ServerModel, SockoptModel};
use ksock_fuzz::params::{Param, Vary};
use ksock_fuzz::{findings::FINDING_META, Decoded, FindingMeta, Language};
use ksock_spec::{
    Buffer, Client, Errno, Expect, FoundWith, Load, Message, ParamValue, Pattern, Server, Sockets,
    Sockopt, Spec, Step as SpecStep,
};
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
    pub ops: Decoded,
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
    let ops = Decoded::from_json(meta.language, &bytes)
        .with_context(|| format!("parsing {}", seq.display()))?;
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
        .join(format!("{}.yaml", ksock_fuzz::titles::slug(&f.meta.title)))
}

/// `seed_bugs=1 port=9100` → `{seed_bugs: 1, port: 9100}`: integers where they parse.
fn param_values(params: &str) -> BTreeMap<String, ParamValue> {
    params
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| {
            let v = v
                .parse::<i64>()
                .map_or_else(|_| ParamValue::Str(v.to_string()), ParamValue::Int);
            (k.to_string(), v)
        })
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Bytes as a sockopt step states them: printable ASCII as text, else in hex.
enum Value {
    Text(String),
    Hex(String),
}

impl Value {
    fn of(b: &[u8]) -> Self {
        if !b.is_empty() && b.iter().all(|c| (0x20..0x7f).contains(c)) {
            Value::Text(String::from_utf8_lossy(b).into_owned())
        } else {
            Value::Hex(hex(b))
        }
    }
}

fn errno(name: &str) -> Errno {
    Errno::by_name(name).unwrap_or_else(|| panic!("{name} is an errno"))
}

/// What a correct module's call must do: its model's answer, or, for a target without a
/// model, what the generic oracles demand.
enum Demand<'a> {
    Model(Expected),
    /// A call on a valid buffer of exactly the stated length must not fault past it
    /// (EFAULT); any other answer is the module's to choose. The canaries and the returned
    /// optlen are checked by every sockopt step. A reload loads with the values the table
    /// varies: one in a declared range must load, one outside it must be refused (EINVAL,
    /// the kernel's answer to a bad module parameter).
    Generic(&'a [Vary]),
}

/// Longest buffer a spec step holds exactly (the fuzzer's `Len::Huge`).
const EXACT_UP_TO: i64 = 1 << 20;

/// The demand as the call's expectation; `valid`: its buffer is valid memory of exactly
/// the stated length for the call's direction.
fn expect(s: &mut Sockopt, d: &Demand, valid: bool) {
    let exp = match d {
        Demand::Model(e) => e,
        Demand::Generic(_) if valid => return s.expect_not = Some(vec![errno("EFAULT")]),
        Demand::Generic(_) => return s.expect_not = Some(Vec::new()),
    };
    match exp {
        Expected::Ok(None) => {}
        Expected::Ok(Some(v)) => match Value::of(v) {
            Value::Text(t) => s.expect_value = Some(t),
            Value::Hex(h) => s.expect_hex = Some(h),
        },
        Expected::Err([e]) => s.expect_error = Some(Errno(*e)),
        Expected::Err(es) => s.expect_error_any = es.iter().map(|e| Errno(*e)).collect(),
    }
}

fn buffer(p: Place) -> Buffer {
    match p {
        Place::Guarded => Buffer::Guarded,
        Place::Canary => Buffer::Canary,
        Place::Null => Buffer::Null,
        Place::Unmapped => Buffer::Unmapped,
        Place::ReadOnly => Buffer::ReadOnly,
    }
}

/// A set of `fill` at length `len`: the value itself where it fits the module, else the
/// fuzzer's buffer (the pattern repeated to the stated length).
fn set_step(opt: i32, len: u64, fill: &[u8], t: &Target) -> Sockopt {
    let mut s = Sockopt::new(opt);
    if len <= t.capacity as u64 {
        match Value::of(&model::filled(fill, len as usize)) {
            Value::Text(v) => s.set = Some(v),
            Value::Hex(h) => s.set_hex = Some(h),
        }
    } else {
        s.set_hex = Some(hex(fill));
        s.optlen = Some(len as usize);
        s.repeat = true;
    }
    s
}

/// The spec steps of one op, given the served range before it, whether the module was
/// loaded, and what a correct module does.
fn op_steps(op: &Op, t: &Target, module: &str, loaded: bool, d: &Demand) -> Vec<SpecStep> {
    // `stated`: the length the kernel is given; `write`: a get.
    let call = |mut s: Sockopt, place: &Place, stated: i64, write: bool| {
        s.level = t.level;
        s.buffer = buffer(*place);
        let valid = place.valid_for(write) && (0..=EXACT_UP_TO).contains(&stated);
        expect(&mut s, d, valid);
        vec![SpecStep::Sockopt(s)]
    };
    match op {
        Op::Set {
            opt,
            len,
            fill,
            place,
        } => {
            // On an optname with a layout: the struct its fill builds, lengths relative to it.
            let (o, on) = (opt.resolve(t), t.for_opt(opt.resolve(t)));
            let n = model::set_len(*len, &on);
            let stated = i64::try_from(n).unwrap_or(i64::MAX);
            call(
                set_step(o, n, &t.set_value(o, fill), &on),
                place,
                stated,
                false,
            )
        }
        Op::Get { opt, len, place } => {
            let stated = len.resolve(&t.for_opt(opt.resolve(t)));
            let s = Sockopt {
                get_len: Some(stated),
                ..Sockopt::new(opt.resolve(t))
            };
            call(s, place, stated, true)
        }
        Op::Reload(r) => {
            let mut steps = Vec::new();
            if loaded {
                steps.push(SpecStep::Unload(module.to_string()));
            }
            steps.push(SpecStep::Load(match d {
                Demand::Model(exp) => store_load(r, module, exp),
                Demand::Generic(vary) => varied_load(r, module, vary),
            }));
            steps
        }
    }
}

/// A message store's reload as a load step (0 stands for "the mask it was found with": the
/// spec leaves it to found_with).
fn store_load(r: &Reload, module: &str, exp: &Expected) -> Load {
    let (min, max, bugs) = model::store_reload(r, 0);
    let mut load = Load::new(module);
    load.params.insert("optmin".into(), ParamValue::Int(min));
    load.params.insert("optmax".into(), ParamValue::Int(max));
    if matches!(r.params[2], Param::Below(_) | Param::Above(_)) {
        load.params
            .insert("seed_bugs".into(), ParamValue::Int(bugs));
    }
    if let Expected::Err(_) = exp {
        load.expect_error = Some(errno("EINVAL"));
    }
    load
}

/// A reload without a model: the target's parameters (in found_with) with the varied ones
/// set; refused exactly when one is outside its declared range.
fn varied_load(r: &Reload, module: &str, vary: &[Vary]) -> Load {
    let mut load = Load::new(module);
    for (v, p) in vary.iter().zip(r.params) {
        if let Some(value) = v.value(p) {
            load.params.insert(v.name.clone(), ParamValue::Int(value));
            if !v.accepts(value) {
                load.expect_error = Some(errno("EINVAL"));
            }
        }
    }
    load
}

/// The steps of a sockopt sequence, from loading the module to unloading it.
fn sockopt_steps(m: &FindingMeta, ops: &[Op]) -> Vec<SpecStep> {
    let mut model = SockoptModel::new(m.target, 0);
    let mut steps = vec![SpecStep::Load(Load::new(&m.module))];
    for op in ops {
        let (t, loaded) = (model.target, model.loaded);
        // Without a model nothing moves the served range or unloads the module.
        let d = match m.model {
            Some(_) => Demand::Model(model.step(op)),
            None => Demand::Generic(&m.vary),
        };
        steps.extend(op_steps(op, &t, &m.module, loaded, &d));
    }
    if model.loaded {
        steps.push(SpecStep::Unload(m.module.clone()));
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

/// The client connections a message sequence makes, in the order the fuzzer's executor
/// (the agent's `fuzz::msg`) opens them, each with what it sent on it; and whether two
/// were open at once (a spec makes them one after another).
fn connections(ops: &[MsgOp], t: &MsgTarget) -> (Vec<Conn>, bool) {
    let mut all: Vec<Conn> = Vec::new();
    // The executor's open connections, by their place in `all`; ops pick among them.
    let mut open: Vec<usize> = Vec::new();
    let mut together = false;
    for op in ops {
        let n = open.len();
        let pick = |c: &u8| (n > 0).then(|| usize::from(*c) % n);
        match op {
            MsgOp::Connect if n < MAX_CONNS => {
                all.push(Conn::default());
                open.push(all.len() - 1);
            }
            MsgOp::Connect | MsgOp::Recv { .. } => {}
            MsgOp::Send { conn, payload } => {
                // A send with nothing open opens a connection first.
                if n == 0 {
                    all.push(Conn::default());
                    open.push(all.len() - 1);
                }
                let c = &mut all[open[usize::from(*conn) % open.len()]];
                if !c.half_closed {
                    c.messages.push(payload.bytes(t));
                }
            }
            MsgOp::HalfClose { conn } => {
                if let Some(i) = pick(conn) {
                    all[open[i]].half_closed = true;
                }
            }
            MsgOp::Reset { conn } => {
                if let Some(i) = pick(conn) {
                    all[open.remove(i)].abort = true;
                }
            }
        }
        together |= open.len() > 1;
    }
    (all, together)
}

/// The steps of a message sequence against a server module: load it, wait until it
/// listens, each connection as a client, unload. Under `echo_log` every message must come
/// back; without a model nothing is asked of what comes back. The note says when the
/// fuzzer held connections open together.
fn msg_steps(m: &FindingMeta, t: &MsgTarget, ops: &[MsgOp]) -> (Vec<SpecStep>, Option<String>) {
    let echo = t.model == Some(ServerModel::EchoLog);
    let mut steps = vec![
        SpecStep::Load(Load {
            params: param_values(&split_params(&m.params).1),
            ..Load::new(&m.module)
        }),
        SpecStep::Sockets(Sockets::listening(t.port)),
    ];
    let (conns, together) = connections(ops, t);
    for c in conns {
        steps.push(SpecStep::Client(Client {
            messages: c.messages.into_iter().map(Message).collect(),
            expect_echo: echo,
            abort: c.abort,
            ..Client::new(t.port)
        }));
    }
    steps.push(SpecStep::Unload(m.module.clone()));
    let note = together.then(|| {
        "The fuzzer held some of these connections open together; the clients make them \
         one after another, in the order it opened them."
            .to_string()
    });
    (steps, note)
}

/// The log expectation of a message sequence: under `echo_log` the server logs no more
/// data than it got; without a model, nothing beyond what every spec demands (no splat).
fn msg_expect(m: &FindingMeta, t: &MsgTarget) -> Result<Expect> {
    let Some(ServerModel::EchoLog) = t.model else {
        return Ok(Expect::default());
    };
    let re = format!(
        "{}{}",
        regex::escape(&m.module),
        ksock_fuzz::lang::msg::RECV_LOG
    );
    Ok(Expect {
        log_lengths: vec![Pattern::new(&re).with_context(|| format!("pattern {re:?}"))?],
        ..Expect::default()
    })
}

/// The steps of a client sequence: each load as the module's contract (or the table's
/// declared ranges) has it. A load to the fuzzer's port gets a server peer (with a model,
/// one that must receive the payload, whole, `count` times); a load outside the ranges must
/// fail with EINVAL. The fuzzer's reads, answers and resets are not steps: the peer reads
/// everything, and what it must receive is fixed by the parameters.
fn client_steps(m: &FindingMeta, t: &ClientTarget, ops: &[ClientOp]) -> Vec<SpecStep> {
    let seed_bugs = ksock_fuzz::config::seed_bugs_in(&m.params);
    let own = split_params(&m.params).1;
    let mut steps = Vec::new();
    let loads = ops.iter().filter_map(|op| match op {
        ClientOp::Load(l) => Some(l),
        _ => None,
    });
    for (n, l) in loads.enumerate() {
        let (pairs, valid, expect) = match t.model {
            Some(md) => {
                let count = md.resolve(l, t, seed_bugs)[1].max(0) as usize;
                let whole = md.payload(l, t, seed_bugs).repeat(count);
                (
                    md.params(l, t, seed_bugs),
                    md.valid(l, t, seed_bugs),
                    Some(whole),
                )
            }
            None => (
                l.param_pairs(t, &m.vary, &own),
                l.in_range(t, &m.vary),
                None,
            ),
        };
        let mut load = Load::new(&m.module);
        for (k, v) in pairs {
            // The mask it was found with is found_with's.
            if k != "seed_bugs" || v != seed_bugs.to_string() {
                load.params.insert(k, param_value(&v));
            }
        }
        if !valid {
            load.expect_error = Some(errno("EINVAL"));
            steps.push(SpecStep::Load(load));
            continue;
        }
        let peer = format!("peer{}", n + 1);
        let ours = l.port == Port::Listener;
        if ours {
            steps.push(SpecStep::Server(Server {
                expect_received: expect.map(|w| vec![String::from_utf8_lossy(&w).into_owned()]),
                ..Server::new(&peer, t.port)
            }));
        }
        steps.push(SpecStep::Load(load));
        if ours {
            steps.push(SpecStep::Join(peer));
        }
        steps.push(SpecStep::Unload(m.module.clone()));
    }
    steps
}

/// A parameter value as a spec writes it: a number, else the string (without the quotes a
/// parameter string puts around it).
fn param_value(v: &str) -> ParamValue {
    v.parse::<i64>().map_or_else(
        |_| ParamValue::Str(v.trim_matches('"').to_string()),
        ParamValue::Int,
    )
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
    let Decoded::Mixed(steps) = &f.ops else {
        return Ok(f.clone());
    };
    let mut out = f.clone();
    match ksock_fuzz::lang::mixed::split(steps) {
        Split::Sockopt(ops) => {
            out.meta.server = None;
            out.meta.language = Language::Sockopt;
            out.ops = Decoded::Sockopt(ops);
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
            out.ops = Decoded::Msg(ops);
        }
        Split::Both => bail!(
            "{}: the shrunk sequence needs sockopt calls and messages together; a spec \
             cannot state that yet (replay its input.bin with `cargo xtask fuzz mixed`)",
            f.dir.display()
        ),
    }
    Ok(out)
}

/// The regression spec of a finding: the steps a correct module passes, and `found_with`.
pub fn regression_spec(f: &Finding) -> Result<Spec> {
    let f = &unmix(f)?;
    let m = &f.meta;
    let mut note = None;
    let (steps, expect) = match (&f.ops, &m.server) {
        (Decoded::Sockopt(ops), _) => (sockopt_steps(m, ops), Expect::default()),
        (Decoded::Msg(ops), Some(t)) => {
            let (steps, together) = msg_steps(m, t, ops);
            note = together;
            (steps, msg_expect(m, t)?)
        }
        (Decoded::Msg(_), None) => bail!("a message sequence without its server target"),
        (Decoded::Mixed(_), _) => unreachable!("unmixed above"),
        (Decoded::Client(ops), _) => match &m.client {
            Some(t) => (client_steps(m, t, ops), Expect::default()),
            None => bail!("a client sequence without its client target"),
        },
    };
    let mut text = format!(
        "Regression for \"{}\", found by fuzzing {} ({}) on {}: the {} oracle fired ({}). \
         The steps state what a correct module does, so this spec passes in the normal \
         suite and fails while the bug is there; `cargo xtask repro` runs it as found.",
        m.title, m.module, m.params, m.kernel, m.oracle, m.detail
    );
    if let Some(n) = note {
        text = format!("{text} {n}");
    }
    Ok(Spec {
        name: ksock_fuzz::titles::slug(&m.title),
        description: wrap(&text, 88).join("\n") + "\n",
        kernels: None,
        found_with: Some(FoundWith {
            module: m.module.clone(),
            params: param_values(&split_params(&m.params).0),
            title: m.title.clone(),
            kernel: m.kernel.clone(),
        }),
        steps,
        expect,
    })
}

/// The regression spec of a finding, as YAML, under a comment that says where it came
/// from.
pub fn regression_yaml(f: &Finding) -> Result<String> {
    let spec = regression_spec(f)?;
    Ok(format!(
        "# Written by `cargo xtask repro` from {}; edit freely.\n{}",
        f.dir.display(),
        ksock_spec::to_yaml(&spec)
    ))
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

    /// A reload whose first value is `first` (the message store's optmin).
    fn reload(first: Param) -> Reload {
        let mut r = Reload {
            params: [Param::Default; Reload::PARAMS],
        };
        r.params[0] = first;
        r
    }
    use ksock_fuzz::{lang::sockopt::Len, lang::sockopt::Opt, lang::sockopt::Reload};
    use ksock_spec::{ParamValue, Step};

    fn finding(ops: Vec<Op>) -> Finding {
        Finding {
            dir: PathBuf::from("findings/x"),
            meta: FindingMeta {
                title: "set reads past optlen in ksock_sockopt".into(),
                oracle: ksock_fuzz::titles::Oracle::GuardPage,
                detail: "set faulted: the kernel's copy: past it".into(),
                module: "ksock_sockopt".into(),
                params: "seed_bugs=1".into(),
                language: Language::Sockopt,
                target: Target::KSOCK_SOCKOPT,
                model: Some(ksock_fuzz::model::Model::MessageStore),
                server: None,
                client: None,
                also: Vec::new(),
                vary: Vec::new(),
                kernel: "7.2.13+deb14-amd64".into(),
            },
            ops: Decoded::Sockopt(ops),
        }
    }

    #[test]
    fn a_client_finding_becomes_a_peer_that_must_receive_the_message_and_refused_loads() {
        use ksock_fuzz::lang::client::ClientLoad;
        let load = |port, message: &[u8]| {
            let mut params = [Param::Default; Reload::PARAMS];
            params[0] = Param::In(2);
            ClientOp::Load(ClientLoad {
                port,
                params,
                text: message.to_vec(),
            })
        };
        let mut f = finding(vec![]);
        f.meta.module = "ksock_client".into();
        f.meta.title = "ksock_client sends bytes it was not given".into();
        f.meta.client = Some(ClientTarget {
            model: Some(ksock_fuzz::model::ClientModel::Delivery),
            ..ClientTarget::new(9200)
        });
        f.meta.language = Language::Client;
        f.ops = Decoded::Client(vec![
            load(Port::Above(0), b"x"),
            load(Port::Listener, b"msg-"),
            ClientOp::Read,
            ClientOp::Reset,
        ]);
        let (yaml, spec) = written(&f);
        assert!(
            yaml.contains("      port: 65536\n      size: 0\n    expect_error: EINVAL\n"),
            "{yaml}"
        );
        assert!(
            yaml.contains("    port: 9200\n    expect_received:\n    - msg-msg-\n"),
            "{yaml}"
        );
        // One connection accepted (the default, so not written).
        match &spec.steps[1] {
            Step::Server(s) => assert_eq!(
                (s.accept, s.expect_received.as_deref()),
                (1, Some(&["msg-msg-".to_string()][..]))
            ),
            _ => panic!("not a server: {yaml}"),
        }
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

    #[test]
    fn without_a_model_a_client_load_is_judged_by_the_declared_ranges_only() {
        use ksock_fuzz::lang::client::ClientLoad;
        let d = Param::Default;
        let load = |port, first| {
            ClientOp::Load(ClientLoad {
                port,
                params: [first, d, d, d],
                text: b"hey".to_vec(),
            })
        };
        let mut f = finding(vec![]);
        f.meta.module = "my_client".into();
        f.meta.params = "verbose=1".into();
        f.meta.model = None;
        f.meta.vary = vec![Vary {
            name: "retries".into(),
            first: 0,
            last: 3,
        }];
        f.meta.client = Some(ClientTarget {
            port_param: "dport".into(),
            text_param: Some("hello".into()),
            ..ClientTarget::new(7000)
        });
        f.meta.language = Language::Client;
        f.ops = Decoded::Client(vec![
            load(Port::Listener, Param::Above(0)),
            load(Port::Listener, Param::In(1)),
        ]);
        let (yaml, spec) = written(&f);
        let loads: Vec<&ksock_spec::Load> = spec
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Load(l) => Some(l),
                _ => None,
            })
            .collect();
        assert_eq!(loads[0].params.get("retries"), Some(&ParamValue::Int(4)));
        assert_eq!(loads[0].expect_error, Some(errno("EINVAL")), "{yaml}");
        assert_eq!(loads[1].params.get("dport"), Some(&ParamValue::Int(7000)));
        assert_eq!(loads[1].params.get("verbose"), Some(&ParamValue::Int(1)));
        assert_eq!(
            loads[1].params.get("hello"),
            Some(&ParamValue::Str("hey".into()))
        );
        assert_eq!(loads[1].expect_error, None);
        // Its peer listens, but nothing says what it must receive.
        let peer = spec.steps.iter().find_map(|s| match s {
            Step::Server(s) => Some(s),
            _ => None,
        });
        assert_eq!(
            peer.map(|p| (p.port, p.expect_received.is_none())),
            Some((7000, true))
        );
    }

    fn parse(yaml: &str) -> Spec {
        parse_for(yaml, "ksock_sockopt")
    }

    /// `yaml` read back as a spec, `module` being the project's one module.
    fn parse_for(yaml: &str, module: &str) -> Spec {
        ksock_spec::parse_str(yaml, Path::new("r.yaml"), &[module.to_string()])
            .unwrap_or_else(|e| panic!("{e}\n{yaml}"))
    }

    /// A finding's regression spec as written, and read back.
    fn written(f: &Finding) -> (String, Spec) {
        let yaml = regression_yaml(f).unwrap();
        let spec = parse_for(&yaml, &f.meta.module);
        (yaml, spec)
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
        assert!(yaml.contains("    set: ab\n"), "{yaml}");
        assert!(
            yaml.contains("    get_len: 1\n    buffer: canary\n    expect_value: a\n"),
            "{yaml}"
        );
        assert!(
            yaml.contains(
                "    set_hex: '0001'\n    optlen: 4096\n    repeat: true\n    buffer: 'null'\n    expect_error: EINVAL\n"
            ),
            "{yaml}"
        );
        assert_eq!(spec.steps.len(), 5, "load, three calls, unload");
        // The YAML says what the spec built from the finding says.
        let built = regression_spec(&f).unwrap();
        assert_eq!(
            Spec {
                name: spec.name.clone(),
                ..built
            },
            spec
        );
        // In the suite the module loads as it is; as found, with seed_bugs=1.
        let load = |s: &Spec| match &s.steps[0] {
            Step::Load(l) => l.params.get("seed_bugs").cloned(),
            _ => panic!("not a load"),
        };
        assert_eq!(load(&spec), None);
        assert_eq!(load(&spec.as_found()), Some(ParamValue::Int(1)));
    }

    #[test]
    fn a_set_on_an_optname_with_a_layout_holds_the_struct_its_fill_built() {
        let layout: ksock_fuzz::layout::Layout = toml::from_str(
            "optnames = [128]\nfields = [\n\
             { name = \"magic\", type = \"u32\", values = [0x4b534f43] },\n\
             { name = \"len\", type = \"u16\", len_of = \"data\" },\n\
             { name = \"data\", type = \"bytes\", size = 6 },\n]",
        )
        .unwrap();
        let set = |len, fill: &[u8]| Op::Set {
            opt: Opt::Served(0),
            len,
            fill: fill.to_vec(),
            place: Place::Guarded,
        };
        // One byte short of the 12-byte struct; then a page of it, repeated. A fill of
        // [0, 0, 4, 0x61, 0x62]: the magic, a valid length, 2 of the 6 data bytes used.
        let mut f = finding(vec![
            set(Len::CapacityMinus1, &[]),
            set(Len::Page, &[0, 0, 4, 0x61, 0x62]),
        ]);
        f.meta.model = None;
        f.meta.module = "ctl".into();
        f.meta.target.layouts = ksock_fuzz::layout::Layouts::new(vec![layout]);
        let (yaml, _) = written(&f);
        assert!(
            yaml.contains("    set_hex: 434f534b06000000000000\n    expect_not:\n"),
            "{yaml}"
        );
        assert!(
            yaml.contains(
                "    set_hex: 434f534b0200616200000000\n    optlen: 4096\n    repeat: true\n"
            ),
            "{yaml}"
        );
    }

    #[test]
    fn without_a_model_a_valid_call_must_not_fault_and_an_invalid_one_may_do_anything() {
        let get = |len, place| Op::Get {
            opt: Opt::Served(0),
            len,
            place,
        };
        let mut f = finding(vec![
            get(Len::Capacity, Place::Null),
            get(Len::Small(3), Place::Guarded),
            Op::Reload(reload(Param::In(1))),
            Op::Reload(reload(Param::Below(0))),
            Op::Reload(reload(Param::Default)),
        ]);
        f.meta.model = None;
        f.meta.vary = vec![Vary {
            name: "optmin".into(),
            first: 128,
            last: 255,
        }];
        f.meta.module = "sockopt_srv".into();
        let spec = regression_spec(&f).unwrap();
        let calls: Vec<&ksock_spec::Sockopt> = spec
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Sockopt(o) => Some(o),
                _ => None,
            })
            .collect();
        assert_eq!(calls[0].expect_not, Some(vec![]), "{:?}", calls[0]);
        assert_eq!(calls[1].get_len, Some(4));
        assert_eq!(
            calls[1].expect_not.as_ref().map(|v| v[0].0),
            Some(libc::EFAULT)
        );
        assert!(calls
            .iter()
            .all(|c| c.expect_error.is_none() && c.expect_value.is_none()));
        // A reload loads the module with the varied values: in the declared range it must
        // load, outside it a correct module refuses; a default keeps the module's own.
        let loads: Vec<&ksock_spec::Load> = spec
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Load(l) => Some(l),
                _ => None,
            })
            .collect();
        let optmin = |l: &ksock_spec::Load| l.params.get("optmin").cloned();
        assert_eq!(loads.len(), 4);
        assert_eq!(optmin(loads[1]), Some(ParamValue::Int(255)));
        assert_eq!(loads[1].expect_error, None);
        assert_eq!(optmin(loads[2]), Some(ParamValue::Int(127)));
        assert_eq!(loads[2].expect_error, Some(errno("EINVAL")));
        assert!(loads[3].params.is_empty() && loads[3].expect_error.is_none());
        let yaml = regression_yaml(&f).unwrap();
        assert!(yaml.contains("expect_not:\n    - EFAULT"), "{yaml}");
    }

    #[test]
    fn reloads_become_unload_and_load_steps_and_a_refused_load_is_expected() {
        let (bad, moved) = (reload(Param::Below(0)), reload(Param::In(1)));
        let get = Op::Get {
            opt: Opt::Served(0),
            len: Len::Capacity,
            place: Place::Guarded,
        };
        let f = finding(vec![Op::Reload(bad), get.clone(), Op::Reload(moved), get]);
        let yaml = regression_yaml(&f).unwrap();
        let spec = parse(&yaml);
        assert!(
            yaml.contains("- load:\n    module: ksock_sockopt\n    params:\n      optmax: 64\n      optmin: 63\n    expect_error: EINVAL\n"),
            "{yaml}"
        );
        assert!(
            yaml.contains("    optname: 128\n    get_len: 64\n    expect_error: ENOPROTOOPT\n"),
            "{yaml}"
        );
        assert!(
            yaml.contains("- load:\n    module: ksock_sockopt\n    params:\n      optmax: 257\n      optmin: 256\n- "),
            "{yaml}"
        );
        assert!(
            yaml.contains(
                "    optname: 256\n    get_len: 64\n    expect_value: a message from kernel\n"
            ),
            "{yaml}"
        );
        // load, unload, refused load, get, load, get, unload
        assert_eq!(spec.steps.len(), 7, "{yaml}");
    }

    #[test]
    fn a_message_sequence_becomes_client_steps_and_the_servers_log_oracle() {
        use ksock_fuzz::lang::msg::{Payload, Size};
        let mut f = finding(vec![]);
        f.meta.module = "ksock_server".into();
        f.meta.params = "port=9100 echo=1 seed_bugs=1".into();
        f.meta.server = Some(MsgTarget::KSOCK_SERVER);
        f.meta.language = Language::Msg;
        let send = |payload| MsgOp::Send { conn: 255, payload };
        // Raw sizes are modulo 8192: 11775 bytes is 3583.
        f.ops = Decoded::Msg(vec![
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
        let (yaml, spec) = written(&f);
        assert!(
            yaml.contains("- load:\n    module: ksock_server\n    params:\n      echo: 1\n      port: 9100\n- "),
            "{yaml}"
        );
        assert!(
            yaml.contains("- client:\n    port: 9100\n    messages:\n    - hex: 2b\n      times: 3583\n    expect_echo: true\n    abort: true\n"),
            "{yaml}"
        );
        assert!(
            yaml.contains(
                "- client:\n    port: 9100\n    messages:\n    - hi\n    expect_echo: true\n- "
            ),
            "{yaml}"
        );
        assert_eq!(spec.steps.len(), 5, "load, wait, two clients, unload");
        assert_eq!(
            Spec {
                name: spec.name.clone(),
                ..regression_spec(&f).unwrap()
            },
            spec
        );
        assert_eq!(spec.expect.log_lengths.len(), 1);
        assert!(matches!(&spec.steps[1], Step::Sockets(s) if s.listening == Some(true)));
        assert!(!spec.description.contains("together"), "{yaml}");
    }

    #[test]
    fn without_a_model_a_message_sequence_asks_only_that_the_server_survives_it() {
        use ksock_fuzz::lang::msg::{Payload, Size};
        let mut f = finding(vec![]);
        f.meta.module = "note_srv".into();
        f.meta.params = String::new();
        f.meta.model = None;
        f.meta.title = "FORTIFY_SOURCE: buffer overflow in serve".into();
        f.meta.oracle = ksock_fuzz::titles::Oracle::KernelPanic;
        f.meta.server = Some(MsgTarget {
            port: 8888,
            buffer: 1024,
            model: None,
        });
        f.meta.language = Language::Msg;
        let send = |conn, payload| MsgOp::Send { conn, payload };
        // Two connections open together; the second is reset, the first gets a second send.
        f.ops = Decoded::Msg(vec![
            send(0, Payload::Bytes(b"hello".to_vec())),
            MsgOp::Connect,
            send(
                1,
                Payload::Sized {
                    size: Size::BufferPlus1,
                    fill: 0x41,
                },
            ),
            MsgOp::Reset { conn: 1 },
            MsgOp::Recv { conn: 0 },
            send(7, Payload::Bytes(b"again".to_vec())),
        ]);
        let (yaml, spec) = written(&f);
        assert!(
            yaml.contains("- load:\n    module: note_srv\n- sockets:\n    port: 8888\n    listening: true\n- "),
            "{yaml}"
        );
        assert!(
            yaml.contains("- client:\n    port: 8888\n    messages:\n    - hello\n    - again\n- client:\n    port: 8888\n    messages:\n    - hex: '41'\n      times: 1025\n    abort: true\n- unload: note_srv\n"),
            "{yaml}"
        );
        assert!(
            !yaml.contains("expect_echo") && !yaml.contains("log_lengths"),
            "{yaml}"
        );
        assert_eq!(spec.expect, Expect::default());
        assert!(spec.description.contains("one after another"), "{yaml}");
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
