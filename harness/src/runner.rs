//! Running specs on one kernel.
//!
//! All applicable specs go into one plan and one boot. If the guest dies mid-plan (panic,
//! hang, timeout), the spec that was running fails with the console tail attached and the
//! remaining specs get a fresh boot. The shared directory is a temporary directory that is
//! removed on every path out, including errors and Ctrl-C.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use ksock_proto::peers::{ClientSpec, Outcome, ServerSpec, SockoptSpec};
use ksock_proto::{Action, Plan, PlanSpec, Results, PLAN_FILE, RESULTS_FILE};
use ksock_spec::{KernelVersion, Spec, Step};
use ksock_vm::boot::{self, Accel, BootEnd, BootRequest};
use ksock_vm::host::error::ModuleBuildFailure;
use ksock_vm::kernel::{self, Flavour, PrepareOptions, PreparedKernel};
use ksock_vm::progress::Step as Progress;
use ksock_vm::Cache;

use crate::judge::{judge, Failure, Stage, Status, Verdict};
use crate::project::Project;

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// `None`: probe (KVM where it works, else TCG).
    pub accel: Option<Accel>,
    pub memory: String,
    pub cpus: u32,
    /// Per boot, on top of a per-spec allowance.
    pub boot_timeout: Duration,
    /// A spec still running after this long is hung: the guest is stopped, that spec fails
    /// naming the step it was in, and the rest run on a new boot.
    pub spec_timeout: Duration,
    /// Where console logs are kept.
    pub artifacts: PathBuf,
    /// Module flavour; `None`: Rust where the kernel has Rust, else C.
    pub flavour: Option<Flavour>,
    /// A kernel brought by the user instead of the named catalog kernel.
    pub custom: Option<CustomKernel>,
}

/// `--kernel-image`, `--kernel-build` and `--root` (see `ksock_vm::custom`).
#[derive(Debug, Clone)]
pub struct CustomKernel {
    pub image: PathBuf,
    pub build: PathBuf,
    pub root: Option<String>,
}

/// Overrides where console logs and reports go (default `<project>/target/ksock`): tests
/// that boot in parallel each set their own, so no console is overwritten by another's.
pub const ARTIFACTS_ENV: &str = "KSOCK_ARTIFACTS";

impl RunOptions {
    pub fn defaults(project: &Project) -> Self {
        let artifacts = std::env::var_os(ARTIFACTS_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| project.root.join("target/ksock"));
        Self {
            accel: None,
            memory: "2G".into(),
            cpus: 2,
            boot_timeout: Duration::from_secs(240),
            spec_timeout: Duration::from_secs(120),
            artifacts,
            flavour: None,
            custom: None,
        }
    }
}

pub(crate) const CONSOLE_TAIL: usize = 30;

