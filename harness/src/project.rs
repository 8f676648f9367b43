//! The project's layout as the harness sees it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Where a module's sources are, per flavour. The C reference ports log the same lines as
/// the Rust modules, so one spec checks both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleSources {
    pub rust: Option<PathBuf>,
    pub c: Option<PathBuf>,
}

impl ModuleSources {
    pub fn get(&self, f: ksock_vm::kernel::Flavour) -> Option<&PathBuf> {
        match f {
            ksock_vm::kernel::Flavour::Rust => self.rust.as_ref(),
            ksock_vm::kernel::Flavour::C => self.c.as_ref(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    /// Module name (`ksock_hello`) → its kbuild directories.
    pub modules: BTreeMap<String, ModuleSources>,
    /// The guest agent binary (built for the host; the guest shares the host's root).
    pub agent: PathBuf,
}

impl Project {
    /// `root` is the repository; the agent is looked up in `target/{guest,debug,release}`
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
                // `guest` is what cargo xtask builds (see the workspace's Cargo.toml).
                ["guest", "debug", "release"]
                    .iter()
                    .map(|p| target.join(p).join("ksock-agent"))
                    .find(|p| p.is_file())
                    .with_context(|| {
                        "the guest agent is not built: run `cargo build --profile guest -p \
                         ksock-agent` (cargo xtask run/test do this for you)"
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
        load_specs(&self.specs_dir(), &self.module_names())
    }
}

/// Reads every `*.yaml` in `dir` and its subdirectories (`specs/regressions/`), in path
/// order, checking module names against `known`. A spec is named by its file's stem, so
/// stems must be unique. Needs no built agent, so test listing can use it.
pub fn load_specs(dir: &Path, known: &[String]) -> Result<Vec<ksock_spec::Spec>> {
    let mut files = Vec::new();
    collect_yaml(dir, &mut files)?;
    files.sort();
    let specs: Vec<ksock_spec::Spec> = files
        .iter()
        .map(|f| ksock_spec::load_file(f, known).map_err(anyhow::Error::from))
        .collect::<Result<_>>()?;
    let mut seen: BTreeMap<&str, &Path> = BTreeMap::new();
    for (s, f) in specs.iter().zip(&files) {
        if let Some(other) = seen.insert(&s.name, f) {
            anyhow::bail!(
                "{} and {} are both spec `{}`: spec names come from file names, rename one",
                other.display(),
                f.display(),
                s.name
            );
        }
    }
    Ok(specs)
}

fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))? {
        let p = e?.path();
        if p.is_dir() {
            collect_yaml(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
    Ok(())
}

/// Finds `obj-m := name.o` (or `+=`, several names) in `kmods/*/Kbuild` and
/// `kmods/c/*/Kbuild`. A directory with Rust sources is the Rust flavour, else C.
pub fn discover_modules(kmods: &Path) -> Result<BTreeMap<String, ModuleSources>> {
    let mut out: BTreeMap<String, ModuleSources> = BTreeMap::new();
    let re = regex::Regex::new(r"(?m)^\s*obj-m\s*[:+]?=\s*(.+)$").expect("valid regex");
    let mut dirs: Vec<PathBuf> = Vec::new();
    for base in [kmods.to_path_buf(), kmods.join("c")] {
        let Ok(rd) = std::fs::read_dir(&base) else {
            continue;
        };
        dirs.extend(
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.join("Kbuild").is_file()),
        );
    }
    dirs.sort();
    for d in dirs {
        let text = std::fs::read_to_string(d.join("Kbuild"))?;
        let rust = std::fs::read_dir(&d)?
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "rs"));
        for cap in re.captures_iter(&text) {
            for obj in cap[1].split_whitespace() {
                let Some(name) = obj.strip_suffix(".o") else {
                    continue;
                };
                let entry = out.entry(name.to_string()).or_default();
                let slot = if rust { &mut entry.rust } else { &mut entry.c };
                if let Some(prev) = slot.replace(d.clone()) {
                    bail!(
                        "module `{name}` ({}) is built by both {} and {}",
                        if rust { "Rust" } else { "C" },
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
    fn specs_in_subdirectories_load_and_names_stay_unique() {
        let dir = tempfile::tempdir().unwrap();
        let spec = "steps:\n  - sleep: 1\n";
        std::fs::create_dir_all(dir.path().join("regressions")).unwrap();
        std::fs::write(dir.path().join("a.yaml"), spec).unwrap();
        std::fs::write(dir.path().join("regressions/b.yaml"), spec).unwrap();
        let names: Vec<String> = load_specs(dir.path(), &[])
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["a", "b"]);
        std::fs::write(dir.path().join("regressions/a.yaml"), spec).unwrap();
        let e = load_specs(dir.path(), &[]).unwrap_err().to_string();
        assert!(e.contains("are both spec `a`"), "{e}");
    }

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
        std::fs::write(a.join("a.rs"), "").unwrap();
        std::fs::write(b.join("Kbuild"), "obj-m += ksock_b.o ksock_c.o\n").unwrap();
        std::fs::write(b.join("b.rs"), "").unwrap();
        std::fs::create_dir_all(dir.path().join("notamodule")).unwrap();
        // The C port of ksock_a.
        let ca = dir.path().join("c/a");
        std::fs::create_dir_all(&ca).unwrap();
        std::fs::write(ca.join("Kbuild"), "obj-m := ksock_a.o\n").unwrap();
        std::fs::write(ca.join("ksock_a.c"), "").unwrap();
        let m = discover_modules(dir.path()).unwrap();
        assert_eq!(
            m.keys().collect::<Vec<_>>(),
            vec!["ksock_a", "ksock_b", "ksock_c"]
        );
        assert_eq!(m["ksock_c"].rust.as_ref(), Some(&b));
        assert_eq!(m["ksock_a"].rust.as_ref(), Some(&a));
        assert_eq!(m["ksock_a"].c.as_ref(), Some(&ca));
        assert_eq!(m["ksock_b"].c, None);
    }
}
