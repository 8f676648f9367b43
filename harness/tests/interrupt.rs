//! Ctrl-C during a boot leaves no qemu process and no temporary directory behind.
//!
//! The test runs itself again as a child (`KSOCK_INTERRUPT_CHILD=1`) that boots Debian's 7.2
//! through the real runner, with TMPDIR pointing at a directory of the test's own. Once a
//! qemu whose command line names that directory is running, the child gets SIGINT (what a
//! terminal's Ctrl-C sends). Afterwards no process may mention the directory and it must be
//! empty.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use common::processes_mentioning;

const CHILD_ENV: &str = "KSOCK_INTERRUPT_CHILD";

#[test]
fn child_boots_until_interrupted() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return; // Only meaningful when started by the test below.
    }
    ksock_vm::supervise::install_interrupt_handler();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let project = ksock_harness::project::Project::open(&root).unwrap();
    let cache = ksock_vm::Cache::from_env().unwrap();
    let specs: Vec<_> = project
        .load_specs()
        .unwrap()
        .into_iter()
        .filter(|s| s.name == "hello-load-unload")
        .collect();
    let mut opts = ksock_harness::runner::RunOptions::defaults(&project);
    // Its own consoles: tests boot in parallel.
    opts.artifacts = project.root.join("target/ksock/tests/interrupt");
    opts.accel = Some(ksock_vm::boot::Accel::Tcg);
    let r = ksock_harness::runner::run_kernel(&cache, &project, "7.2", &specs, &opts);
    // Interrupted: the runner must say so rather than report verdicts.
    let err = r.expect_err("the run was interrupted and must not report verdicts");
    assert!(format!("{err:#}").contains("interrupted"), "{err:#}");
}

#[test]
fn ctrl_c_during_boot_leaves_no_qemu_and_no_tempdir() {
    let tmp = tempfile::tempdir().unwrap();
    let needle = tmp.path().to_string_lossy().to_string();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_boots_until_interrupted", "--nocapture"])
        .env(CHILD_ENV, "1")
        .env("TMPDIR", tmp.path())
        .spawn()
        .unwrap();
    // Wait for qemu to run with our shared directory (the kernel is prepared by then).
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if processes_mentioning(&needle)
            .iter()
            .any(|(_, c)| c.contains("qemu-system"))
        {
            break;
        }
        if let Some(st) = child.try_wait().unwrap() {
            panic!("the child ended ({st}) before qemu started");
        }
        assert!(Instant::now() < deadline, "qemu never started");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "the child did not stop after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // The child test passes only if the runner returned its "interrupted" error.
    assert!(
        status.success(),
        "the child did not stop with an interruption error"
    );
    let left = processes_mentioning(&needle);
    assert!(left.is_empty(), "processes left behind: {left:?}");
    let entries: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert!(
        entries.is_empty(),
        "left in the temporary directory: {:?}",
        entries.iter().map(|e| e.path()).collect::<Vec<_>>()
    );
}
