//! Child processes that can always be stopped: each runs in its own process group, is
//! polled (not blocked on), and is killed as a group on timeout or Ctrl-C. This is the one
//! place that waits on long-running children (mmdebstrap, make, vng/qemu).
//!
//! Nothing outlives ksock, even when ksock itself is killed with SIGKILL (a CI timeout, the
//! OOM killer), which no handler sees. Two kernel mechanisms carry that instead:
//! - every supervised child gets `PR_SET_PDEATHSIG = SIGKILL`: it dies with the thread that
//!   spawned it (the supervising thread, which lives exactly as long as the child);
//! - long children are [`contained`]: started as `unshare --pid --fork --kill-child`, so the
//!   whole tree below (vng → virtme-run → qemu; mmdebstrap → apt → dpkg) lives in a PID
//!   namespace that the kernel kills as a whole when its first process dies, and, with a
//!   private mount namespace, every mount made inside vanishes with it.

use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use crate::Error;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static HANDLER: Once = Once::new();

/// Installs the Ctrl-C / SIGTERM / SIGHUP handler (once). After a signal, every supervised
/// child is killed at its next poll and callers get [`Error::Interrupted`].
pub fn install_interrupt_handler() {
    HANDLER.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                // Second Ctrl-C: the user insists.
                std::process::exit(130);
            }
            eprintln!(
                "\nksock: interrupted; stopping children and cleaning up (Ctrl-C again to force)"
            );
        });
    });
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Why a supervised child ended.
#[derive(Debug)]
pub enum Ended {
    Exited(ExitStatus),
    TimedOut,
    /// `stop_when` asked for it.
    Stopped,
}

/// A command for `program` that runs in its own PID namespace (and, with `private_mounts`,
/// its own mount namespace): when ksock dies, `unshare` dies (parent-death signal), its
/// `--kill-child` kills the namespace's first process, and the kernel kills the rest.
/// Needs CAP_SYS_ADMIN (ksock runs as root).
pub fn contained(program: impl AsRef<std::ffi::OsStr>, private_mounts: bool) -> Command {
    let mut cmd = Command::new("unshare");
    // An ordinary user gets these namespaces inside one of their own (see `privilege`).
    cmd.args(crate::host::privilege::userns_args());
    cmd.args(["--pid", "--fork", "--kill-child=SIGKILL"]);
    if private_mounts {
        cmd.args(["--mount", "--propagation", "private"]);
    }
    cmd.arg("--").arg(program);
    cmd
}

/// Spawns `cmd` in a new process group and waits for it, killing the whole group on timeout,
/// interrupt, or when `stop_when` returns true (checked every 100 ms).
pub fn run(
    cmd: Command,
    what: &str,
    timeout: Option<Duration>,
    stop_when: impl FnMut() -> bool,
) -> Result<Ended, Error> {
    run_with(cmd, what, timeout, |_| {}, stop_when)
}

/// [`run`], with `on_spawn` given the child first (to take its pipes).
pub fn run_with(
    mut cmd: Command,
    what: &str,
    timeout: Option<Duration>,
    on_spawn: impl FnOnce(&mut Child),
    mut stop_when: impl FnMut() -> bool,
) -> Result<Ended, Error> {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    if !cmd.get_envs().any(|(k, _)| k == "PATH") {
        cmd.env("PATH", crate::host::tools::tool_path());
    }
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe system calls (prctl, getppid); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl: then nobody will send it.
            if libc::getppid() != parent {
                return Err(std::io::Error::other("ksock exited while starting a child"));
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| Error::Command {
        what: what.to_string(),
        detail: e.to_string(),
    })?;
    on_spawn(&mut child);
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().map_err(|e| Error::Command {
            what: what.to_string(),
            detail: e.to_string(),
        })? {
            // The leader is gone; reap anything it left in its group (qemu under vng).
            kill_group(&mut child, false);
            return Ok(Ended::Exited(st));
        }
        if interrupted() {
            kill_group(&mut child, true);
            return Err(Error::Interrupted);
        }
        if timeout.is_some_and(|t| start.elapsed() > t) {
            kill_group(&mut child, true);
            return Ok(Ended::TimedOut);
        }
        if stop_when() {
            kill_group(&mut child, true);
            return Ok(Ended::Stopped);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SIGTERM to the group, a grace period, then SIGKILL; the leader is reaped.
fn kill_group(child: &mut Child, leader_alive: bool) {
    let pgid = child.id() as libc::pid_t;
    // SAFETY: kill(2) with a negative pid signals the process group we created for this
    // child; it has no memory-safety preconditions.
    unsafe {
        libc::kill(-pgid, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline && group_alive(pgid) {
        if leader_alive {
            let _ = child.try_wait();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: as above.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
    let _ = child.wait();
}

fn group_alive(pgid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks for existence/permission.
    unsafe { libc::kill(-pgid, 0) == 0 }
}

/// Runs `cmd` with stdout and stderr appended to `log`; a non-zero exit becomes
/// [`Error::Build`] carrying the log's tail.
pub fn run_logged(mut cmd: Command, what: &str, log: &std::path::Path) -> Result<(), Error> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| Error::io(log, e))?;
    let f2 = f.try_clone().map_err(|e| Error::io(log, e))?;
    cmd.stdin(std::process::Stdio::null()).stdout(f).stderr(f2);
    match run(cmd, what, None, || false)? {
        Ended::Exited(st) if st.success() => Ok(()),
        _ => Err(Error::Build {
            what: what.to_string(),
            log: log.to_path_buf(),
            tail: crate::host::logs::tail(log, 25),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("grandchild.pid");
        let mut cmd = Command::new("sh");
        // The grandchild would outlive a naive kill of the direct child.
        cmd.arg("-c")
            .arg(format!("sleep 300 & echo $! > {}; wait", pidfile.display()));
        let ended = run(cmd, "sh", Some(Duration::from_millis(500)), || false).unwrap();
        assert!(matches!(ended, Ended::TimedOut));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Gone, or at most a zombie awaiting its (dead) parent's reaper.
        assert!(
            stat.is_empty() || stat.contains(") Z "),
            "grandchild survived: {stat}"
        );
    }

    #[test]
    fn exit_status_is_reported() {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg("exit 7");
        match run(cmd, "sh", None, || false).unwrap() {
            Ended::Exited(st) => assert_eq!(st.code(), Some(7)),
            other => panic!("unexpected {other:?}"),
        }
    }
}
