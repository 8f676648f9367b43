//! ksock-vm: everything between "a kernel name" and "a guest that ran a command".
//!
//! - [`catalog`]: short kernel names → Debian suites.
//! - [`debian`]: the archive through a private apt configuration (mirror from the host's).
//! - [`toolchain`]: mmdebstrap roots holding the compiler set that built a kernel; version checks.
//! - [`tree`]: a `modules_prepare`d build tree per kernel, ABI-checked, pruned to what `make M=` needs.
//! - [`kernel`]: the whole preparation of one kernel ([`kernel::prepare`]) and module builds.
//! - [`boot`]: virtme-ng boots with timeouts, console capture, splat detection, and reaping.
//! - [`supervise`], [`scratch`]: children and temporary directories that never outlive ksock.
//!
//! Nothing here knows about specs or modules' meaning: callers hand it directories and commands.

pub mod boot;
pub mod cache;
pub mod catalog;
pub mod chroot;
pub mod compat;
pub mod custom;
pub mod debian;
pub mod host;
pub mod kconfig;
pub mod kernel;
pub mod privilege;
pub mod progress;
pub mod pvh;
pub mod scratch;
pub mod supervise;
pub mod toolchain;
pub mod tree;

pub use cache::Cache;

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Config(String),
    #[error("`{what}` failed: {detail}")]
    Command { what: String, detail: String },
    #[error("{what} failed; full log: {}\n--- last lines ---\n{tail}", log.display())]
    Build {
        what: String,
        log: PathBuf,
        tail: String,
    },
    #[error("unknown kernel `{name}`; the catalog has: {known}")]
    UnknownKernel { name: String, known: String },
    #[error("package `{package}` is not in suites {suites} of the Debian archive")]
    NotInArchive { package: String, suites: String },
    #[error(
        "toolchain root `{root}` cannot build modules for kernel {kernel}:\n{}",
        mismatches.iter().map(|m| format!("  {}: kernel was built with `{}`, root has `{}`", m.command, m.kernel_has, m.root_has)).collect::<Vec<_>>().join("\n")
    )]
    ToolchainMismatch {
        kernel: String,
        root: String,
        mismatches: Vec<toolchain::Mismatch>,
    },
    #[error(
        "ABI check failed for {kernel}: {missing} of {total} Rust exports in the kernel's Module.symvers are not produced by the rebuilt tree; first ones:\n  {}",
        first.join("\n  ")
    )]
    AbiMismatch {
        kernel: String,
        missing: usize,
        total: usize,
        first: Vec<String>,
    },
    #[error("interrupted")]
    Interrupted,
    #[error("guest: {0}")]
    Guest(String),
}

impl Error {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
