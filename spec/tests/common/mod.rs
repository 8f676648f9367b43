//! What the spec tests share: the modules kmods/ provides and the specs ksock ships.

use std::path::{Path, PathBuf};

/// Module names from `kmods/*/Kbuild` (`obj-m := name.o`).
pub fn kmods_names() -> Vec<String> {
    let kmods = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kmods");
    let mut names = Vec::new();
    for e in std::fs::read_dir(kmods).unwrap().flatten() {
        let Ok(text) = std::fs::read_to_string(e.path().join("Kbuild")) else {
            continue;
        };
        for l in text.lines() {
            if let Some(rest) = l.trim().strip_prefix("obj-m") {
                let objs = rest.trim_start_matches([' ', ':', '+', '=']);
                names.extend(
                    objs.split_whitespace()
                        .filter_map(|o| o.strip_suffix(".o"))
                        .map(String::from),
                );
            }
        }
    }
    names
}

/// Every `*.yaml` under specs/, subdirectories (regressions/) included, sorted.
pub fn shipped_specs() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs"),
        &mut out,
    );
    out.sort();
    out
}