/// Prepares `kernel_name`, builds the modules the specs need, and runs them.
pub fn run_kernel(
    cache: &Cache,
    project: &Project,
    kernel_name: &str,
    specs: &[Spec],
    opts: &RunOptions,
) -> Result<Vec<Verdict>> {
    let (k, flavour, version) = prepare(cache, project, kernel_name, opts)?;
    let mut run = KernelRun {
        kernel_name,
        k: &k,
        flavour,
        version,
        project,
        opts,
        kos: BTreeMap::new(),
        accel: Accel::Tcg,
    };
    let (mut verdicts, to_run) = run.applicable(specs);
    let (unbuilt, to_run) = run.build(cache, to_run)?;
    verdicts.extend(unbuilt);
    if to_run.is_empty() {
        return Ok(verdicts);
    }
    run.accel = boot::resolve_accel(cache, opts.accel, &k.vmlinuz, &k.release)?;
    std::fs::create_dir_all(&opts.artifacts)
        .with_context(|| format!("{}", opts.artifacts.display()))?;

    // One boot for all remaining specs; a spec that takes the guest down fails alone and
    // the ones after it get a new boot.
    let mut remaining: Vec<&Spec> = to_run;
    let mut boot_no = 0;
    // A guest that dies before the agent starts is not any spec's doing (seen under TCG: an
    // early-boot "Oops: int3" while the kernel patches its own code): boot once more.
    let mut early_deaths_forgiven = 1;
    while !remaining.is_empty() {
        boot_no += 1;
        let report = run.boot(&remaining, boot_no)?;
        let agent_started = !report.results.kernel_release.is_empty();
        if !agent_started && report.outcome.end != BootEnd::KvmFailed && early_deaths_forgiven > 0 {
            early_deaths_forgiven -= 1;
            eprintln!(
                "ksock: the guest ended before the agent started ({}); booting once more \
                 (console: {})",
                guest_state(&report.outcome.end, false),
                report.console_log.display()
            );
            continue;
        }
        verdicts.extend(run.judge_reported(&remaining, &report.results, &report.tail));
        let done = report.results.specs.len().min(remaining.len());
        if done == remaining.len() {
            break;
        }
        // The agent stops after a spec that left the kernel dirty (a module it cannot
        // unload, an init still blocked): the rest get a new guest, and nobody is blamed.
        if report
            .results
            .specs
            .last()
            .is_some_and(|r| !r.stuck_modules.is_empty())
        {
            remaining = remaining[done..].to_vec();
            continue;
        }
        verdicts.push(run.culprit(remaining[done], &report));
        if done == 0 && !agent_started {
            // Not a spec's fault: the agent never started. Do not reboot for every spec.
            verdicts.extend(remaining[1..].iter().map(|s| run.not_run(s)));
            break;
        }
        remaining = remaining[done + 1..].to_vec();
    }
    Ok(verdicts)
}

/// Prepares `kernel_name`; picks the flavour (`opts`', else Rust where the kernel has Rust
/// and the project has a Rust module); reads its version. A project of C modules only does
/// not pay for the Rust module tree.
pub(crate) fn prepare(
    cache: &Cache,
    project: &Project,
    kernel_name: &str,
    opts: &RunOptions,
) -> Result<(PreparedKernel, Flavour, KernelVersion)> {
    let any_rust = project.modules.values().any(|s| s.rust.is_some());
    let (k, flavour) = match &opts.custom {
        Some(c) => {
            let k = ksock_vm::custom::prepare(cache, &c.image, &c.build, c.root.as_deref())?;
            let flavour = flavour_for(&k, opts.flavour, true);
            (k, flavour)
        }
        None => prepare_kernel(cache, kernel_name, opts.flavour, any_rust)?,
    };
    let version = KernelVersion::parse(&k.release)
        .with_context(|| format!("cannot read a version from release {}", k.release))?;
    Ok((k, flavour, version))
}

/// Prepares catalog kernel `kernel_name` for modules that are all written in Rust
/// (`rust_sources`) or not, and picks the flavour: `flavour` if given, else Rust where the
/// kernel has Rust and the sources are Rust; the Rust module tree is built only then.
pub(crate) fn prepare_kernel(
    cache: &Cache,
    kernel_name: &str,
    flavour: Option<Flavour>,
    rust_sources: bool,
) -> Result<(PreparedKernel, Flavour)> {
    let rust_wanted = flavour != Some(Flavour::C) && rust_sources;
    let prepare = PrepareOptions {
        c_only: !rust_wanted,
        ..Default::default()
    };
    let k = kernel::prepare(cache, kernel_name, &prepare)?;
    let flavour = flavour_for(&k, flavour, rust_wanted);
    Ok((k, flavour))
}

/// The flavour asked for, else Rust where the kernel has its tree and Rust is wanted.
fn flavour_for(k: &PreparedKernel, asked: Option<Flavour>, rust_wanted: bool) -> Flavour {
    asked.unwrap_or(if k.tree.is_some() && rust_wanted {
        Flavour::Rust
    } else {
        Flavour::C
    })
}

/// What one kernel's run knows once the kernel is prepared.
pub(crate) struct KernelRun<'a> {
    pub(crate) kernel_name: &'a str,
    pub(crate) k: &'a PreparedKernel,
    pub(crate) flavour: Flavour,
    pub(crate) version: KernelVersion,
    pub(crate) project: &'a Project,
    pub(crate) opts: &'a RunOptions,
    /// Module name → built `.ko`.
    pub(crate) kos: BTreeMap<String, PathBuf>,
    pub(crate) accel: Accel,
}

