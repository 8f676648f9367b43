//! `cargo xtask watch`: the warm-guest edit loop (`ksock_harness::watch`).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use crate::flags::WatchArgs;

pub fn watch(root: &Path, a: WatchArgs) -> Result<ExitCode> {
    let (cache, project, specs, mut opts) = crate::run::run_context(root, &a.specs, a.accel)?;
    opts.flavour = a.flavour.get();
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let only = if a.specs.is_empty() {
        Vec::new()
    } else {
        names
    };
    ksock_harness::watch::watch(&cache, &project, &a.kernel, &only, &opts)?;
    Ok(ExitCode::SUCCESS)
}
