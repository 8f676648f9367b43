//! The warm guest's loop on a real 7.2 guest, through the same `Dev` that `cargo xtask
//! watch` drives: an edited module is rebuilt and re-run in the same guest (no reboot); a
//! module that panics the kernel fails its spec, the guest is replaced and the reason named;
//! the fixed module then passes in the new guest.

use std::path::Path;

use ksock_harness::judge::Status;
use ksock_harness::watch::Dev;

const PANIC: &str = "
        let null = core::hint::black_box(core::ptr::null_mut::<u8>());
        // SAFETY: none: the test wants the kernel to panic here.
        unsafe { core::ptr::write_volatile(null, 0) };
";

#[test]
fn edits_rerun_in_the_same_guest_and_a_panic_replaces_it() {
    ksock_vm::supervise::install_interrupt_handler();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let project = ksock_harness::project::Project::open(&root).unwrap();
    let spec = project
        .load_specs()
        .unwrap()
        .into_iter()
        .find(|s| s.name == "hello-load-unload")
        .unwrap();
    let cache = ksock_vm::Cache::from_env().unwrap();
    let mut opts = ksock_harness::runner::RunOptions::defaults(&project);
    // Its own consoles: tests boot in parallel.
    opts.artifacts = project.root.join("target/ksock/tests/watch");
    let mut dev = Dev::open(&cache, &project, "7.2", &opts).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("hello");
    std::fs::create_dir(&dir).unwrap();
    let src = dev.source("ksock_hello").unwrap();
    for e in std::fs::read_dir(&src).unwrap().flatten() {
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    let main = dir.join("ksock_hello.rs");
    let good = std::fs::read_to_string(&main).unwrap();
    let pass = |dev: &mut Dev<'_>| {
        dev.build("ksock_hello", &dir).unwrap();
        let out = dev.run(&[&spec]).unwrap();
        assert!(out.reboot.is_none(), "{:?}", out.reboot);
        let v = &out.verdicts[0];
        assert_eq!(v.status, Status::Pass, "{v:?}");
        v.dmesg.join("\n")
    };
    let marker = "pr_info!(\"loaded count={}\\n\", count);";
    assert!(
        good.contains(marker),
        "hello's load line moved; update this test"
    );

    assert!(!pass(&mut dev).contains("edited"));
    let edited = format!("{marker}\n        pr_info!(\"edited\\n\");");
    std::fs::write(&main, good.replace(marker, &edited)).unwrap();
    assert!(
        pass(&mut dev).contains("ksock_hello: edited"),
        "the edited module ran"
    );
    assert_eq!(dev.boots(), 1, "an edit is re-run without a reboot");

    std::fs::write(&main, good.replace(marker, &format!("{marker}{PANIC}"))).unwrap();
    dev.build("ksock_hello", &dir).unwrap();
    let out = dev.run(&[&spec]).unwrap();
    assert_eq!(out.verdicts[0].status, Status::Fail);
    let why = out.reboot.expect("a panic replaces the guest");
    assert!(why.contains("NULL pointer dereference"), "{why}");

    std::fs::write(&main, &good).unwrap();
    assert!(!pass(&mut dev).contains("edited"));
    assert_eq!(dev.boots(), 2, "one more boot after the panic, not more");
    dev.shutdown().unwrap();
}
