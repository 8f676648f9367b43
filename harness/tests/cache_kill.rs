//! SIGKILL of ksock while it builds its cache (a CI timeout, the OOM killer): nothing keeps
//! running, nothing stays mounted, the half-built entry is not trusted, and the next run
//! completes. Real builds: a bookworm root with mmdebstrap (kernel 6.1), and the 7.2 Rust
//! build tree during `modules_prepare`.
//!
//! Each scenario uses a cache of its own (`KSOCK_CACHE`, a temporary directory); the 7.2
//! one borrows the default cache's finished roots and kernel packages through symlinks, so
//! that only the build tree is built twice.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

#[test]
fn child_prepare() {
    if !is_child("child_prepare") {
        return;
    }
    ksock_vm::supervise::install_interrupt_handler();
    let cache = ksock_vm::Cache::from_env().unwrap();
    let kernel = std::env::var("KSOCK_TEST_KERNEL").unwrap();
    let k = ksock_vm::kernel::prepare(&cache, &kernel, &Default::default()).unwrap();
    eprintln!("prepared {} with root {}", k.release, k.root.path.display());
}

fn prepare_in(cache: &Path, kernel: &str) -> std::process::Child {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child_prepare", "--nocapture"])
        .env(CHILD_ENV, "child_prepare")
        .env("KSOCK_CACHE", cache)
        .env("KSOCK_TEST_KERNEL", kernel);
    cmd.spawn().unwrap()
}

/// Kills the child once `ready` holds, then checks that nothing of it survives and that a
/// second, undisturbed run completes and leaves no staging directory.
fn kill_then_complete(cache: &Path, kernel: &str, what: &str, mut ready: impl FnMut() -> bool) {
    let mut child = prepare_in(cache, kernel);
    wait_for(what, Duration::from_secs(1200), &mut child, &mut ready);
    sigkill(child.id());
    child.wait().unwrap();
    let needle = cache.to_string_lossy();
    let left = settle(&needle, Duration::from_secs(15));
    assert!(left.is_empty(), "processes outlived ksock: {left:?}");
    let mounts = mounts_under(cache);
    assert!(mounts.is_empty(), "mounts left under the cache: {mounts:?}");

    let st = prepare_in(cache, kernel).wait().unwrap();
    assert!(st.success(), "the run after the kill did not complete");
    for kind in ["roots", "trees"] {
        let Ok(rd) = std::fs::read_dir(cache.join(kind)) else {
            continue;
        };
        let partial: Vec<_> = rd
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".partial-"))
            .map(|e| e.path())
            .collect();
        assert!(partial.is_empty(), "staging left behind: {partial:?}");
    }
}

#[test]
fn sigkill_during_mmdebstrap_then_the_next_run_completes() {
    let cache = tempfile::tempdir().unwrap();
    let needle = cache.path().to_string_lossy().to_string();
    // 3 s after dpkg first runs under mmdebstrap (the whole root takes 25–45 s): packages are
    // being unpacked. (Waiting a fixed time after mmdebstrap starts was seen to miss it.)
    let mut since = None;
    kill_then_complete(cache.path(), "6.1", "dpkg at work in the root", || {
        let running = processes_mentioning(&needle);
        // The program's name, not its arguments (mmdebstrap's own say `--dpkgopt`).
        let runs = |w: &str| {
            running.iter().any(|(_, c)| {
                let prog = c.split_whitespace().next().unwrap_or("");
                prog.rsplit('/').next().is_some_and(|p| p.starts_with(w))
            })
        };
        // Kernel packages are unpacked with dpkg-deb too: only dpkg under mmdebstrap counts.
        let mmdebstrap = running.iter().any(|(_, c)| c.contains("mmdebstrap"));
        if since.is_none() && mmdebstrap && runs("dpkg") {
            since = Some(std::time::Instant::now());
        }
        let ready = since.is_some_and(|t| t.elapsed() > Duration::from_secs(3));
        if ready {
            eprintln!(
                "killing ksock; its build has: {running:#?}\nmounts: {:#?}",
                mounts_under(cache.path())
            );
        }
        ready
    });
    assert!(cache.path().join("roots").read_dir().unwrap().count() >= 1);
}

#[test]
fn sigkill_during_modules_prepare_then_the_next_run_completes() {
    let main = ksock_vm::Cache::from_env().unwrap();
    let cache = tempfile::tempdir().unwrap();
    for kind in ["apt", "kernels", "roots", "venv"] {
        let from = main.root().join(kind);
        std::fs::create_dir_all(&from).unwrap();
        std::os::unix::fs::symlink(&from, cache.path().join(kind)).unwrap();
    }
    let log_dir = cache.path().join("logs");
    kill_then_complete(cache.path(), "7.2", "modules_prepare", || {
        std::fs::read_dir(&log_dir).is_ok_and(|rd| {
            rd.flatten().any(|e| {
                e.file_name().to_string_lossy().starts_with("tree-")
                    && file_contains(&e.path(), "  CC ")
            })
        })
    });
    let trees: Vec<_> = cache
        .path()
        .join("trees")
        .read_dir()
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(trees.len(), 1, "{trees:?}");
}
