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

/// `ksock.toml`: where a project's modules and specs are. Every field may be left out; the
/// defaults are this repository's layout.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Directories holding modules, relative to the file: each subdirectory with a `Kbuild`
    /// is a module (the directory itself too, if it has one); Rust if it holds `.rs` files,
    /// else C.
    #[serde(default = "default_modules")]
    pub modules: Vec<PathBuf>,
    /// Directories of specs (`*.yaml`, subdirectories included).
    #[serde(default = "default_specs")]
    pub specs: Vec<PathBuf>,
    /// Kernels `run` uses when none is named.
    #[serde(default = "default_kernels")]
    pub kernels: Vec<String>,
    /// `auto` (Rust where the kernel has Rust, else C), `rust` or `c`.
    #[serde(default = "default_flavour")]
    pub flavour: String,
    /// Fuzz targets (`[[fuzz]]` tables, see [`crate::fuzz_table`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fuzz: Vec<toml::Spanned<crate::fuzz_table::FuzzTable>>,
}

fn default_modules() -> Vec<PathBuf> {
    vec!["kmods".into(), "kmods/c".into()]
}

fn default_specs() -> Vec<PathBuf> {
    vec!["specs".into()]
}

fn default_kernels() -> Vec<String> {
    vec![ksock_vm::catalog::DEFAULT_KERNEL.to_string()]
}

fn default_flavour() -> String {
    "auto".into()
}

impl Default for Config {
    fn default() -> Self {
        Self {
            modules: default_modules(),
            specs: default_specs(),
            kernels: default_kernels(),
            flavour: default_flavour(),
            fuzz: Vec::new(),
        }
    }
}

/// The project file's name.
pub const CONFIG_FILE: &str = "ksock.toml";

impl Config {
    /// Reads `dir/ksock.toml`; the defaults when there is none. Errors name the file, line
    /// and field.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(CONFIG_FILE);
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(Self::default());
        };
        let cfg: Config = toml::from_str(&text).map_err(|e| {
            let at = e
                .span()
                .map(|sp| format!(":{}", text[..sp.start].lines().count().max(1)))
                .unwrap_or_default();
            anyhow::anyhow!("{}{at}: {}", path.display(), e.message())
        })?;
        anyhow::ensure!(
            ["auto", "rust", "c"].contains(&cfg.flavour.as_str()),
            "{}: flavour = {:?}: want \"auto\", \"rust\" or \"c\"",
            path.display(),
            cfg.flavour
        );
        crate::fuzz_table::check_all(&cfg.fuzz, &text, &path.display().to_string())?;
        Ok(cfg)
    }

    /// The fuzz target called `name`; the error lists the ones there are.
    pub fn fuzz_target(&self, name: &str) -> Result<&crate::fuzz_table::FuzzTable> {
        self.fuzz
            .iter()
            .map(|t| t.get_ref())
            .find(|t| t.name == name)
            .with_context(|| {
                let names: Vec<&str> = self
                    .fuzz
                    .iter()
                    .map(|t| t.get_ref().name.as_str())
                    .collect();
                match names.is_empty() {
                    true => format!(
                        "no fuzz target {name:?}: ksock.toml has no [[fuzz]] tables (see \
                         `ksock fuzz --help` for the smallest one)"
                    ),
                    false => format!(
                        "no fuzz target {name:?} in ksock.toml (there are: {})",
                        names.join(", ")
                    ),
                }
            })
    }

    /// The flavour it names (`None`: auto).
    pub fn flavour(&self) -> Option<ksock_vm::kernel::Flavour> {
        match self.flavour.as_str() {
            "rust" => Some(ksock_vm::kernel::Flavour::Rust),
            "c" => Some(ksock_vm::kernel::Flavour::C),
            _ => None,
        }
    }
}

/// How the guest runs the agent: a program and the arguments before the agent's own
/// (`ksock agent …` for an installed ksock, the bare `ksock-agent` in this repository).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    pub program: PathBuf,
    pub args: Vec<String>,
}

