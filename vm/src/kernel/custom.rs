//! Bring your own kernel: a kernel image plus what modules build against, instead of a
//! catalog kernel (`--kernel-image PATH --kernel-build DIR`). This is how a regression is
//! reproduced on the exact kernel it was reported on, or on a self-built one.
//!
//! `DIR` is either
//! - an unpacked Debian kernel (`dpkg -x` of its linux-image and linux-headers packages,
//!   plus the `linux-kbuild` one: `usr/src/linux-headers-<release>/.config`), the layout
//!   ksock's own catalog kernels have; or
//! - a built kernel tree (`.config`, `Makefile`, `include/config/kernel.release`); with
//!   `rust/libkernel.rmeta` in it, Rust modules build against it too.
//!
//! The toolchain root is one of ksock's Debian roots whose compilers match the kernel's
//! `CONFIG_*_VERSION_TEXT` (checked as for catalog kernels): the one named with `root`,
//! else the first cached root that matches.

use std::path::{Path, PathBuf};

use crate::host::cache::Cache;
use crate::host::hash::fnv1a;
use crate::kernel::kconfig::KernelConfig;
use crate::kernel::prepared::{cc_of, Manifest, PreparedKernel};
use crate::kernel::pvh;
use crate::kernel::toolchain::ToolchainRoot;
use crate::Error;

/// What `DIR` is.
enum Layout {
    /// An unpacked Debian kernel: the headers are under `usr/src`.
    Debian { release: String },
    /// A built tree.
    Tree { release: String },
}

fn layout(build: &Path) -> Result<Layout, Error> {
    if let Ok(rel) = std::fs::read_to_string(build.join("include/config/kernel.release")) {
        if build.join(".config").is_file() && build.join("Makefile").is_file() {
            return Ok(Layout::Tree {
                release: rel.trim().to_string(),
            });
        }
    }
    let src = build.join("usr/src");
    let headers = std::fs::read_dir(&src).into_iter().flatten().flatten();
    for e in headers {
        let name = e.file_name().to_string_lossy().to_string();
        if let Some(release) = name.strip_prefix("linux-headers-") {
            if e.path().join(".config").is_file() {
                return Ok(Layout::Debian {
                    release: release.to_string(),
                });
            }
        }
    }
    Err(Error::Config(format!(
        "{}: neither a built kernel tree (.config, Makefile, include/config/kernel.release) \
         nor an unpacked Debian kernel (usr/src/linux-headers-<release>/.config)",
        build.display()
    )))
}

/// The release a build directory is for (what verdicts name the kernel by).
pub fn release_of(build: &Path) -> Result<String, Error> {
    Ok(match layout(build)? {
        Layout::Debian { release } | Layout::Tree { release } => release,
    })
}

/// Prepares the kernel `image` whose modules build against `build`.
pub fn prepare(
    cache: &Cache,
    image: &Path,
    build: &Path,
    root: Option<&str>,
) -> Result<PreparedKernel, Error> {
    let build = build.canonicalize().map_err(|e| Error::io(build, e))?;
    let image = image.canonicalize().map_err(|e| Error::io(image, e))?;
    let (release, config_path, tree) = match layout(&build)? {
        Layout::Debian { release } => {
            let cfg = build.join(format!("usr/src/linux-headers-{release}/.config"));
            (release, cfg, None)
        }
        Layout::Tree { release } => {
            let rust = build.join("rust/libkernel.rmeta").is_file();
            (release, build.join(".config"), Some((build.clone(), rust)))
        }
    };
    let text = std::fs::read_to_string(&config_path).map_err(|e| Error::io(&config_path, e))?;
    let config = KernelConfig::parse(&text);
    let root = find_root(cache, &release, &config, root)?;
    let pvh = pvh_in_cache(cache, &image, config.enabled("PVH"), &release);
    Ok(PreparedKernel {
        entry: None,
        release,
        dir: build.clone(),
        vmlinuz: image,
        pvh,
        cc: cc_of(&config),
        config,
        root,
        tree: tree
            .as_ref()
            .filter(|(_, rust)| *rust)
            .map(|(t, _)| t.clone()),
        c_tree: tree.map(|(t, _)| t),
        manifest: Manifest::default(),
    })
}

/// The named root, else the first cached root whose compilers match the kernel's.
fn find_root(
    cache: &Cache,
    release: &str,
    config: &KernelConfig,
    wanted: Option<&str>,
) -> Result<ToolchainRoot, Error> {
    let roots = cache.entry("roots", "");
    let mut names: Vec<String> = std::fs::read_dir(&roots)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    if let Some(w) = wanted {
        names.retain(|n| n == w || n.split(['+', '-']).next() == Some(w));
    }
    let mut tried = Vec::new();
    for name in names {
        let root = ToolchainRoot {
            path: roots.join(&name),
            name: name.clone(),
        };
        match root.check(release, config) {
            Ok(()) => {
                eprintln!("ksock: kernel {release}: toolchain root {name} matches its compilers");
                return Ok(root);
            }
            Err(e) => tried.push(format!("  {name}: {e}")),
        }
    }
    Err(Error::Config(format!(
        "no toolchain root in {} matches kernel {release}'s compilers{}; prepare the catalog \
         kernel of the same Debian suite first (`prepare --kernel …`), which makes its root{}",
        roots.display(),
        wanted
            .map(|w| format!(" (asked for `{w}`)"))
            .unwrap_or_default(),
        if tried.is_empty() {
            String::new()
        } else {
            format!(":\n{}", tried.join("\n"))
        }
    )))
}

/// The PVH image of a kernel ksock does not own: extracted into the cache (keyed by the
/// image's contents), never beside the user's file.
fn pvh_in_cache(cache: &Cache, image: &Path, pvh: bool, release: &str) -> Option<PathBuf> {
    let bytes = std::fs::read(image).ok()?;
    let dir = cache.entry("custom", &format!("{release}-{:016x}", fnv1a(&bytes)));
    std::fs::create_dir_all(&dir).ok()?;
    let copy = dir.join("vmlinuz");
    if !copy.is_file() {
        std::fs::write(&copy, &bytes).ok()?;
    }
    pvh::ensure_vmlinux(&copy, pvh).unwrap_or_else(|e| {
        eprintln!("ksock: kernel {release}: no PVH image ({e}); booting the bzImage");
        None
    })
}
