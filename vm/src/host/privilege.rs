//! Running as root or as an ordinary user.
//!
//! As root, ksock uses mmdebstrap's root mode and plain PID and mount namespaces. As an
//! ordinary user it uses what such tools normally use: an unprivileged user namespace
//! (`unshare --user --map-root-user`) wherever it needs mounts, chroot or a PID namespace,
//! and mmdebstrap's unshare mode (newuidmap and the user's subordinate ids) to make a
//! Debian root, which is then unpacked as the user's own files. The guest runs its command
//! as root either way (vng does so for `--exec`), and KVM needs only access to
//! `/dev/kvm` (the kvm group); without it, guests run under TCG.
//!
//! What only root can do on the host (install packages, grant subordinate ids, allow user
//! namespaces) is never attempted: ksock says once what to run, exactly.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::Error;

/// Whether this process is root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The user's name (for `/etc/subuid`), else their uid as text.
pub fn user_name() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| {
            // SAFETY: getuid has no preconditions.
            let uid = unsafe { libc::getuid() };
            let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
            passwd.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.get(2)? == &uid.to_string()).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| {
            // SAFETY: getuid has no preconditions.
            unsafe { libc::getuid() }.to_string()
        })
}

/// `unshare`'s arguments that give an ordinary user a namespace where they are root (none
/// for root).
pub fn userns_args() -> &'static [&'static str] {
    if is_root() {
        &[]
    } else {
        &["--user", "--map-root-user"]
    }
}

/// Whether an unprivileged user namespace can be made here.
fn userns_works() -> bool {
    Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--pid",
            "--fork",
            "--mount",
            "true",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The user's subordinate id range in `file` (`/etc/subuid` format: `name:start:count`,
/// or the uid for the name).
fn has_subids(file: &str, user: &str) -> bool {
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() }.to_string();
    file.lines().any(|l| {
        let mut f = l.split(':');
        let who = f.next().unwrap_or_default();
        (who == user || who == uid) && f.next().is_some() && f.next().is_some_and(|c| c != "0")
    })
}

/// The first id after every range in `file`, for a new range that overlaps none.
fn next_free(file: &str) -> u64 {
    file.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(f.get(1)?.parse::<u64>().ok()? + f.get(2)?.parse::<u64>().ok()?)
        })
        .max()
        .unwrap_or(100_000)
        .max(100_000)
}

/// Checks that an ordinary user can run ksock; `root_builds`: a Debian root will be made
/// (mmdebstrap's unshare mode needs newuidmap and subordinate ids). Says exactly what to
/// run as root when something is missing. Root passes.
pub fn check(root_builds: bool) -> Result<(), Error> {
    if is_root() {
        return Ok(());
    }
    let mut todo = Vec::new();
    if !userns_works() {
        todo.push(
            "unprivileged user namespaces are off; allow them:\n  \
             sudo sysctl -w kernel.unprivileged_userns_clone=1   # Debian\n  \
             sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0   # Ubuntu 24.04+"
                .to_string(),
        );
    }
    if root_builds {
        let user = user_name();
        if crate::host::tools::find_tool("newuidmap").is_none() {
            todo.push(
                "mmdebstrap's unshare mode needs newuidmap:\n  sudo apt-get install uidmap".into(),
            );
        }
        let subuid = std::fs::read_to_string("/etc/subuid").unwrap_or_default();
        let subgid = std::fs::read_to_string("/etc/subgid").unwrap_or_default();
        if !has_subids(&subuid, &user) || !has_subids(&subgid, &user) {
            let start = next_free(&subuid).max(next_free(&subgid));
            todo.push(format!(
                "mmdebstrap's unshare mode needs subordinate ids for {user}:\n  \
                 sudo usermod --add-subuids {start}-{end} --add-subgids {start}-{end} {user}",
                end = start + 65535
            ));
        }
    }
    if todo.is_empty() {
        return Ok(());
    }
    Err(Error::Config(format!(
        "ksock runs as an ordinary user, but this host needs a root's help once:\n{}",
        todo.join("\n")
    )))
}

/// Whether `/dev/kvm` can be opened (for the KVM probe's reason when it cannot).
pub fn kvm_access() -> Result<(), String> {
    let p = Path::new("/dev/kvm");
    if !p.exists() {
        return Err("no /dev/kvm".into());
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(p)
        .map(|_| ())
        .map_err(|e| {
            format!(
                "/dev/kvm: {e} (add yourself to its group: sudo usermod -aG kvm {}, then log \
                 in again)",
                user_name()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subordinate_ranges_are_found_by_name_or_uid_and_new_ones_overlap_none() {
        let f = "alice:100000:65536\nbob:165536:65536\n";
        assert!(has_subids(f, "alice"));
        assert!(!has_subids(f, "carol"));
        assert!(
            !has_subids("carol:200000:0\n", "carol"),
            "an empty range is none"
        );
        assert_eq!(next_free(f), 231_072);
        assert_eq!(next_free(""), 100_000);
    }
}
