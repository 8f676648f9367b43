//! Toolchain roots: one Debian root per suite set, made with mmdebstrap, holding the compiler
//! set that built the kernel. A root is only used for a kernel after [`check`] has matched
//! its `rustc`, `bindgen` and C compiler against the kernel's own `CONFIG_*_VERSION_TEXT`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::kconfig::KernelConfig;
use crate::{Cache, Error};

/// Packages every root gets besides the C compiler named by the kernel's config.
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

/// A tool whose version the kernel recorded in its config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Cc,
    Rustc,
    Bindgen,
}

impl Tool {
    fn config_key(self) -> &'static str {
        match self {
            Tool::Cc => "CC_VERSION_TEXT",
            Tool::Rustc => "RUSTC_VERSION_TEXT",
            Tool::Bindgen => "BINDGEN_VERSION_TEXT",
        }
    }
}

/// What the kernel says it was built with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub tool: Tool,
    /// The command to ask (`x86_64-linux-gnu-gcc-16`, `rustc`, `bindgen`).
    pub command: String,
    /// The first line of `<command> --version` must equal this.
    pub version_text: String,
}

/// The tools (and version texts) a kernel's config requires.
pub fn expected_tools(cfg: &KernelConfig) -> Vec<Expected> {
    let mut out = Vec::new();
    let mut tools = vec![Tool::Cc];
    if cfg.enabled("RUST") {
        tools.extend([Tool::Rustc, Tool::Bindgen]);
    }
    for tool in tools {
        let Some(text) = cfg.get(tool.config_key()) else {
            continue;
        };
        let command = match tool {
            Tool::Cc => text.split_whitespace().next().unwrap_or("gcc").to_string(),
            Tool::Rustc => "rustc".into(),
            Tool::Bindgen => "bindgen".into(),
        };
        out.push(Expected {
            tool,
            command,
            version_text: text.to_string(),
        });
    }
    out
}

/// The Debian package that provides a C compiler command (`x86_64-linux-gnu-gcc-16` → `gcc-16`).
pub fn cc_package(command: &str) -> String {
    let base = command.rsplit('/').next().unwrap_or(command);
    let base = base.strip_prefix("x86_64-linux-gnu-").unwrap_or(base);
    base.to_string()
}

const NOT_INSTALLED: &str = "(not installed)";

/// A mismatch between a kernel's toolchain and a root's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub command: String,
    pub kernel_has: String,
    pub root_has: String,
}

/// Compares expected version texts with what the root answered (`None`: not installed).
pub fn compare(expected: &[Expected], found: &[Option<String>]) -> Vec<Mismatch> {
    expected
        .iter()
        .zip(found)
        .filter_map(|(e, f)| {
            let got = f
                .as_deref()
                .and_then(|s| s.lines().next())
                .map(str::trim)
                .unwrap_or("");
            (got != e.version_text).then(|| Mismatch {
                command: e.command.clone(),
                kernel_has: e.version_text.clone(),
                root_has: if got.is_empty() {
                    NOT_INSTALLED.to_string()
                } else {
                    got.to_string()
                },
            })
        })
        .collect()
}

/// A Debian root with a compiler set in it.
#[derive(Debug, Clone)]
pub struct ToolchainRoot {
    pub name: String,
    pub path: PathBuf,
}

impl ToolchainRoot {
    /// Asks the root for each tool's version and refuses on any difference, naming the
    /// kernel, the root, and both versions.
    pub fn check(&self, kernel_release: &str, cfg: &KernelConfig) -> Result<(), Error> {
        let expected = expected_tools(cfg);
        let found: Vec<Option<String>> = expected
            .iter()
            .map(|e| crate::chroot::output_in_root(&self.path, &[&e.command, "--version"]).ok())
            .collect();
        let mut mismatches = compare(&expected, &found);
        for (m, e) in mismatches.iter_mut().zip(&expected) {
            // The kernel's exact compiler is absent: say which one the root does have.
            if m.root_has == NOT_INSTALLED && e.tool == Tool::Cc {
                if let Some(line) = crate::chroot::output_in_root(&self.path, &["gcc", "--version"])
                    .ok()
                    .and_then(|s| s.lines().next().map(str::to_string))
                {
                    m.root_has = format!("no {}; its gcc is {line}", e.command);
                }
            }
        }
        if mismatches.is_empty() {
            Ok(())
        } else {
            Err(Error::ToolchainMismatch {
                kernel: kernel_release.to_string(),
                root: self.name.clone(),
                mismatches,
            })
        }
    }
}

