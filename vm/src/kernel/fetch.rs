//! Fetching a catalog kernel from Debian's archive: the newest matching release in its suite,
//! its image, modules and headers packages downloaded and unpacked (cached), its manifest and
//! config read back.

use std::path::{Path, PathBuf};

use crate::debian::archive::{self, AptEnv};
use crate::host::cache::{self, Cache};
use crate::host::progress::Step;
use crate::kernel::catalog::{self, CatalogEntry};
use crate::kernel::kconfig::KernelConfig;
use crate::kernel::layout::{config_rel, normalise_layout};
use crate::kernel::prepared::Manifest;
use crate::Error;

/// A catalog kernel resolved, downloaded and unpacked, with the apt state that found it.
pub(crate) struct Fetched {
    pub(crate) release: String,
    pub(crate) dir: PathBuf,
    pub(crate) config: KernelConfig,
    pub(crate) manifest: Manifest,
    pub(crate) apt: AptEnv,
}

/// Resolves, downloads (first use) and reads catalog kernel `entry` from `mirror`.
pub(crate) fn fetch(
    cache: &Cache,
    entry: &'static CatalogEntry,
    mirror: &str,
) -> Result<Fetched, Error> {
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
        download(&apt, entry, &release, staging)
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

/// Downloads and unpacks kernel `release`'s packages (image, headers, and the `linux-*`
/// packages they depend on) into `staging`, with their versions in `manifest.json`.
fn download(
    apt: &AptEnv,
    entry: &CatalogEntry,
    release: &str,
    staging: &Path,
) -> Result<(), Error> {
    let step = Step::start(format!("kernel {release}: downloading packages"));
    let image = format!("linux-image-{release}");
    let headers = format!("linux-headers-{release}");
    let mut pkgs = vec![image.clone(), headers.clone()];
    for d in apt
        .depends(&image)?
        .into_iter()
        .chain(apt.depends(&headers)?)
    {
        let wanted = d.starts_with("linux-") && d != "linux-base" && !d.starts_with("linux-image-");
        if wanted && !pkgs.contains(&d) {
            pkgs.push(d);
        }
    }
    let debs_dir = staging.join(".debs");
    let debs = apt.download(&pkgs, &debs_dir)?;
    step.set_detail("unpacking");
    for deb in &debs {
        archive::extract_deb(deb, staging)?;
    }
    let mut versions = Vec::new();
    for p in &pkgs {
        versions.push((p.clone(), apt.candidate(p)?));
    }
    cache::remove_tree(&debs_dir)?;
    normalise_layout(staging, release)?;
    let manifest = Manifest {
        name: entry.name.to_string(),
        release: release.to_string(),
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
}
