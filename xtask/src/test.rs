//! `cargo xtask test`: what CI runs.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result};

use crate::flags::TestArgs;

/// `cargo xtask test`: unit and fault tests, then spec x kernel.
pub fn test(root: &Path, a: TestArgs) -> Result<ExitCode> {
    let (kernels, runner_args) = (a.kernels, &a.runner_args);
    ksock::setup()?;
    crate::build_agent(root)?;
    // Here, with progress, rather than inside the fuzz campaign tests (which find it built).
    ksock_harness::campaign::build_fuzzer(root)?;
    let cache = ksock_vm::Cache::from_env()?;
    let kernels: Vec<String> = if kernels.is_empty() {
        ksock_vm::catalog::CATALOG
            .iter()
            .map(|e| e.name.to_string())
            .collect()
    } else {
        kernels
    };
    // Prepare here, with progress on the terminal, rather than inside a captured test.
    for k in &kernels {
        ksock_vm::kernel::prepare(&cache, k, &Default::default())?;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut ok = unit_tests(root, &cargo, &kernels, runner_args)?;
    // Then spec x kernel in one process: the test binary batches each kernel's specs
    // into one boot (under nextest every test is its own process, so its own boot).
    ok &= Command::new(&cargo)
        .args(["test", "-p", "ksock-harness", "--test", "specs"])
        .env("KSOCK_KERNELS", kernels.join(","))
        .current_dir(root)
        .status()
        .context("running the spec tests")?
        .success();
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Everything but the spec x kernel binary, the usual way (nextest where installed).
fn unit_tests(
    root: &Path,
    cargo: &str,
    kernels: &[String],
    runner_args: &[String],
) -> Result<bool> {
    let nextest = Command::new(cargo)
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    let mut unit = Command::new(cargo);
    if nextest {
        unit.args(["nextest", "run", "--workspace", "--no-fail-fast"])
            .args(["-E", "not binary(specs)"]);
    } else {
        unit.args([
            "test",
            "--workspace",
            "--no-fail-fast",
            "--exclude",
            "ksock-harness",
        ]);
    }
    unit.args(runner_args)
        .env("KSOCK_KERNELS", kernels.join(","))
        .current_dir(root);
    let mut ok = unit.status().context("running the test runner")?.success();
    if !nextest {
        // ksock-harness minus its spec binary.
        ok &= Command::new(cargo)
            .args([
                "test",
                "-p",
                "ksock-harness",
                "--lib",
                "--test",
                "interrupt",
            ])
            .args(["--test", "crash_recovery", "--test", "differential"])
            .args([
                "--test",
                "faults",
                "--test",
                "cache_kill",
                "--test",
                "fuzz_campaign",
            ])
            .current_dir(root)
            .status()?
            .success();
    }
    Ok(ok)
}
