//! Coverage-guided fuzzing campaigns in a guest (`ksock fuzz NAME`, `cargo xtask fuzz NAME`),
//! of any target a project describes (`[[fuzz]]` tables, [`crate::fuzz_table`]).
//!
//! The host builds the coverage runtime (ksock_cov, [`crate::runtime`]) and the target's
//! modules with trace-pc instrumentation, then boots the kernel with libFuzzer as the guest's
//! command (linked into the agent: `ksock agent fuzz …`). The guest fuzzes persistently; the
//! host follows its console for a live status, keeps the corpus between campaigns, and
//! when the kernel panics, turns the input the guest wrote before running it into a finding
//! and boots again until the time is spent. `--jobs N` runs N guests sharing one corpus
//! (libFuzzer re-reads the corpus directory every second).
//!
//! Layout under `target/ksock/fuzz/<target>/<release>-<flavour>/`: `corpus/` (kept),
//! `findings/<title>/` (kept; `input.bin`, `report.txt`, `sequence.json`), `jobs/<n>/`
//! (this campaign's files of each guest: config, coverage, console logs).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use ksock_fuzz::findings::{self, FindingMeta};
use ksock_fuzz::titles::Oracle;
use ksock_fuzz::FuzzConfig;
use ksock_vm::boot::{self, Accel, BootEnd, BootRequest};
use ksock_vm::kernel::{Flavour, PreparedKernel};
use ksock_vm::progress::Step as Progress;
use ksock_vm::Cache;

use crate::coverage::{self, Point};
use crate::fuzz_table::{FuzzTable, Knobs};
use crate::project::Project;
use crate::runtime::COVERAGE;

/// A guest that prints no status for this long is hung (an op that never returns).
const SILENCE_LIMIT: Duration = Duration::from_secs(60);
/// The same crash this many times ends the campaign (each costs a boot).
const CRASH_LOOP_LIMIT: usize = 3;
/// libFuzzer's own per-input limit, in seconds.
const INPUT_TIMEOUT_S: u64 = 10;
/// Where the guest writes the fuzzer's exit status (in the job's directory).
const EXIT_FILE: &str = "fuzzer.exit";
/// Status lines in plain (non-terminal) output, this often.
const PLAIN_STATUS_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct CampaignOptions {
    /// The target's `[[fuzz]]` table.
    pub target: FuzzTable,
    pub kernel: String,
    pub flavour: Option<Flavour>,
    /// Fuzzing time, boots excluded.
    pub seconds: u64,
    pub jobs: usize,
    /// `name=value` words added to every module's parameters (`seed_bugs=1`).
    pub params: Vec<String>,
    pub accel: Option<Accel>,
    /// `target/ksock/fuzz`.
    pub out: PathBuf,
    pub memory: String,
    pub cpus: u32,
    /// Instead of fuzzing, merge these corpora (other shards', other machines') into the
    /// campaign's corpus with libFuzzer's `-merge=1`: only inputs that add coverage are kept.
    pub merge: Vec<PathBuf>,
    /// Benchmark: after fuzzing, in the same boot, replay the corpus's calls bare, then
    /// plain set+get pairs, this many seconds each (see
    /// [`CampaignReport::raw_syscalls_per_s`]).
    pub raw_loop: Option<u64>,
}

impl CampaignOptions {
    /// One job for 60 s on `kernel`, no planted bugs, the default flavour and accelerator,
    /// a 2 GiB, 2-CPU guest.
    pub fn new(target: FuzzTable, kernel: &str, out: PathBuf) -> Self {
        Self {
            target,
            kernel: kernel.to_string(),
            flavour: None,
            seconds: 60,
            jobs: 1,
            params: Vec::new(),
            accel: None,
            out,
            memory: "2G".into(),
            cpus: 2,
            raw_loop: None,
            merge: Vec::new(),
        }
    }
}

/// One finding of this campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub title: String,
    pub dir: PathBuf,
    /// False when an earlier campaign already saved this title.
    pub new: bool,
}

#[derive(Debug)]
pub struct CampaignReport {
    pub release: String,
    pub flavour: Flavour,
    pub execs: u64,
    pub fuzz_seconds: f64,
    pub boots: usize,
    pub findings: Vec<Finding>,
    /// "N of M instrumented points of srv (P%)".
    pub coverage: String,
    pub corpus: PathBuf,
    /// Inputs in the corpus when the campaign started, and when it ended.
    pub corpus_at_start: usize,
    pub corpus_at_end: usize,
    /// Seconds from the campaign's start (boots excluded) to each title's first report.
    pub time_to_find: BTreeMap<String, f64>,
    /// Why the campaign ended before its time, if it did.
    pub stopped: Option<String>,
    /// With [`CampaignOptions::raw_loop`]: the benchmark's floors, and the executor's time
    /// per op by part.
    pub raw_syscalls_per_s: Option<RawFloors>,
    pub breakdown: Option<String>,
    /// The fuzzer's syscalls on the module per second (its ops; reloads count one each).
    pub fuzz_syscalls_per_s: f64,
    /// Per boot, seconds from its start to fuzzing (the first, and every reboot after a
    /// crash).
    pub boot_to_fuzz: Vec<f64>,
    /// The campaign's page and its JSON (`coverage.html`, [`crate::cover_data`]), or why
    /// there is none.
    pub page: std::result::Result<crate::cover_data::Written, String>,
}

