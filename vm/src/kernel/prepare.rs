//! Preparing one catalog kernel end to end, and building modules against it.
//!
//! `prepare("7.2")`: resolve the newest matching release in the suite → download and unpack
//! its image, modules and headers packages → make (or reuse) the toolchain root → check the
//! root's compilers against the kernel's config → for Rust kernels, build and ABI-check the
//! module build tree. Each cached piece is built in staging and renamed into place.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::catalog::{self, CatalogEntry};
use crate::chroot::{run_in_root, Bind};
use crate::debian::{self, AptEnv};
use crate::kconfig::KernelConfig;
use crate::progress::Step;
use crate::toolchain::{self, Tool, ToolchainRoot};
use crate::{tree, Cache, Error};

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
    /// The catalog entry; `None` for a kernel brought with `--kernel-image` ([`crate::custom`]).
    pub entry: Option<&'static CatalogEntry>,
    pub release: String,
    /// Unpacked packages (`usr/lib/modules/<release>/…`, `usr/src/linux-headers-…`).
    pub dir: PathBuf,
    pub vmlinuz: PathBuf,
    /// The PVH-bootable ELF extracted from `vmlinuz` where the kernel has `CONFIG_PVH`
    /// (see [`crate::pvh`]): what guests boot when set.
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

struct Fetched {
    release: String,
    dir: PathBuf,
    config: KernelConfig,
    manifest: Manifest,
    apt: AptEnv,
}

fn fetch(cache: &Cache, entry: &'static CatalogEntry, mirror: &str) -> Result<Fetched, Error> {
    let step = Step::start(format!(
        "kernel {}: resolving in {}",
        entry.name,
        entry.kernel_suite()
    ));
    let apt = AptEnv::open(&cache.entry("apt", &entry.apt_name()), mirror, entry.suites)?;
    let names = apt.names_matching(&format!("^linux-image-{}", regex::escape(entry.name)))?;
    let release =
        catalog::newest_release(entry.name, &names).ok_or_else(|| Error::NotInArchive {
            package: format!("linux-image-{}.*-amd64", entry.name),
            suites: entry.suites.join(","),
        })?;
    step.done(&release);

    let dir = cache.get_or_build("kernels", &release, |staging| {
        let step = Step::start(format!("kernel {release}: downloading packages"));
        let image = format!("linux-image-{release}");
        let headers = format!("linux-headers-{release}");
        let mut pkgs = vec![image.clone(), headers.clone()];
        for d in apt
            .depends(&image)?
            .into_iter()
            .chain(apt.depends(&headers)?)
        {
            let wanted =
                d.starts_with("linux-") && d != "linux-base" && !d.starts_with("linux-image-");
            if wanted && !pkgs.contains(&d) {
                pkgs.push(d);
            }
        }
        let debs_dir = staging.join(".debs");
        let debs = apt.download(&pkgs, &debs_dir)?;
        step.set_detail("unpacking");
        for deb in &debs {
            debian::extract_deb(deb, staging)?;
        }
        let mut versions = Vec::new();
        for p in &pkgs {
            versions.push((p.clone(), apt.candidate(p)?));
        }
        crate::cache::remove_tree(&debs_dir)?;
        normalise_layout(staging, &release)?;
        let manifest = Manifest {
            name: entry.name.to_string(),
            release: release.clone(),
            suite: entry.kernel_suite().to_string(),
            packages: versions,
        };
        let mpath = staging.join("manifest.json");
        std::fs::write(
            &mpath,
            serde_json::to_string_pretty(&manifest).expect("serialisable"),
        )
        .map_err(|e| Error::io(&mpath, e))?;
        step.done(&format!("{} packages", pkgs.len()));
        Ok(())
    })?;
    let mpath = dir.join("manifest.json");
    let manifest: Manifest =
        serde_json::from_str(&std::fs::read_to_string(&mpath).map_err(|e| Error::io(&mpath, e))?)
            .map_err(|e| Error::Config(format!("{}: {e}", mpath.display())))?;
    let config = KernelConfig::read(&dir.join(config_rel(&dir, &release)))?;
    if entry.rust && !config.enabled("RUST") {
        return Err(Error::Config(format!(
            "kernel {release} was expected to have CONFIG_RUST=y but its config says otherwise"
        )));
    }
    Ok(Fetched {
        release,
        dir,
        config,
        manifest,
        apt,
    })
}

