//! ksock-vm: everything between "a kernel name" and "a guest that ran a command".
//!
//! Nothing here knows about specs or modules' meaning: callers hand it directories and commands.
//!
//! # Layers
//!
//! The crate is five layers, one module each. A module imports only from its own layer or
//! the ones below, and no modules import each other in a cycle, within a layer too:
//! `xtask/tests/layers.rs` reads the table below and fails on an upward import or a cycle.
//!
//! | layer | module | holds |
//! |---|---|---|
//! | 1 | [`host`] | the host system: tools and the `PATH` children get, installing them, root or not, supervised children, scratch directories, the cache, progress, hashing, logs, the [`Error`] type |
//! | 2 | [`debian`] | Debian: the archive through a private apt configuration, toolchain roots (mmdebstrap), running commands in a root |
//! | 3 | [`kernel`] | kernels: the catalog, fetching and laying out a catalog kernel, configs and their compilers, build trees, root choice and [`kernel::prepare()`], brought kernels, the API drift table and its compat flags, coverage flags, flavours, PVH images |
//! | 4 | [`builds`] | module builds against a [`kernel::PreparedKernel`]: cached, instrumented, linted, or in place for the edit loop |
//! | 5 | [`boot`] | virtme-ng boots with timeouts, console capture, splat detection, the KVM probe |
//!
//! This file only declares the layers and keeps the paths other crates used before them
//! (`ksock_vm::supervise`, `ksock_vm::catalog`, …) as re-exports; code in vm/ names the
//! real paths.

pub mod boot;
pub mod builds;
pub mod debian;
pub mod host;
pub mod kernel;

pub use debian::chroot;
pub use host::cache::Cache;
pub use host::error::Error;
pub use host::{cache, privilege, progress, scratch, supervise};
pub use kernel::{catalog, compat, custom, kconfig, pvh, toolchain, tree};
