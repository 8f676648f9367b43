//! Module build trees for Rust-enabled kernels.
//!
//! Debian's headers lack `rust/*.rmeta`, so the kernel's own `linux-source` is configured
//! with the kernel's config and `modules_prepare`d in the toolchain root. Before the tree is
//! trusted, every Rust export in the kernel's shipped `Module.symvers` must be defined by the
//! rebuilt `rust/*.o` (same rustc + same config ⇒ same mangled names, crate hashes
//! included). Only what `make M=` needs is kept: the kernel's own
//! `scripts/package/install-extmod-build` list plus `.config`, the Rust metadata and
//! proc-macro libraries, the kernel crate's sources (read by [`crate::kernel::compat`]), and
//! `vmlinux` for module BTF.

use std::collections::BTreeSet;
use std::path::Path;

use crate::debian::chroot::{run_in_root, Bind};
use crate::debian::roots::ToolchainRoot;
use crate::Error;

/// Where the tree appears inside the root, both while it is built and when modules are built
/// against it (same path, so nothing recorded in it points elsewhere).
pub const TREE_IN_ROOT: &str = "/ksock/tree";

/// Bumped whenever what a tree holds changes, so old cached trees are not trusted.
/// v2: the kernel crate's sources (`rust/kernel`, `rust/macros`) are kept for the compat
/// detector.
pub const TREE_FORMAT: u32 = 2;

/// Names of Rust exports (`_R…`) listed in a `Module.symvers`.
pub fn rust_exports(symvers: &str) -> BTreeSet<String> {
    symvers
        .lines()
        .filter_map(|l| l.split('\t').nth(1))
        .filter(|s| s.starts_with("_R"))
        .map(str::to_string)
        .collect()
}

/// Symbols defined in `nm --defined-only` output.
pub fn defined_symbols(nm: &str) -> BTreeSet<String> {
    nm.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (a, b, c) = (w.next(), w.next(), w.next());
            match (a, b, c) {
                (Some(_addr), Some(kind), Some(name)) if kind != "U" => Some(name.to_string()),
                _ => None,
            }
        })
        .collect()
}

/// The exports the kernel has that the rebuilt tree does not define, sorted.
pub fn abi_missing(symvers: &str, nm: &str) -> (usize, Vec<String>) {
    let want = rust_exports(symvers);
    let have = defined_symbols(nm);
    let missing = want.difference(&have).cloned().collect();
    (want.len(), missing)
}

/// Inputs for building one tree.
pub struct TreeInputs<'a> {
    pub release: &'a str,
    pub cc: &'a str,
    /// Directory holding `linux-source-X.tar.xz`.
    pub source_dir: &'a Path,
    /// The unpacked kernel packages.
    pub kernel_dir: &'a Path,
    /// The kernel's config, relative to `kernel_dir`.
    pub config_rel: &'a str,
    /// The headers directory (`Module.symvers`, `vmlinux`), relative to `kernel_dir`.
    pub headers_rel: &'a str,
    /// Scratch space for the full 2 GB tree (removed by the caller).
    pub work: &'a Path,
}

