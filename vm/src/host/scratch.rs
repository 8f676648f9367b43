//! Temporary directories that a killed ksock does not leave behind for good.
//!
//! Each one is `$TMPDIR/ksock-<kind>-XXXXXX` (kind: `run`, `vng`, `probe`), holding a
//! `.owner` file on which the creating process keeps an exclusive `flock` for the
//! directory's lifetime. The kernel drops that lock
//! when the process dies, however it dies, so the next ksock to start (the first
//! [`tempdir`] call of a process sweeps) removes every such directory whose lock it can take.
//! A lock, unlike a pid, cannot be confused with an unrelated process that reused the pid.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Duration;

use crate::Error;

const PREFIX: &str = "ksock-";
/// The kinds of scratch directory; only these are ever swept.
const KINDS: &[&str] = &["run", "vng", "probe"];
const OWNER: &str = ".owner";
/// A directory without an owner file is left alone this long: its creator may be between
/// `mkdir` and taking the lock.
const UNOWNED_GRACE: Duration = Duration::from_secs(120);

/// A temporary directory owned (locked) by this process; removed on drop.
#[derive(Debug)]
pub struct Scratch {
    dir: tempfile::TempDir,
    _owner: File,
}

impl Scratch {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Creates `$TMPDIR/ksock-<kind>-XXXXXX`, locked by this process. The first call in a
/// process first sweeps directories of dead ksock processes.
pub fn tempdir(kind: &str) -> Result<Scratch, Error> {
    assert!(KINDS.contains(&kind), "unknown scratch kind {kind}");
    static SWEEP: Once = Once::new();
    SWEEP.call_once(|| {
        sweep(&std::env::temp_dir());
    });
    let base = std::env::temp_dir();
    let dir = tempfile::Builder::new()
        .prefix(&format!("{PREFIX}{kind}-"))
        .tempdir_in(&base)
        .map_err(|e| Error::io(&base, e))?;
    let path = dir.path().join(OWNER);
    let owner = File::create(&path).map_err(|e| Error::io(&path, e))?;
    if !try_lock(&owner) {
        return Err(Error::Config(format!("{}: cannot lock", path.display())));
    }
    Ok(Scratch { dir, _owner: owner })
}

fn try_lock(f: &File) -> bool {
    // SAFETY: flock on a file descriptor we own; no memory is involved.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Removes `ksock-*` directories under `base` whose owner is gone; returns what it removed.
pub fn sweep(base: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(base) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for ent in rd.flatten() {
        let path = ent.path();
        let is_ours = ent
            .file_name()
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .is_some_and(|rest| KINDS.iter().any(|k| rest.starts_with(&format!("{k}-"))));
        if !is_ours || !ent.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if owner_is_gone(&path) && crate::host::cache::remove_tree(&path).is_ok() {
            removed.push(path);
        }
    }
    removed
}

fn owner_is_gone(dir: &Path) -> bool {
    match File::open(dir.join(OWNER)) {
        // Taking the lock proves nobody holds it; it is released when `f` drops.
        Ok(f) => try_lock(&f),
        // No owner file: a directory of an older ksock, or one being created right now.
        Err(_) => std::fs::metadata(dir)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > UNOWNED_GRACE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_owner_keeps_its_directory_and_a_dead_one_loses_it() {
        let base = tempfile::tempdir().unwrap();
        // Live: this process holds the lock.
        let live = base.path().join("ksock-run-live");
        std::fs::create_dir(&live).unwrap();
        let f = File::create(live.join(OWNER)).unwrap();
        assert!(try_lock(&f));
        // Dead: a child took the lock and was killed with SIGKILL.
        let dead = base.path().join("ksock-vng-dead");
        std::fs::create_dir(&dead).unwrap();
        // One process: the shell takes the lock on fd 9 and becomes `sleep`, keeping it.
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg("exec 9>\"$1\"; flock -x 9; exec sleep 300")
            .arg("sh")
            .arg(dead.join(OWNER))
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(sweep(base.path()).is_empty(), "swept a directory in use");
        child.kill().unwrap();
        child.wait().unwrap();
        // Not ours: never touched, even with our prefix.
        let other = base.path().join("ksock-newcomer-cache");
        std::fs::create_dir(&other).unwrap();

        let removed = sweep(base.path());
        assert_eq!(removed, vec![dead.clone()]);
        assert!(live.exists() && other.exists() && !dead.exists());
        drop(f);
    }
}
