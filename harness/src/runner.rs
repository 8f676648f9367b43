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
use ksock_agent::peers::{ClientSpec, ServerSpec, SockoptSpec};
use ksock_agent::proto::{Action, Plan, PlanSpec, Results, PLAN_FILE, RESULTS_FILE};
use ksock_spec::{KernelVersion, Spec, Step};
use ksock_vm::boot::{self, Accel, BootEnd, BootRequest};
use ksock_vm::kernel::{self, Flavour, PrepareOptions, PreparedKernel};
use ksock_vm::progress::Step as Progress;
use ksock_vm::Cache;

use crate::judge::{judge, Failure, Status, Verdict};
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
}

impl RunOptions {
    pub fn defaults(project: &Project) -> Self {
        Self {
            accel: None,
            memory: "2G".into(),
            cpus: 2,
            boot_timeout: Duration::from_secs(240),
            spec_timeout: Duration::from_secs(120),
            artifacts: project.root.join("target/ksock"),
            flavour: None,
        }
    }
}

const CONSOLE_TAIL: usize = 30;

/// Prepares `kernel_name`, builds the modules the specs need, and runs them.
pub fn run_kernel(
    cache: &Cache,
    project: &Project,
    kernel_name: &str,
    specs: &[Spec],
    opts: &RunOptions,
) -> Result<Vec<Verdict>> {
    let k = kernel::prepare(cache, kernel_name, &PrepareOptions::default())?;
    let flavour = opts.flavour.unwrap_or(if k.tree.is_some() {
        Flavour::Rust
    } else {
        Flavour::C
    });
    let label = flavour.to_string();
    // A verdict for `spec` on this kernel; callers fill in what happened.
    let verdict = |spec: &str, status: Status| Verdict {
        spec: spec.to_string(),
        kernel: kernel_name.to_string(),
        release: k.release.clone(),
        flavour: label.clone(),
        status,
        duration_ms: 0,
        failure: None,
        note: String::new(),
        dmesg: Vec::new(),
    };
    let version = KernelVersion::parse(&k.release)
        .with_context(|| format!("cannot read a version from release {}", k.release))?;

    let mut verdicts = Vec::new();
    let mut to_run = Vec::new();
    for s in specs {
        match &s.kernels {
            Some(req) if !req.matches(&version) => verdicts.push(Verdict {
                note: format!("kernel {version} is outside the spec's `kernels` condition"),
                ..verdict(&s.name, Status::Skip)
            }),
            _ => to_run.push(s),
        }
    }
    if to_run.is_empty() {
        return Ok(verdicts);
    }
    let kos = build_modules(cache, project, &k, &to_run, flavour)?;
    let accel = boot::resolve_accel(cache, opts.accel, &k.vmlinuz, &k.release)?;
    std::fs::create_dir_all(&opts.artifacts)
        .with_context(|| format!("{}", opts.artifacts.display()))?;

    let mut remaining: Vec<&Spec> = to_run;
    let mut boot_no = 0;
    while !remaining.is_empty() {
        boot_no += 1;
        let plan = Plan {
            specs: remaining.iter().map(|s| plan_spec(s, &kos)).collect(),
        };
        let shared = ksock_vm::scratch::tempdir("run").context("creating the shared directory")?;
        std::fs::write(
            shared.path().join(PLAN_FILE),
            serde_json::to_vec_pretty(&plan)?,
        )?;
        let console_log = opts
            .artifacts
            .join(format!("console-{kernel_name}-{boot_no}.log"));
        let clock = SpecClock::new(opts.spec_timeout);
        let progress = Progress::start(format!(
            "kernel {} ({accel}, {flavour} modules): boot {boot_no}, {} spec(s)",
            k.release,
            remaining.len()
        ));
        let req = BootRequest {
            vmlinuz: k.vmlinuz.clone(),
            accel,
            exec: format!(
                "{} run --plan {} --out {}",
                project.agent.display(),
                shared.path().join(PLAN_FILE).display(),
                shared.path().display()
            ),
            // An oops leaves the kernel in a state no later spec should be judged in:
            // make it a panic, which ends the boot and fails only the running spec.
            append: vec![
                ksock_agent::guard::GUEST_MARKER.to_string(),
                "oops=panic".to_string(),
            ],
            rwdirs: vec![shared.path().to_path_buf()],
            memory: opts.memory.clone(),
            cpus: opts.cpus,
            timeout: opts.boot_timeout + Duration::from_secs(30 * remaining.len() as u64),
            console_log: console_log.clone(),
            on_line: Some({
                let detail = progress.detail_handle();
                let clock = clock.clone();
                std::sync::Arc::new(move |line: &str| {
                    clock.observe(line);
                    if let Some(name) = line.strip_prefix("KSOCK-SPEC-START ") {
                        detail.set(&format!("running {name}"));
                    } else if line.contains("virtme-ng-init: starting script") {
                        detail.set("guest up");
                    }
                })
            }),
            watchdog: Some({
                let clock = clock.clone();
                std::sync::Arc::new(move || clock.overdue())
            }),
        };
        let outcome = boot::boot(&req)?;
        let results: Results = std::fs::read(shared.path().join(RESULTS_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        progress.done(&format!(
            "{} of {} spec(s) reported, guest {}",
            results.specs.len(),
            remaining.len(),
            match &outcome.end {
                BootEnd::Exited(_) if results.complete => "finished".to_string(),
                BootEnd::Exited(_) => "exited early".to_string(),
                BootEnd::TimedOut => "timed out".to_string(),
                BootEnd::Panicked => "PANICKED".to_string(),
                BootEnd::KvmFailed => "could not run under KVM".to_string(),
                BootEnd::QemuKilled(sig) => format!("lost: qemu killed by signal {sig}"),
                BootEnd::Stopped(_) => "stopped (a spec hung)".to_string(),
            }
        ));
        let tail = format!(
            "{}\n(full console: {})",
            outcome.console_tail(CONSOLE_TAIL),
            console_log.display()
        );
        for (spec, r) in remaining.iter().zip(&results.specs) {
            let status = judge(spec, &version, r);
            let pass = if status.is_ok() {
                Status::Pass
            } else {
                Status::Fail
            };
            verdicts.push(Verdict {
                duration_ms: r.duration_ms,
                failure: status.err().map(|f| Failure {
                    console_tail: tail.clone(),
                    ..f
                }),
                dmesg: r.dmesg.clone(),
                ..verdict(&spec.name, pass)
            });
        }
        let done = results.specs.len().min(remaining.len());
        if done == remaining.len() {
            break;
        }
        // The spec at `done` never reported: it took the guest down (or the guest never came
        // up). It fails; the rest get a new boot.
        let culprit = remaining[done];
        let why = match &outcome.end {
            BootEnd::Panicked => boot::crash_summary(&outcome.console),
            BootEnd::TimedOut => format!("the guest did not finish within {:?}", req.timeout),
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
        verdicts.push(Verdict {
            duration_ms: outcome.duration.as_millis() as u64,
            failure: Some(Failure {
                expected: "the spec to run to its end".into(),
                actual: why,
                dmesg: Vec::new(),
                console_tail: tail,
            }),
            ..verdict(&culprit.name, Status::Fail)
        });
        if done == 0 && results.kernel_release.is_empty() {
            // Not a spec's fault: the agent never started. Do not reboot for every spec.
            for s in &remaining[1..] {
                verdicts.push(Verdict {
                    failure: Some(Failure {
                        expected: "a guest that runs the agent".into(),
                        actual: "not run: the guest never reported (see the first failure)".into(),
                        dmesg: Vec::new(),
                        console_tail: String::new(),
                    }),
                    ..verdict(&s.name, Status::Fail)
                });
            }
            break;
        }
        remaining = remaining[done + 1..].to_vec();
    }
    Ok(verdicts)
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

/// Builds every module the specs load; returns name → `.ko` path.
fn build_modules(
    cache: &Cache,
    project: &Project,
    k: &PreparedKernel,
    specs: &[&Spec],
    flavour: Flavour,
) -> Result<BTreeMap<String, PathBuf>> {
    let mut kos = BTreeMap::new();
    for s in specs {
        for m in s.modules() {
            if kos.contains_key(m) {
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
            let dir = k.build_module(cache, src, flavour)?;
            let ko = dir.join(format!("{m}.ko"));
            anyhow::ensure!(ko.is_file(), "kbuild produced no {}", ko.display());
            step.done("ok");
            kos.insert(m.to_string(), ko);
        }
    }
    Ok(kos)
}

/// Addresses were checked when the spec was read.
fn socket_addr(addr: &str, port: u16) -> std::net::SocketAddr {
    let ip: std::net::IpAddr = addr.parse().expect("validated address");
    std::net::SocketAddr::new(ip, port)
}

fn plan_spec(spec: &Spec, kos: &BTreeMap<String, PathBuf>) -> PlanSpec {
    let actions = spec
        .steps
        .iter()
        .map(|st| match st {
            Step::Load(l) => Action::Load {
                module: l.module.clone(),
                path: kos[&l.module].clone(),
                params: l
                    .params
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                expect_errno: l.expect_error.map(|e| e.0),
            },
            Step::Unload(m) => Action::Unload { module: m.clone() },
            Step::WaitDmesg(w) => Action::WaitDmesg {
                pattern: w.pattern.as_str().to_string(),
                timeout_ms: w.timeout_ms,
            },
            Step::Sleep(ms) => Action::Sleep { ms: *ms },
            Step::Client(c) => Action::Client {
                spec: ClientSpec {
                    addr: socket_addr(&c.addr, c.port),
                    messages: c.messages.clone(),
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
                spec: SockoptSpec {
                    level: o.level,
                    optname: o.optname,
                    set: o.set.as_ref().map(|s| s.as_bytes().to_vec()),
                    get_len: o.get_len,
                    optlen: o.optlen,
                    bad_pointer: o.bad_pointer,
                    expect_errno: o.expect_error.map(|e| e.0),
                    expect_value: o.expect_value.as_ref().map(|s| s.as_bytes().to_vec()),
                },
            },
            Step::Sockets(so) => Action::Sockets {
                port: so.port,
                listening: so.listening,
                established: so.established,
                none: so.none,
                timeout_ms: so.timeout_ms,
            },
        })
        .collect();
    PlanSpec {
        name: spec.name.clone(),
        actions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