/// Where the modules (and, after [`normalise_layout`], `vmlinuz` and `config`) are:
/// `usr/lib/modules/<release>` on 6.12+ packages, `lib/modules/<release>` on older ones.
fn modules_rel(dir: &Path, release: &str) -> String {
    let usr = format!("usr/lib/modules/{release}");
    if dir.join(&usr).is_dir() {
        usr
    } else {
        format!("lib/modules/{release}")
    }
}

/// Older image packages put `boot/vmlinuz-<release>` and `boot/config-<release>` apart from
/// the modules; vng looks for modules next to the kernel, so both are linked into the
/// modules directory, giving every kernel the same layout.
fn normalise_layout(dir: &Path, release: &str) -> Result<(), Error> {
    let m = dir.join(modules_rel(dir, release));
    for (boot, name) in [("vmlinuz", "vmlinuz"), ("config", "config")] {
        let from = dir.join(format!("boot/{boot}-{release}"));
        let to = m.join(name);
        if from.is_file() && !to.exists() {
            std::fs::hard_link(&from, &to).map_err(|e| Error::io(&to, e))?;
        }
    }
    Ok(())
}

fn config_rel(dir: &Path, release: &str) -> String {
    format!("{}/config", modules_rel(dir, release))
}

fn headers_rel(release: &str) -> String {
    format!("usr/src/linux-headers-{release}")
}

pub(crate) fn cc_of(config: &KernelConfig) -> String {
    toolchain::expected_tools(config)
        .into_iter()
        .find(|e| e.tool == Tool::Cc)
        .map(|e| e.command)
        .unwrap_or_else(|| "gcc".into())
}

fn logs_dir(cache: &Cache) -> Result<PathBuf, Error> {
    let d = cache.root().join("logs");
    std::fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
    Ok(d)
}

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
    let log = logs_dir(cache)?.join(format!("root-{name}.log"));
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
    let mirror = debian::mirror()?;
    let fetched = fetch(cache, entry, &mirror)?;
    let root = match &opts.root {
        Some(other) => {
            let other_entry = entry_for_root(other)?;
            let other_fetched = if other_entry == entry {
                None
            } else {
                Some(fetch(cache, other_entry, &mirror)?)
            };
            ensure_root_for(
                cache,
                other_entry,
                other_fetched.as_ref().unwrap_or(&fetched),
            )?
        }
        None => ensure_root_for(cache, entry, &fetched)?,
    };
    // Refuse before anything is built or booted with a mismatched compiler set.
    root.check(&fetched.release, &fetched.config)?;

    let cc = cc_of(&fetched.config);
    let tree = if fetched.config.enabled("RUST") && !opts.c_only {
        let release = fetched.release.clone();
        let step = Step::start(format!("kernel {release}: module build tree"));
        let key = format!("{release}.v{}", tree::TREE_FORMAT);
        let path = cache.get_or_build("trees", &key, |out| {
            step.set_detail("linux-source + modules_prepare (first use, ~3 min)");
            let work = crate::cache::Staging::new(
                cache.entry("work", &format!("{release}.{}", std::process::id())),
            )?;
            let src = work.path().join("src");
            let series = release
                .split(['.', '-', '+'])
                .take(2)
                .collect::<Vec<_>>()
                .join(".");
            let debs = fetched
                .apt
                .download(&[format!("linux-source-{series}")], &src)?;
            debian::extract_deb(&debs[0], &src)?;
            let full = work.path().join("full");
            std::fs::create_dir_all(&full).map_err(|e| Error::io(&full, e))?;
            let log = logs_dir(cache)?.join(format!("tree-{release}.log"));
            std::fs::write(&log, "").map_err(|e| Error::io(&log, e))?;
            tree::build(
                &root,
                &tree::TreeInputs {
                    release: &release,
                    cc: &cc,
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
        Some(path)
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

/// See [`PreparedKernel::pvh`]; extracted the first time.
fn pvh_image(
    vmlinuz: &Path,
    config: &KernelConfig,
    release: &str,
) -> Result<Option<PathBuf>, Error> {
    let pvh = config.enabled("PVH");
    let fresh = pvh && !vmlinuz.with_file_name(crate::pvh::VMLINUX).is_file();
    let step = fresh.then(|| Step::start(format!("kernel {release}: PVH image (first use)")));
    // Not fatal: without the ELF, guests boot the bzImage, only slower.
    let image = crate::pvh::ensure_vmlinux(vmlinuz, pvh).unwrap_or_else(|e| {
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

/// A stable 64-bit FNV-1a hash of a directory's regular files (names and contents), used as
/// the cache key of a module build.
pub fn hash_sources(dir: &Path) -> Result<u64, Error> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && is_source(p))
        .collect();
    files.sort();
    let mut all = Vec::new();
    for f in files {
        all.extend_from_slice(f.file_name().unwrap_or_default().as_encoded_bytes());
        all.push(0);
        all.extend(std::fs::read(&f).map_err(|e| Error::io(&f, e))?);
        all.push(0);
    }
    Ok(fnv1a(&all))
}

/// 64-bit FNV-1a: a stable hash for cache keys (not for security).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn is_source(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    !name.starts_with('.')
        && !name.ends_with(".o")
        && !name.ends_with(".ko")
        && !name.contains(".mod")
        && name != "Module.symvers"
        && name != "modules.order"
}

/// Which source a module is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavour {
    /// Rust, against ksock's ABI-checked build tree (Rust kernels only).
    Rust,
    /// C, against Debian's own linux-headers and linux-kbuild (every kernel).
    C,
}

impl std::fmt::Display for Flavour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Flavour::Rust => "rust",
            Flavour::C => "c",
        })
    }
}