/// One boot's outcome and what the agent reported.
pub(crate) struct BootReport {
    pub(crate) outcome: boot::BootOutcome,
    pub(crate) console_log: PathBuf,
    pub(crate) results: Results,
    pub(crate) timeout: Duration,
    /// Console tail plus where the full console is, for failures.
    pub(crate) tail: String,
}

impl KernelRun<'_> {
    /// A verdict for `spec` on this kernel; callers fill in what happened.
    fn verdict(&self, spec: &str, status: Status) -> Verdict {
        Verdict {
            spec: spec.to_string(),
            kernel: self.kernel_name.to_string(),
            release: self.k.release.clone(),
            flavour: self.flavour.to_string(),
            status,
            duration_ms: 0,
            failure: None,
            note: String::new(),
            dmesg: Vec::new(),
            stage: Stage::Run,
        }
    }

    /// Builds every module `specs` load: the specs whose modules all built are returned to
    /// run (their `.ko`s in `self.kos`); each of the others gets its verdict here, a build
    /// failure naming the module, the compiler's errors and the API changes they show.
    fn build<'s>(
        &mut self,
        cache: &Cache,
        specs: Vec<&'s Spec>,
    ) -> Result<(Vec<Verdict>, Vec<&'s Spec>)> {
        let broken;
        (self.kos, broken) = build_modules(cache, self.project, self.k, &specs, self.flavour)?;
        let (unbuilt, to_run): (Vec<&Spec>, Vec<&Spec>) = specs
            .into_iter()
            .partition(|s| s.modules().iter().any(|m| broken.contains_key(*m)));
        let verdicts = unbuilt
            .iter()
            .map(|s| {
                let f = s.modules().into_iter().find_map(|m| broken.get(m));
                let f = f.expect("a module that did not build");
                Verdict {
                    failure: Some(build_failure(f)),
                    stage: Stage::Build,
                    ..self.verdict(&s.name, Status::Fail)
                }
            })
            .collect();
        Ok((verdicts, to_run))
    }

    /// Skip verdicts for specs whose `kernels` condition excludes this kernel, and the rest.
    pub(crate) fn applicable<'s>(&self, specs: &'s [Spec]) -> (Vec<Verdict>, Vec<&'s Spec>) {
        let (run, skip): (Vec<&Spec>, Vec<&Spec>) = specs
            .iter()
            .partition(|s| s.kernels.as_ref().is_none_or(|r| r.matches(&self.version)));
        let skipped = skip
            .iter()
            .map(|s| Verdict {
                note: format!(
                    "kernel {} is outside the spec's `kernels` condition",
                    self.version
                ),
                ..self.verdict(&s.name, Status::Skip)
            })
            .collect();
        (skipped, run)
    }

    /// Boots once with a plan of `specs` and collects what the agent wrote.
    fn boot(&self, specs: &[&Spec], boot_no: usize) -> Result<BootReport> {
        let plan = Plan {
            specs: specs.iter().map(|s| plan_spec(s, &self.kos)).collect(),
        };
        let shared = ksock_vm::scratch::tempdir("run").context("creating the shared directory")?;
        let plan_file = shared.path().join(PLAN_FILE);
        std::fs::write(&plan_file, serde_json::to_vec_pretty(&plan)?)?;
        let console_log = self
            .opts
            .artifacts
            .join(format!("console-{}-{boot_no}.log", self.kernel_name));
        let progress = Progress::start(format!(
            "kernel {} ({}, {} modules): boot {boot_no}, {} spec(s)",
            self.k.release,
            self.accel,
            self.flavour,
            specs.len()
        ));
        let clock = SpecClock::new(self.opts.spec_timeout);
        let req = BootRequest {
            vmlinuz: self.k.vmlinuz.clone(),
            pvh: self.k.pvh.clone(),
            accel: self.accel,
            exec: self.project.agent.command(&format!(
                "run --plan {} --out {}",
                plan_file.display(),
                shared.path().display()
            )),
            // An oops leaves the kernel in a state no later spec should be judged in:
            // make it a panic, which ends the boot and fails only the running spec.
            append: vec![
                ksock_proto::GUEST_MARKER.to_string(),
                "oops=panic".to_string(),
            ],
            rwdirs: vec![shared.path().to_path_buf()],
            memory: self.opts.memory.clone(),
            cpus: self.opts.cpus,
            timeout: self.opts.boot_timeout + Duration::from_secs(30 * specs.len() as u64),
            console_log: console_log.clone(),
            on_line: Some(console_watcher(&clock, progress.detail_handle())),
            watchdog: Some({
                let clock = clock.clone();
                std::sync::Arc::new(move || clock.overdue())
            }),
            shared_memory: None,
        };
        let outcome = boot::boot(&req)?;
        let results: Results = std::fs::read(shared.path().join(RESULTS_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        progress.done(&format!(
            "{} of {} spec(s) reported, guest {}",
            results.specs.len(),
            specs.len(),
            guest_state(&outcome.end, results.complete)
        ));
        let tail = format!(
            "{}\n(full console: {})",
            outcome.console_tail(CONSOLE_TAIL),
            console_log.display()
        );
        Ok(BootReport {
            outcome,
            console_log,
            results,
            timeout: req.timeout,
            tail,
        })
    }

    /// Verdicts of the specs the agent reported on.
    pub(crate) fn judge_reported(
        &self,
        specs: &[&Spec],
        results: &Results,
        tail: &str,
    ) -> Vec<Verdict> {
        specs
            .iter()
            .zip(&results.specs)
            .map(|(spec, r)| {
                let status = judge(spec, &self.version, r);
                let pass = if status.is_ok() {
                    Status::Pass
                } else {
                    Status::Fail
                };
                Verdict {
                    duration_ms: r.duration_ms,
                    failure: status.err().map(|f| Failure {
                        console_tail: tail.to_string(),
                        ..f
                    }),
                    dmesg: r.dmesg.clone(),
                    ..self.verdict(&spec.name, pass)
                }
            })
            .collect()
    }

    /// The spec that never reported: it took the guest down (or the guest never came up).
    pub(crate) fn culprit(&self, spec: &Spec, report: &BootReport) -> Verdict {
        let out = &report.outcome;
        let why = match &out.end {
            BootEnd::Panicked => boot::crash_summary(&out.console),
            BootEnd::TimedOut => format!("the guest did not finish within {:?}", report.timeout),
            BootEnd::KvmFailed => "KVM failed to run the guest".to_string(),
            BootEnd::Stopped(why) => format!("the spec hung: {why}; the guest was stopped"),
            BootEnd::QemuKilled(sig) => {
                format!("qemu was killed by signal {sig} (from outside ksock) during this spec")
            }
            BootEnd::Exited(code) => format!(
                "the guest ended without reporting this spec (vng status {code:?}; the agent \
                 did not start or crashed)"
            ),
        };
        Verdict {
            duration_ms: out.duration.as_millis() as u64,
            failure: Some(Failure {
                expected: "the spec to run to its end".into(),
                actual: why,
                dmesg: Vec::new(),
                console_tail: report.tail.clone(),
            }),
            ..self.verdict(&spec.name, Status::Fail)
        }
    }

    /// A spec not run because the guest never ran the agent.
    pub(crate) fn not_run(&self, spec: &Spec) -> Verdict {
        self.not_run_because(spec, "the guest never reported (see the first failure)")
    }

    /// A spec not run, and why.
    pub(crate) fn not_run_because(&self, spec: &Spec, why: &str) -> Verdict {
        Verdict {
            failure: Some(Failure {
                expected: "a guest that runs the agent".into(),
                actual: format!("not run: {why}"),
                dmesg: Vec::new(),
                console_tail: String::new(),
            }),
            ..self.verdict(&spec.name, Status::Fail)
        }
    }
}

/// How the guest ended, for the progress line.
fn guest_state(end: &BootEnd, complete: bool) -> String {
    match end {
        BootEnd::Exited(_) if complete => "finished".to_string(),
        BootEnd::Exited(_) => "exited early".to_string(),
        other => boot::describe_end(other),
    }
}

/// Feeds console lines to the spec clock and the progress line.
fn console_watcher(
    clock: &std::sync::Arc<SpecClock>,
    detail: ksock_vm::progress::Detail,
) -> boot::LineSink {
    let clock = clock.clone();
    std::sync::Arc::new(move |line: &str| {
        clock.observe(line);
        if let Some(name) = line.strip_prefix("KSOCK-SPEC-START ") {
            detail.set(&format!("running {name}"));
        } else if line.starts_with(ksock_proto::AGENT_START) {
            detail.set("guest up");
        }
    })
}

/// Follows the agent's console markers to know which spec and step run, and since when.
struct SpecClock {
    limit: Duration,
    /// (spec, step, when the spec started).
    current: std::sync::Mutex<Option<(String, String, std::time::Instant)>>,
}

impl SpecClock {
    fn new(limit: Duration) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            limit,
            current: Default::default(),
        })
    }

    fn observe(&self, line: &str) {
        let mut cur = self.current.lock().expect("clock lock");
        if let Some(name) = line.strip_prefix("KSOCK-SPEC-START ") {
            *cur = Some((
                name.trim().to_string(),
                String::new(),
                std::time::Instant::now(),
            ));
        } else if line.starts_with("KSOCK-SPEC-END ") {
            *cur = None;
        } else if let (Some(step), Some(c)) = (line.strip_prefix("KSOCK-STEP "), cur.as_mut()) {
            c.1 = step.trim().to_string();
        }
    }

    /// Why the guest should be stopped, once the running spec is past its limit.
    fn overdue(&self) -> Option<String> {
        let cur = self.current.lock().expect("clock lock");
        let (spec, step, since) = cur.as_ref()?;
        (since.elapsed() > self.limit).then(|| {
            format!(
                "{spec} did not finish within {} s (it was in step {})",
                self.limit.as_secs(),
                if step.is_empty() { "?" } else { step }
            )
        })
    }
}

