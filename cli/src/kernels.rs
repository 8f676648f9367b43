//! `kernels` and `prepare`: the catalog, and kernels made ready
//! without a boot.

use std::process::ExitCode;

use anyhow::Result;

use crate::flags::PrepareArgs;

/// `kernels`: the catalog.
pub fn list() -> Result<ExitCode> {
    for e in ksock_vm::catalog::CATALOG {
        println!(
            "{:<5} suites {:<28} rust={}{}",
            e.name,
            e.suites.join(","),
            e.rust,
            if e.name == ksock_vm::catalog::DEFAULT_KERNEL {
                "  (default)"
            } else {
                ""
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `prepare`: fetch and build without booting.
pub fn prepare(a: PrepareArgs) -> Result<ExitCode> {
    crate::setup()?;
    let cache = ksock_vm::Cache::from_env()?;
    for k in a.kernels {
        let p = ksock_vm::kernel::prepare(
            &cache,
            &k,
            &ksock_vm::kernel::PrepareOptions {
                root: a.root.clone(),
                ..Default::default()
            },
        )?;
        println!(
            "kernel {k}: {} ready (root {}, tree {})",
            p.release,
            p.root.name,
            p.tree
                .as_ref()
                .map_or("none".into(), |t| t.display().to_string())
        );
    }
    Ok(ExitCode::SUCCESS)
}
