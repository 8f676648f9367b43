//! Every Rust module in kmods/ builds cleanly under the kernel's own lints: `make CLIPPY=1`
//! (clippy-driver with the kernel's lint set) with warnings denied, on each Rust kernel of
//! the catalog (`KSOCK_KERNELS` limits them). And the check has teeth: a module with an
//! undocumented `unsafe` block is refused, naming the lint.

use std::path::Path;

use ksock_vm::kernel::{Flavour, PreparedKernel};

fn rust_kernels() -> Vec<&'static str> {
    let only = std::env::var("KSOCK_KERNELS").ok();
    ksock_vm::catalog::CATALOG
        .iter()
        .filter(|e| e.rust)
        .filter(|e| {
            only.as_deref()
                .is_none_or(|o| o.split(',').any(|k| k == e.name))
        })
        .map(|e| e.name)
        .collect()
}

fn prepare(cache: &ksock_vm::Cache, k: &str) -> PreparedKernel {
    ksock_vm::kernel::prepare(cache, k, &Default::default()).unwrap()
}

#[test]
fn rust_modules_pass_the_kernels_clippy() {
    ksock_vm::supervise::install_interrupt_handler();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let project = ksock_harness::project::Project::open(&root).unwrap();
    let cache = ksock_vm::Cache::from_env().unwrap();
    for k in rust_kernels() {
        let pk = prepare(&cache, k);
        for (name, src) in &project.modules {
            let Some(dir) = src.get(Flavour::Rust) else {
                continue;
            };
            if let Err(e) = pk.clippy_module(&cache, dir) {
                panic!("{name} on {k}: {e}");
            }
        }
    }
}

#[test]
fn an_undocumented_unsafe_block_is_refused() {
    ksock_vm::supervise::install_interrupt_handler();
    let Some(k) = rust_kernels().first().copied() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // A fixed name: the build log in the cache is named after the directory.
    let dir = tmp.path().join("lint_probe");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("Kbuild"), "obj-m := ksock_lint_probe.o\n").unwrap();
    std::fs::write(
        dir.join("ksock_lint_probe.rs"),
        r#"// SPDX-License-Identifier: GPL-2.0
//! A module clippy must refuse.
use kernel::prelude::*;
module! {
    type: Probe,
    name: "ksock_lint_probe",
    authors: ["ksock developers"],
    description: "lint probe",
    license: "GPL",
}
struct Probe;
impl kernel::Module for Probe {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let x = 1u8;
        let v = unsafe { core::ptr::read_volatile(&x) };
        pr_info!("{}\n", v);
        Ok(Probe)
    }
}
"#,
    )
    .unwrap();
    let cache = ksock_vm::Cache::from_env().unwrap();
    let err = prepare(&cache, k)
        .clippy_module(&cache, &dir)
        .expect_err("clippy must refuse an undocumented unsafe block");
    assert!(
        err.to_string().contains("undocumented_unsafe_blocks"),
        "the error names the lint: {err}"
    );
}
