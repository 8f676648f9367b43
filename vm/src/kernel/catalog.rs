//! The kernel catalog: a short name (`7.2`) → the Debian suites that hold the kernel and
//! the toolchain that built it. Exact package versions are *resolved* against the archive at
//! first use and recorded in the kernel's cache manifest; nothing here pins a patch level.

use std::fmt;

/// One kernel line ksock knows how to fetch, build for, and boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogEntry {
    /// Short name users type: `7.2`.
    pub name: &'static str,
    /// Suites for the private apt configuration and the toolchain root, in priority order.
    /// The last one holds the kernel packages.
    pub suites: &'static [&'static str],
    /// Whether Debian built this kernel with `CONFIG_RUST=y` (checked again against the
    /// kernel's own config after download).
    pub rust: bool,
}

impl CatalogEntry {
    /// Suite whose packages are the kernel's.
    pub fn kernel_suite(&self) -> &'static str {
        self.suites.last().expect("a suite")
    }

    /// Name of the toolchain root: the suite set, joined (`-c` for roots without Rust,
    /// whose package set is smaller).
    pub fn root_name(&self) -> String {
        let base = self.suites.join("+");
        if self.rust {
            base
        } else {
            format!("{base}-c")
        }
    }

    /// Name of the private apt state (shared by every root of the same suites).
    pub fn apt_name(&self) -> String {
        self.suites.join("+")
    }
}

impl fmt::Display for CatalogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.kernel_suite())
    }
}

/// Every kernel in the catalog. Rust-enabled Debian kernels first.
pub const CATALOG: &[CatalogEntry] = &[
    CatalogEntry {
        name: "7.2",
        suites: &["sid"],
        rust: true,
    },
    CatalogEntry {
        name: "7.3",
        suites: &["trixie", "trixie-backports"],
        rust: true,
    },
    // Debian kernels without CONFIG_RUST: modules are the C reference ports.
    CatalogEntry {
        name: "6.12",
        suites: &["trixie"],
        rust: false,
    },
    CatalogEntry {
        name: "6.1",
        suites: &["bookworm"],
        rust: false,
    },
    CatalogEntry {
        name: "5.10",
        suites: &["bullseye"],
        rust: false,
    },
];

/// What `cargo xtask run` uses when no `--kernel` is given.
pub const DEFAULT_KERNEL: &str = "7.2";

/// Looks a short name up in the catalog.
pub fn lookup(name: &str) -> Result<&'static CatalogEntry, crate::Error> {
    CATALOG
        .iter()
        .find(|e| e.name == name)
        .ok_or_else(|| crate::Error::UnknownKernel {
            name: name.to_string(),
            known: CATALOG
                .iter()
                .map(|e| e.name)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Picks the newest kernel release for `name` among package names like
/// `linux-image-7.2.13+deb14-amd64` (flavour `amd64` only: not cloud, rt, dbg, unsigned).
/// Returns the release string (`7.2.13+deb14-amd64`).
pub fn newest_release(name: &str, package_names: &[String]) -> Option<String> {
    let re = regex::Regex::new(&format!(
        r"^linux-image-({}[.-][0-9][0-9A-Za-z.+~-]*?-amd64)$",
        regex::escape(name)
    ))
    .expect("valid regex");
    package_names
        .iter()
        .filter_map(|p| re.captures(p).map(|c| c[1].to_string()))
        .filter(|rel| !rel.contains("-cloud-") && !rel.contains("-rt-"))
        .max_by_key(|rel| numeric_key(rel))
}

/// `7.2.13+deb14-amd64` → [7, 2, 13, 14]; `6.1.0-56-amd64` → [6, 1, 0, 56].
fn numeric_key(rel: &str) -> Vec<u64> {
    rel.split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap_or(0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_amd64_release_is_picked_numerically() {
        let names: Vec<String> = [
            "linux-image-7.2.9+deb13-amd64",
            "linux-image-7.2.13+deb14-amd64",
            "linux-image-7.2.13+deb14-amd64-dbg",
            "linux-image-7.2.13+deb14-cloud-amd64",
            "linux-image-7.2.13+deb14-rt-amd64",
            "linux-image-7.3.4+deb13-amd64",
            "linux-image-7.20.1+deb14-amd64",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            newest_release("7.2", &names).as_deref(),
            Some("7.2.13+deb14-amd64")
        );
        assert_eq!(
            newest_release("7.3", &names).as_deref(),
            Some("7.3.4+deb13-amd64")
        );
        let old: Vec<String> = vec![
            "linux-image-6.1.0-9-amd64".into(),
            "linux-image-6.1.0-56-amd64".into(),
        ];
        assert_eq!(
            newest_release("6.1", &old).as_deref(),
            Some("6.1.0-56-amd64")
        );
        assert_eq!(newest_release("6.2", &old), None);
    }

    #[test]
    fn unknown_kernel_lists_known_ones() {
        let e = lookup("9.9").unwrap_err().to_string();
        assert!(
            e.contains("9.9") && e.contains("7.2") && e.contains("7.3"),
            "{e}"
        );
    }
}