/// Returns the root for `suites`, creating it with mmdebstrap on first use.
pub fn ensure_root(
    cache: &Cache,
    name: &str,
    suites: &[&str],
    mirror: &str,
    cfg: &KernelConfig,
    log: &Path,
) -> Result<ToolchainRoot, Error> {
    let mut packages: Vec<String> = BASE_PACKAGES.iter().map(|s| s.to_string()).collect();
    for e in expected_tools(cfg) {
        if e.tool == Tool::Cc {
            packages.push(cc_package(&e.command));
        }
    }
    if cfg.enabled("RUST") {
        packages.extend(RUST_PACKAGES.iter().map(|s| s.to_string()));
    }
    let path = cache.get_or_build("roots", name, |staging| {
        mmdebstrap(staging, suites, mirror, &packages, log)
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
    let step = crate::progress::Step::start(format!(
        "toolchain root {}: installing rust-clippy (its rustc's version)",
        root.name
    ));
    let script = ": installing rust-clippy in the toolchain root\n\
                  v=$(dpkg-query -W -f='${Version}' rustc)\n\
                  apt-get update -q -o APT::Sandbox::User=root\n\
                  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
                  -o APT::Sandbox::User=root \"rust-clippy=$v\"\n\
                  apt-get clean";
    crate::chroot::run_in_root(&root.path, &[], script, log)?;
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
    if !crate::privilege::is_root() {
        return mmdebstrap_unshared(dest, suites, mirror, packages, log, &what);
    }
    // Contained: its mounts (proc, sys, dev inside the root) and its apt/dpkg children
    // vanish with it, even if ksock is killed with SIGKILL mid-build.
    let mut cmd = crate::supervise::contained("mmdebstrap", true);
    cmd.arg("--mode=root");
    mmdebstrap_args(&mut cmd, suites, packages).arg(dest);
    add_sources(&mut cmd, suites, mirror);
    crate::supervise::run_logged(cmd, &what, log)
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
    crate::privilege::check(true)?;
    // Inside the staging directory: swept with it if ksock dies here.
    std::fs::create_dir_all(dest).map_err(|e| Error::io(dest, e))?;
    let tar = dest.join(".mmdebstrap.tar");
    let mut cmd = Command::new("mmdebstrap");
    cmd.arg("--mode=unshare");
    mmdebstrap_args(&mut cmd, suites, packages).arg(&tar);
    add_sources(&mut cmd, suites, mirror);
    let made = crate::supervise::run_logged(cmd, what, log);
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
        crate::supervise::run_logged(untar, "unpacking the root", log)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg72() -> KernelConfig {
        KernelConfig::parse(
            "CONFIG_CC_VERSION_TEXT=\"x86_64-linux-gnu-gcc-16 (Debian 16.2.0-4) 16.2.0\"\n\
             CONFIG_RUST=y\n\
             CONFIG_RUSTC_VERSION_TEXT=\"rustc 1.97.1 (8bab26f4f 2026-07-14) (built from a source tarball)\"\n\
             CONFIG_BINDGEN_VERSION_TEXT=\"bindgen 0.72.1\"\n",
        )
    }

    #[test]
    fn expected_tools_follow_config() {
        let e = expected_tools(&cfg72());
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].command, "x86_64-linux-gnu-gcc-16");
        assert_eq!(cc_package(&e[0].command), "gcc-16");
        let c =
            KernelConfig::parse("CONFIG_CC_VERSION_TEXT=\"gcc-12 (Debian 12.2.0-14) 12.2.0\"\n");
        assert_eq!(
            expected_tools(&c).len(),
            1,
            "no Rust tools without CONFIG_RUST"
        );
    }

    #[test]
    fn trixie_tools_against_72_are_named() {
        let e = expected_tools(&cfg72());
        let found = vec![
            Some("x86_64-linux-gnu-gcc-16 (Debian 16.2.0-4) 16.2.0\nCopyright".to_string()),
            Some("rustc 1.85.1 (4eb161250 2025-03-15) (built from a source tarball)\n".to_string()),
            None,
        ];
        let m = compare(&e, &found);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].command, "rustc");
        assert!(m[0].root_has.starts_with("rustc 1.85.1"));
        assert!(m[0].kernel_has.starts_with("rustc 1.97.1"));
        assert_eq!(m[1].root_has, "(not installed)");
        let same = vec![
            Some("x86_64-linux-gnu-gcc-16 (Debian 16.2.0-4) 16.2.0".into()),
            Some("rustc 1.97.1 (8bab26f4f 2026-07-14) (built from a source tarball)".into()),
            Some("bindgen 0.72.1".into()),
        ];
        assert!(compare(&e, &same).is_empty());
    }
}
