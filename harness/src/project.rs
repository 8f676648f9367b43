//! The project's layout as the harness sees it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    /// Module name (`ksock_hello`) → its kbuild directory.
    pub modules: BTreeMap<String, PathBuf>,
    /// The guest agent binary (built for the host; the guest shares the host's root).
    pub agent: PathBuf,
}

impl Project {
    /// `root` is the repository; the agent is looked up in `target/{debug,release}`
    /// unless `KSOCK_AGENT` names it.
    pub fn open(root: &Path) -> Result<Self> {
        let root = root
            .canonicalize()
            .with_context(|| format!("project root {}", root.display()))?;
        let modules = discover_modules(&root.join("kmods"))?;
        let agent = match std::env::var_os("KSOCK_AGENT") {
            Some(p) => PathBuf::from(p),
            None => {
                let target = std::env::var_os("CARGO_TARGET_DIR")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| root.join("target"));
                ["debug", "release"]
                    .iter()
                    .map(|p| target.join(p).join("ksock-agent"))
                    .find(|p| p.is_file())
                    .with_context(|| {
                        "the guest agent is not built: run `cargo build -p ksock-agent` (cargo \
                         xtask run/test do this for you)"
                    })?
            }
        };
        Ok(Self {
            root,
            modules,
            agent,
        })
    }

    pub fn specs_dir(&self) -> PathBuf {
        self.root.join("specs")
    }

    pub fn module_names(&self) -> Vec<String> {
        self.modules.keys().cloned().collect()
    }

    /// Reads every `specs/*.yaml`; the first error stops (with its file:line:col).
    pub fn load_specs(&self) -> Result<Vec<ksock_spec::Spec>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.specs_dir())
            .with_context(|| format!("{}", self.specs_dir().display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        files.sort();
        let known = self.module_names();
        files
            .iter()
            .map(|f| ksock_spec::load_file(f, &known).map_err(anyhow::Error::from))
            .collect()
    }
}

/// Finds `obj-m := name.o` (or `+=`, several names) in `kmods/*/Kbuild`.
pub fn discover_modules(kmods: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    let re = regex::Regex::new(r"(?m)^\s*obj-m\s*[:+]?=\s*(.+)$").expect("valid regex");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(kmods)
        .with_context(|| format!("{}", kmods.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("Kbuild").is_file())
        .collect();
    dirs.sort();
    for d in dirs {
        let text = std::fs::read_to_string(d.join("Kbuild"))?;
        for cap in re.captures_iter(&text) {
            for obj in cap[1].split_whitespace() {
                let Some(name) = obj.strip_suffix(".o") else {
                    continue;
                };
                if let Some(prev) = out.insert(name.to_string(), d.clone()) {
                    bail!(
                        "module `{name}` is built by both {} and {}",
                        prev.display(),
                        d.display()
                    );
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kbuild_obj_m_lines_name_modules() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::write(
            a.join("Kbuild"),
            "obj-m := ksock_a.o\nksock_a-y := x.o y.o\n",
        )
        .unwrap();
        let b = dir.path().join("b");
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(b.join("Kbuild"), "obj-m += ksock_b.o ksock_c.o\n").unwrap();
        std::fs::create_dir_all(dir.path().join("notamodule")).unwrap();
        let m = discover_modules(dir.path()).unwrap();
        assert_eq!(
            m.keys().collect::<Vec<_>>(),
            vec!["ksock_a", "ksock_b", "ksock_c"]
        );
        assert_eq!(m["ksock_c"], b);
    }
}