impl PreparedKernel {
    /// Debian's headers directory for this kernel (`usr/src/linux-headers-<release>`).
    fn headers(&self) -> PathBuf {
        self.dir.join(headers_rel(&self.release))
    }

    /// The directory the compat detector reads for C builds: Debian's `-common` headers
    /// (the full include/ tree), else the headers directory itself.
    fn c_source_tree(&self) -> PathBuf {
        let src = self.dir.join("usr/src");
        std::fs::read_dir(&src)
            .ok()
            .and_then(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .find(|p| p.to_string_lossy().ends_with("-common"))
            })
            .unwrap_or_else(|| self.headers())
    }

    /// Builds the kbuild module directory `src` as `flavour` (cached by content) and returns
    /// the directory holding the `.ko` files.
    pub fn build_module(
        &self,
        cache: &Cache,
        src: &Path,
        flavour: Flavour,
    ) -> Result<PathBuf, Error> {
        self.build(cache, src, flavour, Variant::Plain)
    }

    /// Builds a Rust module the way the kernel lints its own: `make CLIPPY=1` (clippy-driver
    /// with the kernel's lint set instead of rustc), every warning an error. Returns the
    /// build directory; fails with the log's tail naming the lint.
    pub fn clippy_module(&self, cache: &Cache, src: &Path) -> Result<PathBuf, Error> {
        crate::toolchain::ensure_clippy(&self.root, &logs_dir(cache)?.join("clippy-root.log"))?;
        self.build(cache, src, Flavour::Rust, Variant::Clippy)
    }

    /// [`Self::build_module`], optionally instrumented for coverage: every object of the
    /// module is compiled with trace-pc sanitizer coverage, and `__sanitizer_cov_trace_pc`
    /// resolves against the runtime module built in `coverage` (its `Module.symvers`).
    pub fn build_module_with(
        &self,
        cache: &Cache,
        src: &Path,
        flavour: Flavour,
        coverage: Option<&Path>,
    ) -> Result<PathBuf, Error> {
        let v = coverage.map_or(Variant::Plain, Variant::Coverage);
        self.build(cache, src, flavour, v)
    }

    fn build(
        &self,
        cache: &Cache,
        src: &Path,
        flavour: Flavour,
        variant: Variant<'_>,
    ) -> Result<PathBuf, Error> {
        let coverage = match variant {
            Variant::Coverage(rt) => Some(rt),
            _ => None,
        };
        let dirname = src
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("module")
            .to_string();
        let variant_key = match coverage {
            // The runtime's directory name carries its own source hash.
            Some(rt) => format!(
                "-{}-nobtf",
                rt.file_name().and_then(|n| n.to_str()).unwrap_or("cov")
            ),
            None if variant == Variant::Clippy => "-clippy".into(),
            None => String::new(),
        };
        let key = format!("{dirname}{variant_key}-{:016x}", hash_sources(src)?);
        let log = logs_dir(cache)?.join(format!(
            "module-{}-{flavour}-{dirname}{variant_key}.log",
            self.release
        ));
        let kb = self.kbuild(flavour)?;
        cache.get_or_build(&kb.kind, &key, |out| {
            sync_sources(src, out)?;
            std::fs::write(&log, "").map_err(|e| Error::io(&log, e))?;
            let (mut binds, mut script) = self.make_command(&kb, out);
            if let Some(rt) = coverage {
                binds.push(Bind {
                    host: rt.to_path_buf(),
                    inside: "/ksock/cov".into(),
                    writable: false,
                });
                script += &format!(" {}", coverage_make_args("/ksock/cov/Module.symvers"));
                // No module BTF (it is for BPF tools): a fuzzer loads the module again and
                // again, and the kernel checks a module's BTF at every load.
                script += " CONFIG_DEBUG_INFO_BTF_MODULES=";
            }
            if variant == Variant::Clippy {
                script += " CLIPPY=1 'KRUSTFLAGS=-Dwarnings'";
            }
            script += " modules";
            run_in_root(&self.root.path, &binds, &script, &log)
        })
    }

    /// Builds `src` for the edit loop (`cargo xtask watch`): in a directory kept between
    /// builds, where only changed files are copied, so kbuild redoes only what they touch;
    /// without module BTF (for BPF tools, not loading). Returns that directory; a module's
    /// `.ko` there changes in place. Not the content-addressed cache: a verdict from it is
    /// for a developer's eyes, CI builds with [`Self::build_module`].
    pub fn build_module_dev(
        &self,
        cache: &Cache,
        src: &Path,
        flavour: Flavour,
    ) -> Result<PathBuf, Error> {
        let kb = self.kbuild(flavour)?;
        let dirname = src.file_name().and_then(|n| n.to_str()).unwrap_or("module");
        let dir = cache.entry("work", &format!("dev/{}-{flavour}/{dirname}", self.release));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        sync_sources(src, &dir)?;
        let log = logs_dir(cache)?.join(format!("dev-{}-{flavour}-{dirname}.log", self.release));
        std::fs::write(&log, "").map_err(|e| Error::io(&log, e))?;
        let (binds, script) = self.make_command(&kb, &dir);
        run_in_root(
            &self.root.path,
            &binds,
            &format!("{script} CONFIG_DEBUG_INFO_BTF_MODULES= modules"),
            &log,
        )?;
        Ok(dir)
    }

    /// Where and how kbuild runs for `flavour`: against a built tree (ksock's Rust tree, or
    /// a brought kernel's own tree), else against Debian's headers.
    fn kbuild(&self, flavour: Flavour) -> Result<Kbuild, Error> {
        let (tree, kind) = match flavour {
            Flavour::Rust => {
                let tree = self.tree.as_ref().ok_or_else(|| {
                    Error::Config(format!(
                        "kernel {} has no Rust (CONFIG_RUST is off): use the C flavour",
                        self.release
                    ))
                })?;
                // Keyed by the tree it was built against (the compat facts come from it).
                let tree_key = tree
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or(&self.release);
                let kind = self.custom_kind().unwrap_or(format!("modules/{tree_key}"));
                (Some(tree), kind)
            }
            Flavour::C => {
                let kind = match self.custom_kind() {
                    Some(k) => format!("{k}-c"),
                    None => format!("modules/{}-c", self.release),
                };
                (self.c_tree.as_ref(), kind)
            }
        };
        Ok(match tree {
            Some(tree) => Kbuild {
                kind,
                binds: vec![Bind {
                    host: tree.clone(),
                    inside: tree::TREE_IN_ROOT.to_string(),
                    writable: false,
                }],
                make_dir: tree::TREE_IN_ROOT.to_string(),
                facts: crate::compat::detect(tree),
            },
            None => Kbuild {
                kind,
                binds: self.headers_binds(),
                make_dir: format!("/usr/src/linux-headers-{}", self.release),
                facts: crate::compat::detect(&self.c_source_tree()),
            },
        })
    }

    /// The module cache kind of a brought kernel: its release and its config's hash, since a
    /// self-built kernel may reuse a release string with another configuration.
    fn custom_kind(&self) -> Option<String> {
        self.entry.is_none().then(|| {
            let cfg = format!("{:?}", self.config);
            format!(
                "modules/custom-{}-{:016x}",
                self.release,
                fnv1a(cfg.as_bytes())
            )
        })
    }

    /// Debian's headers include `/usr/src/linux-headers-*-common/Makefile` and link `scripts`
    /// to `/usr/lib/linux-kbuild-*`: both are bound at those paths.
    fn headers_binds(&self) -> Vec<Bind> {
        let mut binds = vec![Bind {
            host: self.dir.join("usr/src"),
            inside: "/usr/src".into(),
            writable: false,
        }];
        let lib = self.dir.join("usr/lib");
        for e in std::fs::read_dir(&lib).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with("linux-kbuild-") {
                binds.push(Bind {
                    host: e.path(),
                    inside: format!("/usr/lib/{name}"),
                    writable: false,
                });
            }
        }
        binds
    }

    /// The bind mounts and `make` command line (without a target) that build the module in
    /// `out`.
    fn make_command(&self, kb: &Kbuild, out: &Path) -> (Vec<Bind>, String) {
        let mut binds = kb.binds.clone();
        binds.push(Bind {
            host: out.to_path_buf(),
            inside: "/ksock/mod".into(),
            writable: true,
        });
        let compat = crate::compat::make_args(&kb.facts);
        let script = format!(
            "make -C {} M=/ksock/mod CC={} KERNELRELEASE={} '{}' '{}'",
            kb.make_dir, self.cc, self.release, compat[0], compat[1]
        );
        (binds, script)
    }
}

