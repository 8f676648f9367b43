//! What the host needs, and installing it on first use.
//!
//! Debian packages come through the host's own apt; virtme-ng comes from PyPI by name,
//! pinned to the version ksock was measured with, into a virtualenv inside ksock's cache
//! (Debian's system Python refuses `pip install`, and the host's Python stays untouched).

use std::process::Command;

use crate::boot::{vng_path, which};
use crate::progress::Step;
use crate::Error;

/// PyPI requirement for virtme-ng.
pub const VIRTME_NG: &str = "virtme-ng==1.42";

/// Command → Debian package that provides it.
pub const HOST_COMMANDS: &[(&str, &str)] = &[
    ("mmdebstrap", "mmdebstrap"),
    ("qemu-system-x86_64", "qemu-system-x86"),
    // vng resolves module dependencies with the host's modprobe and builds its initramfs
    // with busybox.
    ("modprobe", "kmod"),
    ("busybox", "busybox-static"),
    ("unshare", "util-linux"),
    ("dpkg-deb", "dpkg"),
    ("apt-get", "apt"),
];

/// Where ksock's own virtme-ng lives.
pub fn venv_vng() -> Option<std::path::PathBuf> {
    crate::Cache::from_env()
        .ok()
        .map(|c| c.root().join("venv/bin/vng"))
}

/// Packages whose commands are missing.
pub fn missing_packages() -> Vec<&'static str> {
    let mut v: Vec<&str> = HOST_COMMANDS
        .iter()
        .filter(|(cmd, _)| which(cmd).is_none() && !in_sbin(cmd))
        .map(|(_, pkg)| *pkg)
        .collect();
    if !std::path::Path::new(crate::debian::KEYRING).exists() {
        v.push("debian-archive-keyring");
    }
    v
}

fn in_sbin(cmd: &str) -> bool {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .any(|d| std::path::Path::new(d).join(cmd).is_file())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Installs what is missing (as root), or explains what to install.
pub fn ensure_host_tools() -> Result<(), Error> {
    let pkgs = missing_packages();
    let need_vng = vng_path().is_none();
    if pkgs.is_empty() && !need_vng {
        return Ok(());
    }
    if !is_root() {
        let mut msg = String::from("ksock needs host tools that are not installed:\n");
        if !pkgs.is_empty() {
            msg += &format!("  sudo apt-get install {}\n", pkgs.join(" "));
        }
        if need_vng {
            msg += &format!("  python3 -m pip install '{VIRTME_NG}'  (or run ksock as root)\n");
        }
        msg += "(ksock also needs root for mmdebstrap, chroot and mounts; run it as root)";
        return Err(Error::Config(msg));
    }
    if !pkgs.is_empty() {
        let step = Step::start(format!("installing host packages: {}", pkgs.join(" ")));
        run_plain(Command::new("apt-get").args(["-q", "update"]))?;
        run_plain(
            Command::new("apt-get")
                .args(["install", "-y", "-q", "--no-install-recommends"])
                .args(&pkgs)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )?;
        step.done("installed");
    }
    if need_vng {
        let step = Step::start(format!(
            "installing {VIRTME_NG} from PyPI into ksock's cache"
        ));
        let vng = venv_vng().ok_or_else(|| Error::Config("no cache directory".into()))?;
        let venv = vng
            .parent()
            .and_then(|p| p.parent())
            .expect("venv/bin/vng")
            .to_path_buf();
        if run_plain(Command::new("python3").arg("-m").arg("venv").arg(&venv)).is_err() {
            // Debian splits venv out of python3.
            run_plain(
                Command::new("apt-get")
                    .args(["install", "-y", "-q", "python3-venv"])
                    .env("DEBIAN_FRONTEND", "noninteractive"),
            )?;
            run_plain(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
        }
        run_plain(
            Command::new(venv.join("bin/python3")).args(["-m", "pip", "install", "-q", VIRTME_NG]),
        )?;
        if !vng.is_file() {
            return Err(Error::Config(format!(
                "pip installed {VIRTME_NG} but {} is missing",
                vng.display()
            )));
        }
        step.done("installed");
    }
    Ok(())
}

fn run_plain(cmd: &mut Command) -> Result<(), Error> {
    let what = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| Error::Command {
        what: what.clone(),
        detail: e.to_string(),
    })?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(15).collect();
        Err(Error::Command {
            what,
            detail: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        })
    }
}

/// Whether this process may do what the pipeline needs (root: mmdebstrap, chroot, mounts).
pub fn require_root() -> Result<(), Error> {
    if is_root() {
        Ok(())
    } else {
        Err(Error::Config(
            "ksock builds Debian roots and mounts inside them: run it as root (in a container \
             or VM you own)"
                .into(),
        ))
    }
}
