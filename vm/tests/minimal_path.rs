//! ksock finds the tools it installs, and those tools find theirs, with a minimal `PATH`
//! (no sbin, no venv, nothing installed by hand): a real 7.2 guest boots under TCG and runs
//! a command. And a KVM probe that cannot start any guest is an error that caches nothing.
//!
//! The only test in this binary, so changing the process's `PATH` races with nothing.

use std::path::Path;
use std::time::Duration;

use ksock_vm::boot::{self, Accel, BootRequest};

#[test]
fn a_guest_boots_with_a_minimal_path_and_a_failed_probe_is_not_cached() {
    ksock_vm::supervise::install_interrupt_handler();
    std::env::set_var("PATH", "/usr/bin:/bin");
    ksock_vm::host::ensure_host_tools().unwrap();
    let cache = ksock_vm::Cache::from_env().unwrap();
    let k = ksock_vm::kernel::prepare(&cache, "7.2", &Default::default()).unwrap();

    let dir = ksock_vm::scratch::tempdir("probe").unwrap();
    let marker = dir.path().join("ok");
    let out = boot::boot(&BootRequest {
        vmlinuz: k.vmlinuz.clone(),
        pvh: k.pvh.clone(),
        accel: Accel::Tcg,
        exec: format!("echo ok > {}", marker.display()),
        append: Vec::new(),
        rwdirs: vec![dir.path().to_path_buf()],
        memory: "1G".into(),
        cpus: 1,
        timeout: Duration::from_secs(180),
        console_log: dir.path().join("console.log"),
        on_line: None,
        watchdog: None,
        shared_memory: None,
    })
    .unwrap();
    assert!(
        marker.exists(),
        "the guest did not run its command ({:?}):\n{}",
        out.end,
        out.console_tail(30)
    );

    // A "kernel" that no accelerator can boot says nothing about KVM.
    let probe_cache = tempfile::tempdir().unwrap();
    let probe_cache = ksock_vm::Cache::at(probe_cache.path()).unwrap();
    let bogus = dir.path().join("vmlinuz");
    std::fs::write(&bogus, "not a kernel").unwrap();
    let kvm_usable = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    let r = boot::resolve_accel(&probe_cache, None, &bogus, "bogus");
    if kvm_usable {
        let e = r.expect_err("a probe that started no guest must be an error");
        assert!(e.to_string().contains("cannot start a guest"), "{e}");
    } else {
        assert_eq!(r.unwrap(), Accel::Tcg, "no /dev/kvm: TCG without a probe");
    }
    let cached = boot::accel_cache_file(&probe_cache);
    assert!(!cached.exists(), "{} was written", cached.display());
    assert!(!Path::new(&cached).with_extension("json.tmp").exists());
}