/// The fuzz benchmark's floors, in syscalls per second, measured in the campaign's first
/// boot after fuzzing.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawFloors {
    /// The corpus's own calls replayed bare ("the same syscalls").
    pub same_calls: f64,
    /// The cheapest pair: a 5-byte set and a 64-byte get.
    pub pair: f64,
    /// The corpus through the fuzzer's executor (every oracle, no libFuzzer).
    pub executor: f64,
}

/// What the console has told us so far, shared with the console reader.
#[derive(Debug, Default)]
struct Live {
    /// Per job (one guest at a time each).
    jobs: BTreeMap<usize, JobLive>,
    corpus: u64,
    points: BTreeSet<Point>,
    titles: BTreeMap<String, bool>,
    time_to_find: BTreeMap<String, f64>,
    /// Panics per title.
    crashes: BTreeMap<String, usize>,
    /// Why the campaign ended before its time (a crash loop).
    stopped: Option<String>,
    raw: Option<RawFloors>,
    /// The executor's time per op, by part (benchmark).
    breakdown: Option<String>,
}

/// What one job's console has said.
#[derive(Debug, Default)]
struct JobLive {
    /// Execs of finished boots, and of the current one.
    execs_done: u64,
    execs_now: u64,
    execs_per_s: f64,
    /// The fuzzer's last reported module syscalls/s.
    syscalls_per_s: f64,
    /// Fuzzing seconds of finished boots; the current boot's fuzzing start.
    fuzzed: f64,
    fuzz_started: Option<Instant>,
    last_heard: Option<Instant>,
    exit_status: Option<i32>,
    /// The input its guest announced last (see `ksock_fuzz::record::INPUT_MARK`).
    last_input: Option<Vec<u8>>,
    /// The op of `last_input` that had started, when the guest recorded it.
    last_op: Option<usize>,
    /// When the current boot started, and each boot's time from there to fuzzing (the
    /// price of a reboot after a crash).
    boot_started: Option<Instant>,
    boot_to_fuzz: Vec<f64>,
}

impl JobLive {
    /// libFuzzer is running (idempotent within a boot).
    fn fuzzing(&mut self) {
        if self.fuzz_started.is_none() {
            self.fuzz_started = Some(Instant::now());
            if let Some(t) = self.boot_started.take() {
                self.boot_to_fuzz.push(t.elapsed().as_secs_f64());
            }
        }
    }

    fn fuzz_seconds(&self) -> f64 {
        self.fuzzed + self.fuzz_started.map_or(0.0, |t| t.elapsed().as_secs_f64())
    }

    /// A boot ended: its fuzzing time and execs join the finished ones.
    fn boot_ended(&mut self) {
        if let Some(t) = self.fuzz_started.take() {
            self.fuzzed += t.elapsed().as_secs_f64();
        }
        self.execs_done += std::mem::take(&mut self.execs_now);
    }
}

impl Live {
    fn job(&mut self, n: usize) -> &mut JobLive {
        self.jobs.entry(n).or_default()
    }

    /// The jobs fuzz side by side: the campaign has fuzzed as long as its longest job.
    fn fuzz_seconds(&self) -> f64 {
        self.jobs
            .values()
            .map(JobLive::fuzz_seconds)
            .fold(0.0, f64::max)
    }

    fn execs(&self) -> u64 {
        self.jobs.values().map(|j| j.execs_done + j.execs_now).sum()
    }

    fn execs_per_s(&self) -> f64 {
        self.jobs.values().map(|j| j.execs_per_s).sum()
    }

    /// Records a finding's title and when it was first seen.
    fn found(&mut self, title: &str, new: bool, at: f64) {
        self.time_to_find.entry(title.to_string()).or_insert(at);
        self.titles.entry(title.to_string()).or_insert(new);
    }
}

/// Everything the jobs share.
struct Shared {
    live: Arc<Mutex<Live>>,
    all_points: BTreeSet<Point>,
    k: PreparedKernel,
    accel: Accel,
    opts: CampaignOptions,
    base: PathBuf,
    config: FuzzConfig,
    /// The guest agent (for the benchmark's raw loop).
    agent: crate::project::Agent,
}

