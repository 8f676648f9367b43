//! Where things are in an unpacked Debian kernel (its image, modules and headers packages).

use std::path::Path;

use crate::Error;

/// Where the modules (and, after [`normalise_layout`], `vmlinuz` and `config`) are:
/// `usr/lib/modules/<release>` on 6.12+ packages, `lib/modules/<release>` on older ones.
pub(crate) fn modules_rel(dir: &Path, release: &str) -> String {
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
pub(crate) fn normalise_layout(dir: &Path, release: &str) -> Result<(), Error> {
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

/// The kernel's config, relative to the unpacked kernel.
pub(crate) fn config_rel(dir: &Path, release: &str) -> String {
    format!("{}/config", modules_rel(dir, release))
}

/// Debian's headers directory, relative to the unpacked kernel.
pub(crate) fn headers_rel(release: &str) -> String {
    format!("usr/src/linux-headers-{release}")
}
