//! Layer 3, kernels: which kernels there are, getting one ready, and what modules need from
//! it. Stands on [`crate::debian`] and [`crate::host`].
//!
//! - [`catalog`]: short kernel names → Debian suites.
//! - [`fetch`], [`layout`]: a catalog kernel's packages from the archive, and where things
//!   are once unpacked.
//! - [`kconfig`], [`toolchain`]: a kernel's `.config`, the compilers it names, and the check
//!   that a root has exactly those.
//! - [`tree`]: a `modules_prepare`d build tree per Rust kernel, ABI-checked, pruned.
//! - [`prepare`](mod@prepare): the whole preparation of one catalog kernel, root choice
//!   included; [`custom`]: a kernel brought with `--kernel-image`.
//! - [`prepared`]: what both return, [`PreparedKernel`].
//! - [`drift`]: the table of kernel API changes the catalog spans (what changed, when, what
//!   to write instead), which explains failed module builds; [`compat`] detects its rows in
//!   a target tree and turns them into kbuild flags.
//! - [`kcov`], [`flavour`]: kbuild flags for coverage, and the two flavours a module is
//!   built as.
//! - [`pvh`]: the ELF inside a bzImage, booted through its PVH entry.
//!
//! `ksock_vm::kernel::…` also names the preparation's items directly (its paths before the
//! layers); the module builds on a [`PreparedKernel`] are methods from [`crate::builds`].

pub mod catalog;
pub mod compat;
pub mod custom;
pub mod drift;
pub mod fetch;
pub mod flavour;
pub mod kconfig;
pub mod kcov;
pub mod layout;
pub mod prepare;
pub mod prepared;
pub mod pvh;
pub mod toolchain;
pub mod tree;

pub use crate::host::hash::{fnv1a, hash_sources};
pub use flavour::Flavour;
pub use kcov::coverage_flags;
pub use prepare::{prepare, PrepareOptions};
pub use prepared::{Manifest, PreparedKernel};
