//! `cargo xtask fuzz`: the host-side spec reader (cargo-fuzz) and the in-guest campaigns.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result};
use ksock_harness::campaign::{self, CampaignOptions};
use ksock_harness::project::Project;

use crate::flags::{BenchArgs, FuzzFlags};

/// `cargo xtask fuzz NAME…`: `ksock fuzz` on this repository, with the agent (which is
/// the in-guest fuzzer too) built from this tree.
pub fn in_guest(root: &Path, mut a: FuzzFlags) -> Result<ExitCode> {
    ksock::setup()?;
    crate::build_agent(root)?;
    let project = Project::open(root)?;
    if let Some(m) = a.seed_bugs {
        a.fuzz.params.push(format!("seed_bugs={m}"));
    }
    ksock::fuzz::fuzz(&project, &a.fuzz)
}

pub fn spec(root: &Path, seconds: u64) -> Result<ExitCode> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let have = Command::new(&cargo)
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        eprintln!("ksock: installing cargo-fuzz with cargo install (once)");
        let st = Command::new(&cargo)
            .args(["install", "--locked", "cargo-fuzz"])
            .status()?;
        anyhow::ensure!(st.success(), "cargo install cargo-fuzz failed");
    }
    // Seed the corpus with the real specs.
    let corpus = root.join("spec/fuzz/corpus/spec_parse");
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
        .current_dir(root.join("spec/fuzz"))
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

/// `cargo xtask bench fuzz`: `runs` rounds of two campaigns of `seconds` each, from an
/// empty corpus. Throughput: ksock_sockopt without planted bugs (with them, nearly every
/// input stops at its first violation, so inputs are short), against the same calls (the
/// corpus it built) replayed bare in the same boot, and the cheapest set+get pair. Time to find: the same module with its seeded copies. Prints per run and
/// medians: raw syscalls/s, the fuzzer's module syscalls/s and their ratio, execs/s,
/// coverage, and the time to find each seeded bug.
pub fn bench(root: &Path, a: BenchArgs) -> Result<ExitCode> {
    let (kernel, runs, seconds, accel) =
        (a.kernel.as_str(), a.runs.max(1), a.seconds, a.accel.get());
    ksock::setup()?;
    crate::build_agent(root)?;
    let cache = ksock_vm::Cache::from_env()?;
    let project = Project::open(root)?;
    let target = project.config.fuzz_target("sockopt")?.clone();
    let campaign = |seed_bugs: u8, raw_loop: Option<u64>| -> Result<campaign::CampaignReport> {
        let out = tempfile::tempdir()?;
        let opts = CampaignOptions {
            seconds,
            params: (seed_bugs != 0)
                .then(|| format!("seed_bugs={seed_bugs}"))
                .into_iter()
                .collect(),
            accel,
            raw_loop,
            ..CampaignOptions::new(target.clone(), kernel, out.path().to_path_buf())
        };
        campaign::run(&cache, &project, &opts)
    };
    let mut rows: Vec<BenchRow> = Vec::new();
    for i in 0..runs {
        let r = campaign(0, Some(5))?;
        let seeded = campaign(1, None)?;
        let f = r.raw_syscalls_per_s.unwrap_or_default();
        let (raw, pair) = (f.same_calls, f.pair);
        let found: Vec<String> = seeded
            .time_to_find
            .iter()
            .map(|(t, s)| format!("{t}: {s:.1} s"))
            .collect();
        println!(
            "run {}: the same calls raw {raw:.0} syscalls/s, through the executor {:.0}/s, fuzzer \
             {:.0} syscalls/s ({:.0}%; {:.0}% of the cheapest pair's {pair:.0}/s), {:.0} execs/s, \
             {}; seeded: {}, found {}",
            i + 1,
            f.executor,
            r.fuzz_syscalls_per_s,
            100.0 * r.fuzz_syscalls_per_s / raw.max(1.0),
            100.0 * r.fuzz_syscalls_per_s / pair.max(1.0),
            r.execs as f64 / r.fuzz_seconds.max(1.0),
            r.coverage,
            seeded.coverage,
            found.join(", ")
        );
        if let Some(b) = &r.breakdown {
            println!("  the executor per op: {b}");
        }
        rows.push((raw, r.fuzz_syscalls_per_s, seeded.time_to_find, pair));
    }
    print_medians(&rows);
    Ok(ExitCode::SUCCESS)
}

/// Per run: the same calls raw, the fuzzer's syscalls/s, the seeded bugs' times to find,
/// the cheapest pair's syscalls/s.
type BenchRow = (f64, f64, std::collections::BTreeMap<String, f64>, f64);

fn print_medians(rows: &[BenchRow]) {
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let raw = median(rows.iter().map(|r| r.0).collect());
    let fz = median(rows.iter().map(|r| r.1).collect());
    let pair = median(rows.iter().map(|r| r.3).collect());
    println!(
        "median: the same calls raw {raw:.0} syscalls/s, fuzzer {fz:.0} syscalls/s ({:.0}% of \
         raw; {:.0}% of the cheapest pair's {pair:.0}/s)",
        100.0 * fz / raw.max(1.0),
        100.0 * fz / pair.max(1.0)
    );
    let titles: std::collections::BTreeSet<&String> =
        rows.iter().flat_map(|r| r.2.keys()).collect();
    for t in titles {
        let times: Vec<f64> = rows
            .iter()
            .map(|r| r.2.get(t).copied().unwrap_or(f64::INFINITY))
            .collect();
        println!("median time to find \"{t}\": {:.1} s", median(times));
    }
}
