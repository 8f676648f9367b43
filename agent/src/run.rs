//! Executes a [`Plan`] in the guest.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::kmsg::Kmsg;
use crate::modules;
use crate::peers::{self, PeerReport};
use crate::proto::{Action, ActionResult, Plan, PlanSpec, Results, SpecResult, RESULTS_FILE};
use crate::sockets;

/// Runs every spec, writing `results.json` into `out` after each one (atomically: a crash
/// leaves the previous complete file, never a torn one).
pub fn run_plan(plan: &Plan, out: &Path) -> anyhow::Result<Results> {
    crate::guard::ensure_guest()?;
    println!("{}", crate::proto::AGENT_START);
    let mut results = Results {
        kernel_release: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string(),
        ..Default::default()
    };
    write_results(&results, out)?;
    crate::net::loopback_up().map_err(|e| anyhow::anyhow!("bringing up lo: {e}"))?;
    for spec in &plan.specs {
        println!("KSOCK-SPEC-START {}", spec.name);
        let r = run_spec(spec)?;
        println!("KSOCK-SPEC-END {}", spec.name);
        let unclean = !r.stuck_modules.is_empty();
        results.specs.push(r);
        write_results(&results, out)?;
        if unclean {
            // Later specs would run on a kernel this one left dirty: the host boots a new
            // guest for them (the plan stays incomplete).
            println!("KSOCK-UNCLEAN {}", spec.name);
            return Ok(results);
        }
    }
    results.complete = true;
    write_results(&results, out)?;
    Ok(results)
}

