//! A spec that panics the guest fails on its own, with the panic in its console tail; the
//! spec after it passes on a second boot. Real kernel, real panic (Debian's 7.2, TCG).

use std::path::Path;

use ksock_harness::judge::Status;

#[test]
fn a_panic_fails_only_its_spec_and_the_next_spec_runs() {
    ksock_vm::supervise::install_interrupt_handler();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let project = ksock_harness::project::Project::open(&root).unwrap();
    let known = project.module_names();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/crash-specs");
    let specs: Vec<_> = ["a-crash.yaml", "b-after.yaml"]
        .iter()
        .map(|f| ksock_spec::load_file(&dir.join(f), &known).unwrap())
        .collect();
    let cache = ksock_vm::Cache::from_env().unwrap();
    let mut opts = ksock_harness::runner::RunOptions::defaults(&project);
    // Its own consoles: tests boot in parallel.
    opts.artifacts = project.root.join("target/ksock/tests/crash_recovery");
    opts.accel = Some(ksock_vm::boot::Accel::Tcg);
    let v = ksock_harness::runner::run_kernel(&cache, &project, "7.2", &specs, &opts).unwrap();
    assert_eq!(v.len(), 2, "{v:#?}");
    let crash = v.iter().find(|x| x.spec == "a-crash").unwrap();
    let after = v.iter().find(|x| x.spec == "b-after").unwrap();
    assert_eq!(crash.status, Status::Fail);
    let f = crash.failure.as_ref().unwrap();
    assert!(f.actual.contains("panicked"), "{f:#?}");
    assert!(
        f.console_tail.contains("Kernel panic"),
        "{}",
        f.console_tail
    );
    assert_eq!(after.status, Status::Pass, "{after:#?}");
}
