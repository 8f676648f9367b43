//! Test tiers (see xtask/src/test.rs): plain `cargo test` / `cargo nextest run` boot nothing;
//! every test that boots a guest or builds in a real kernel tree is a target of the guest
//! tier, which requires the `guest-tests` feature and which `cargo xtask test` finds with
//! `cargo metadata`. A new test file is a host test until it says otherwise: these tests
//! catch one that boots, by what it calls.

mod common;

use common::metadata;
use std::path::{Path, PathBuf};

/// What a test calls that boots a guest or prepares a kernel (downloads, builds, mounts).
const BOOTS: &[&str] = &[
    "Cache::from_env",
    "run_kernel",
    "kernel::prepare",
    "boot::boot",
    "watch::Dev",
    "campaign::run",
    // The `ksock` binary on a kernel: `ksock run --kernel …`.
    "\"--kernel\"",
];
const FEATURE: &str = "guest-tests";

/// Every workspace target: (package, kind, name, source, required features).
fn targets() -> Vec<(String, String, String, PathBuf, Vec<String>)> {
    let meta = metadata();
    let mut all = Vec::new();
    for p in meta["packages"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            let strings = |v: &serde_json::Value| -> Vec<String> {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| s.as_str().unwrap().to_string())
                    .collect()
            };
            all.push((
                p["name"].as_str().unwrap().to_string(),
                strings(&t["kind"]).join(","),
                t["name"].as_str().unwrap().to_string(),
                PathBuf::from(t["src_path"].as_str().unwrap()),
                strings(&t["required-features"]),
            ));
        }
    }
    all
}

fn boots(text: &str) -> Vec<&'static str> {
    BOOTS.iter().copied().filter(|m| text.contains(m)).collect()
}

/// A test file's text with its `mod name;` modules' (tests/name/mod.rs or tests/name.rs).
fn with_modules(src: &Path) -> String {
    let mut text = std::fs::read_to_string(src).unwrap();
    let dir = src.parent().unwrap();
    let mods: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("mod ")?.strip_suffix(';'))
        .map(str::to_string)
        .collect();
    for m in mods {
        for f in [dir.join(&m).join("mod.rs"), dir.join(format!("{m}.rs"))] {
            text += &std::fs::read_to_string(f).unwrap_or_default();
        }
    }
    text
}

#[test]
fn every_test_that_boots_is_in_the_guest_tier() {
    let (mut wrong, mut booting) = (Vec::new(), 0);
    for (package, kind, name, src, required) in targets() {
        if kind != "test" || src.ends_with("xtask/tests/tiers.rs") {
            continue;
        }
        let calls = boots(&with_modules(&src));
        booting += usize::from(!calls.is_empty());
        if !calls.is_empty() && !required.iter().any(|f| f == FEATURE) {
            wrong.push(format!(
                "{} calls {calls:?}: add to {package}'s Cargo.toml\n\
                 [[test]]\nname = \"{name}\"\nrequired-features = [\"{FEATURE}\"]\n\
                 (and `{FEATURE} = []` under [features] if it has none)",
                src.display()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
    // The markers still find today's guest tests (harness, cli and vm have 14).
    assert!(
        booting >= 14,
        "only {booting} test files boot: are BOOTS current?"
    );
}

#[test]
fn the_guest_tier_is_test_targets_that_need_only_its_feature() {
    let mut guest = 0;
    for (package, kind, name, _, required) in targets() {
        if !required.iter().any(|f| f == FEATURE) {
            continue;
        }
        guest += 1;
        // `cargo xtask test` runs test targets with this feature and no other.
        assert_eq!(kind, "test", "{package}::{name} requires {FEATURE}");
        assert_eq!(required, [FEATURE], "{package}::{name}");
    }
    assert!(guest >= 10, "only {guest} guest test targets");
}

/// Unit tests cannot be gated by a feature's target: they must boot nothing.
#[test]
fn unit_tests_boot_nothing() {
    let mut wrong = Vec::new();
    for (_, kind, _, src, _) in targets() {
        if kind == "test" {
            continue;
        }
        for file in rust_files(src.parent().unwrap()) {
            let text = std::fs::read_to_string(&file).unwrap();
            let Some(at) = text.find("#[cfg(test)]") else {
                continue;
            };
            let calls = boots(&text[at..]);
            if !calls.is_empty() {
                wrong.push(format!("{}'s unit tests call {calls:?}", file.display()));
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "move these into a guest test target:\n{}",
        wrong.join("\n")
    );
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}