/// A module build that failed, as a spec's failure: what was expected, the compiler's
/// errors and what ksock's table of kernel API changes says about them, and the log's end.
fn build_failure(f: &ModuleBuildFailure) -> Failure {
    let mut actual = match f.errors.as_slice() {
        [] => "the build failed (no compiler error found; see the log)".to_string(),
        errors => errors.join("\n"),
    };
    if !f.explanation.is_empty() {
        actual += &format!("\nkernel API changes these errors show:\n{}", f.explanation);
    }
    Failure {
        expected: format!("module {} to build", f.module),
        actual: actual.trim_end().to_string(),
        dmesg: Vec::new(),
        console_tail: format!("{}\n(full log: {})", f.tail, f.log.display()),
    }
}

/// Module name → built `.ko`, and module name → why it did not build.
type Built = (
    BTreeMap<String, PathBuf>,
    BTreeMap<String, ModuleBuildFailure>,
);

/// Builds every module the specs load. A module that does not build is reported, not an
/// error: the specs that need it fail, the others still run.
fn build_modules(
    cache: &Cache,
    project: &Project,
    k: &PreparedKernel,
    specs: &[&Spec],
    flavour: Flavour,
) -> Result<Built> {
    let mut kos = BTreeMap::new();
    let mut broken = BTreeMap::new();
    for s in specs {
        for m in s.modules() {
            if kos.contains_key(m) || broken.contains_key(m) {
                continue;
            }
            let src = project
                .modules
                .get(m)
                .with_context(|| format!("spec {} loads unknown module {m}", s.name))?
                .get(flavour)
                .with_context(|| {
                    format!(
                        "module {m} (spec {}) has no {flavour} flavour in kmods/",
                        s.name
                    )
                })?;
            let step = Progress::start(format!("building {m} ({flavour}) for {}", k.release));
            let dir = match k.build_module(cache, src, flavour) {
                Ok(dir) => dir,
                Err(ksock_vm::Error::ModuleBuild(f)) => {
                    step.done("failed");
                    broken.insert(m.to_string(), *f);
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let ko = dir.join(format!("{m}.ko"));
            anyhow::ensure!(ko.is_file(), "kbuild produced no {}", ko.display());
            step.done("ok");
            kos.insert(m.to_string(), ko);
        }
    }
    Ok((kos, broken))
}

/// `name=value` words for finit_module.
fn module_params(params: &BTreeMap<String, ksock_spec::ParamValue>) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn fuzz_action(f: &ksock_spec::Fuzz, kos: &BTreeMap<String, PathBuf>) -> Action {
    let module = f.target.module();
    let d = ksock_fuzz::lang::sockopt::Target::KSOCK_SOCKOPT;
    let optmin = f.int_param("optmin", d.optmin.into()) as i32;
    Action::Fuzz {
        campaign: ksock_fuzz::Campaign {
            module: module.to_string(),
            path: kos[module].clone(),
            params: module_params(&f.params),
            target: ksock_fuzz::lang::sockopt::Target {
                level: d.level,
                optmin,
                optmax: f.int_param("optmax", i64::from(optmin) + 1) as i32,
                capacity: d.capacity,
                layouts: d.layouts,
            },
            seed: f.seed,
            runs: f.runs,
            max_ops: f.max_ops,
            model: Some(ksock_fuzz::model::Model::MessageStore),
            vary: Vec::new(),
            splats: boot::SPLAT_PATTERNS.iter().map(|p| p.to_string()).collect(),
        },
        expect_finding: f.expect_finding,
    }
}

/// Addresses were checked when the spec was read.
/// The op language's name for a spec's buffer placement (the agent speaks it).
fn place_of(b: ksock_spec::Buffer) -> ksock_fuzz::lang::sockopt::Place {
    use ksock_spec::Buffer;
    match b {
        Buffer::Guarded => ksock_fuzz::lang::sockopt::Place::Guarded,
        Buffer::Canary => ksock_fuzz::lang::sockopt::Place::Canary,
        Buffer::Null => ksock_fuzz::lang::sockopt::Place::Null,
        Buffer::Unmapped => ksock_fuzz::lang::sockopt::Place::Unmapped,
        Buffer::ReadOnly => ksock_fuzz::lang::sockopt::Place::ReadOnly,
    }
}

fn socket_addr(addr: &str, port: u16) -> std::net::SocketAddr {
    let ip: std::net::IpAddr = addr.parse().expect("validated address");
    std::net::SocketAddr::new(ip, port)
}

pub(crate) fn plan_spec(spec: &Spec, kos: &BTreeMap<String, PathBuf>) -> PlanSpec {
    let actions = spec.steps.iter().map(|st| action_of(st, kos)).collect();
    PlanSpec {
        name: spec.name.clone(),
        actions,
    }
}

/// One step as the agent runs it: module names resolved to `.ko` paths, peers to addresses.
fn action_of(st: &Step, kos: &BTreeMap<String, PathBuf>) -> Action {
    match st {
        Step::Load(l) => Action::Load {
            module: l.module.clone(),
            path: kos[&l.module].clone(),
            params: module_params(&l.params),
            expect_errno: l.expect_error.map(|e| e.0),
            background: l.background.clone(),
        },
        Step::Fuzz(f) => fuzz_action(f, kos),
        Step::Unload(m) => Action::Unload { module: m.clone() },
        Step::WaitDmesg(w) => Action::WaitDmesg {
            pattern: w.pattern.as_str().to_string(),
            timeout_ms: w.timeout_ms,
        },
        Step::Sleep(ms) => Action::Sleep { ms: *ms },
        Step::Client(c) => Action::Client {
            spec: ClientSpec {
                addr: socket_addr(&c.addr, c.port),
                messages: c.messages.iter().map(|m| m.0.clone()).collect(),
                expect_echo: c.expect_echo,
                abort: c.abort,
                hold_ms: c.hold_ms,
                timeout_ms: c.timeout_ms,
                expect_errno: c.expect_error.map(|e| e.0),
            },
            background: c.background.clone(),
        },
        Step::Server(sv) => Action::Server {
            name: sv.name.clone(),
            spec: ServerSpec {
                addr: socket_addr(&sv.addr, sv.port),
                accept: sv.accept,
                timeout_ms: sv.timeout_ms,
                backlog: sv.backlog,
                hold_ms: sv.hold_ms,
            },
            expect_received: sv.expect_received.clone(),
        },
        Step::Join(name) => Action::Join { name: name.clone() },
        Step::Sockopt(o) => Action::Sockopt {
            spec: sockopt_spec(o),
        },
        Step::Sockets(so) => Action::Sockets {
            port: so.port,
            listening: so.listening,
            established: so.established,
            none: so.none,
            timeout_ms: so.timeout_ms,
        },
    }
}

fn sockopt_spec(o: &ksock_spec::Sockopt) -> SockoptSpec {
    SockoptSpec {
        level: o.level,
        optname: o.optname,
        set: o
            .set
            .as_ref()
            .map(|s| s.as_bytes().to_vec())
            .or_else(|| o.set_hex.as_deref().and_then(ksock_spec::parse_hex)),
        get_len: o.get_len,
        optlen: o.optlen,
        place: if o.bad_pointer {
            ksock_fuzz::lang::sockopt::Place::Unmapped
        } else {
            place_of(o.buffer)
        },
        outcome: match (o.expect_error, &o.expect_not) {
            (Some(e), _) => Outcome::Error(vec![e.0]),
            (None, Some(not)) => Outcome::AnyBut(not.iter().map(|e| e.0).collect()),
            (None, None) if o.expect_error_any.is_empty() => Outcome::Success,
            (None, None) => Outcome::Error(o.expect_error_any.iter().map(|e| e.0).collect()),
        },
        repeat: o.repeat,
        expect_value: o
            .expect_value
            .as_ref()
            .map(|s| s.as_bytes().to_vec())
            .or_else(|| o.expect_hex.as_deref().and_then(ksock_spec::parse_hex)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_failure_reads_errors_then_explanation_then_log() {
        let mut f = ModuleBuildFailure {
            module: "outside".into(),
            kernel: "7.2.13+deb14-amd64".into(),
            flavour: "c".into(),
            log: "/cache/logs/module-x.log".into(),
            errors: vec!["outside.c:9: implicit declaration of function 'kernel_sendpage'".into()],
            explanation: "kernel_sendpage(), changed in Linux 6.5: was removed (this kernel: \
                          7.2.13+deb14-amd64)\n  instead: sock_sendmsg()\n"
                .into(),
            tail: "make: *** Error 2".into(),
        };
        let got = build_failure(&f);
        assert_eq!(got.expected, "module outside to build");
        assert_eq!(
            got.actual,
            "outside.c:9: implicit declaration of function 'kernel_sendpage'\n\
             kernel API changes these errors show:\n\
             kernel_sendpage(), changed in Linux 6.5: was removed (this kernel: 7.2.13+deb14-amd64)\n  \
             instead: sock_sendmsg()"
        );
        assert_eq!(
            got.console_tail,
            "make: *** Error 2\n(full log: /cache/logs/module-x.log)"
        );
        // Nothing in the table, no error line found: the log is where to look.
        f.errors.clear();
        f.explanation.clear();
        assert_eq!(
            build_failure(&f).actual,
            "the build failed (no compiler error found; see the log)"
        );
    }

    #[test]
    fn the_clock_names_the_spec_and_step_only_once_overdue() {
        let clock = SpecClock::new(Duration::from_millis(50));
        assert_eq!(clock.overdue(), None, "no spec running yet");
        clock.observe("KSOCK-SPEC-START b-hang");
        clock.observe("KSOCK-STEP 3 load ksock_crash crash=3");
        assert_eq!(clock.overdue(), None, "not yet overdue");
        std::thread::sleep(Duration::from_millis(80));
        let why = clock.overdue().expect("overdue");
        assert!(
            why.contains("b-hang") && why.contains("step 3 load ksock_crash crash=3"),
            "{why}"
        );
        clock.observe("KSOCK-SPEC-END b-hang");
        assert_eq!(clock.overdue(), None, "a finished spec is not overdue");
    }
}
