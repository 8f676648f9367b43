//! `fuzz`: the project's fuzz targets (`[[fuzz]]` in ksock.toml), each a coverage-guided
//! campaign in a guest ([`ksock_harness::campaign`]).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use ksock_harness::campaign::{self, CampaignOptions, CampaignReport};
use ksock_harness::fuzz_table::FuzzTable;

use crate::flags::FuzzArgs;
use crate::Project;

/// Runs each named target (every one when none is named); exit status 1 when any campaign
/// has a finding. libFuzzer runs in the guest as the project's agent (`ksock agent fuzz`).
pub fn fuzz(project: &Project, a: &FuzzArgs) -> Result<ExitCode> {
    let targets = selected(project, &a.names)?;
    if a.report {
        return report_again(project, &targets);
    }
    crate::setup()?;
    let cache = ksock_vm::Cache::from_env()?;
    let kernel = a
        .kernel
        .clone()
        .or_else(|| project.config.kernels.first().cloned())
        .unwrap_or_else(|| ksock_vm::catalog::DEFAULT_KERNEL.to_string());
    for p in &a.params {
        anyhow::ensure!(
            p.split_once('=').is_some_and(|(k, _)| !k.is_empty()),
            "--param {p:?}: want NAME=VALUE"
        );
    }
    for d in &a.merge {
        anyhow::ensure!(d.is_dir(), "--merge {}: not a directory", d.display());
    }
    let mut found = false;
    for t in targets {
        let opts = options(project, a, t, &kernel);
        let r =
            campaign::run(&cache, project, &opts).with_context(|| format!("fuzzing {}", t.name))?;
        if !a.merge.is_empty() {
            print_merge(&a.merge, &r);
            continue;
        }
        print_report(t, &r);
        found |= !r.findings.is_empty();
    }
    Ok(if found {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The tables named (all of them without names); unknown names are an error that lists
/// the known ones.
fn selected<'a>(project: &'a Project, names: &[String]) -> Result<Vec<&'a FuzzTable>> {
    if names.is_empty() {
        let all: Vec<&FuzzTable> = project.config.fuzz.iter().map(|t| t.get_ref()).collect();
        anyhow::ensure!(
            !all.is_empty(),
            "{}: no [[fuzz]] tables. The smallest, for a module serving setsockopt and \
             getsockopt on optname 128 at SOL_IP:\n\n[[fuzz]]\nname = \"my_target\"\nmodule \
             = \"my_module\"\nsockopt = {{ level = \"SOL_IP\", set = [128, 129], get = [128, \
             129] }}\n\n(see `ksock fuzz --help`)",
            project
                .root
                .join(ksock_harness::project::CONFIG_FILE)
                .display()
        );
        return Ok(all);
    }
    names
        .iter()
        .map(|n| project.config.fuzz_target(n))
        .collect()
}

fn options(project: &Project, a: &FuzzArgs, t: &FuzzTable, kernel: &str) -> CampaignOptions {
    let merging = !a.merge.is_empty();
    CampaignOptions {
        flavour: a.flavour.get().or(project.config.flavour()),
        // A merge runs until libFuzzer is done with it.
        seconds: if merging {
            a.seconds.max(600)
        } else {
            a.seconds
        },
        jobs: if merging { 1 } else { a.jobs.max(1) },
        merge: a
            .merge
            .iter()
            .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.clone()))
            .collect(),
        params: a.params.clone(),
        accel: a.accel.get(),
        ..CampaignOptions::new(t.clone(), kernel, project.root.join("target/ksock/fuzz"))
    }
}

fn print_merge(dirs: &[PathBuf], r: &CampaignReport) {
    println!(
        "merged {} into {}: {} input(s) before, {} after (only inputs that add coverage are \
         kept)",
        dirs.iter()
            .map(|d| format!("{} ({} inputs)", d.display(), campaign::dir_len(d)))
            .collect::<Vec<_>>()
            .join(", "),
        r.corpus.display(),
        r.corpus_at_start,
        r.corpus_at_end,
    );
    if let Ok(w) = &r.page {
        print_page(w);
    }
}

/// `--report`: each target's page written again from the campaign directories it has (one
/// per kernel release and flavour), without a guest.
fn report_again(project: &Project, targets: &[&FuzzTable]) -> Result<ExitCode> {
    let out = project.root.join("target/ksock/fuzz");
    let mut any = false;
    for t in targets {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(out.join(&t.name))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|d| d.join("jobs").is_dir())
            .collect();
        dirs.sort();
        for d in dirs {
            let w = ksock_harness::cover_data::write(&d)
                .with_context(|| format!("the page of {}", d.display()))?;
            println!("{}:", t.name);
            print_page(&w);
            any = true;
        }
    }
    anyhow::ensure!(
        any,
        "no campaign to report on under {} (run `ksock fuzz NAME` first)",
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The page's path and what it shows first: coverage by line and the largest gaps.
fn print_page(w: &ksock_harness::cover_data::Written) {
    println!(
        "page: {} ({} KiB, written in {:.2} s): {}",
        w.page.display(),
        w.page_bytes.div_ceil(1024),
        w.seconds,
        w.lines_summary
    );
    if !w.regions.is_empty() {
        println!(
            "never reached, largest first: {}",
            w.regions
                .iter()
                .take(3)
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

/// What a campaign did and found, for people.
pub fn print_report(t: &FuzzTable, r: &CampaignReport) {
    println!(
        "fuzzed {} ({}, {} flavour) on {} for {:.0} s: {} execs ({:.0}/s), {} boot(s)",
        t.name,
        t.label(),
        r.flavour,
        r.release,
        r.fuzz_seconds,
        r.execs,
        r.execs as f64 / r.fuzz_seconds.max(1.0),
        r.boots
    );
    if !r.boot_to_fuzz.is_empty() {
        let mut b = r.boot_to_fuzz.clone();
        b.sort_by(f64::total_cmp);
        println!(
            "boot -> fuzzing: {} boot(s), median {:.1} s (min {:.1}, max {:.1})",
            b.len(),
            b[b.len() / 2],
            b[0],
            b[b.len() - 1]
        );
    }
    println!("coverage: {}", r.coverage);
    match &r.page {
        Ok(w) => print_page(w),
        Err(e) => println!("no coverage page: {e}"),
    }
    if let Some(why) = &r.stopped {
        println!("{why}");
    }
    println!("corpus: {}", r.corpus.display());
    if r.findings.is_empty() {
        println!("no findings");
        return;
    }
    println!("{} finding(s):", r.findings.len());
    for f in &r.findings {
        println!(
            "  {} [{}{}]\n    {}",
            f.title,
            if f.new { "new" } else { "seen before" },
            r.time_to_find
                .get(&f.title)
                .map(|t| format!(", after {t:.1} s"))
                .unwrap_or_default(),
            f.dir.join("report.txt").display()
        );
    }
    println!("turn one into a regression spec: ksock repro <finding directory>");
}
