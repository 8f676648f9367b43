//! The compiler set that built a kernel, read from its config, and the check that a toolchain
//! root (made by [`crate::debian::roots`]) has exactly that set. A root is only used for a
//! kernel after [`ToolchainRoot::check`] has matched its `rustc`, `bindgen` and C compiler
//! against the kernel's own `CONFIG_*_VERSION_TEXT`.

use std::path::Path;

use crate::debian::chroot::output_in_root;
use crate::debian::roots;
use crate::host::cache::Cache;
use crate::kernel::kconfig::KernelConfig;
use crate::Error;

pub use crate::debian::roots::{ensure_clippy, ToolchainRoot};
pub use crate::host::error::Mismatch;

/// A tool whose version the kernel recorded in its config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Cc,
    Rustc,
    Bindgen,
}

impl Tool {
    fn config_key(self) -> &'static str {
        match self {
            Tool::Cc => "CC_VERSION_TEXT",
            Tool::Rustc => "RUSTC_VERSION_TEXT",
            Tool::Bindgen => "BINDGEN_VERSION_TEXT",
        }
    }
}

/// What the kernel says it was built with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub tool: Tool,
    /// The command to ask (`x86_64-linux-gnu-gcc-16`, `rustc`, `bindgen`).
    pub command: String,
    /// The first line of `<command> --version` must equal this.
    pub version_text: String,
}

/// The tools (and version texts) a kernel's config requires.
pub fn expected_tools(cfg: &KernelConfig) -> Vec<Expected> {
    let mut out = Vec::new();
    let mut tools = vec![Tool::Cc];
    if cfg.enabled("RUST") {
        tools.extend([Tool::Rustc, Tool::Bindgen]);
    }
    for tool in tools {
        let Some(text) = cfg.get(tool.config_key()) else {
            continue;
        };
        let command = match tool {
            Tool::Cc => text.split_whitespace().next().unwrap_or("gcc").to_string(),
            Tool::Rustc => "rustc".into(),
            Tool::Bindgen => "bindgen".into(),
        };
        out.push(Expected {
            tool,
            command,
            version_text: text.to_string(),
        });
    }
    out
}

/// The Debian package that provides a C compiler command (`x86_64-linux-gnu-gcc-16` → `gcc-16`).
pub fn cc_package(command: &str) -> String {
    let base = command.rsplit('/').next().unwrap_or(command);
    let base = base.strip_prefix("x86_64-linux-gnu-").unwrap_or(base);
    base.to_string()
}

const NOT_INSTALLED: &str = "(not installed)";

/// Compares expected version texts with what the root answered (`None`: not installed).
pub fn compare(expected: &[Expected], found: &[Option<String>]) -> Vec<Mismatch> {
    expected
        .iter()
        .zip(found)
        .filter_map(|(e, f)| {
            let got = f
                .as_deref()
                .and_then(|s| s.lines().next())
                .map(str::trim)
                .unwrap_or("");
            (got != e.version_text).then(|| Mismatch {
                command: e.command.clone(),
                kernel_has: e.version_text.clone(),
                root_has: if got.is_empty() {
                    NOT_INSTALLED.to_string()
                } else {
                    got.to_string()
                },
            })
        })
        .collect()
}

impl ToolchainRoot {
    /// Asks the root for each tool's version and refuses on any difference, naming the
    /// kernel, the root, and both versions.
    pub fn check(&self, kernel_release: &str, cfg: &KernelConfig) -> Result<(), Error> {
        let expected = expected_tools(cfg);
        let found: Vec<Option<String>> = expected
            .iter()
            .map(|e| output_in_root(&self.path, &[&e.command, "--version"]).ok())
            .collect();
        let mut mismatches = compare(&expected, &found);
        for (m, e) in mismatches.iter_mut().zip(&expected) {
            // The kernel's exact compiler is absent: say which one the root does have.
            if m.root_has == NOT_INSTALLED && e.tool == Tool::Cc {
                if let Some(line) = output_in_root(&self.path, &["gcc", "--version"])
                    .ok()
                    .and_then(|s| s.lines().next().map(str::to_string))
                {
                    m.root_has = format!("no {}; its gcc is {line}", e.command);
                }
            }
        }
        if mismatches.is_empty() {
            Ok(())
        } else {
            Err(Error::ToolchainMismatch {
                kernel: kernel_release.to_string(),
                root: self.name.clone(),
                mismatches,
            })
        }
    }
}

/// Returns the root for `suites` holding the compilers `cfg` names, creating it with
/// mmdebstrap on first use.
pub fn ensure_root(
    cache: &Cache,
    name: &str,
    suites: &[&str],
    mirror: &str,
    cfg: &KernelConfig,
    log: &Path,
) -> Result<ToolchainRoot, Error> {
    let compilers: Vec<String> = expected_tools(cfg)
        .into_iter()
        .filter(|e| e.tool == Tool::Cc)
        .map(|e| cc_package(&e.command))
        .collect();
    let packages = roots::packages(&compilers, cfg.enabled("RUST"));
    roots::ensure(cache, name, suites, mirror, &packages, log)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg72() -> KernelConfig {
        KernelConfig::parse(
            "CONFIG_CC_VERSION_TEXT=\"x86_64-linux-gnu-gcc-16 (Debian 16.2.0-4) 16.2.0\"\n\
             CONFIG_RUST=y\n\
             CONFIG_RUSTC_VERSION_TEXT=\"rustc 1.97.1 (8bab26f4f 2026-07-14) (built from a source tarball)\"\n\
             CONFIG_BINDGEN_VERSION_TEXT=\"bindgen 0.72.1\"\n",
        )
    }

    #[test]
    fn expected_tools_follow_config() {
        let e = expected_tools(&cfg72());
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].command, "x86_64-linux-gnu-gcc-16");
        assert_eq!(cc_package(&e[0].command), "gcc-16");
        let c =
            KernelConfig::parse("CONFIG_CC_VERSION_TEXT=\"gcc-12 (Debian 12.2.0-14) 12.2.0\"\n");
        assert_eq!(
            expected_tools(&c).len(),
            1,
            "no Rust tools without CONFIG_RUST"
        );
    }

    #[test]
    fn trixie_tools_against_72_are_named() {
        let e = expected_tools(&cfg72());
        let found = vec![
            Some("x86_64-linux-gnu-gcc-16 (Debian 16.2.0-4) 16.2.0\nCopyright".to_string()),
            Some("rustc 1.85.1 (4eb161250 2025-03-15) (built from a source tarball)\n".to_string()),
            None,
        ];
        let m = compare(&e, &found);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].command, "rustc");
        assert!(m[0].root_has.starts_with("rustc 1.85.1"));
        assert!(m[0].kernel_has.starts_with("rustc 1.97.1"));
        assert_eq!(m[1].root_has, "(not installed)");
        let same = vec![
            Some("x86_64-linux-gnu-gcc-16 (Debian 16.2.0-4) 16.2.0".into()),
            Some("rustc 1.97.1 (8bab26f4f 2026-07-14) (built from a source tarball)".into()),
            Some("bindgen 0.72.1".into()),
        ];
        assert!(compare(&e, &same).is_empty());
    }
}
