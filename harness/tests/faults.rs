//! Fault injection on a real guest (Debian's 7.2, TCG): each fault fails its own spec with
//! its real cause named, the specs after it still run, and nothing is left behind — no
//! vng/virtme/qemu process, no temporary directory — even when ksock itself is SIGKILLed.
//!
//! Each test runs its scenario in a child process (see `common`) whose `TMPDIR` is a
//! directory of the test's own: every process and scratch directory of the run mentions it.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use ksock_harness::judge::{Status, Verdict};

fn specs(names: &[&str]) -> Vec<ksock_spec::Spec> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let project = ksock_harness::project::Project::open(&root).unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fault-specs");
    names
        .iter()
        .map(|n| ksock_spec::load_file(&dir.join(format!("{n}.yaml")), &project.module_names()))
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Runs `names` on 7.2 under TCG (in the child), console logs into `$KSOCK_ARTIFACTS`.
fn run(names: &[&str], spec_timeout: Duration) -> Vec<Verdict> {
    ksock_vm::supervise::install_interrupt_handler();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let project = ksock_harness::project::Project::open(&root).unwrap();
    let cache = ksock_vm::Cache::from_env().unwrap();
    let mut opts = ksock_harness::runner::RunOptions::defaults(&project);
    opts.accel = Some(ksock_vm::boot::Accel::Tcg);
    opts.spec_timeout = spec_timeout;
    opts.artifacts = PathBuf::from(std::env::var_os("KSOCK_ARTIFACTS").unwrap());
    let v =
        ksock_harness::runner::run_kernel(&cache, &project, "7.2", &specs(names), &opts).unwrap();
    for x in &v {
        eprintln!(
            "{} {:?} {:?}",
            x.spec,
            x.status,
            x.failure.as_ref().map(|f| &f.actual)
        );
    }
    v
}

fn verdict<'a>(v: &'a [Verdict], spec: &str) -> &'a Verdict {
    v.iter()
        .find(|x| x.spec == spec)
        .unwrap_or_else(|| panic!("no verdict for {spec}"))
}

fn actual(v: &Verdict) -> String {
    v.failure
        .as_ref()
        .map(|f| f.actual.clone())
        .unwrap_or_default()
}

/// The parent's check after any scenario: nothing of the child's run is left.
fn assert_nothing_left(tmp: &Path) {
    let needle = tmp.to_string_lossy();
    let left = settle(&needle, Duration::from_secs(10));
    assert!(left.is_empty(), "processes left behind: {left:?}");
    let entries: Vec<_> = std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(
        entries.is_empty(),
        "left in the temporary directory: {entries:?}"
    );
}

#[test]
fn child_oops_hang_unknown_symbol() {
    if !is_child("child_oops_hang_unknown_symbol") {
        return;
    }
    let v = run(
        &["a-oops", "b-hang", "c-unknown-symbol", "d-after"],
        Duration::from_secs(20),
    );
    let oops = verdict(&v, "a-oops");
    assert_eq!(oops.status, Status::Fail);
    assert!(
        actual(oops).contains("NULL pointer dereference"),
        "{oops:#?}"
    );
    let hang = verdict(&v, "b-hang");
    assert_eq!(hang.status, Status::Fail);
    let a = actual(hang);
    assert!(a.contains("hung") && a.contains("within 20 s"), "{hang:#?}");
    assert!(a.contains("step 3 load ksock_crash crash=3"), "{hang:#?}");
    let unk = verdict(&v, "c-unknown-symbol");
    assert_eq!(unk.status, Status::Fail);
    assert!(
        actual(unk).contains("ENOENT")
            && actual(unk).contains("the kernel said: Unknown symbol ksock_no_such_symbol"),
        "{unk:#?}"
    );
    assert_eq!(verdict(&v, "d-after").status, Status::Pass, "{v:#?}");
}

#[test]
fn oops_hang_and_failed_load_fail_alone_with_their_cause() {
    let tmp = tempfile::tempdir().unwrap();
    let art = tempfile::tempdir().unwrap();
    let mut child = spawn_child(
        "child_oops_hang_unknown_symbol",
        &[("TMPDIR", tmp.path()), ("KSOCK_ARTIFACTS", art.path())],
    );
    let st = child.wait().unwrap();
    assert!(
        st.success(),
        "the child's verdicts were wrong (its output is above)"
    );
    assert_nothing_left(tmp.path());
}

/// Starts `test` as a child and returns once its guest is in e-sleep's `sleep` step.
fn child_in_e_sleep(test: &str) -> (std::process::Child, tempfile::TempDir, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let art = tempfile::tempdir().unwrap();
    let mut child = spawn_child(
        test,
        &[("TMPDIR", tmp.path()), ("KSOCK_ARTIFACTS", art.path())],
    );
    // Any boot's console: a guest that dies before its agent starts (TCG's early-boot
    // int3 oops) is booted once more, and that boot writes console-7.2-2.log.
    let dir = art.path().to_path_buf();
    wait_for(
        "e-sleep to start",
        Duration::from_secs(900),
        &mut child,
        || {
            std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| {
                    e.file_name().to_string_lossy().starts_with("console-7.2-")
                        && file_contains(&e.path(), "KSOCK-STEP 2 sleep")
                })
        },
    );
    (child, tmp, art)
}

#[test]
fn child_qemu_killed() {
    if !is_child("child_qemu_killed") {
        return;
    }
    let v = run(&["e-sleep", "d-after"], Duration::from_secs(120));
    let killed = verdict(&v, "e-sleep");
    assert_eq!(killed.status, Status::Fail);
    assert!(
        actual(killed).contains("qemu was killed by signal 9"),
        "{killed:#?}"
    );
    assert_eq!(verdict(&v, "d-after").status, Status::Pass, "{v:#?}");
}

#[test]
fn qemu_killed_from_outside_is_named_and_the_rest_runs() {
    let (mut child, tmp, _art) = child_in_e_sleep("child_qemu_killed");
    let qemu = qemu_mentioning(&tmp.path().to_string_lossy()).expect("a qemu of the child's");
    sigkill(qemu);
    let st = child.wait().unwrap();
    assert!(
        st.success(),
        "the child's verdicts were wrong (its output is above)"
    );
    assert_nothing_left(tmp.path());
}

#[test]
fn child_boot_until_killed() {
    if !is_child("child_boot_until_killed") {
        return;
    }
    run(&["e-sleep"], Duration::from_secs(120));
    unreachable!("the parent kills this process during the spec");
}

#[test]
fn sigkill_of_ksock_during_a_boot_leaves_nothing_for_good() {
    let (mut child, tmp, _art) = child_in_e_sleep("child_boot_until_killed");
    sigkill(child.id());
    child.wait().unwrap();
    // vng, virtme-run and qemu die with it (parent-death signal, PID namespace).
    let needle = tmp.path().to_string_lossy();
    let left = settle(&needle, Duration::from_secs(10));
    assert!(left.is_empty(), "processes outlived ksock: {left:?}");
    // Its scratch directories are still there (no handler ran) until the next start sweeps.
    let before: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert!(
        !before.is_empty(),
        "expected the killed run's scratch directories"
    );
    let swept = ksock_vm::scratch::sweep(tmp.path());
    assert_eq!(swept.len(), before.len(), "{swept:?}");
    assert_nothing_left(tmp.path());
}
