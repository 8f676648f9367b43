//! Toolchain roots: one Debian root per suite set, made with mmdebstrap, holding a compiler
//! set. Which compilers a kernel needs, and whether a root has exactly those, is the kernel
//! layer's business (`kernel::toolchain`): this module only makes roots and adds to them.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::debian::chroot::run_in_root;
use crate::host::cache::Cache;
use crate::host::progress::Step;
use crate::host::{privilege, supervise};
use crate::Error;

/// Packages every root gets besides the C compiler named by a kernel's config.
const BASE_PACKAGES: &[&str] = &[
    "build-essential",
    "make",
    "bc",
    "flex",
    "bison",
    "libelf-dev",
    "libssl-dev",
    "dwarves",
    "python3",
    "cpio",
    "kmod",
    "xz-utils",
    "zstd",
];
/// Added when the kernel has `CONFIG_RUST=y`.
const RUST_PACKAGES: &[&str] = &[
    "rustc",
    "rust-src",
    "bindgen",
    "libclang-dev",
    "clang",
    // clippy-driver, for the kernel's `make CLIPPY=1` (see `ensure_clippy`).
    "rust-clippy",
];

/// A Debian root with a compiler set in it.
#[derive(Debug, Clone)]
pub struct ToolchainRoot {
    pub name: String,
    pub path: PathBuf,
}

/// A root's packages: the base set, the C compiler packages `compilers`, and with `rust` the
/// Rust toolchain.
pub fn packages(compilers: &[String], rust: bool) -> Vec<String> {
    let mut packages: Vec<String> = BASE_PACKAGES.iter().map(|s| s.to_string()).collect();
    packages.extend(compilers.iter().cloned());
    if rust {
        packages.extend(RUST_PACKAGES.iter().map(|s| s.to_string()));
    }
    packages
}

/// Returns the root `name` for `suites`, creating it with mmdebstrap (with `packages`) on
/// first use.
pub fn ensure(
    cache: &Cache,
    name: &str,
    suites: &[&str],
    mirror: &str,
    packages: &[String],
    log: &Path,
) -> Result<ToolchainRoot, Error> {
    let path = cache.get_or_build("roots", name, |staging| {
        mmdebstrap(staging, suites, mirror, packages, log)
    })?;
    Ok(ToolchainRoot {
        name: name.to_string(),
        path,
    })
}
/// Makes sure `root` has `clippy-driver` (the kernel's `CLIPPY=1` runs it instead of
/// rustc). Roots made before ksock included it get Debian's `rust-clippy` of exactly the
/// root's rustc version, installed with the root's own apt: never another compiler.
pub fn ensure_clippy(root: &ToolchainRoot, log: &Path) -> Result<(), Error> {
    let driver = root.path.join("usr/bin/clippy-driver");
    if driver.exists() {
        return Ok(());
    }
    // One installer at a time (apt would refuse the second); the lock goes with the file
    // descriptor, so a killed installer releases it.
    let lock_path = root.path.with_extension("clippy.lock");
    let lock = std::fs::File::create(&lock_path).map_err(|e| Error::io(&lock_path, e))?;
    // SAFETY: flock on a file descriptor we own; no memory is involved.
    if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) } != 0 {
        return Err(Error::io(&lock_path, std::io::Error::last_os_error()));
    }
    if driver.exists() {
        return Ok(());
    }
    let step = Step::start(format!(
        "toolchain root {}: installing rust-clippy (its rustc's version)",
        root.name
    ));
    let script = ": installing rust-clippy in the toolchain root\n\
                  v=$(dpkg-query -W -f='${Version}' rustc)\n\
                  apt-get update -q -o APT::Sandbox::User=root\n\
                  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
                  -o APT::Sandbox::User=root \"rust-clippy=$v\"\n\
                  apt-get clean";
    run_in_root(&root.path, &[], script, log)?;
    step.done("installed");
    Ok(())
}

fn mmdebstrap(
    dest: &Path,
    suites: &[&str],
    mirror: &str,
    packages: &[String],
    log: &Path,
) -> Result<(), Error> {
    std::fs::write(log, "").map_err(|e| Error::io(log, e))?;
    let what = format!("mmdebstrap {} root", suites.join("+"));
    if !privilege::is_root() {
        return mmdebstrap_unshared(dest, suites, mirror, packages, log, &what);
    }
    // Contained: its mounts (proc, sys, dev inside the root) and its apt/dpkg children
    // vanish with it, even if ksock is killed with SIGKILL mid-build.
    let mut cmd = supervise::contained("mmdebstrap", true);
    cmd.arg("--mode=root");
    mmdebstrap_args(&mut cmd, suites, packages).arg(dest);
    add_sources(&mut cmd, suites, mirror);
    supervise::run_logged(cmd, &what, log)
}

/// An ordinary user's root: mmdebstrap's unshare mode (its own user namespace, from the
/// user's subordinate ids) writes a tarball, which is unpacked as the user's own files, so
/// the user can read, extend (in `unshare --map-root-user`, where they own everything) and
/// delete the root like any cache entry. Device nodes are left out: `/dev` is bind-mounted.
fn mmdebstrap_unshared(
    dest: &Path,
    suites: &[&str],
    mirror: &str,
    packages: &[String],
    log: &Path,
    what: &str,
) -> Result<(), Error> {
    privilege::check(true)?;
    // Inside the staging directory: swept with it if ksock dies here.
    std::fs::create_dir_all(dest).map_err(|e| Error::io(dest, e))?;
    let tar = dest.join(".mmdebstrap.tar");
    let mut cmd = Command::new("mmdebstrap");
    cmd.arg("--mode=unshare");
    mmdebstrap_args(&mut cmd, suites, packages).arg(&tar);
    add_sources(&mut cmd, suites, mirror);
    let made = supervise::run_logged(cmd, what, log);
    let unpacked = made.and_then(|()| {
        let mut untar = Command::new("tar");
        untar
            .args([
                "--extract",
                "--no-same-owner",
                "--exclude=./dev/*",
                "--file",
            ])
            .arg(&tar)
            .arg("--directory")
            .arg(dest);
        supervise::run_logged(untar, "unpacking the root", log)
    });
    let _ = std::fs::remove_file(&tar);
    unpacked
}

fn mmdebstrap_args<'c>(
    cmd: &'c mut Command,
    suites: &[&str],
    packages: &[String],
) -> &'c mut Command {
    cmd.args([
        "--variant=apt",
        "--aptopt=Acquire::Check-Valid-Until \"false\"",
        "--aptopt=Acquire::Languages \"none\"",
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    ])
    .arg(format!("--include={}", packages.join(",")))
    .arg(suites[0])
}

fn add_sources(cmd: &mut Command, suites: &[&str], mirror: &str) {
    for s in suites {
        cmd.arg(format!("deb {mirror} {s} main"));
    }
}
