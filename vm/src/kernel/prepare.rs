//! Preparing one catalog kernel end to end.
//!
//! `prepare("7.2")`: resolve the newest matching release in the suite → download and unpack
//! its image, modules and headers packages → make (or reuse) the toolchain root → check the
//! root's compilers against the kernel's config → for Rust kernels, build and ABI-check the
//! module build tree. Each cached piece is built in staging and renamed into place.

use std::path::{Path, PathBuf};

use crate::debian::archive;
use crate::host::cache::{Cache, Staging};
use crate::host::logs;
use crate::host::progress::Step;
use crate::kernel::catalog::{self, CatalogEntry};
use crate::kernel::fetch::{fetch, Fetched};
use crate::kernel::kconfig::KernelConfig;
use crate::kernel::layout::{config_rel, headers_rel, modules_rel};
use crate::kernel::prepared::{cc_of, PreparedKernel};
use crate::kernel::toolchain::{self, ToolchainRoot};
use crate::kernel::{pvh, tree};
use crate::Error;

/// Options for [`prepare`].
#[derive(Debug, Clone, Default)]
pub struct PrepareOptions {
    /// Build with another catalog kernel's toolchain root (named by kernel or suite), to
    /// check it: a root that does not match is refused.
    pub root: Option<String>,
    /// Only C modules will be built: skip the Rust module tree (Debian's headers serve C).
    pub c_only: bool,
}

/// Finds the catalog entry whose root is meant by `name` (`7.3`, `trixie`, `trixie+trixie-backports`).
fn entry_for_root(name: &str) -> Result<&'static CatalogEntry, Error> {
    catalog::CATALOG
        .iter()
        .find(|e| e.name == name || e.root_name() == name || e.suites[0] == name)
        .ok_or_else(|| {
            Error::Config(format!(
                "unknown toolchain root `{name}`; roots: {}",
                catalog::CATALOG
                    .iter()
                    .map(|e| format!("{} (for {})", e.root_name(), e.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// Makes (or reuses) `entry`'s toolchain root, holding the compilers `fetched`'s config names.
fn ensure_root_for(
    cache: &Cache,
    entry: &'static CatalogEntry,
    fetched: &Fetched,
) -> Result<ToolchainRoot, Error> {
    let name = entry.root_name();
    let step = Step::start(format!("toolchain root {name}"));
    if !cache.entry("roots", &name).is_dir() {
        step.set_detail("mmdebstrap (first use, ~2 min)");
    }
    let log = logs::dir(cache)?.join(format!("root-{name}.log"));
    let root = toolchain::ensure_root(
        cache,
        &name,
        entry.suites,
        &fetched.apt.mirror,
        &fetched.config,
        &log,
    )?;
    step.done("ready");
    Ok(root)
}

/// Prepares catalog kernel `name` (see the module docs).
pub fn prepare(cache: &Cache, name: &str, opts: &PrepareOptions) -> Result<PreparedKernel, Error> {
    let entry = catalog::lookup(name)?;
    let mirror = archive::mirror()?;
    let fetched = fetch(cache, entry, &mirror)?;
    let root = choose_root(cache, entry, &fetched, &mirror, opts)?;
    // Refuse before anything is built or booted with a mismatched compiler set.
    root.check(&fetched.release, &fetched.config)?;

    let cc = cc_of(&fetched.config);
    let tree = if fetched.config.enabled("RUST") && !opts.c_only {
        Some(rust_tree(cache, &fetched, &root, &cc)?)
    } else {
        None
    };
    let vmlinuz = fetched
        .dir
        .join(modules_rel(&fetched.dir, &fetched.release))
        .join("vmlinuz");
    let pvh = pvh_image(&vmlinuz, &fetched.config, &fetched.release)?;
    Ok(PreparedKernel {
        entry: Some(entry),
        release: fetched.release,
        dir: fetched.dir,
        vmlinuz,
        pvh,
        config: fetched.config,
        root,
        cc,
        tree,
        c_tree: None,
        manifest: fetched.manifest,
    })
}

/// The toolchain root the kernel builds with: its own suite's, or the one `opts.root` names
/// (whose kernel is fetched too, for its config, unless it is this one).
fn choose_root(
    cache: &Cache,
    entry: &'static CatalogEntry,
    fetched: &Fetched,
    mirror: &str,
    opts: &PrepareOptions,
) -> Result<ToolchainRoot, Error> {
    let Some(other) = &opts.root else {
        return ensure_root_for(cache, entry, fetched);
    };
    let other_entry = entry_for_root(other)?;
    let other_fetched = if other_entry == entry {
        None
    } else {
        Some(fetch(cache, other_entry, mirror)?)
    };
    ensure_root_for(
        cache,
        other_entry,
        other_fetched.as_ref().unwrap_or(fetched),
    )
}

/// The Rust kernel's module build tree (cached): its `linux-source` configured and
/// `modules_prepare`d in `root`, ABI-checked and pruned (see [`tree`]).
fn rust_tree(
    cache: &Cache,
    fetched: &Fetched,
    root: &ToolchainRoot,
    cc: &str,
) -> Result<PathBuf, Error> {
    let release = fetched.release.clone();
    let step = Step::start(format!("kernel {release}: module build tree"));
    let key = format!("{release}.v{}", tree::TREE_FORMAT);
    let path = cache.get_or_build("trees", &key, |out| {
        step.set_detail("linux-source + modules_prepare (first use, ~3 min)");
        let work = Staging::new(cache.entry("work", &format!("{release}.{}", std::process::id())))?;
        let src = work.path().join("src");
        let series = release
            .split(['.', '-', '+'])
            .take(2)
            .collect::<Vec<_>>()
            .join(".");
        let debs = fetched
            .apt
            .download(&[format!("linux-source-{series}")], &src)?;
        archive::extract_deb(&debs[0], &src)?;
        let full = work.path().join("full");
        std::fs::create_dir_all(&full).map_err(|e| Error::io(&full, e))?;
        let log = logs::dir(cache)?.join(format!("tree-{release}.log"));
        std::fs::write(&log, "").map_err(|e| Error::io(&log, e))?;
        tree::build(
            root,
            &tree::TreeInputs {
                release: &release,
                cc,
                source_dir: &src.join("usr/src"),
                kernel_dir: &fetched.dir,
                config_rel: &config_rel(&fetched.dir, &release),
                headers_rel: &headers_rel(&release),
                work: &full,
            },
            out,
            &log,
        )
    })?;
    step.done("ABI checked, ready");
    Ok(path)
}

/// See [`PreparedKernel::pvh`]; extracted the first time.
fn pvh_image(
    vmlinuz: &Path,
    config: &KernelConfig,
    release: &str,
) -> Result<Option<PathBuf>, Error> {
    let pvh = config.enabled("PVH");
    let fresh = pvh && !vmlinuz.with_file_name(pvh::VMLINUX).is_file();
    let step = fresh.then(|| Step::start(format!("kernel {release}: PVH image (first use)")));
    // Not fatal: without the ELF, guests boot the bzImage, only slower.
    let image = pvh::ensure_vmlinux(vmlinuz, pvh).unwrap_or_else(|e| {
        eprintln!("ksock: kernel {release}: no PVH image ({e}); booting the bzImage");
        None
    });
    if let Some(step) = step {
        step.done(if image.is_some() {
            "extracted"
        } else {
            "none: booting the bzImage"
        });
    }
    Ok(image)
}
