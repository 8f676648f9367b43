//! `run` and `diff`: specs on kernels, with verdicts and reports.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use ksock_harness::judge::Status;
use ksock_harness::runner::{run_kernel, RunOptions};
use ksock_vm::kernel::Flavour;

use crate::flags::{AccelArg, DiffArgs, RunArgs};
use crate::Project;

/// `run`: specs on kernels, with verdicts and reports.
pub fn run(project: &Project, a: RunArgs) -> Result<ExitCode> {
    let (cache, specs, mut opts) = context(project, &a.specs, a.accel)?;
    opts.flavour = a.flavour.get().or(project.config.flavour());
    let own: Vec<String>;
    let kernels = match (&a.kernel_image, &a.kernel_build) {
        (Some(image), Some(build)) => {
            opts.custom = Some(ksock_harness::runner::CustomKernel {
                image: image.clone(),
                build: build.clone(),
                root: a.root.clone(),
            });
            own = vec![ksock_vm::custom::release_of(build)?];
            &own
        }
        _ if a.kernels.is_empty() => &project.config.kernels,
        _ => &a.kernels,
    };
    let mut verdicts = Vec::new();
    for k in kernels {
        verdicts.extend(run_kernel(&cache, project, k, &specs, &opts)?);
    }
    print!("\n{}", ksock_harness::report::render(&verdicts));
    if let Some(p) = a.json {
        let r = ksock_harness::report::Report::new(verdicts.clone());
        std::fs::write(&p, r.to_json()).with_context(|| format!("{}", p.display()))?;
        println!("JSON report: {}", p.display());
    }
    if let Some(p) = a.junit {
        std::fs::write(&p, ksock_harness::report::junit(&verdicts))
            .with_context(|| format!("{}", p.display()))?;
        println!("JUnit report: {}", p.display());
    }
    Ok(if verdicts.iter().any(|v| v.status == Status::Fail) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `diff`: every spec with the Rust modules and with the C ports.
pub fn diff(project: &Project, a: DiffArgs) -> Result<ExitCode> {
    let kernel = &a.kernel;
    let (cache, specs, mut opts) = context(project, &a.specs, a.accel)?;
    opts.flavour = Some(Flavour::Rust);
    let rust = run_kernel(&cache, project, kernel, &specs, &opts)?;
    opts.flavour = Some(Flavour::C);
    let c = run_kernel(&cache, project, kernel, &specs, &opts)?;
    let mut all = rust.clone();
    all.extend(c.iter().cloned());
    print!("\n{}", ksock_harness::report::render(&all));
    let diffs = ksock_harness::diff::compare(&rust, &c);
    if diffs.is_empty() {
        println!(
            "differential: the Rust and C modules gave the same observations on {kernel} \
             ({} specs)",
            rust.len()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        for d in &diffs {
            println!("\n--- {} differs (rust vs c) ---", d.spec);
            for l in &d.only_left {
                println!("  rust only: {l}");
            }
            for l in &d.only_right {
                println!("  c only:    {l}");
            }
        }
        println!("\ndifferential: {} spec(s) differ on {kernel}", diffs.len());
        Ok(ExitCode::FAILURE)
    }
}

/// What `run`, `diff` and `watch` need: host tools, the cache, the selected specs, options.
pub fn context(
    project: &Project,
    only: &[String],
    accel: AccelArg,
) -> Result<(ksock_vm::Cache, Vec<ksock_spec::Spec>, RunOptions)> {
    crate::setup()?;
    let cache = ksock_vm::Cache::from_env()?;
    let specs = select_specs(project, only)?;
    let mut opts = RunOptions::defaults(project);
    opts.accel = accel.get();
    Ok((cache, specs, opts))
}

/// All specs, or the named ones (an unknown name is an error listing the known ones). A
/// name may be given as its file too (`specs/sockopt-set-get.yaml`, as shells complete it).
fn select_specs(project: &Project, only: &[String]) -> Result<Vec<ksock_spec::Spec>> {
    let mut specs = project.load_specs()?;
    let only: Vec<String> = only.iter().map(|o| spec_name_of(o)).collect();
    for o in &only {
        if !specs.iter().any(|s| &s.name == o) {
            bail!(
                "no spec named `{o}` in {}; specs: {}",
                project
                    .spec_dirs()
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                specs
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    if !only.is_empty() {
        specs.retain(|s| only.contains(&s.name));
    }
    Ok(specs)
}

/// `specs/x.yaml` → `x`; a plain name stays as it is.
fn spec_name_of(arg: &str) -> String {
    match arg
        .strip_suffix(".yaml")
        .or_else(|| arg.strip_suffix(".yml"))
    {
        Some(stem) => Path::new(stem)
            .file_name()
            .map_or(stem.to_string(), |n| n.to_string_lossy().into_owned()),
        None => arg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn spec_files_name_their_spec() {
        assert_eq!(
            super::spec_name_of("specs/sockopt-set-get.yaml"),
            "sockopt-set-get"
        );
        assert_eq!(
            super::spec_name_of("hello-load-unload"),
            "hello-load-unload"
        );
        assert_eq!(super::spec_name_of("./x.yml"), "x");
    }
}
