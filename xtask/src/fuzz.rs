//! `cargo xtask fuzz`: the host-side spec reader (cargo-fuzz) and the in-guest campaigns.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result};
use ksock_harness::campaign::{self, CampaignOptions};
use ksock_harness::project::Project;
use ksock_vm::boot::Accel;
use ksock_vm::kernel::Flavour;

pub struct GuestArgs {
    pub target: campaign::Target,
    pub seconds: u64,
    pub kernel: String,
    pub flavour: Option<Flavour>,
    pub jobs: usize,
    pub seed_bugs: u8,
    pub accel: Option<Accel>,
}

/// `cargo xtask fuzz sockopt|server`.
pub fn in_guest(root: &Path, a: GuestArgs) -> Result<ExitCode> {
    crate::setup()?;
    let fuzzer = build_fuzzer(root, "in_guest")?;
    let cache = ksock_vm::Cache::from_env()?;
    crate::build_agent(root)?;
    let project = Project::open(root)?;
    let opts = CampaignOptions {
        target: a.target,
        kernel: a.kernel,
        flavour: a.flavour,
        seconds: a.seconds,
        jobs: a.jobs.max(1),
        seed_bugs: a.seed_bugs,
        accel: a.accel,
        fuzzer,
        out: root.join("target/ksock/fuzz"),
        memory: "2G".into(),
        cpus: 2,
    };
    let r = campaign::run(&cache, &project, &opts)?;
    println!(
        "fuzzed {} ({} flavour) on {} for {:.0} s: {} execs ({:.0}/s), {} boot(s)",
        a.target.module(),
        r.flavour,
        r.release,
        r.fuzz_seconds,
        r.execs,
        r.execs as f64 / r.fuzz_seconds.max(1.0),
        r.boots
    );
    println!("coverage: {}", r.coverage);
    if let Some(why) = &r.stopped {
        println!("{why}");
    }
    println!("corpus: {}", r.corpus.display());
    if r.findings.is_empty() {
        println!("no findings");
        return Ok(ExitCode::SUCCESS);
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
    Ok(ExitCode::FAILURE)
}

/// Builds a guest-side libFuzzer target from fuzz/ (its own workspace) with plain cargo:
/// coverage comes from the kernel module, so no compiler instrumentation is needed.
fn build_fuzzer(root: &Path, bin: &str) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target_dir = root.join("fuzz/target");
    let st = Command::new(&cargo)
        .args([
            "build",
            "--quiet",
            "--release",
            "--bin",
            bin,
            "--manifest-path",
        ])
        .arg(root.join("fuzz/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .status()
        .with_context(|| format!("running cargo build for the {bin} fuzzer"))?;
    anyhow::ensure!(st.success(), "building the {bin} fuzzer failed");
    Ok(target_dir.join("release").join(bin))
}

pub fn spec(root: &Path, seconds: u64) -> Result<ExitCode> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let have = Command::new(&cargo)
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        eprintln!("ksock: installing cargo-fuzz from crates.io (once)");
        let st = Command::new(&cargo)
            .args(["install", "--locked", "cargo-fuzz"])
            .status()?;
        anyhow::ensure!(st.success(), "cargo install cargo-fuzz failed");
    }
    // Seed the corpus with the real specs.
    let corpus = root.join("fuzz/corpus/spec_parse");
    std::fs::create_dir_all(&corpus)?;
    for e in std::fs::read_dir(root.join("specs"))?.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "yaml") {
            std::fs::copy(&p, corpus.join(p.file_name().expect("a file name")))?;
        }
    }
    let st = Command::new(&cargo)
        .args([
            "fuzz",
            "run",
            "spec_parse",
            "--",
            &format!("-max_total_time={seconds}"),
        ])
        .current_dir(root.join("fuzz"))
        // libFuzzer needs -Z flags; allow them on a stable toolchain.
        .env("RUSTC_BOOTSTRAP", "1")
        .status()
        .context("running cargo fuzz")?;
    Ok(if st.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
