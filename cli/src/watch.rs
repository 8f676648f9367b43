//! `watch`: the warm-guest edit loop (`ksock_harness::watch`).

use std::process::ExitCode;

use anyhow::Result;

use crate::flags::WatchArgs;

pub fn watch(project: &crate::Project, a: WatchArgs) -> Result<ExitCode> {
    let (cache, specs, mut opts) = crate::run::context(project, &a.specs, a.accel)?;
    opts.flavour = a.flavour.get().or(project.config.flavour());
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let only = if a.specs.is_empty() {
        Vec::new()
    } else {
        names
    };
    ksock_harness::watch::watch(&cache, project, &a.kernel, &only, &opts)?;
    Ok(ExitCode::SUCCESS)
}
