//! `ksock init`: a `ksock.toml` for an existing module directory, and a first spec.

use std::path::Path;

use anyhow::{Context, Result};
use ksock_harness::project::{discover_modules, Config, CONFIG_FILE};

/// Writes `dir/ksock.toml` naming `dir`'s modules (a directory with a `Kbuild`, or
/// directories of them), and `specs/<module>-load-unload.yaml` for each module found, unless
/// a spec directory exists already. Refuses to overwrite a `ksock.toml`.
pub fn init(dir: &Path, modules: &[std::path::PathBuf]) -> Result<String> {
    let file = dir.join(CONFIG_FILE);
    anyhow::ensure!(!file.exists(), "{} exists already", file.display());
    let modules: Vec<std::path::PathBuf> = if modules.is_empty() {
        vec![".".into()]
    } else {
        modules.to_vec()
    };
    let found = discover_modules(&modules.iter().map(|m| dir.join(m)).collect::<Vec<_>>())?;
    anyhow::ensure!(
        !found.is_empty(),
        "no module under {}: ksock looks for a `Kbuild` with `obj-m := <name>.o` in the \
         directory and its subdirectories (name others with `ksock init DIR...`)",
        modules
            .iter()
            .map(|m| dir.join(m).display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let cfg = Config {
        modules,
        ..Config::default()
    };
    let text = format!(
        "# ksock's project file: where the modules and specs are, which kernels `ksock run`\n\
         # uses by default (`ksock kernels` lists them), and the module flavour.\n{}",
        toml::to_string(&cfg).context("writing ksock.toml")?
    );
    std::fs::write(&file, text).with_context(|| file.display().to_string())?;
    let specs = dir.join(&cfg.specs[0]);
    if !specs.exists() {
        std::fs::create_dir_all(&specs)?;
        for name in found.keys() {
            let spec = format!(
                "# Loads and unloads {name}; add the log lines it must print under `dmesg`.\n\
                 steps:\n  - load: {{module: {name}}}\n  - unload: {name}\n"
            );
            std::fs::write(specs.join(format!("{name}-load-unload.yaml")), spec)?;
        }
    }
    Ok(format!(
        "wrote {} ({} module(s): {}); run `ksock run`",
        file.display(),
        found.len(),
        found.keys().cloned().collect::<Vec<_>>().join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_finds_the_module_and_writes_a_loadable_config_and_spec() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("Kbuild"), "obj-m := mymod.o\n").unwrap();
        std::fs::write(d.path().join("mymod.c"), "").unwrap();
        let msg = init(d.path(), &[]).unwrap();
        assert!(msg.contains("mymod"), "{msg}");
        let cfg = Config::load(d.path()).unwrap();
        assert_eq!(cfg.modules, [std::path::PathBuf::from(".")]);
        let spec = d.path().join("specs/mymod-load-unload.yaml");
        let s = ksock_spec::load_file(&spec, &["mymod".to_string()]).unwrap();
        assert_eq!(s.modules(), ["mymod"]);
        assert!(init(d.path(), &[])
            .unwrap_err()
            .to_string()
            .contains("exists already"));
        let empty = tempfile::tempdir().unwrap();
        assert!(init(empty.path(), &[])
            .unwrap_err()
            .to_string()
            .contains("no module"));
    }
}
