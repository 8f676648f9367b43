//! `cargo xtask fuzz`: the host-side spec reader (cargo-fuzz) and the in-guest campaigns.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};
use ksock_harness::campaign::{self, CampaignOptions};
use ksock_harness::fuzz_table::FuzzTable;
use ksock_harness::project::{Agent, Config, Project, CONFIG_FILE};

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

/// Seconds of each raw floor (the same calls bare, the cheapest pair, the executor) after a
/// benchmark campaign's fuzzing, in the same boot.
const RAW_SECONDS: u64 = 5;

/// The user target's bars (issue 19): the fuzzer's syscalls/s at least this share of the
/// same calls replayed raw, and the median first finding within this many seconds.
const MIN_SHARE_OF_RAW: f64 = 0.5;
const MAX_FIRST_FINDING_S: f64 = 60.0;

/// `cargo xtask bench fuzz`, on each `--kernel` in turn: this repository's ksock_sockopt
/// ([`bench_sockopt`]), or with `--project` a module developer's target
/// ([`bench_target`]), each run a campaign from an empty corpus.
pub fn bench(root: &Path, a: BenchArgs) -> Result<ExitCode> {
    ksock::setup()?;
    crate::build_agent(root)?;
    let cache = ksock_vm::Cache::from_env()?;
    let repo = Project::open(root)?;
    let Some(dir) = &a.project else {
        let b = Bench {
            cache: &cache,
            project: &repo,
            a: &a,
        };
        for kernel in &a.kernels {
            bench_sockopt(&b, kernel)?;
        }
        return Ok(ExitCode::SUCCESS);
    };
    // The user's project, run by this tree's agent (the in-guest fuzzer), as `ksock fuzz`
    // would run it with the installed `ksock`.
    let project = users_project(root, dir, repo.agent.clone())?;
    let target = users_target(&project, a.target.as_deref())?;
    let b = Bench {
        cache: &cache,
        project: &project,
        a: &a,
    };
    let mut table = Vec::new();
    for kernel in &a.kernels {
        table.push(bench_target(&b, &target, kernel)?);
    }
    print_target_table(&b, &target, &table);
    Ok(ExitCode::SUCCESS)
}

/// What every benchmark campaign shares.
struct Bench<'a> {
    cache: &'a ksock_vm::Cache,
    project: &'a Project,
    a: &'a BenchArgs,
}

impl Bench<'_> {
    /// One campaign of `target` on `kernel` from an empty corpus, with the module
    /// parameters `params` and, after fuzzing, the raw floors; in `--keep DIR/<run>`, else
    /// in a temporary directory.
    fn campaign(
        &self,
        target: &FuzzTable,
        kernel: &str,
        run: &str,
        params: Vec<String>,
        raw_loop: Option<u64>,
    ) -> Result<campaign::CampaignReport> {
        let tmp = tempfile::tempdir()?;
        let out = match &self.a.keep {
            Some(d) => std::path::absolute(d)?.join(run),
            None => tmp.path().to_path_buf(),
        };
        anyhow::ensure!(
            !out.exists(),
            "{} exists: a benchmark starts from an empty corpus",
            out.display()
        );
        let opts = CampaignOptions {
            seconds: self.a.seconds(),
            params,
            accel: self.a.accel.get(),
            flavour: self.project.config.flavour(),
            raw_loop,
            ..CampaignOptions::new(target.clone(), kernel, out)
        };
        campaign::run(self.cache, self.project, &opts)
            .with_context(|| format!("fuzzing {}", target.name))
    }
}

