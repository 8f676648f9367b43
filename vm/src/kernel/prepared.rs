//! A kernel ready to build modules for and boot: what [`crate::kernel::prepare()`] and
//! [`crate::kernel::custom::prepare`] return.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::kernel::catalog::CatalogEntry;
use crate::kernel::kconfig::KernelConfig;
use crate::kernel::toolchain::{self, Tool, ToolchainRoot};

/// What was fetched, recorded next to the unpacked kernel (`manifest.json`); empty for a
/// brought kernel.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub release: String,
    pub suite: String,
    pub packages: Vec<(String, String)>,
}

/// A kernel ready to build modules for and boot.
#[derive(Debug, Clone)]
pub struct PreparedKernel {
    /// The catalog entry; `None` for a kernel brought with `--kernel-image` ([`crate::kernel::custom`]).
    pub entry: Option<&'static CatalogEntry>,
    pub release: String,
    /// Unpacked packages (`usr/lib/modules/<release>/…`, `usr/src/linux-headers-…`).
    pub dir: PathBuf,
    pub vmlinuz: PathBuf,
    /// The PVH-bootable ELF extracted from `vmlinuz` where the kernel has `CONFIG_PVH`
    /// (see [`crate::kernel::pvh`]): what guests boot when set.
    pub pvh: Option<PathBuf>,
    pub config: KernelConfig,
    pub root: ToolchainRoot,
    /// The C compiler command the kernel was built with.
    pub cc: String,
    /// For Rust kernels: the pruned, ABI-checked build tree.
    pub tree: Option<PathBuf>,
    /// A brought kernel's own built tree, which C modules build against too (catalog
    /// kernels: `None`, they use Debian's headers under `dir`).
    pub c_tree: Option<PathBuf>,
    pub manifest: Manifest,
}

/// The C compiler command a kernel's config names (`gcc` when it names none).
pub(crate) fn cc_of(config: &KernelConfig) -> String {
    toolchain::expected_tools(config)
        .into_iter()
        .find(|e| e.tool == Tool::Cc)
        .map(|e| e.command)
        .unwrap_or_else(|| "gcc".into())
}