impl Agent {
    /// The shell command line running the agent with `rest`.
    pub fn command(&self, rest: &str) -> String {
        let mut words = vec![self.program.display().to_string()];
        words.extend(self.args.iter().cloned());
        words.push(rest.to_string());
        words.join(" ")
    }
}

#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    pub config: Config,
    /// Module name (`ksock_hello`) → its kbuild directories.
    pub modules: BTreeMap<String, ModuleSources>,
    /// The guest agent (a host binary: the guest shares the host's root).
    pub agent: Agent,
}

impl Project {
    /// The project at `root` (its `ksock.toml`, or this repository's layout), with the agent
    /// looked up in `target/{guest,debug,release}` unless `KSOCK_AGENT` names it.
    pub fn open(root: &Path) -> Result<Self> {
        let root = root
            .canonicalize()
            .with_context(|| format!("project root {}", root.display()))?;
        let config = Config::load(&root)?;
        Self::with(root.clone(), config, repo_agent(&root)?)
    }

    /// The project at `root` described by `config`, run with `agent`.
    pub fn with(root: PathBuf, config: Config, agent: Agent) -> Result<Self> {
        let dirs: Vec<PathBuf> = config.modules.iter().map(|d| root.join(d)).collect();
        let modules = discover_modules(&dirs)?;
        Ok(Self {
            root,
            config,
            modules,
            agent,
        })
    }

    /// The spec directories, absolute.
    pub fn spec_dirs(&self) -> Vec<PathBuf> {
        self.config
            .specs
            .iter()
            .map(|d| self.root.join(d))
            .collect()
    }

    pub fn module_names(&self) -> Vec<String> {
        self.modules.keys().cloned().collect()
    }

    /// Reads every spec of every spec directory; the first error stops (with its
    /// file:line:col).
    pub fn load_specs(&self) -> Result<Vec<ksock_spec::Spec>> {
        load_specs(&self.spec_dirs(), &self.module_names())
    }
}

/// This repository's agent binary, as `cargo xtask` builds it.
fn repo_agent(root: &Path) -> Result<Agent> {
    let program = match std::env::var_os("KSOCK_AGENT") {
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
    Ok(Agent {
        program,
        args: Vec::new(),
    })
}

/// Reads every `*.yaml` in `dirs` and their subdirectories (`specs/regressions/`), in path
/// order, checking module names against `known`. A spec is named by its file's stem, so
/// stems must be unique. Needs no built agent, so test listing can use it.
pub fn load_specs(dirs: &[PathBuf], known: &[String]) -> Result<Vec<ksock_spec::Spec>> {
    let mut files = Vec::new();
    for dir in dirs {
        collect_yaml(dir, &mut files)?;
    }
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

/// Finds `obj-m := name.o` (or `+=`, several names) in the `Kbuild` of each of `bases`
/// and of their subdirectories (`kmods/*/Kbuild`, `kmods/c/*/Kbuild`). A directory with
/// Rust sources is the Rust flavour, else C.
pub fn discover_modules(bases: &[PathBuf]) -> Result<BTreeMap<String, ModuleSources>> {
    let mut out: BTreeMap<String, ModuleSources> = BTreeMap::new();
    let re = regex::Regex::new(r"(?m)^\s*obj-m\s*[:+]?=\s*(.+)$").expect("valid regex");
    let mut dirs: Vec<PathBuf> = Vec::new();
    for base in bases {
        if base.join("Kbuild").is_file() {
            dirs.push(base.clone());
        }
        let Ok(rd) = std::fs::read_dir(base) else {
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
        let names: Vec<String> = load_specs(&[dir.path().to_path_buf()], &[])
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["a", "b"]);
        std::fs::write(dir.path().join("regressions/a.yaml"), spec).unwrap();
        let e = load_specs(&[dir.path().to_path_buf()], &[])
            .unwrap_err()
            .to_string();
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
        let m = discover_modules(&[dir.path().to_path_buf(), dir.path().join("c")]).unwrap();
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
