//! The crate's one error type, shared by every layer (it names no module above this one).

use std::path::{Path, PathBuf};

/// A mismatch between a kernel's toolchain and a root's (see `kernel::toolchain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub command: String,
    pub kernel_has: String,
    pub root_has: String,
}

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
        mismatches: Vec<Mismatch>,
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