/// What kbuild needs for one flavour of one kernel.
struct Kbuild {
    /// The cache kind module builds go to.
    kind: String,
    binds: Vec<Bind>,
    /// The kernel build directory inside the root (`make -C`).
    make_dir: String,
    facts: Vec<crate::compat::Fact>,
}

/// Copies `src`'s source files into `out`, leaving files whose contents are unchanged (and
/// so their modification times, which kbuild compares) alone.
fn sync_sources(src: &Path, out: &Path) -> Result<(), Error> {
    for ent in std::fs::read_dir(src)
        .map_err(|e| Error::io(src, e))?
        .flatten()
    {
        let p = ent.path();
        if !(p.is_file() && is_source(&p)) {
            continue;
        }
        let dest = out.join(ent.file_name());
        let new = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
        if std::fs::read(&dest).ok().as_deref() != Some(&new[..]) {
            std::fs::write(&dest, &new).map_err(|e| Error::io(&dest, e))?;
        }
    }
    Ok(())
}

/// How a module is built.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant<'a> {
    Plain,
    /// Instrumented for coverage against this runtime module's build directory.
    Coverage(&'a Path),
    /// Linted by clippy-driver (`CLIPPY=1`), warnings denied.
    Clippy,
}

/// Make arguments that instrument a module for [`PreparedKernel::build_module_with`]: the
/// flags the kernel's own `scripts/Makefile.kcov` would add under `CONFIG_KCOV` (the Rust
/// ones from the "kcov: rust" patch), given on the command line because Debian's kernels do
/// not set it. `KCFLAGS`/`KRUSTFLAGS` reach only the module's own objects: the kernel crate
/// is prebuilt and stays uninstrumented.
pub fn coverage_make_args(runtime_symvers: &str) -> String {
    [
        "'KCFLAGS=-fsanitize-coverage=trace-pc'".to_string(),
        "'KRUSTFLAGS=-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=3 \
         -Cllvm-args=-sanitizer-coverage-trace-pc'"
            .to_string(),
        format!("KBUILD_EXTRA_SYMBOLS={runtime_symvers}"),
    ]
    .join(" ")
}
