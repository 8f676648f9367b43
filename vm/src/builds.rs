//! Layer 4, module builds: a kbuild module directory built against a prepared kernel, as
//! Rust or C, plain, coverage-instrumented or linted by clippy, cached by content (or, for
//! the edit loop, built in place). Stands on [`crate::kernel`], [`crate::debian`] and
//! [`crate::host`].

use std::path::{Path, PathBuf};

use crate::debian::chroot::{run_in_root, Bind};
use crate::host::cache::Cache;
use crate::host::error::ModuleBuildFailure;
use crate::host::hash::{fnv1a, hash_sources, is_source};
use crate::host::logs;
use crate::kernel::compat::{self, Fact, Flags};
use crate::kernel::drift;
use crate::kernel::flavour::Flavour;
use crate::kernel::kcov::coverage_flags;
use crate::kernel::layout::headers_rel;
use crate::kernel::prepared::PreparedKernel;
use crate::kernel::toolchain::ensure_clippy;
use crate::kernel::tree;
use crate::Error;

impl PreparedKernel {
    /// Debian's headers directory for this kernel (`usr/src/linux-headers-<release>`).
    fn headers(&self) -> PathBuf {
        self.dir.join(headers_rel(&self.release))
    }

    /// The directory the compat detector reads for C builds: Debian's `-common` headers
    /// (the full include/ tree), else the headers directory itself.
    pub fn c_source_tree(&self) -> PathBuf {
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
        ensure_clippy(&self.root, &logs::dir(cache)?.join("clippy-root.log"))?;
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
        let log = logs::dir(cache)?.join(format!(
            "module-{}-{flavour}-{dirname}{variant_key}.log",
            self.release
        ));
        let kb = self.kbuild(cache, flavour)?;
        // The sources, and what the build adds to them: the kernel's facts, the header.
        let inputs = format!(
            "{:016x}{:016x}",
            hash_sources(src)?,
            compat::fingerprint(&kb.facts)
        );
        let key = format!("{dirname}{variant_key}-{:016x}", fnv1a(inputs.as_bytes()));
        let mut extra = Flags::default();
        if variant == Variant::Clippy {
            extra.rustflags.push("-Dwarnings".into());
            extra.args.push("CLIPPY=1".into());
        }
        if coverage.is_some() {
            extra = coverage_flags("/ksock/cov/Module.symvers");
            // No module BTF (it is for BPF tools): a fuzzer loads the module again and
            // again, and the kernel checks a module's BTF at every load.
            extra.args.push("CONFIG_DEBUG_INFO_BTF_MODULES=".into());
        }
        cache
            .get_or_build(&kb.kind, &key, |out| {
                sync_sources(src, out)?;
                std::fs::write(&log, "").map_err(|e| Error::io(&log, e))?;
                let (mut binds, script) = self.make_command(&kb, out, &extra);
                if let Some(rt) = coverage {
                    binds.push(Bind {
                        host: rt.to_path_buf(),
                        inside: "/ksock/cov".into(),
                        writable: false,
                    });
                }
                run_in_root(&self.root.path, &binds, &(script + " modules"), &log)
            })
            .map_err(|e| self.explained(e, &dirname, flavour, &kb.facts))
    }

    /// A failed build as [`Error::ModuleBuild`]: its errors, and the kernel API changes of
    /// [`drift::CHANGES`] among this kernel's `facts` that they show.
    fn explained(&self, e: Error, module: &str, flavour: Flavour, facts: &[Fact]) -> Error {
        let Error::Build { log, tail, .. } = e else {
            return e;
        };
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        Error::ModuleBuild(Box::new(ModuleBuildFailure {
            module: module.to_string(),
            kernel: self.release.clone(),
            flavour: flavour.to_string(),
            errors: drift::errors(&text, 5),
            explanation: drift::render(&drift::explain(&text, facts), &self.release),
            log,
            tail,
        }))
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
        let kb = self.kbuild(cache, flavour)?;
        let dirname = src.file_name().and_then(|n| n.to_str()).unwrap_or("module");
        let dir = cache.entry("work", &format!("dev/{}-{flavour}/{dirname}", self.release));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        sync_sources(src, &dir)?;
        let log = logs::dir(cache)?.join(format!("dev-{}-{flavour}-{dirname}.log", self.release));
        std::fs::write(&log, "").map_err(|e| Error::io(&log, e))?;
        let (binds, script) = self.make_command(&kb, &dir, &Flags::default());
        run_in_root(
            &self.root.path,
            &binds,
            &format!("{script} CONFIG_DEBUG_INFO_BTF_MODULES= modules"),
            &log,
        )
        .map_err(|e| self.explained(e, dirname, flavour, &kb.facts))?;
        Ok(dir)
    }

    /// Where and how kbuild runs for `flavour`: against a built tree (ksock's Rust tree, or
    /// a brought kernel's own tree), else against Debian's headers.
    fn kbuild(&self, cache: &Cache, flavour: Flavour) -> Result<Kbuild, Error> {
        let include = compat::header_dir(cache)?;
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
                facts: compat::detect(tree),
                include,
            },
            None => Kbuild {
                kind,
                binds: self.headers_binds(),
                make_dir: format!("/usr/src/linux-headers-{}", self.release),
                facts: compat::detect(&self.c_source_tree()),
                include,
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
    /// `out`, with the compat facts, ksock's header and `extra` flags.
    fn make_command(&self, kb: &Kbuild, out: &Path, extra: &Flags) -> (Vec<Bind>, String) {
        let mut binds = kb.binds.clone();
        binds.push(Bind {
            host: out.to_path_buf(),
            inside: "/ksock/mod".into(),
            writable: true,
        });
        binds.push(Bind {
            host: kb.include.clone(),
            inside: compat::INCLUDE_IN_ROOT.into(),
            writable: false,
        });
        let mut script = format!(
            "make -C {} M=/ksock/mod CC={} KERNELRELEASE={}",
            kb.make_dir, self.cc, self.release
        );
        for arg in compat::make_args(&kb.facts, extra) {
            script += &format!(" '{arg}'");
        }
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
    facts: Vec<Fact>,
    /// The directory holding `ksock_compat.h`.
    include: PathBuf,
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
