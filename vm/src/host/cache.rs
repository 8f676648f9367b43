//! The on-disk cache and the one way things get into it: build in a staging directory
//! beside the final place, rename when complete. A half-built entry is never at a final
//! path, so a later run can trust whatever it finds there.

use std::path::{Path, PathBuf};

use crate::Error;

/// Root of ksock's cache: `$KSOCK_CACHE`, else `$XDG_CACHE_HOME/ksock`, else `~/.cache/ksock`.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    pub fn from_env() -> Result<Self, Error> {
        let root = if let Some(p) = std::env::var_os("KSOCK_CACHE") {
            PathBuf::from(p)
        } else if let Some(p) = std::env::var_os("XDG_CACHE_HOME") {
            PathBuf::from(p).join("ksock")
        } else if let Some(home) = std::env::var_os("HOME") {
            PathBuf::from(home).join(".cache/ksock")
        } else {
            return Err(Error::Config(
                "no cache directory: set KSOCK_CACHE or HOME".into(),
            ));
        };
        Self::at(root)
    }

    pub fn at(root: impl Into<PathBuf>) -> Result<Self, Error> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(|e| Error::io(&root, e))?;
        // Make the root absolute: it is bind-mounted and passed to the guest.
        let root = std::fs::canonicalize(&root).map_err(|e| Error::io(&root, e))?;
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/<kind>/<name>`; nothing is created.
    pub fn entry(&self, kind: &str, name: &str) -> PathBuf {
        self.root.join(kind).join(name)
    }

    /// Returns the complete entry at `kind/name`, building it with `build` if it is missing.
    /// `build` gets an empty staging directory; only when it returns `Ok` is the staging
    /// directory renamed into place. On error (or a panic, or Ctrl-C unwinding) the staging
    /// directory is removed.
    pub fn get_or_build(
        &self,
        kind: &str,
        name: &str,
        build: impl FnOnce(&Path) -> Result<(), Error>,
    ) -> Result<PathBuf, Error> {
        let fin = self.entry(kind, name);
        if fin.is_dir() {
            return Ok(fin);
        }
        let parent = fin.parent().expect("entry has a parent");
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        remove_stale_staging(parent, name);
        let staging = Staging::new(parent.join(format!(".{name}.partial-{}", std::process::id())))?;
        build(staging.path())?;
        match staging.commit(&fin) {
            Ok(()) => Ok(fin),
            // Another process (a parallel test) finished the same entry first: theirs is
            // complete too, ours is dropped (and removed).
            Err(_) if fin.is_dir() => Ok(fin),
            Err(e) => Err(e),
        }
    }
}

/// Staging directories of processes that are gone (killed with SIGKILL, power loss) are
/// removed before a new build of the same entry starts.
fn remove_stale_staging(parent: &Path, name: &str) {
    let prefix = format!(".{name}.partial-");
    let Ok(rd) = std::fs::read_dir(parent) else {
        return;
    };
    for ent in rd.flatten() {
        let fname = ent.file_name();
        let Some(pid) = fname.to_str().and_then(|s| s.strip_prefix(&prefix)) else {
            continue;
        };
        let alive = pid
            .parse::<u32>()
            .map(|p| Path::new(&format!("/proc/{p}")).exists())
            .unwrap_or(false);
        if !alive {
            let _ = remove_tree(&ent.path());
        }
    }
}

/// A directory that is deleted on drop unless committed.
pub struct Staging {
    path: PathBuf,
    committed: bool,
}

impl Staging {
    pub fn new(path: PathBuf) -> Result<Self, Error> {
        if path.exists() {
            remove_tree(&path)?;
        }
        std::fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        Ok(Self {
            path,
            committed: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the staging directory to `fin`. Fails (and the staging directory is
    /// removed on drop) if `fin` already exists.
    pub fn commit(mut self, fin: &Path) -> Result<(), Error> {
        std::fs::rename(&self.path, fin).map_err(|e| Error::io(fin, e))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = remove_tree(&self.path);
        }
    }
}

/// `rm -rf` that also copes with read-only directories left by package extraction.
pub fn remove_tree(path: &Path) -> Result<(), Error> {
    if !path.exists() {
        return Ok(());
    }
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(_) => {
            // Debian roots contain read-only dirs and files owned by other users; as root
            // remove_dir_all normally works, but fall back to rm for odd permission bits.
            let st = std::process::Command::new("rm")
                .arg("-rf")
                .arg(path)
                .status()
                .map_err(|e| Error::io(path, e))?;
            if st.success() {
                Ok(())
            } else {
                Err(Error::Config(format!(
                    "could not remove {}",
                    path.display()
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_build_leaves_nothing_and_success_is_renamed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::at(dir.path()).unwrap();
        let r = cache.get_or_build("k", "x", |p| {
            std::fs::write(p.join("half"), "x").unwrap();
            Err(Error::Config("interrupted".into()))
        });
        assert!(r.is_err());
        let left: Vec<_> = std::fs::read_dir(dir.path().join("k")).unwrap().collect();
        assert!(left.is_empty(), "staging left behind: {left:?}");

        let p = cache
            .get_or_build("k", "x", |p| {
                std::fs::write(p.join("whole"), "y").map_err(|e| Error::io(p, e))
            })
            .unwrap();
        assert_eq!(std::fs::read_to_string(p.join("whole")).unwrap(), "y");
        // A second call trusts the complete entry and does not build again.
        let p2 = cache
            .get_or_build("k", "x", |_| panic!("rebuilt a complete entry"))
            .unwrap();
        assert_eq!(p, p2);
    }

    #[test]
    fn losing_a_build_race_uses_the_winners_entry() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::at(dir.path()).unwrap();
        let fin = cache.entry("k", "x");
        let p = cache
            .get_or_build("k", "x", |p| {
                // Meanwhile another process completes the same entry.
                std::fs::create_dir_all(&fin).unwrap();
                std::fs::write(fin.join("theirs"), "").unwrap();
                std::fs::write(p.join("ours"), "").map_err(|e| Error::io(p, e))
            })
            .unwrap();
        assert!(p.join("theirs").exists() && !p.join("ours").exists());
        let names: Vec<_> = std::fs::read_dir(dir.path().join("k")).unwrap().collect();
        assert_eq!(names.len(), 1, "our staging copy was left behind");
    }

    #[test]
    fn stale_staging_of_dead_process_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::at(dir.path()).unwrap();
        // pid 0 is never a live process id in /proc.
        let stale = dir.path().join("k/.x.partial-0");
        std::fs::create_dir_all(&stale).unwrap();
        cache
            .get_or_build("k", "x", |p| {
                std::fs::write(p.join("a"), "").map_err(|e| Error::io(p, e))
            })
            .unwrap();
        assert!(!stale.exists());
    }
}