/// Prepares, builds, and fuzzes for `opts.seconds`; returns what was found.
pub fn run(cache: &Cache, project: &Project, opts: &CampaignOptions) -> Result<CampaignReport> {
    let t = &opts.target;
    t.check()
        .with_context(|| format!("fuzz target {:?}", t.name))?;
    let modules = t.modules();
    // Rust only where every module of the target is written in it.
    let rust_sources = modules
        .iter()
        .all(|m| project.modules.get(*m).is_some_and(|s| s.rust.is_some()));
    let (k, flavour) =
        crate::runner::prepare_kernel(cache, &opts.kernel, opts.flavour, rust_sources)?;
    let (kos, runtime) = build(cache, project, &k, flavour, &modules)?;
    let all_points = all_points(&modules, &kos)?;
    let accel = boot::resolve_accel(cache, opts.accel, &k.vmlinuz, &k.release)?;
    let base = opts
        .out
        .join(&t.name)
        .join(format!("{}-{flavour}", k.release));
    for d in ["corpus", ksock_fuzz::findings::FINDINGS_DIR] {
        std::fs::create_dir_all(base.join(d))
            .with_context(|| base.join(d).display().to_string())?;
    }
    let config = fuzz_config(opts, &base, &kos, runtime)?;
    let corpus_at_start = dir_len(&base.join("corpus"));
    let shared = Arc::new(Shared {
        live: Arc::new(Mutex::new(Live::default())),
        all_points,
        k,
        accel,
        opts: opts.clone(),
        base,
        config,
        agent: project.agent.clone(),
    });
    let boots = fuzz_jobs(&shared)?;
    let r = CampaignReport {
        corpus_at_start,
        ..report(&shared, flavour, boots)
    };
    Ok(CampaignReport {
        page: write_page(&shared.base, opts, &r).map_err(|e| format!("{e:#}")),
        ..r
    })
}

/// The campaign's summary, then its page (a page that cannot be written does not fail the
/// campaign: its findings and corpus are kept either way).
fn write_page(
    base: &Path,
    opts: &CampaignOptions,
    r: &CampaignReport,
) -> Result<crate::cover_data::Written> {
    let summary = crate::cover_data::Summary {
        target: opts.target.name.clone(),
        label: opts.target.label(),
        release: r.release.clone(),
        flavour: r.flavour.to_string(),
        params: opts.params.clone(),
        fuzz_seconds: r.fuzz_seconds,
        execs: r.execs,
        boots: r.boots,
        corpus: r.corpus_at_end,
        time_to_find: r.time_to_find.clone(),
        stopped: r.stopped.clone(),
        merge: !opts.merge.is_empty(),
    };
    std::fs::write(
        base.join(crate::cover_data::SUMMARY_FILE),
        serde_json::to_vec_pretty(&summary)?,
    )?;
    crate::cover_data::write(base)
}

