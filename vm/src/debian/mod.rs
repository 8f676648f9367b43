//! Layer 2, Debian: the archive and the roots made from it. Stands on [`crate::host`] only.
//!
//! - [`archive`]: Debian's archive through a private apt configuration (mirror from the
//!   host's), package names, versions, downloads, unpacking.
//! - [`roots`]: toolchain roots made with mmdebstrap, and adding to them.
//! - [`chroot`]: running a command inside a root, in namespaces that die with ksock.
//!
//! `ksock_vm::debian::…` also names the archive's items directly (its paths before the
//! layers).

pub mod archive;
pub mod chroot;
pub mod roots;

pub use crate::host::install::KEYRING;
pub use archive::{extract_deb, mirror, mirror_from_deb822, mirror_from_one_line, AptEnv};
