//! ksock's commands, for any project: `ksock` (this crate's binary) runs them in the
//! project found from the current directory (its `ksock.toml`); `cargo xtask` runs the same
//! functions in this repository after building its agent.
//!
//! Each command module takes an opened [`Project`]; `flags` holds their clap types.

pub mod flags;
pub mod fuzz;
pub mod init;
pub mod kernels;
pub mod repro;
pub mod run;
pub mod watch;

use anyhow::Result;
pub use ksock_harness::project::Project;

/// Host tools (installed as root on first use; otherwise the exact command to run).
pub fn setup() -> Result<()> {
    ksock_vm::privilege::check(false)?;
    ksock_vm::host::ensure_host_tools()?;
    Ok(())
}
