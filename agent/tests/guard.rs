//! The agent binary, run on the host (where tests run), must refuse to load anything.

use std::process::Command;

fn loaded_modules() -> String {
    std::fs::read_to_string("/proc/modules").unwrap_or_default()
}

#[test]
fn run_on_host_is_refused_and_loads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // A plan that would load a module if the guard let it through. The path does not exist,
    // so even a broken guard could not load code into the host kernel; the assertions below
    // would still fail (wrong exit code and message).
    let plan = serde_json::json!({"specs": [{"name": "host", "actions": [
        {"action": "load", "module": "ksock_hello", "path": "/nonexistent/ksock_hello.ko",
         "params": "count=1", "expect_errno": null}]}]});
    let plan_path = dir.path().join("plan.json");
    std::fs::write(&plan_path, plan.to_string()).unwrap();
    let before = loaded_modules();
    let out = Command::new(env!("CARGO_BIN_EXE_ksock-agent"))
        .args(["run", "--plan"])
        .arg(&plan_path)
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "stderr: {stderr}");
    assert!(stderr.contains("not a ksock guest"), "stderr: {stderr}");
    assert!(!dir.path().join("results.json").exists());
    assert_eq!(before, loaded_modules());
}

#[test]
fn check_guest_says_no_on_host() {
    let st = Command::new(env!("CARGO_BIN_EXE_ksock-agent"))
        .arg("check-guest")
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(3));
}
