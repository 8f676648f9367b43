//! A kernel brought with `--kernel-image/--kernel-build` gives the same verdicts as the
//! catalog kernel it is: Debian's 6.1, unpacked as ksock itself unpacks it (what a user gets
//! from `dpkg -x` of the kernel's image, headers and kbuild packages), every spec of this
//! repository, C flavour.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `ksock run` on this repository with `args`; spec → status from its JSON report.
fn verdicts(args: &[&str], json: &Path) -> BTreeMap<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_ksock"))
        .arg("--project")
        .arg(repo())
        // Its own consoles: tests boot in parallel.
        .env(
            "KSOCK_ARTIFACTS",
            repo().join("target/ksock/tests/own_kernel"),
        )
        .args(["run", "--json"])
        .arg(json)
        .args(args)
        .output()
        .unwrap();
    let text = std::fs::read_to_string(json).unwrap_or_else(|e| {
        panic!(
            "no report ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    report["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["spec"].as_str().unwrap().to_string(),
                v["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn debian_61_brought_as_image_and_build_agrees_with_the_catalog_61() {
    let tmp = tempfile::tempdir().unwrap();
    let catalog = verdicts(&["--kernel", "6.1"], &tmp.path().join("catalog.json"));
    let cache = ksock_vm::Cache::from_env().unwrap();
    let k = ksock_vm::kernel::prepare(&cache, "6.1", &Default::default()).unwrap();
    let image = k.vmlinuz.to_string_lossy().to_string();
    let build = k.dir.to_string_lossy().to_string();
    let own = verdicts(
        &["--kernel-image", &image, "--kernel-build", &build],
        &tmp.path().join("own.json"),
    );
    assert!(catalog.len() > 10, "{catalog:?}");
    assert!(catalog.values().any(|s| s == "pass"), "{catalog:?}");
    assert_eq!(
        catalog, own,
        "catalog 6.1 (left) vs the same kernel brought (right)"
    );
}
