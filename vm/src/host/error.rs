//! The crate's one error type, shared by every layer (it names no module above this one).

use std::path::{Path, PathBuf};

/// A mismatch between a kernel's toolchain and a root's (see `kernel::toolchain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub command: String,
    pub kernel_has: String,
    pub root_has: String,
}

/// A module that kbuild could not build for a kernel, with the compiler's errors and the
/// kernel API changes they show (`kernel::drift`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleBuildFailure {
    /// The module's directory name.
    pub module: String,
    /// The kernel's release.
    pub kernel: String,
    pub flavour: String,
    pub log: PathBuf,
    /// The first errors, one line each (`x.c:12: implicit declaration of …`).
    pub errors: Vec<String>,
    /// What the table says about them (empty when nothing matched).
    pub explanation: String,
    /// The log's last lines.
    pub tail: String,
}

impl std::fmt::Display for ModuleBuildFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "module `{}` does not build for {} ({}); full log: {}\n{}--- last lines ---\n{}",
            self.module,
            self.kernel,
            self.flavour,
            self.log.display(),
            self.explanation,
            self.tail
        )
    }
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
    /// A module that kbuild could not build for a kernel (boxed: it is large).
    #[error("{0}")]
    ModuleBuild(Box<ModuleBuildFailure>),
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
