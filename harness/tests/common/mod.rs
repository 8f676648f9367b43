//! Helpers for the fault-injection tests: a test runs itself again as a child process
//! (`KSOCK_TEST_CHILD=<test name>`), with `TMPDIR` (or `KSOCK_CACHE`) pointing at a directory
//! of the parent's, so that every process and file of that child can be found by path.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub const CHILD_ENV: &str = "KSOCK_TEST_CHILD";

/// True in the child started for `test`; the test body returns at once otherwise.
pub fn is_child(test: &str) -> bool {
    std::env::var(CHILD_ENV).is_ok_and(|v| v == test)
}

/// Starts this test binary again, running only `test`, with `env` added.
pub fn spawn_child(test: &str, env: &[(&str, &Path)]) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture"])
        .env(CHILD_ENV, test);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// Processes (other than this one) whose command line, environment, root or working
/// directory mentions `needle`, with their command lines.
pub fn processes_mentioning(needle: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let read = |f: &str| {
            String::from_utf8_lossy(&std::fs::read(e.path().join(f)).unwrap_or_default())
                .replace('\0', " ")
        };
        let link = |f: &str| {
            std::fs::read_link(e.path().join(f))
                .map(|p| p.to_string_lossy().to_string())
                .unwrap_or_default()
        };
        let cmd = read("cmdline");
        if cmd.contains(needle)
            || read("environ").contains(needle)
            || link("root").contains(needle)
            || link("cwd").contains(needle)
        {
            out.push((pid, cmd));
        }
    }
    out
}

/// Mount points at or below `path`, from this process's view.
pub fn mounts_under(path: &Path) -> Vec<String> {
    let p = path.to_string_lossy().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&p))
        .collect()
}

/// Polls `f` every 200 ms until it is true; panics naming `what` after `limit`, or if
/// `child` ends first.
pub fn wait_for(what: &str, limit: Duration, child: &mut Child, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("the child ended ({st}) before {what}");
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// SIGKILL, as a CI timeout or the OOM killer delivers it: no handler runs.
pub fn sigkill(pid: u32) {
    // SAFETY: kill(2) on a pid this test found or started.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGKILL);
    }
}

/// Waits up to `limit` for no process to mention `needle`; returns what is left.
pub fn settle(needle: &str, limit: Duration) -> Vec<(u32, String)> {
    let deadline = Instant::now() + limit;
    loop {
        let left = processes_mentioning(needle);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Whether `path`'s text contains `needle` (a console log being written).
pub fn file_contains(path: &Path, needle: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| t.contains(needle))
}

/// Pid of a qemu process whose command line mentions `needle`.
pub fn qemu_mentioning(needle: &str) -> Option<u32> {
    processes_mentioning(needle)
        .into_iter()
        .find(|(pid, _)| {
            std::fs::read_link(format!("/proc/{pid}/exe"))
                .is_ok_and(|p| p.to_string_lossy().contains("qemu-system"))
        })
        .map(|(pid, _)| pid)
}
