//! `cargo xtask …`: the project's entry points. See `cargo xtask --help`.

mod fuzz;
mod repro;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use ksock_harness::judge::Status;
use ksock_harness::project::Project;
use ksock_harness::runner::{run_kernel, RunOptions};
use ksock_vm::boot::Accel;
use ksock_vm::kernel::Flavour;

/// ksock: test and fuzz in-kernel socket code in real Linux kernels.
///
/// Kernels come from Debian's archive (mirror taken from this machine's apt configuration,
/// or KSOCK_DEBIAN_MIRROR), modules are built with the exact toolchain that built each
/// kernel, and every spec runs in a virtme-ng guest (KVM where it works, else TCG).
/// Everything is cached under KSOCK_CACHE (default ~/.cache/ksock).
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum AccelArg {
    /// KVM if a probe boot works on this host (cached), else TCG.
    Auto,
    Kvm,
    Tcg,
}

#[derive(Clone, Copy, ValueEnum)]
enum FlavourArg {
    /// Rust modules where the kernel has Rust, else the C reference ports.
    Auto,
    Rust,
    C,
}

impl FlavourArg {
    fn get(self) -> Option<Flavour> {
        match self {
            FlavourArg::Auto => None,
            FlavourArg::Rust => Some(Flavour::Rust),
            FlavourArg::C => Some(Flavour::C),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BenchWhat {
    /// Preparation, module build, boot + one spec.
    Pipeline,
    /// The in-guest fuzzer.
    Fuzz,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FuzzTarget {
    /// The YAML spec reader (host side).
    Spec,
    /// ksock_sockopt in a guest: set/get sequences, coverage from the module itself.
    Sockopt,
    /// ksock_server (echo=1) in a guest: connections, messages at its buffer's edges,
    /// half-closes and resets.
    Server,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the specs in specs/ on a kernel and print a verdict for each.
    ///
    /// Example: cargo xtask run --kernel 7.3 hello-parameter
    Run {
        /// Catalog kernel(s) to run on (repeatable).
        #[arg(long = "kernel", short, default_value = ksock_vm::catalog::DEFAULT_KERNEL)]
        kernels: Vec<String>,
        /// How the guest CPU is provided.
        #[arg(long, value_enum, default_value = "auto")]
        accel: AccelArg,
        /// Which module sources to build: Rust (kmods/<mod>) or the C ports (kmods/c/<mod>).
        #[arg(long, value_enum, default_value = "auto")]
        flavour: FlavourArg,
        /// Write the verdicts as JSON (round-trips through ksock_harness::report::Report).
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Write the verdicts as JUnit XML, for CI systems.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Only these specs (file names without .yaml); default: all.
        specs: Vec<String>,
    },
    /// Differential run: every spec with the Rust modules and with the C ports, on one
    /// kernel; exits non-zero when any spec's observations differ.
    ///
    /// Observations are the verdict and the modules' own log lines (timestamps, ephemeral
    /// ports and taint notices taken out).
    Diff {
        #[arg(long = "kernel", short, default_value = ksock_vm::catalog::DEFAULT_KERNEL)]
        kernel: String,
        #[arg(long, value_enum, default_value = "auto")]
        accel: AccelArg,
        /// Only these specs; default: all.
        specs: Vec<String>,
    },
    /// Reproduce a fuzz finding, or a regression spec, on every kernel.
    ///
    /// Given a finding directory (`target/ksock/fuzz/<target>/<kernel>/findings/<title>/`),
    /// writes its regression spec to `specs/regressions/<title>.yaml` (or `--out`): the
    /// finding's ops as `sockopt`/`load` steps stating what a correct module does, and
    /// `found_with` holding the parameters it was found with. The spec passes in the normal
    /// suite. Then runs it as found (those parameters filled into its load steps) on each
    /// kernel and each flavour of the module, and prints where it reproduces (the spec
    /// fails), where it does not, and the first failing expectation.
    ///
    /// Given a spec file, runs that the same way.
    Repro {
        /// A finding directory or a spec file.
        what: PathBuf,
        /// Where to write the spec made from a finding.
        #[arg(long)]
        out: Option<PathBuf>,
        /// `all` (the catalog) or kernel names, comma-separated.
        #[arg(long = "kernel", short, default_value = "all", value_delimiter = ',')]
        kernels: Vec<String>,
        /// Runs per kernel and flavour (reliability: "reproduces 5/5").
        #[arg(long, default_value_t = 1)]
        runs: usize,
        /// Name where, in version order, the outcome changes (runs every catalog kernel).
        #[arg(long)]
        bisect: bool,
        #[arg(long, value_enum, default_value = "auto")]
        accel: AccelArg,
    },
    /// Unit tests plus every spec on every kernel of the catalog (what CI runs).
    ///
    /// Prepares the kernels first (with progress), runs `cargo nextest run --workspace` for
    /// everything but the spec tests (`cargo test` if nextest is missing), then the spec x
    /// kernel tests in one process, so each kernel boots once for all its specs. Extra
    /// arguments go to the first runner.
    Test {
        /// Limit the spec tests to these kernels (default: the whole catalog).
        #[arg(long = "kernel", short)]
        kernels: Vec<String>,
        #[arg(last = true)]
        runner_args: Vec<String>,
    },
    /// Fetch a kernel, make its toolchain root and module build tree (no boot).
    ///
    /// `--root` builds with another kernel's toolchain root to check it; a root whose
    /// compilers differ from the kernel's is refused, e.g.
    /// `cargo xtask prepare --kernel 7.2 --root trixie`.
    Prepare {
        #[arg(long = "kernel", short, default_value = ksock_vm::catalog::DEFAULT_KERNEL)]
        kernels: Vec<String>,
        /// Toolchain root to use: a kernel (`7.3`) or suite (`trixie`, `sid`).
        #[arg(long)]
        root: Option<String>,
    },
    /// Install the host tools ksock needs (apt packages, virtme-ng from PyPI).
    Setup,
    /// List the kernel catalog.
    Kernels,
    /// Fuzz a target with libFuzzer.
    ///
    /// `sockopt`: boots the kernel and fuzzes ksock_sockopt from inside the guest with
    /// sequences of setsockopt/getsockopt calls (optnames in and around its range, edge
    /// lengths, buffers ending at a guard page, canaries, NULL, unmapped, read-only). The
    /// module is built with trace-pc coverage and ksock's runtime (kmods/c/cov), so the
    /// module's own basic blocks guide libFuzzer. Oracles: guard page, canary, returned
    /// length, the module's contract (without --seed-bugs), kernel splats (KFENCE is
    /// switched on where the kernel has it), a panic (the guest reboots and goes on), an op
    /// that never returns. Findings are deduplicated by title and saved with their input
    /// and decoded sequence under target/ksock/fuzz/sockopt/<release>-<flavour>/findings/;
    /// the corpus beside them is kept between campaigns. Exit status 1 when a campaign
    /// found something.
    ///
    /// `server`: the same for ksock_server (loaded with echo=1): connections, messages at
    /// the edges of its 1024-byte buffer, half-closes and resets; oracles: the echo, its
    /// `recv … len=N data=…` log lines (never more than N bytes), splats, panics, deadlines.
    ///
    /// Example: cargo xtask fuzz sockopt --seconds 120 --seed-bugs --kernel 6.1
    ///
    /// `spec`: the spec reader on the host (cargo-fuzz, installed from crates.io on first
    /// use), seeded with specs/*.yaml; it must never panic.
    Fuzz {
        #[arg(value_enum)]
        target: FuzzTarget,
        /// Fuzzing time in seconds (boots not counted).
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Catalog kernel (sockopt, server).
        #[arg(long, short, default_value = ksock_vm::catalog::DEFAULT_KERNEL)]
        kernel: String,
        /// Module flavour (sockopt, server); default: Rust where the kernel has Rust, else C.
        #[arg(long, value_enum, default_value = "auto")]
        flavour: FlavourArg,
        /// Guests fuzzing in parallel, sharing one corpus (sockopt, server).
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// Load the module with planted bugs (its `seed_bugs` mask): alone it means 1, the
        /// seed article's bugs (sockopt's unchecked copies, server's receive path); for sockopt `--seed-bugs=2` plants a crash (a panic in
        /// the guest, which the campaign survives), `=3` both.
        #[arg(long, value_name = "MASK", num_args = 0..=1, default_missing_value = "1",
              value_parser = clap::value_parser!(u8).range(0..=3))]
        seed_bugs: Option<u8>,
        #[arg(long, value_enum, default_value = "auto")]
        accel: AccelArg,
    },
    /// Measure the pipeline's speed on a kernel: warm preparation, a module build, and a boot
    /// that runs one spec, each repeated; prints min / median / max.
    ///
    /// `bench fuzz`: the in-guest fuzzer against a raw syscall loop in the same boot, execs/s,
    /// coverage, and the time to find ksock_sockopt's seeded bugs (medians over --runs).
    Bench {
        #[arg(value_enum, default_value = "pipeline")]
        what: BenchWhat,
        /// Fuzzing seconds per run (bench fuzz).
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        #[arg(long = "kernel", short, default_value = ksock_vm::catalog::DEFAULT_KERNEL)]
        kernel: String,
        /// Repetitions of each measurement.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[arg(long, value_enum, default_value = "auto")]
        accel: AccelArg,
    },
    /// Regenerate specs/ksock-spec.schema.json (JSON Schema for editors) from the spec types.
    Schema,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the repo")
        .to_path_buf()
}

fn main() -> ExitCode {
    ksock_vm::supervise::install_interrupt_handler();
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn setup() -> Result<()> {
    ksock_vm::host::require_root()?;
    ksock_vm::host::ensure_host_tools()?;
    Ok(())
}

pub(crate) fn build_agent(root: &Path) -> Result<()> {
    let st = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--quiet", "-p", "ksock-agent"])
        .current_dir(root)
        .status()
        .context("running cargo build -p ksock-agent")?;
    if !st.success() {
        bail!("building the guest agent failed");
    }
    Ok(())
}

/// What `run` and `diff` both need: host tools, the agent, the cache, the specs, options.
fn run_context(
    root: &Path,
    only: &[String],
    accel: AccelArg,
) -> Result<(ksock_vm::Cache, Project, Vec<ksock_spec::Spec>, RunOptions)> {
    setup()?;
    build_agent(root)?;
    let cache = ksock_vm::Cache::from_env()?;
    let project = Project::open(root)?;
    let specs = select_specs(&project, only)?;
    let mut opts = RunOptions::defaults(&project);
    opts.accel = accel_of(accel);
    Ok((cache, project, specs, opts))
}

fn accel_of(a: AccelArg) -> Option<Accel> {
    match a {
        AccelArg::Auto => None,
        AccelArg::Kvm => Some(Accel::Kvm),
        AccelArg::Tcg => Some(Accel::Tcg),
    }
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
                project.specs_dir().display(),
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

fn bench(root: &Path, kernel: &str, runs: usize, accel: AccelArg) -> Result<ExitCode> {
    use std::time::Instant;
    let (cache, project, specs, opts) =
        run_context(root, &["hello-load-unload".to_string()], accel)?;
    let k = ksock_vm::kernel::prepare(&cache, kernel, &Default::default())?;
    let flavour = if k.tree.is_some() {
        Flavour::Rust
    } else {
        Flavour::C
    };
    let hello = project
        .modules
        .get("ksock_hello")
        .and_then(|m| m.get(flavour))
        .context("kmods has no ksock_hello")?
        .clone();
    let mut rows: Vec<(&str, Vec<f64>)> = vec![
        ("prepare (warm cache)", vec![]),
        ("module build (kbuild, uncached)", vec![]),
        ("boot + 1 spec", vec![]),
    ];
    for i in 0..runs {
        eprintln!("ksock: bench run {}/{runs}", i + 1);
        let t = Instant::now();
        ksock_vm::kernel::prepare(&cache, kernel, &Default::default())?;
        rows[0].1.push(t.elapsed().as_secs_f64());
        // A fresh copy of the sources with a changed comment defeats the content cache.
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join("hello");
        std::fs::create_dir_all(&dir)?;
        for e in std::fs::read_dir(&hello)?.flatten() {
            if e.path().is_file() {
                std::fs::copy(e.path(), dir.join(e.file_name()))?;
            }
        }
        let kb = dir.join("Kbuild");
        let text = std::fs::read_to_string(&kb)?;
        std::fs::write(&kb, format!("{text}# bench {i} {:?}\n", Instant::now()))?;
        let t = Instant::now();
        let built = k.build_module(&cache, &dir, flavour)?;
        rows[1].1.push(t.elapsed().as_secs_f64());
        ksock_vm::cache::remove_tree(&built)?;
        let t = Instant::now();
        let v = run_kernel(&cache, &project, kernel, &specs, &opts)?;
        rows[2].1.push(t.elapsed().as_secs_f64());
        anyhow::ensure!(
            v.iter().all(|v| v.status == Status::Pass),
            "{}",
            ksock_harness::report::render(&v)
        );
    }
    println!("\nkernel {kernel} ({}), {runs} run(s), seconds:", k.release);
    println!("{:<34} {:>8} {:>8} {:>8}", "", "min", "median", "max");
    for (name, mut xs) in rows {
        xs.sort_by(|a, b| a.total_cmp(b));
        println!(
            "{name:<34} {:>8.2} {:>8.2} {:>8.2}",
            xs[0],
            xs[xs.len() / 2],
            xs[xs.len() - 1]
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn real_main(cli: Cli) -> Result<ExitCode> {
    let root = repo_root();
    match cli.cmd {
        Cmd::Setup => {
            setup()?;
            println!("host tools are installed");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Fuzz {
            target: FuzzTarget::Spec,
            seconds,
            ..
        } => fuzz::spec(&root, seconds),
        Cmd::Fuzz {
            target: target @ (FuzzTarget::Sockopt | FuzzTarget::Server),
            seconds,
            kernel,
            flavour,
            jobs,
            seed_bugs,
            accel,
        } => fuzz::in_guest(
            &root,
            fuzz::GuestArgs {
                target: if target == FuzzTarget::Server {
                    ksock_harness::campaign::Target::Server
                } else {
                    ksock_harness::campaign::Target::Sockopt
                },
                seconds,
                kernel,
                flavour: flavour.get(),
                jobs,
                seed_bugs: seed_bugs.unwrap_or(0),
                accel: accel_of(accel),
            },
        ),
        Cmd::Bench {
            what: BenchWhat::Pipeline,
            kernel,
            runs,
            accel,
            ..
        } => bench(&root, &kernel, runs.max(1), accel),
        Cmd::Bench {
            what: BenchWhat::Fuzz,
            kernel,
            runs,
            accel,
            seconds,
        } => fuzz::bench(&root, &kernel, runs.max(1), seconds, accel_of(accel)),
        Cmd::Repro {
            what,
            out,
            kernels,
            runs,
            bisect,
            accel,
        } => repro::repro(
            &root,
            repro::ReproArgs {
                what,
                out,
                kernels,
                runs,
                bisect,
                accel: accel_of(accel),
            },
        ),
        Cmd::Schema => {
            let p = root.join("specs/ksock-spec.schema.json");
            std::fs::write(&p, ksock_spec::json_schema())
                .with_context(|| format!("{}", p.display()))?;
            println!("wrote {}", p.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Kernels => kernels_cmd(),
        Cmd::Prepare { kernels, root: r } => prepare_cmd(kernels, r),
        Cmd::Diff {
            kernel,
            accel,
            specs: only,
        } => diff_cmd(&root, &kernel, accel, &only),
        Cmd::Run {
            kernels,
            accel,
            flavour,
            json,
            junit,
            specs: only,
        } => run_cmd(&root, &kernels, accel, flavour, json, junit, &only),
        Cmd::Test {
            kernels,
            runner_args,
        } => test_cmd(&root, kernels, &runner_args),
    }
}

/// `cargo xtask kernels`: the catalog.
fn kernels_cmd() -> Result<ExitCode> {
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

/// `cargo xtask prepare`: fetch and build without booting.
fn prepare_cmd(kernels: Vec<String>, r: Option<String>) -> Result<ExitCode> {
    setup()?;
    let cache = ksock_vm::Cache::from_env()?;
    for k in kernels {
        let p = ksock_vm::kernel::prepare(
            &cache,
            &k,
            &ksock_vm::kernel::PrepareOptions { root: r.clone() },
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

/// `cargo xtask diff`: every spec with the Rust modules and with the C ports.
fn diff_cmd(root: &Path, kernel: &str, accel: AccelArg, only: &[String]) -> Result<ExitCode> {
    let (cache, project, specs, mut opts) = run_context(root, only, accel)?;
    opts.flavour = Some(Flavour::Rust);
    let rust = run_kernel(&cache, &project, kernel, &specs, &opts)?;
    opts.flavour = Some(Flavour::C);
    let c = run_kernel(&cache, &project, kernel, &specs, &opts)?;
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

/// `cargo xtask run`: specs on kernels, with verdicts and reports.
fn run_cmd(
    root: &Path,
    kernels: &[String],
    accel: AccelArg,
    flavour: FlavourArg,
    json: Option<PathBuf>,
    junit: Option<PathBuf>,
    only: &[String],
) -> Result<ExitCode> {
    let (cache, project, specs, mut opts) = run_context(root, only, accel)?;
    opts.flavour = flavour.get();
    let mut verdicts = Vec::new();
    for k in kernels {
        verdicts.extend(run_kernel(&cache, &project, k, &specs, &opts)?);
    }
    print!("\n{}", ksock_harness::report::render(&verdicts));
    if let Some(p) = json {
        let r = ksock_harness::report::Report::new(verdicts.clone());
        std::fs::write(&p, r.to_json()).with_context(|| format!("{}", p.display()))?;
        println!("JSON report: {}", p.display());
    }
    if let Some(p) = junit {
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

/// `cargo xtask test`: unit and fault tests, then spec x kernel.
fn test_cmd(root: &Path, kernels: Vec<String>, runner_args: &[String]) -> Result<ExitCode> {
    setup()?;
    build_agent(root)?;
    // Here, with progress, rather than inside the fuzz campaign tests (which find it built).
    ksock_harness::campaign::build_fuzzer(root)?;
    let cache = ksock_vm::Cache::from_env()?;
    let kernels: Vec<String> = if kernels.is_empty() {
        ksock_vm::catalog::CATALOG
            .iter()
            .map(|e| e.name.to_string())
            .collect()
    } else {
        kernels
    };
    // Prepare here, with progress on the terminal, rather than inside a captured test.
    for k in &kernels {
        ksock_vm::kernel::prepare(&cache, k, &Default::default())?;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let nextest = Command::new(&cargo)
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    // 1. Everything but the spec x kernel binary, the usual way.
    let mut unit = Command::new(&cargo);
    if nextest {
        unit.args(["nextest", "run", "--workspace", "--no-fail-fast"])
            .args(["-E", "not binary(specs)"]);
    } else {
        unit.args([
            "test",
            "--workspace",
            "--no-fail-fast",
            "--exclude",
            "ksock-harness",
        ]);
    }
    unit.args(runner_args)
        .env("KSOCK_KERNELS", kernels.join(","))
        .current_dir(root);
    let mut ok = unit.status().context("running the test runner")?.success();
    if !nextest {
        // ksock-harness minus its spec binary.
        ok &= Command::new(&cargo)
            .args([
                "test",
                "-p",
                "ksock-harness",
                "--lib",
                "--test",
                "interrupt",
            ])
            .args(["--test", "crash_recovery", "--test", "differential"])
            .args([
                "--test",
                "faults",
                "--test",
                "cache_kill",
                "--test",
                "fuzz_campaign",
            ])
            .current_dir(root)
            .status()?
            .success();
    }
    // 2. Spec x kernel in one process: the test binary batches each kernel's specs
    //    into one boot (under nextest every test is its own process, so its own boot).
    ok &= Command::new(&cargo)
        .args(["test", "-p", "ksock-harness", "--test", "specs"])
        .env("KSOCK_KERNELS", kernels.join(","))
        .current_dir(root)
        .status()
        .context("running the spec tests")?
        .success();
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
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