/// Builds the pruned tree into `out` (empty). Logs go to `log`.
pub fn build(
    root: &ToolchainRoot,
    inp: &TreeInputs<'_>,
    out: &Path,
    log: &Path,
) -> Result<(), Error> {
    let ro = |host: &Path, inside: &str| Bind {
        host: host.to_path_buf(),
        inside: inside.to_string(),
        writable: false,
    };
    let binds = [
        ro(inp.source_dir, "/ksock/src"),
        ro(inp.kernel_dir, "/ksock/kernel"),
        Bind {
            host: inp.work.to_path_buf(),
            inside: TREE_IN_ROOT.to_string(),
            writable: true,
        },
    ];
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let script = format!(
        "cd {TREE_IN_ROOT}\n\
         tar --strip-components=1 -xf /ksock/src/linux-source-*.tar.xz\n\
         cp /ksock/kernel/{cfg} .config\n\
         cp /ksock/kernel/{hdr}/Module.symvers .\n\
         if [ -f /ksock/kernel/{hdr}/vmlinux ]; then cp /ksock/kernel/{hdr}/vmlinux .; fi\n\
         make -j{jobs} CC={cc} KERNELRELEASE={rel} olddefconfig modules_prepare\n\
         nm --defined-only rust/*.o > .ksock-rust-symbols\n",
        cfg = inp.config_rel,
        hdr = inp.headers_rel,
        cc = inp.cc,
        rel = inp.release,
    );
    run_in_root(&root.path, &binds, &script, log)?;

    let symvers = read(&inp.kernel_dir.join(inp.headers_rel).join("Module.symvers"))?;
    let nm = read(&inp.work.join(".ksock-rust-symbols"))?;
    let (total, missing) = abi_missing(&symvers, &nm);
    if total == 0 || !missing.is_empty() {
        return Err(Error::AbiMismatch {
            kernel: inp.release.to_string(),
            missing: missing.len().max(1),
            total,
            first: if total == 0 {
                vec!["(Module.symvers lists no Rust exports: is CONFIG_RUST set?)".into()]
            } else {
                missing.into_iter().take(5).collect()
            },
        });
    }

    // Prune: copy what `make M=` needs into `out`, mounted at the same path.
    let prune = format!(
        "cd /ksock/full\n\
         srctree=. SRCARCH=x86 CC=gcc HOSTCC=gcc MAKE=make sh scripts/package/install-extmod-build {TREE_IN_ROOT}\n\
         mkdir -p {TREE_IN_ROOT}/rust\n\
         cp .config {TREE_IN_ROOT}/\n\
         cp rust/*.rmeta rust/*.so {TREE_IN_ROOT}/rust/\n\
         cp -r rust/kernel rust/macros {TREE_IN_ROOT}/rust/\n\
         if [ -f vmlinux ]; then cp vmlinux {TREE_IN_ROOT}/; fi\n"
    );
    let binds = [
        ro(inp.work, "/ksock/full"),
        Bind {
            host: out.to_path_buf(),
            inside: TREE_IN_ROOT.to_string(),
            writable: true,
        },
    ];
    run_in_root(&root.path, &binds, &prune, log)
}

fn read(p: &Path) -> Result<String, Error> {
    std::fs::read_to_string(p).map_err(|e| Error::io(p, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYMVERS: &str = "0x00000000\t_RNvCs1_4core5panic\tvmlinux\tEXPORT_SYMBOL_GPL\t\n\
                           0x00000000\t_RNvCs2_6kernel5alloc\tvmlinux\tEXPORT_SYMBOL_GPL\t\n\
                           0x12345678\tprintk\tvmlinux\tEXPORT_SYMBOL\t\n";

    #[test]
    fn all_rust_exports_defined_passes() {
        let nm = "rust/core.o:\n0000000000000000 T _RNvCs1_4core5panic\n\
                  rust/kernel.o:\n0000000000000010 T _RNvCs2_6kernel5alloc\n\
                                   U printk\n";
        let (total, missing) = abi_missing(SYMVERS, nm);
        assert_eq!(total, 2);
        assert!(missing.is_empty());
    }

    #[test]
    fn different_crate_hash_is_named() {
        // Same function, other crate hash: what a different rustc or config produces.
        let nm =
            "0000000000000000 T _RNvCs1_4core5panic\n0000000000000010 T _RNvCs9_6kernel5alloc\n\
                  0000000000000000 U _RNvCs2_6kernel5alloc\n";
        let (total, missing) = abi_missing(SYMVERS, nm);
        assert_eq!(total, 2);
        assert_eq!(missing, vec!["_RNvCs2_6kernel5alloc".to_string()]);
    }
}