/// ksock_sockopt: `runs` rounds of two campaigns. Throughput without planted bugs (with
/// them, nearly every input stops at its first violation, so inputs are short), against the
/// same calls (the corpus it built) replayed bare in the same boot, and the cheapest set+get
/// pair. Time to find: the same module with its seeded copies. Prints per run and medians:
/// raw syscalls/s, the fuzzer's module syscalls/s and their ratio, execs/s, coverage, and
/// the time to find each seeded bug.
fn bench_sockopt(b: &Bench, kernel: &str) -> Result<()> {
    let target = b.project.config.fuzz_target("sockopt")?.clone();
    let mut rows: Vec<BenchRow> = Vec::new();
    for i in 1..=b.a.runs() {
        let run = format!("{kernel}-run{i}");
        let r = b.campaign(&target, kernel, &run, vec![], Some(RAW_SECONDS))?;
        let seeded = format!("{run}-seeded");
        let seeded = b.campaign(&target, kernel, &seeded, seed_bugs(1), None)?;
        let f = r.raw_syscalls_per_s.unwrap_or_default();
        let (raw, pair) = (f.same_calls, f.pair);
        let found: Vec<String> = seeded
            .time_to_find
            .iter()
            .map(|(t, s)| format!("{t}: {s:.1} s"))
            .collect();
        println!(
            "{kernel} run {i}: the same calls raw {raw:.0} syscalls/s, through the executor \
             {:.0}/s, fuzzer {:.0} syscalls/s ({:.0}%; {:.0}% of the cheapest pair's \
             {pair:.0}/s), {:.0} execs/s, {}; seeded: {}, found {}",
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
    print_medians(kernel, &rows);
    Ok(())
}

fn seed_bugs(mask: u8) -> Vec<String> {
    vec![format!("seed_bugs={mask}")]
}

/// Per run: the same calls raw, the fuzzer's syscalls/s, the seeded bugs' times to find,
/// the cheapest pair's syscalls/s.
type BenchRow = (f64, f64, std::collections::BTreeMap<String, f64>, f64);

/// The middle value (the upper one of an even count); NaN for none.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn print_medians(kernel: &str, rows: &[BenchRow]) {
    let raw = median(rows.iter().map(|r| r.0).collect());
    let fz = median(rows.iter().map(|r| r.1).collect());
    let pair = median(rows.iter().map(|r| r.3).collect());
    println!(
        "{kernel} median: the same calls raw {raw:.0} syscalls/s, fuzzer {fz:.0} syscalls/s \
         ({:.0}% of raw; {:.0}% of the cheapest pair's {pair:.0}/s)",
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
        println!(
            "{kernel} median time to find \"{t}\": {:.1} s",
            median(times)
        );
    }
}

/// The project at `dir` (from here, else from the repository's root) with `agent`.
fn users_project(root: &Path, dir: &Path, agent: Agent) -> Result<Project> {
    let here = std::env::current_dir()?;
    let found = [here.join(dir), root.join(dir)]
        .into_iter()
        .find(|d| d.join(CONFIG_FILE).is_file())
        .with_context(|| {
            format!(
                "--project {}: no {CONFIG_FILE} there (from {} or {})",
                dir.display(),
                here.display(),
                root.display()
            )
        })?
        .canonicalize()?;
    Project::with(found.clone(), Config::load(&found)?, agent)
}

/// The table `name`, or the project's only one; it must drive sockopt calls alone (the
/// raw floor replays sockopt calls).
fn users_target(project: &Project, name: Option<&str>) -> Result<FuzzTable> {
    let t = match (name, project.config.fuzz.as_slice()) {
        (Some(n), _) => project.config.fuzz_target(n)?.clone(),
        (None, [one]) => one.get_ref().clone(),
        (None, all) => bail!(
            "{}: {} [[fuzz]] tables ({}); name one with --target",
            project.root.join(CONFIG_FILE).display(),
            all.len(),
            all.iter()
                .map(|t| t.get_ref().name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    anyhow::ensure!(
        t.sockopt.is_some() && t.tcp_server.is_none() && t.tcp_client.is_none(),
        "fuzz target {} is not a sockopt target: bench fuzz compares sockopt calls with \
         their raw replay",
        t.name
    );
    Ok(t)
}

/// One campaign of a project's target: the fuzzer against the raw replay in its boot, and
/// its first finding.
struct TargetRun {
    raw: f64,
    fuzz: f64,
    /// The first finding's title and seconds from the campaign's start (boots excluded).
    first: Option<(String, f64)>,
}

impl TargetRun {
    /// The fuzzer's syscalls/s as a share of the raw replay's.
    fn share(&self) -> f64 {
        self.fuzz / self.raw.max(1.0)
    }
}

/// A project's target on one kernel: its release and `runs` campaigns.
struct KernelRuns {
    kernel: String,
    release: String,
    runs: Vec<TargetRun>,
}

/// A project's target on `kernel`: `runs` campaigns of the module as it is, each with the
/// raw floors after fuzzing.
fn bench_target(b: &Bench, target: &FuzzTable, kernel: &str) -> Result<KernelRuns> {
    let runs = b.a.runs();
    let mut out = KernelRuns {
        kernel: kernel.to_string(),
        release: String::new(),
        runs: Vec::new(),
    };
    for i in 1..=runs {
        eprintln!(
            "ksock: bench fuzz {} on {kernel}: run {i}/{runs}",
            target.name
        );
        let run = format!("{kernel}-run{i}");
        let r = b.campaign(target, kernel, &run, vec![], Some(RAW_SECONDS))?;
        let raw = r.raw_syscalls_per_s.unwrap_or_default();
        let first = r
            .time_to_find
            .iter()
            .min_by(|x, y| x.1.total_cmp(y.1))
            .map(|(t, s)| (t.clone(), *s));
        let t = TargetRun {
            raw: raw.same_calls,
            fuzz: r.fuzz_syscalls_per_s,
            first,
        };
        println!(
            "{kernel} run {i}: the same calls raw {:.0} syscalls/s, through the executor \
             {:.0}/s, fuzzer {:.0} syscalls/s ({:.0}%), {} execs, {}; first finding: {}",
            t.raw,
            raw.executor,
            t.fuzz,
            100.0 * t.share(),
            r.execs,
            r.coverage,
            t.first.as_ref().map_or_else(
                || format!("none in {} s", b.a.seconds()),
                |(t, s)| format!("\"{t}\" after {s:.1} s")
            ),
        );
        if let Some(b) = &r.breakdown {
            println!("  the executor per op: {b}");
        }
        out.release = r.release.clone();
        out.runs.push(t);
    }
    Ok(out)
}

/// The closing table: per kernel, the medians against the bars, and each run's share and
/// first finding.
fn print_target_table(b: &Bench, target: &FuzzTable, table: &[KernelRuns]) {
    println!(
        "\n{} ({}): {} run(s) of {} s per kernel, each from an empty corpus.\n\
         fuzzer/raw: the fuzzer's module syscalls/s over the same calls replayed bare in the \
         same boot. bars: median fuzzer/raw >= {:.0}%, median first finding <= \
         {MAX_FIRST_FINDING_S:.0} s",
        target.name,
        b.project.root.display(),
        b.a.runs(),
        b.a.seconds(),
        100.0 * MIN_SHARE_OF_RAW,
    );
    println!(
        "{:<7} {:<22} {:>8} {:>9}  {:<28} {:<13} {:<28} median",
        "kernel",
        "release",
        "raw/s",
        "fuzzer/s",
        "fuzzer/raw % (per run)",
        "median",
        "first finding, s (per run)"
    );
    let mut titles = std::collections::BTreeSet::new();
    for k in table {
        let raw = median(k.runs.iter().map(|r| r.raw).collect());
        let fuzz = median(k.runs.iter().map(|r| r.fuzz).collect());
        let share = median(k.runs.iter().map(TargetRun::share).collect());
        let shares: Vec<String> = k
            .runs
            .iter()
            .map(|r| format!("{:.0}", 100.0 * r.share()))
            .collect();
        let firsts: Vec<f64> = k
            .runs
            .iter()
            .map(|r| r.first.as_ref().map_or(f64::INFINITY, |f| f.1))
            .collect();
        titles.extend(k.runs.iter().filter_map(|r| r.first.as_ref().map(|f| &f.0)));
        let first = median(firsts.clone());
        let per_run: Vec<String> = firsts.iter().map(|s| seconds_or_none(*s)).collect();
        println!(
            "{:<7} {:<22} {raw:>8.0} {fuzz:>9.0}  {:<28} {:<13} {:<28} {} ({})",
            k.kernel,
            k.release,
            shares.join(" "),
            format!("{:.0}% ({})", 100.0 * share, bar(share >= MIN_SHARE_OF_RAW)),
            per_run.join(" "),
            seconds_or_none(first),
            bar(first <= MAX_FIRST_FINDING_S),
        );
    }
    for t in titles {
        println!("first finding: \"{t}\"");
    }
}

fn bar(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

/// `12.3`, or `-` for a run that found nothing.
fn seconds_or_none(s: f64) -> String {
    if s.is_finite() {
        format!("{s:.1}")
    } else {
        "-".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example project stays what a module developer would have: its ksock.toml and
    /// specs read, and its one target is the README's smallest sockopt table, which
    /// `bench fuzz --project examples/sockopt_srv` takes without --target.
    #[test]
    fn the_example_project_opens_with_its_one_sockopt_target() {
        let root = crate::repo_root();
        let agent = Agent {
            program: "ksock".into(),
            args: vec!["agent".into()],
        };
        let p = users_project(&root, Path::new("examples/sockopt_srv"), agent).unwrap();
        assert_eq!(p.module_names(), ["sockopt_srv"]);
        assert_eq!(p.load_specs().unwrap().len(), 2);
        let t = users_target(&p, None).unwrap();
        assert_eq!(
            (t.name.as_str(), t.module.as_str()),
            ("sockopt_srv", "sockopt_srv")
        );
        assert!(t.model.is_none() && t.reset.is_none() && t.params.is_empty());
    }

    #[test]
    fn medians_take_the_upper_middle_and_a_run_without_finding_counts_as_none() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![1.0, 4.0]), 4.0);
        assert_eq!(
            median(vec![1.0, f64::INFINITY, f64::INFINITY]),
            f64::INFINITY
        );
        assert_eq!(seconds_or_none(f64::INFINITY), "-");
    }
}