/// A warm guest's loop: runs `dir/plan-N.json` for N = 1, 2, … as each appears (the host
/// writes it atomically), results in `dir/out-N/`, and returns when `dir/stop` appears.
/// 9p gives the guest no change notifications, so it polls, every 10 ms.
pub fn serve(dir: &Path) -> anyhow::Result<()> {
    crate::guard::ensure_guest()?;
    println!("{}", crate::proto::SERVE_READY);
    for n in 1.. {
        let plan = dir.join(format!("plan-{n}.json"));
        loop {
            if dir.join("stop").exists() {
                return Ok(());
            }
            if plan.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let p: Plan = serde_json::from_slice(&std::fs::read(&plan)?)?;
        let out = dir.join(format!("out-{n}"));
        std::fs::create_dir_all(&out)?;
        let done = run_plan(&p, &out)?;
        println!("KSOCK-SERVE-DONE {n}");
        if !done.complete {
            // A spec left the kernel dirty: this guest serves no more plans.
            return Ok(());
        }
    }
    Ok(())
}

fn write_results(r: &Results, out: &Path) -> anyhow::Result<()> {
    let tmp = out.join(format!("{RESULTS_FILE}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec_pretty(r)?)?;
    std::fs::rename(&tmp, out.join(RESULTS_FILE))?;
    Ok(())
}

fn run_spec(spec: &PlanSpec) -> anyhow::Result<SpecResult> {
    let start = Instant::now();
    let mut kmsg = Kmsg::open_at_end()?;
    let mut dmesg: Vec<String> = Vec::new();
    let mut loaded: Vec<String> = Vec::new();
    let mut actions = Vec::new();
    let mut peers: Vec<(String, Background)> = Vec::new();
    for (i, action) in spec.actions.iter().enumerate() {
        // The host's watchdog names the step a hung spec was in.
        println!("KSOCK-STEP {} {}", i + 1, action.describe());
        let (ok, detail) = run_action(action, &mut kmsg, &mut dmesg, &mut loaded, &mut peers);
        let failed = !ok;
        actions.push(ActionResult {
            action: action.describe(),
            ok,
            detail,
        });
        if failed {
            break;
        }
    }
    // Background peers are bounded by their own timeouts; wait for them so none outlives
    // the spec (validation makes specs join them; this covers a failed step before a join).
    // A background load is not bounded: one whose init still blocks is named, and leaves
    // its module stuck (the guest is replaced).
    let mut blocked = Vec::new();
    for (name, p) in peers {
        if let Some((module, why)) = p.finish(&name) {
            actions.push(ActionResult {
                action: "end of spec".into(),
                ok: false,
                detail: why,
            });
            blocked.push(module);
        }
    }
    // Leave the kernel as the next spec expects it: nothing of ours loaded.
    let mut leftover = Vec::new();
    for m in loaded.iter().rev() {
        if modules::is_loaded(m) {
            leftover.push(m.clone());
            let _ = modules::unload(m);
        }
    }
    let mut stuck: Vec<String> = leftover
        .iter()
        .filter(|m| modules::is_loaded(m))
        .cloned()
        .collect();
    for m in blocked {
        if !stuck.contains(&m) {
            stuck.push(m);
        }
    }
    // Give the log a moment for messages printed by the unloads above.
    std::thread::sleep(Duration::from_millis(50));
    dmesg.extend(kmsg.read_available().iter().map(|r| r.line()));
    Ok(SpecResult {
        name: spec.name.clone(),
        actions,
        dmesg,
        leftover_modules: leftover,
        stuck_modules: stuck,
        duration_ms: start.elapsed().as_millis() as u64,
    })
}

/// A step running in a thread until its `join`: a userspace peer, or a module load whose
/// init may block.
enum Background {
    Peer {
        handle: std::thread::JoinHandle<PeerReport>,
        expect_received: Option<Vec<String>>,
    },
    Load {
        module: String,
        handle: std::thread::JoinHandle<(bool, String)>,
    },
}

/// How long a `join` waits for a background load's init to return.
const JOIN_LOAD_WAIT: Duration = Duration::from_secs(10);
/// How long the end of a spec waits for a background load's init to return.
const LOAD_GRACE: Duration = Duration::from_secs(2);

impl Background {
    /// Waits for it at the end of a spec; a load still running: its module, and why.
    fn finish(self, name: &str) -> Option<(String, String)> {
        match self {
            Background::Peer { handle, .. } => {
                let _ = handle.join();
                None
            }
            Background::Load { module, handle } => {
                let start = Instant::now();
                while !handle.is_finished() && start.elapsed() < LOAD_GRACE {
                    std::thread::sleep(Duration::from_millis(10));
                }
                if handle.is_finished() {
                    let _ = handle.join();
                    return None;
                }
                let why = format!(
                    "background load {name} ({module}) still running when the spec ended: \
                     its init has not returned (it may wait for a peer no step provided); \
                     the guest is replaced"
                );
                Some((module, why))
            }
        }
    }
}

fn run_action(
    action: &Action,
    kmsg: &mut Kmsg,
    dmesg: &mut Vec<String>,
    loaded: &mut Vec<String>,
    peers: &mut Vec<(String, Background)>,
) -> (bool, String) {
    let r = match action {
        Action::Client { spec, background } => client(spec, background.as_deref(), peers),
        Action::Server {
            name,
            spec,
            expect_received,
        } => start_server(name, spec, expect_received, peers),
        Action::Join { name } => join_peer(name, peers),
        Action::Sockopt { spec } => {
            let r = peers::run_sockopt(spec);
            (r.ok, r.detail)
        }
        Action::Sockets {
            port,
            listening,
            established,
            none,
            timeout_ms,
        } => check_sockets(*port, *listening, *established, *none, *timeout_ms),
        Action::Load {
            module,
            path,
            params,
            expect_errno,
            background: None,
        } => load(module, path, params, *expect_errno, loaded),
        Action::Load {
            module,
            path,
            params,
            expect_errno,
            background: Some(name),
        } => {
            let (path, params, expect) = (path.clone(), params.clone(), *expect_errno);
            loaded.push(module.clone());
            let handle = std::thread::spawn(move || load_result(&path, &params, expect));
            let module = module.clone();
            peers.push((name.clone(), Background::Load { module, handle }));
            (true, "loading in the background".into())
        }
        Action::Unload { module } => match modules::unload(module) {
            Ok(()) => (true, "unloaded".into()),
            Err(e) => (false, e.to_string()),
        },
        Action::WaitDmesg {
            pattern,
            timeout_ms,
        } => wait_dmesg(pattern, *timeout_ms, kmsg, dmesg),
        Action::Sleep { ms } => {
            std::thread::sleep(Duration::from_millis(*ms));
            (true, String::new())
        }
        Action::Fuzz {
            campaign,
            expect_finding,
        } => {
            loaded.push(campaign.module.clone());
            fuzz_step(campaign, *expect_finding, kmsg, dmesg)
        }
    };
    with_its_log(action, r, kmsg, dmesg)
}

/// Whatever the action made the kernel log belongs to this spec (and explains a failed
/// load).
fn with_its_log(
    action: &Action,
    r: (bool, String),
    kmsg: &mut Kmsg,
    dmesg: &mut Vec<String>,
) -> (bool, String) {
    let logged: Vec<String> = kmsg.read_available().iter().map(|r| r.line()).collect();
    let r = match (action, r) {
        (Action::Load { module, .. }, (false, detail)) => {
            (false, explain_failed_load(module, detail, &logged))
        }
        (_, r) => r,
    };
    dmesg.extend(logged);
    r
}

/// A client step: run now, or in the background under `background` until a `join`.
fn client(
    spec: &peers::ClientSpec,
    background: Option<&str>,
    peers: &mut Vec<(String, Background)>,
) -> (bool, String) {
    let Some(name) = background else {
        let r = peers::run_client(spec);
        return (r.ok, r.detail);
    };
    let spec = spec.clone();
    peers.push((
        name.to_string(),
        Background::Peer {
            handle: std::thread::spawn(move || peers::run_client(&spec)),
            expect_received: None,
        },
    ));
    (true, "started".into())
}

/// A server step: bound before the step returns (a module started by the next step can
/// connect), then accepting in the background until a `join`.
fn start_server(
    name: &str,
    spec: &peers::ServerSpec,
    expect_received: &Option<Vec<String>>,
    peers: &mut Vec<(String, Background)>,
) -> (bool, String) {
    match peers::listen(spec.addr, spec.backlog) {
        Ok(l) => {
            let addr = spec.addr;
            let spec = spec.clone();
            peers.push((
                name.to_string(),
                Background::Peer {
                    handle: std::thread::spawn(move || peers::run_server(&spec, l)),
                    expect_received: expect_received.clone(),
                },
            ));
            (true, format!("listening on {addr}"))
        }
        Err(e) => (false, format!("bind {}: {e}", spec.addr)),
    }
}

/// Waits for the background peer `name` and checks its report and what it received.
fn join_peer(name: &str, peers: &mut Vec<(String, Background)>) -> (bool, String) {
    let Some(i) = peers.iter().position(|(n, _)| n == name) else {
        return (false, format!("no background peer {name}"));
    };
    let (expect_received, handle) = match peers.remove(i).1 {
        Background::Peer {
            handle,
            expect_received,
        } => (expect_received, handle),
        Background::Load { handle, module } => return join_load(name, module, handle, peers),
    };
    match handle.join() {
        Err(_) => (false, format!("peer {name} panicked")),
        Ok(r) if !r.ok => (false, r.detail),
        Ok(r) => match &expect_received {
            Some(want) if *want != r.received => (false, received_mismatch(&r.received, want)),
            _ => (true, format!("{}; received {:?}", r.detail, r.received)),
        },
    }
}

/// Waits up to [`JOIN_LOAD_WAIT`] for a background load's init to return and checks its
/// result; a load still running stays in `peers` (the end of the spec names it and marks
/// its module stuck).
fn join_load(
    name: &str,
    module: String,
    handle: std::thread::JoinHandle<(bool, String)>,
    peers: &mut Vec<(String, Background)>,
) -> (bool, String) {
    let start = Instant::now();
    while !handle.is_finished() && start.elapsed() < JOIN_LOAD_WAIT {
        std::thread::sleep(Duration::from_millis(10));
    }
    if handle.is_finished() {
        return handle
            .join()
            .unwrap_or_else(|_| (false, format!("load {name} panicked")));
    }
    peers.push((name.to_string(), Background::Load { module, handle }));
    (
        false,
        format!("{name}: the module's init has not returned within {JOIN_LOAD_WAIT:?}"),
    )
}

/// Runs a campaign and says what it found, with the shrunk sequence.
fn fuzz_step(
    c: &crate::fuzz::Campaign,
    expect_finding: bool,
    kmsg: &mut Kmsg,
    dmesg: &mut Vec<String>,
) -> (bool, String) {
    let r = match crate::fuzz::run(c, kmsg, dmesg) {
        Ok(r) => r,
        Err(e) => return (false, format!("fuzz campaign could not run: {e:#}")),
    };
    let stats = format!(
        "{} sequence(s), {} op(s) in {:.1} s",
        r.sequences, r.ops, r.seconds
    );
    match (&r.finding, expect_finding) {
        (None, false) => (true, format!("no finding: {stats}")),
        (None, true) => (false, format!("no finding, but one was expected: {stats}")),
        (Some((i, v, ops)), expect) => (
            expect,
            format!(
                "finding in sequence {i} of seed {} ({} oracle): {}; {stats}; smallest \
                 failing sequence:\n{}",
                c.seed,
                v.oracle,
                v.detail,
                ksock_fuzz::lang::sockopt::describe(ops, &c.target)
            ),
        ),
    }
}

/// finit_module's errno alone misleads ("ENOENT" for a file that exists): add what the
/// kernel logged about the module, e.g. `Unknown symbol ksock_no_such_symbol (err -2)`.
fn explain_failed_load(module: &str, detail: String, logged: &[String]) -> String {
    let why: Vec<&str> = logged
        .iter()
        .filter_map(|l| l.split_once(&format!("{module}: ")).map(|(_, rest)| rest))
        // Every out-of-tree, unsigned module taints the kernel; that is not why it failed.
        .filter(|rest| !rest.contains("taints kernel") && !rest.starts_with("module verification"))
        .collect();
    if why.is_empty() {
        detail
    } else {
        format!("{detail}; the kernel said: {}", why.join("; "))
    }
}

/// Polls sock_diag until the condition holds or the time is up; reports what it saw.
fn check_sockets(
    port: u16,
    listening: Option<bool>,
    established: Option<usize>,
    none: bool,
    timeout_ms: u64,
) -> (bool, String) {
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    loop {
        let all = match sockets::tcp_sockets() {
            Ok(a) => a,
            Err(e) => return (false, format!("sock_diag: {e}")),
        };
        let mine = sockets::on_port(&all, port);
        let is_listening = mine
            .iter()
            .any(|s| s.state == "LISTEN" && s.local.port() == port);
        let est = mine.iter().filter(|s| s.state == "ESTABLISHED").count();
        // TIME_WAIT entries and orphans (closed by their owner) have no socket behind them
        // (inode 0): they are protocol state, not a socket anyone left behind.
        let owned = mine.iter().filter(|s| s.inode != 0).count();
        let holds = listening.is_none_or(|l| l == is_listening)
            && established.is_none_or(|n| n == est)
            && (!none || owned == 0);
        let seen = if mine.is_empty() {
            "no TCP socket".to_string()
        } else {
            mine.iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if holds {
            return (true, format!("port {port}: {seen}"));
        }
        if Instant::now() > deadline {
            return (
                false,
                format!("after {timeout_ms} ms, port {port} has: {seen}"),
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn load(
    module: &str,
    path: &std::path::Path,
    params: &str,
    expect_errno: Option<i32>,
    loaded: &mut Vec<String>,
) -> (bool, String) {
    // Whatever the verdict, a module that loaded is unloaded at the end of the spec.
    loaded.push(module.to_string());
    load_result(path, params, expect_errno)
}

/// A load and its verdict against the expected errno.
fn load_result(path: &std::path::Path, params: &str, expect_errno: Option<i32>) -> (bool, String) {
    match (modules::load(path, params), expect_errno) {
        (Ok(()), None) => (true, "loaded".into()),
        (Ok(()), Some(e)) => (
            false,
            format!(
                "loaded, but the spec expected it to fail with {}",
                modules::errno_name(e)
            ),
        ),
        (Err(err), Some(e)) if err.errno() == Some(e) => {
            (true, format!("failed as expected: {err}"))
        }
        (Err(err), _) => (false, err.to_string()),
    }
}

/// Waits until a kernel log line matches; lines seen earlier in the spec count too (the
/// event may already have happened).
fn wait_dmesg(
    pattern: &str,
    timeout_ms: u64,
    kmsg: &mut Kmsg,
    dmesg: &mut Vec<String>,
) -> (bool, String) {
    let re = match regex::Regex::new(pattern) {
        Ok(re) => re,
        Err(e) => return (false, format!("bad pattern: {e}")),
    };
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    loop {
        dmesg.extend(kmsg.read_available().iter().map(|r| r.line()));
        if let Some(l) = dmesg.iter().find(|l| re.is_match(l)) {
            return (true, format!("matched: {l}"));
        }
        if Instant::now() > deadline {
            return (
                false,
                format!(
                    "no kernel log line matched /{pattern}/ within {timeout_ms} ms ({} lines seen)",
                    dmesg.len()
                ),
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// "connection 1: received 1024 bytes, expected 0: "\0\0…"": sizes first, then the start of
/// each differing connection (a long stream is cut, not printed whole).
fn received_mismatch(got: &[String], want: &[String]) -> String {
    let cut = |s: &str| {
        let short: String = s.chars().take(24).collect();
        format!("{short:?}{}", if s.chars().count() > 24 { "…" } else { "" })
    };
    if got.len() != want.len() {
        return format!(
            "{} connection(s) received, expected {}",
            got.len(),
            want.len()
        );
    }
    got.iter()
        .zip(want)
        .enumerate()
        .filter(|(_, (g, w))| g != w)
        .map(|(i, (g, w))| {
            format!(
                "connection {}: received {} bytes {}, expected {} bytes {}",
                i + 1,
                g.len(),
                cut(g),
                w.len(),
                cut(w)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_load_carries_the_kernels_reason_without_taint_notices() {
        let logged: Vec<String> = [
            "[ 23.76] ksock_x: loading out-of-tree module taints kernel.",
            "[ 23.76] ksock_x: module verification failed: signature and/or required key missing - tainting kernel",
            "[ 23.77] ksock_x: Unknown symbol ksock_no_such_symbol (err -2)",
            "[ 23.78] other: unrelated",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            explain_failed_load("ksock_x", "ENOENT (2)".into(), &logged),
            "ENOENT (2); the kernel said: Unknown symbol ksock_no_such_symbol (err -2)"
        );
        assert_eq!(
            explain_failed_load("ksock_y", "EINVAL (22)".into(), &logged),
            "EINVAL (22)"
        );
    }
}