/// `params` with the campaign's extra words (`seed_bugs=1`) after them.
fn with_extra(params: &str, extra: &[String]) -> String {
    params
        .split_whitespace()
        .map(str::to_string)
        .chain(extra.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the guest's fuzzer is told: `kos` are the target's module, then `also`'s.
fn fuzz_config(
    opts: &CampaignOptions,
    base: &Path,
    kos: &[PathBuf],
    runtime: PathBuf,
) -> Result<FuzzConfig> {
    let t = &opts.target;
    Ok(FuzzConfig {
        module: t.module.clone(),
        ko: kos[0].clone(),
        params: with_extra(&t.params, &opts.params),
        runtime: Some(runtime),
        language: t.language()?,
        target: t.sockopt_target()?,
        model: t.model()?,
        reset: t.reset(),
        vary: t.vary()?,
        max_ops: t.knobs()?.max_ops,
        splats: fuzz_splats(),
        out: PathBuf::new(),
        findings: base.join(ksock_fuzz::findings::FINDINGS_DIR),
        server: t.server()?,
        client: t.client()?,
        also: t
            .also
            .iter()
            .zip(&kos[1..])
            .map(|(a, ko)| ksock_fuzz::AlsoModule {
                name: a.module.clone(),
                ko: ko.clone(),
                params: with_extra(&a.params, &opts.params),
            })
            .collect(),
    })
}

/// Entries of a directory (a corpus's inputs); 0 when it cannot be read.
pub fn dir_len(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

fn report(shared: &Shared, flavour: Flavour, boots: usize) -> CampaignReport {
    let live = shared.live.lock().expect("live status");
    let findings = shared.base.join(ksock_fuzz::findings::FINDINGS_DIR);
    CampaignReport {
        release: shared.k.release.clone(),
        flavour,
        execs: live.execs(),
        fuzz_seconds: live.fuzz_seconds(),
        boots,
        findings: live
            .titles
            .iter()
            .map(|(t, new)| Finding {
                title: t.clone(),
                dir: findings.join(ksock_fuzz::titles::slug(t)),
                new: *new,
            })
            .collect(),
        coverage: coverage::summary(
            &shared.opts.target.label(),
            &live.points,
            &shared.all_points,
        ),
        corpus: shared.base.join("corpus"),
        corpus_at_start: 0,
        corpus_at_end: dir_len(&shared.base.join("corpus")),
        time_to_find: live.time_to_find.clone(),
        stopped: live.stopped.clone(),
        raw_syscalls_per_s: live.raw,
        breakdown: live.breakdown.clone(),
        fuzz_syscalls_per_s: live.jobs.values().map(|j| j.syscalls_per_s).sum(),
        boot_to_fuzz: live
            .jobs
            .values()
            .flat_map(|j| j.boot_to_fuzz.iter().copied())
            .collect(),
        page: Err("not written yet".into()),
    }
}

/// Kernel log lines that are findings: the suite's splats, plus hung tasks.
fn fuzz_splats() -> Vec<String> {
    let mut s: Vec<String> = boot::SPLAT_PATTERNS.iter().map(|p| p.to_string()).collect();
    s.push(r"blocked for more than \d+ seconds".into());
    s
}

/// Builds the runtime (C, uninstrumented) and the modules (instrumented); returns each
/// module's `.ko` and the runtime's.
fn build(
    cache: &Cache,
    project: &Project,
    k: &PreparedKernel,
    flavour: Flavour,
    modules: &[&str],
) -> Result<(Vec<PathBuf>, PathBuf)> {
    let src = |m: &str, f: Flavour| {
        project
            .modules
            .get(m)
            .and_then(|s| s.get(f))
            .with_context(|| {
                format!(
                    "module {m} has no {f} flavour among the project's module directories ({})",
                    project
                        .config
                        .modules
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    };
    let step = Progress::start(format!(
        "building {COVERAGE} and {} ({flavour}, coverage) for {}",
        modules.join(", "),
        k.release
    ));
    let rt_src = crate::runtime::coverage_source(cache, project)?;
    let rt_dir = k.build_module(cache, &rt_src, Flavour::C)?;
    let rt = rt_dir.join(format!("{COVERAGE}.ko"));
    anyhow::ensure!(rt.is_file(), "kbuild produced no {}", rt.display());
    let mut kos = Vec::new();
    for m in modules {
        let dir = k.build_module_with(cache, src(m, flavour)?, flavour, Some(&rt_dir))?;
        let ko = dir.join(format!("{m}.ko"));
        anyhow::ensure!(ko.is_file(), "kbuild produced no {}", ko.display());
        kos.push(ko);
    }
    step.done("ok");
    Ok((kos, rt))
}

/// Every instrumented point of `kos` (with more than one module, each section named
/// `module/section`, as the guest names them).
fn all_points(modules: &[&str], kos: &[PathBuf]) -> Result<BTreeSet<Point>> {
    let mut all = BTreeSet::new();
    for (m, ko) in modules.iter().zip(kos) {
        let points = coverage::points(ko)?;
        anyhow::ensure!(
            !points.is_empty(),
            "{} has no coverage points: the instrumented build did not instrument it",
            ko.display()
        );
        all.extend(points.into_iter().map(|p| match modules.len() {
            1 => p,
            _ => Point {
                section: format!("{m}/{}", p.section),
                offset: p.offset,
            },
        }));
    }
    Ok(all)
}

/// Runs the jobs in parallel with a live status; returns the number of boots.
fn fuzz_jobs(shared: &Arc<Shared>) -> Result<usize> {
    let o = &shared.opts;
    let bugs: String = o.params.iter().map(|p| format!(", {p}")).collect();
    let progress = Progress::start(match o.merge.len() {
        0 => format!(
            "fuzzing {} on {} ({}, {} job(s), {} s{bugs})",
            o.target.label(),
            shared.k.release,
            shared.accel,
            o.jobs,
            o.seconds,
        ),
        n => format!(
            "merging {n} corpus director(ies) for {} on {} ({}{bugs})",
            o.target.label(),
            shared.k.release,
            shared.accel,
        ),
    });
    let handles: Vec<_> = (0..o.jobs.max(1))
        .map(|n| {
            let shared = shared.clone();
            std::thread::spawn(move || job(&shared, n))
        })
        .collect();
    let detail = progress.detail_handle();
    let plain = !std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut last_plain = Instant::now();
    while handles.iter().any(|h| !h.is_finished()) {
        std::thread::sleep(Duration::from_millis(250));
        let line = status_line(shared);
        detail.set(&line);
        if plain && last_plain.elapsed() >= PLAIN_STATUS_EVERY {
            last_plain = Instant::now();
            eprintln!("ksock: fuzz: {line}");
        }
    }
    let mut boots = 0;
    let mut errors = Vec::new();
    for h in handles {
        match h.join() {
            Ok(Ok(b)) => boots += b,
            Ok(Err(e)) => errors.push(format!("{e:#}")),
            Err(_) => errors.push("a fuzz job panicked".into()),
        }
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    progress.done(&status_line(shared));
    Ok(boots)
}

fn status_line(shared: &Shared) -> String {
    let l = shared.live.lock().expect("live status");
    format!(
        "{:.0}/{} s, {} execs ({:.0}/s), corpus {}, {} of {} points, {} finding(s)",
        l.fuzz_seconds(),
        shared.opts.seconds,
        l.execs(),
        l.execs_per_s(),
        l.corpus,
        l.points.intersection(&shared.all_points).count(),
        shared.all_points.len(),
        l.titles.len()
    )
}

/// One job: boots until its share of the time is fuzzed; a panic is a finding, then a
/// new boot. Returns the number of boots.
fn job(shared: &Shared, n: usize) -> Result<usize> {
    let dir = shared.base.join("jobs").join(n.to_string());
    // A job's directory holds only this campaign's files (the corpus and findings are kept).
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let mut boots = 0;
    // A guest that dies before the fuzzer starts is no input's doing (seen under TCG: an
    // early-boot "Oops: int3" while the kernel patches its own code): boot once more.
    let mut early_deaths_forgiven = 1;
    loop {
        let left = {
            let l = shared.live.lock().expect("live");
            if l.stopped.is_some() {
                return Ok(boots);
            }
            shared.opts.seconds as f64 - l.jobs.get(&n).map_or(0.0, JobLive::fuzz_seconds)
        };
        if left < 1.0 {
            return Ok(boots);
        }
        boots += 1;
        let outcome = boot_once(shared, &dir, n, boots, left.ceil() as u64)?;
        let started = {
            let mut l = shared.live.lock().expect("live");
            let j = l.job(n);
            if let Some((input, op)) = recorded_input(&dir) {
                // More reliable than the console's last input line, which needs the console.
                j.last_input = Some(input);
                j.last_op = op;
            }
            j.last_input.is_some()
        };
        if outcome.end == BootEnd::Panicked && !started && early_deaths_forgiven > 0 {
            early_deaths_forgiven -= 1;
            eprintln!(
                "ksock: fuzz: the guest died before the fuzzer started ({}); booting once more",
                boot::crash_summary(&outcome.console)
            );
            continue;
        }
        match outcome.end.clone() {
            BootEnd::Panicked => panic_finding(shared, n, &outcome.console)?,
            BootEnd::Stopped(why) => hang_finding(shared, n, &why, &outcome.console)?,
            BootEnd::Exited(_) => {
                fuzzer_exited(shared, n, &dir, &outcome)?;
                if !shared.opts.merge.is_empty() {
                    // A merge is done when libFuzzer is, whatever the time.
                    return Ok(boots);
                }
            }
            other => bail!(
                "the guest ended: {}; console tail:\n{}",
                boot::describe_end(&other),
                outcome.console_tail(30)
            ),
        }
    }
}

/// The guest powered off after the fuzzer ended: fine if it exited 0; a libFuzzer timeout
/// is a hang finding; anything else stops the campaign with the console's tail.
fn fuzzer_exited(shared: &Shared, n: usize, dir: &Path, outcome: &boot::BootOutcome) -> Result<()> {
    // The file is written through 9p before the guest powers off; the console line may be
    // lost in the power-off (seen once under load).
    let from_file = std::fs::read_to_string(dir.join(EXIT_FILE))
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok());
    let from_console = shared.live.lock().expect("live").job(n).exit_status.take();
    let timed_out = outcome
        .console
        .iter()
        .any(|l| l.contains("ERROR: libFuzzer: timeout"));
    match from_file.or(from_console) {
        Some(0) => Ok(()),
        Some(_) if timed_out => hang_finding(
            shared,
            n,
            &format!("an input ran longer than libFuzzer's {INPUT_TIMEOUT_S} s limit"),
            &outcome.console,
        ),
        Some(s) => bail!(
            "the fuzzer exited with status {s}; console tail:\n{}",
            outcome.console_tail(30)
        ),
        None => bail!(
            "the guest ended before the fuzzer finished; console tail:\n{}",
            outcome.console_tail(30)
        ),
    }
}

/// One boot running the fuzzer for at most `seconds`.
/// What the guest runs: the fuzzer for `seconds` (or the merge), its exit status written
/// where the host finds it, then (benchmark, first boot) the raw floors.
fn guest_command(
    shared: &Shared,
    dir: &Path,
    cfg_file: &Path,
    boot_no: usize,
    seconds: u64,
) -> String {
    let corpus = shared.base.join("corpus");
    // The benchmark's floors run after the fuzzer, on the corpus it left.
    let raw = match shared.opts.raw_loop {
        Some(secs) if boot_no == 1 => format!(
            "; {}",
            shared.agent.command(&format!(
                "raw-loop --config {} --corpus {} --seconds {secs}",
                cfg_file.display(),
                corpus.display()
            ))
        ),
        _ => String::new(),
    };
    // Fuzz for the time left; or merge other corpora into this one (only what adds coverage).
    let mode = match shared.opts.merge.as_slice() {
        [] => format!("-max_total_time={seconds} -reload=1 {}", corpus.display()),
        dirs => format!(
            "-merge=1 {} {}",
            corpus.display(),
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        ),
    };
    // Checked when the campaign started.
    let knobs = shared
        .opts
        .target
        .knobs()
        .unwrap_or(Knobs::of(shared.config.language));
    format!(
        "KSOCK_FUZZ_CONFIG={cfg} {fuzzer} {mode} -timeout={INPUT_TIMEOUT_S} \
         -max_len={max_len} -len_control={len_control} -reduce_inputs={reduce} -artifact_prefix={dir}/ -print_final_stats=1; \
         s=$?; echo $s > {dir}/{EXIT_FILE}; echo {mark}-EXIT $s{raw}",
        cfg = cfg_file.display(),
        // libFuzzer is linked into the agent (`ksock agent fuzz`).
        fuzzer = shared.agent.command("fuzz"),
        dir = dir.display(),
        max_len = knobs.max_input,
        len_control = knobs.len_control,
        reduce = knobs.reduce_inputs,
        mark = ksock_fuzz::config::STATUS_MARK,
    )
}

fn boot_once(
    shared: &Shared,
    dir: &Path,
    job: usize,
    boot_no: usize,
    seconds: u64,
) -> Result<boot::BootOutcome> {
    let cfg = FuzzConfig {
        out: dir.to_path_buf(),
        ..shared.config.clone()
    };
    let _ = std::fs::remove_file(dir.join(EXIT_FILE));
    let cfg_file = dir.join(ksock_fuzz::config::FUZZ_CONFIG_FILE);
    std::fs::write(&cfg_file, serde_json::to_vec_pretty(&cfg)?)?;
    let exec = guest_command(shared, dir, &cfg_file, boot_no, seconds);
    let mut append = vec![
        ksock_proto::GUEST_MARKER.to_string(),
        "oops=panic".to_string(),
        // Without shared memory the fuzzer logs every input through /dev/kmsg, which is
        // rate-limited by default.
        "printk.devkmsg=on".to_string(),
    ];
    if has_kfence(&shared.k) {
        // Guard one slab allocation every 10 ms (off by default in Debian's kernels).
        append.push("kfence.sample_interval=10".into());
    }
    {
        let mut l = shared.live.lock().expect("live");
        let j = l.job(job);
        j.last_heard = None;
        j.exit_status = None;
        j.last_input = None;
        j.last_op = None;
        j.boot_started = Some(Instant::now());
    }
    let req = BootRequest {
        shared_memory: input_record_file(dir)?,
        vmlinuz: shared.k.vmlinuz.clone(),
        pvh: shared.k.pvh.clone(),
        accel: shared.accel,
        exec,
        append,
        rwdirs: vec![shared.base.clone()],
        memory: shared.opts.memory.clone(),
        cpus: shared.opts.cpus,
        timeout: Duration::from_secs(seconds + 300),
        console_log: dir.join(format!("console-boot{boot_no}.log")),
        on_line: Some(console_reader(shared, dir, job)),
        watchdog: Some(silence_watchdog(shared, job)),
    };
    let outcome = boot::boot(&req)?;
    let mut l = shared.live.lock().expect("live");
    l.job(job).boot_ended();
    merge_coverage(&mut l, dir, &shared.all_points);
    // Each boot's coverage files are its own (the next guest starts again): kept for the
    // campaign's page (`crate::cover_data`).
    for (file, kept) in [
        (ksock_fuzz::reach::REACH_FILE, "reach"),
        (ksock_fuzz::config::COVERAGE_FILE, "coverage"),
    ] {
        let _ = std::fs::rename(
            dir.join(file),
            dir.join(format!("{kept}-boot{boot_no}.json")),
        );
    }
    Ok(outcome)
}

/// A zeroed file for the guest to record each input in before running it (see
/// the agent's `record`); `None` where QEMU could not be given its path (then the guest
/// logs inputs on the console).
fn input_record_file(dir: &Path) -> Result<Option<PathBuf>> {
    let f = dir.join(ksock_fuzz::record::RECORD_FILE);
    if f.to_string_lossy().contains([',', ' ', '\t']) {
        return Ok(None);
    }
    std::fs::write(&f, vec![0u8; ksock_fuzz::record::RECORD_BYTES])
        .with_context(|| format!("writing {}", f.display()))?;
    Ok(Some(f))
}

/// The input the guest recorded last, if it recorded one, and the op it had started.
fn recorded_input(dir: &Path) -> Option<(Vec<u8>, Option<usize>)> {
    let mem = std::fs::read(dir.join(ksock_fuzz::record::RECORD_FILE)).ok()?;
    Some((
        ksock_fuzz::record::read_input_record(&mem)?,
        ksock_fuzz::record::read_op_index(&mem),
    ))
}

/// Follows the guest's console: the fuzzer's status and finding lines, libFuzzer's corpus
/// size, and its exit status.
fn console_reader(shared: &Shared, dir: &Path, job: usize) -> boot::LineSink {
    let live = shared.live.clone();
    let dir = dir.to_path_buf();
    let all = shared.all_points.clone();
    let corp = regex::Regex::new(r"\bcorp: (\d+)/").expect("valid regex");
    Arc::new(move |line: &str| {
        let mut l = live.lock().expect("live");
        let l = &mut *l;
        let j = l.jobs.entry(job).or_default();
        if let Some((more, bytes)) = ksock_fuzz::record::parse_input_line(line) {
            match (&mut j.last_input, more) {
                (Some(input), true) => input.extend(bytes),
                _ => j.last_input = Some(bytes),
            }
            return;
        }
        if let Some((_, b)) = line.split_once("KSOCK-BREAKDOWN ") {
            l.breakdown = Some(b.trim().to_string());
        } else if let Some(v) = line.split_once("KSOCK-RAW ") {
            let field = |k: &str| {
                v.1.split_whitespace()
                    .find_map(|w| w.strip_prefix(k)?.strip_prefix('='))
                    .and_then(|v| v.parse::<f64>().ok())
            };
            l.raw = Some(RawFloors {
                same_calls: field("syscalls_per_s").unwrap_or(0.0),
                pair: field("pair_per_s").unwrap_or(0.0),
                executor: field("executor_per_s").unwrap_or(0.0),
            });
        } else if let Some(rest) = line
            .split_once(ksock_fuzz::config::STATUS_MARK)
            .map(|(_, r)| r)
        {
            j.last_heard = Some(Instant::now());
            if let Some(code) = rest.strip_prefix("-EXIT ") {
                j.exit_status = code.trim().parse().ok();
                return;
            }
            j.fuzzing();
            let field = |k: &str| {
                rest.split_whitespace()
                    .find_map(|w| w.strip_prefix(k)?.strip_prefix('='))
                    .and_then(|v| v.parse::<f64>().ok())
            };
            j.execs_now = field("execs").unwrap_or(0.0) as u64;
            j.execs_per_s = field("execs_per_s").unwrap_or(0.0);
            // The ops only: the per-input reset is not counted, as the raw replay's is not.
            j.syscalls_per_s = field("ops_per_s").unwrap_or(0.0);
            let sample = crate::cover_data::Sample {
                t: j.fuzz_seconds(),
                job,
                execs: j.execs_done + j.execs_now,
                execs_per_s: j.execs_per_s,
                points: 0,
                corpus: l.corpus,
            };
            merge_coverage(l, &dir, &all);
            let points = l.points.intersection(&all).count();
            let _ = crate::cover_data::record_sample(
                &dir,
                &crate::cover_data::Sample { points, ..sample },
            );
        } else if let Some(rest) = line
            .split_once(ksock_fuzz::config::FINDING_MARK)
            .map(|(_, r)| r)
        {
            let (kind, title) = rest.trim().split_once(' ').unwrap_or(("new", rest.trim()));
            let at = j.fuzz_seconds();
            l.found(title, kind == "new", at);
        } else if line.contains("INFO: Seed:") {
            // libFuzzer starts: the campaign's clock runs from here (boots excluded).
            j.last_heard = Some(Instant::now());
            j.fuzzing();
        } else if let Some(c) = corp.captures(line) {
            j.last_heard = Some(Instant::now());
            j.fuzzing();
            l.corpus = c[1].parse().unwrap_or(l.corpus);
        }
    })
}

/// Stops a guest whose fuzzer has been silent for [`SILENCE_LIMIT`] once it started.
fn silence_watchdog(shared: &Shared, job: usize) -> boot::Watchdog {
    let live = shared.live.clone();
    Arc::new(move || {
        let l = live.lock().ok()?;
        let heard = l.jobs.get(&job)?.last_heard?;
        (heard.elapsed() > SILENCE_LIMIT).then(|| {
            format!(
                "the fuzzer printed nothing for {} s: an input did not return",
                SILENCE_LIMIT.as_secs()
            )
        })
    })
}

fn merge_coverage(l: &mut Live, dir: &Path, all: &BTreeSet<Point>) {
    let Ok(bytes) = std::fs::read(dir.join(ksock_fuzz::config::COVERAGE_FILE)) else {
        return;
    };
    if let Ok(points) = serde_json::from_slice::<Vec<(String, u64)>>(&bytes) {
        let (dead, live): (Vec<_>, Vec<_>) = points
            .into_iter()
            .partition(|(section, _)| section == ksock_fuzz::config::DEAD_SECTION);
        l.points.extend(
            live.into_iter()
                .map(|(section, offset)| Point { section, offset }),
        );
        let dead: BTreeSet<u64> = dead.into_iter().map(|(_, off)| off).collect();
        l.points.extend(coverage::resolve_dead(&dead, all));
    }
}

fn has_kfence(k: &PreparedKernel) -> bool {
    kernel_config(k).is_some_and(|c| c.lines().any(|l| l.trim() == "CONFIG_KFENCE=y"))
}

/// The kernel's config, from its image package.
fn kernel_config(k: &PreparedKernel) -> Option<String> {
    [
        k.dir.join(format!("boot/config-{}", k.release)),
        k.dir.join(format!("usr/lib/modules/{}/config", k.release)),
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p).ok())
}

/// The input the guest was running when the kernel panicked becomes a finding.
fn panic_finding(shared: &Shared, job: usize, console: &[String]) -> Result<()> {
    let title = crash_title(console);
    let summary = boot::crash_summary(console);
    let input = save_host_finding(shared, job, &title, Oracle::KernelPanic, &summary, console)?;
    // A corpus input that crashes would crash every boot while libFuzzer replays the
    // corpus: it lives on in the finding instead.
    quarantine(&shared.base.join("corpus"), &input);
    let mut l = shared.live.lock().expect("live");
    let n = l.crashes.entry(title.clone()).or_insert(0);
    *n += 1;
    if *n >= CRASH_LOOP_LIMIT {
        l.stopped = Some(format!(
            "stopped early: \"{title}\" crashed the kernel {n} times; a crash this easy to reach \
             hides everything behind it: fix it (its input and sequence are in {}), then fuzz \
             again",
            shared
                .config
                .findings
                .join(ksock_fuzz::titles::slug(&title))
                .display()
        ));
    }
    Ok(())
}

/// The title of the crash `console` shows (see [`ksock_fuzz::titles::crash_title`]).
pub fn crash_title(console: &[String]) -> String {
    ksock_fuzz::titles::crash_title(console, |l| !boot::splats([l]).is_empty())
}

/// An input that never returned becomes a finding.
fn hang_finding(shared: &Shared, job: usize, why: &str, console: &[String]) -> Result<()> {
    let title = format!("an op does not return in {}", shared.config.module);
    let input = save_host_finding(shared, job, &title, Oracle::Deadline, why, console)?;
    quarantine(&shared.base.join("corpus"), &input);
    Ok(())
}

fn save_host_finding(
    shared: &Shared,
    job: usize,
    title: &str,
    oracle: Oracle,
    detail: &str,
    console: &[String],
) -> Result<Vec<u8>> {
    let (input, op) = {
        let mut l = shared.live.lock().expect("live");
        let j = l.job(job);
        (j.last_input.take(), j.last_op.take())
    };
    let input = input.with_context(|| {
        format!(
            "the guest ended ({detail}) before the fuzzer ran any input; console tail:\n{}",
            console[console.len().saturating_sub(30)..].join("\n")
        )
    })?;
    let all = shared.config.decode(&input);
    // The ops after the one that was running never ran: the finding is the prefix.
    let (ops, which) = match op {
        Some(i) => (
            all.prefix(i + 1),
            format!(
                "ops 1 to {} of the input; the kernel went down in op {}",
                i + 1,
                i + 1
            ),
        ),
        None => (
            all,
            "the whole input; the kernel went down while it ran".to_string(),
        ),
    };
    let finding = findings::Finding {
        meta: FindingMeta::new(&shared.config, title, oracle, detail, &shared.k.release),
        input: &input,
        ops: &ops,
        how: which,
        console,
    };
    let (fdir, new) = findings::save(&shared.config.findings, &shared.config, &finding)?;
    let mut l = shared.live.lock().expect("live");
    let at = l.job(job).fuzz_seconds();
    l.found(title, new, at);
    eprintln!(
        "ksock: fuzz: {} finding: {title} ({detail}); saved in {}; booting again",
        if new { "new" } else { "known" },
        fdir.display()
    );
    Ok(input)
}

/// Removes corpus files holding exactly `input`.
fn quarantine(corpus: &Path, input: &[u8]) {
    let Ok(rd) = std::fs::read_dir(corpus) else {
        return;
    };
    for e in rd.flatten() {
        if std::fs::read(e.path()).is_ok_and(|b| b == input) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_titles_come_from_the_kernel_and_name_the_function() {
        let console: Vec<String> = [
            "WARNING: Failed to find function \"__sanitizer_print_stack_trace\".",
            "[    7.532194] BUG: kernel NULL pointer dereference, address: 0000000000000000",
            "[    7.533065] Oops: Oops: 0002 [#1] SMP NOPTI",
            "[    7.534824] RIP: 0010:ksock_sockopt_get+0x78/0x380 [ksock_sockopt]",
            "[    7.540170] RIP: 0033:0x7f2bff3478ba",
            "[    7.545898] Kernel panic - not syncing: Fatal exception",
        ]
        .map(String::from)
        .into();
        assert_eq!(
            crash_title(&console),
            "BUG: kernel NULL pointer dereference in ksock_sockopt_get"
        );
        assert_eq!(crash_title(&[]), "Kernel panic");
    }
}
