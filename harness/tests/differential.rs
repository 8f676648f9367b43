//! On Debian's 7.2 the Rust modules and their C reference ports give the same observations
//! for every spec (what `cargo xtask diff --kernel 7.2` reports). Real guests, two boots.

use std::path::Path;

use ksock_harness::judge::Status;
use ksock_vm::kernel::Flavour;

#[test]
fn rust_and_c_modules_agree_on_72() {
    ksock_vm::supervise::install_interrupt_handler();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let project = ksock_harness::project::Project::open(&root).unwrap();
    let specs = project.load_specs().unwrap();
    let cache = ksock_vm::Cache::from_env().unwrap();
    let mut opts = ksock_harness::runner::RunOptions::defaults(&project);
    // Its own consoles: tests boot in parallel.
    opts.artifacts = project.root.join("target/ksock/tests/differential");
    opts.flavour = Some(Flavour::Rust);
    let rust = ksock_harness::runner::run_kernel(&cache, &project, "7.2", &specs, &opts).unwrap();
    opts.flavour = Some(Flavour::C);
    let c = ksock_harness::runner::run_kernel(&cache, &project, "7.2", &specs, &opts).unwrap();
    assert_eq!(rust.len(), specs.len());
    assert!(rust.iter().all(|v| v.flavour == "rust") && c.iter().all(|v| v.flavour == "c"));
    assert!(
        rust.iter().chain(&c).all(|v| v.status == Status::Pass),
        "{}",
        ksock_harness::report::render(&[rust.clone(), c.clone()].concat())
    );
    let diffs = ksock_harness::diff::compare(&rust, &c);
    assert!(diffs.is_empty(), "{diffs:#?}");
}
