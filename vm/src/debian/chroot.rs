//! Running a command inside a toolchain root.
//!
//! Every call runs in a fresh private mount and PID namespace ([`supervise::contained`]),
//! where `/proc`, `/dev` and the requested bind mounts are set up and the command is
//! chroot'ed. When the process exits, for whatever reason (Ctrl-C, or ksock killed with
//! SIGKILL), the kernel kills what runs inside and drops the namespace with every mount in
//! it: nothing is ever left running or mounted on the host.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::host::{privilege, supervise};
use crate::Error;

pub use crate::host::logs::tail;

/// A host directory made visible at `guest` (an absolute path inside the root).
#[derive(Debug, Clone)]
pub struct Bind {
    pub host: PathBuf,
    pub inside: String,
    pub writable: bool,
}

/// Runs `script` with `sh -ec` inside `root`; output is appended to `log`.
/// On failure the error carries the log's tail.
pub fn run_in_root(root: &Path, binds: &[Bind], script: &str, log: &Path) -> Result<(), Error> {
    let mut setup = String::from("set -e\nR=\"$1\"\nshift\n");
    setup.push_str("mount -t proc proc \"$R/proc\"\nmount --rbind /dev \"$R/dev\"\n");
    for (i, b) in binds.iter().enumerate() {
        // Paths are passed as positional arguments, never spliced into the script text.
        setup.push_str(&format!(
            "mkdir -p \"$R{inside}\"\nmount --bind \"${n}\" \"$R{inside}\"\n{ro}",
            inside = b.inside,
            n = i + 1,
            ro = if b.writable {
                String::new()
            } else {
                format!("mount -o remount,bind,ro \"$R{}\"\n", b.inside)
            }
        ));
    }
    setup.push_str("exec chroot \"$R\" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 /bin/sh -ec \"$KSOCK_SCRIPT\"\n");
    let mut cmd = supervise::contained("sh", true);
    cmd.args(["-ec", &setup, "ksock-chroot"])
        .arg(root)
        .args(binds.iter().map(|b| &b.host))
        .env("KSOCK_SCRIPT", script);
    supervise::run_logged(cmd, first_line(script), log)
}

fn first_line(s: &str) -> &str {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or(s).trim()
}

/// Runs `argv` inside the root and returns its stdout (for version probes).
pub fn output_in_root(root: &Path, argv: &[&str]) -> Result<String, Error> {
    let mut cmd = Command::new("unshare");
    cmd.args(privilege::userns_args());
    let out = cmd
        .arg("chroot")
        .arg(root)
        .args(argv)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LC_ALL", "C.UTF-8")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Command {
            what: format!("chroot {} {}", root.display(), argv.join(" ")),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(Error::Command {
            what: format!("{} (in root {})", argv.join(" "), root.display()),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
