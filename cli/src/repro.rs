//! `repro`: a fuzz finding (or a regression spec) run as found on every
//! catalog kernel and flavour, with the table of where it reproduces
//! (`ksock_harness::repro`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use ksock_harness::project::Project;
use ksock_harness::repro;
use ksock_harness::runner::RunOptions;

use crate::flags::ReproArgs;

pub fn repro(project: &Project, a: ReproArgs) -> Result<ExitCode> {
    crate::setup()?;
    let cache = ksock_vm::Cache::from_env()?;
    let spec_file = if a.what.is_dir() {
        write_spec(project, &a.what, a.out.as_deref())?
    } else {
        a.what.clone()
    };
    let known: Vec<String> = project.modules.keys().cloned().collect();
    let spec = ksock_spec::load_file(&spec_file, &known)?;
    if spec.found_with.is_none() {
        eprintln!(
            "ksock: {} has no `found_with`: it runs as written (a bug report's spec states \
             the parameters its load steps need)",
            spec_file.display()
        );
    }
    let kernels = if a.kernels.iter().any(|k| k == "all") || a.bisect {
        repro::kernels_by_version()
    } else {
        a.kernels.clone()
    };
    let opts = RunOptions {
        accel: a.accel.get(),
        ..RunOptions::defaults(project)
    };
    let cells = repro::run_matrix(&cache, project, &spec, &kernels, a.runs.max(1), &opts)?;
    print!("\n{}", repro::render_table(&spec.name, &cells));
    if a.bisect {
        for line in repro::bisect(&cells) {
            println!("bisect: {line}");
        }
    }
    if let Some(f) = cells.iter().find_map(|c| c.first_failure.as_ref()) {
        // The failing spec's part of the console, not the boot before it.
        let tail = match f.console_tail.rfind("KSOCK-SPEC-START") {
            Some(i) => &f.console_tail[i..],
            None => &f.console_tail,
        };
        println!("\nfirst failure, console:\n{tail}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the finding's regression spec (to `out`, else `specs/regressions/<title>.yaml`).
fn write_spec(project: &Project, finding: &Path, out: Option<&Path>) -> Result<PathBuf> {
    let f = repro::load_finding(finding)?;
    let path = match out {
        Some(p) => p.to_path_buf(),
        None => {
            let dirs = project.spec_dirs();
            let first = dirs
                .first()
                .context("the project lists no spec directory")?;
            repro::default_spec_path(first, &f)
        }
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    }
    std::fs::write(&path, repro::regression_yaml(&f)?)
        .with_context(|| format!("writing {}", path.display()))?;
    println!(
        "ksock: wrote {} ({} ops from {})",
        path.display(),
        f.ops.len(),
        finding.display()
    );
    Ok(path)
}
