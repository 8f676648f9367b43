//! The command line: every command's flags, as clap types (rust-analyzer keeps its
//! xtask's flags in one file the same way). Each command lives in its own module.

use clap::{Args, Parser, Subcommand, ValueEnum};
pub use ksock::flags::{AccelArg, DiffArgs, PrepareArgs, ReproArgs, RunArgs, WatchArgs};

/// ksock: test and fuzz in-kernel socket code in real Linux kernels.
///
/// Kernels come from Debian's archive (mirror taken from this machine's apt configuration,
/// or KSOCK_DEBIAN_MIRROR), modules are built with the exact toolchain that built each
/// kernel, and every spec runs in a virtme-ng guest (KVM where it works, else TCG).
/// Everything is cached under KSOCK_CACHE (default ~/.cache/ksock).
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", verbatim_doc_comment)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchWhat {
    /// Preparation, module build, boot + one spec.
    Pipeline,
    /// The in-guest fuzzer.
    Fuzz,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Run the specs in specs/ on a kernel and print a verdict for each.
    ///
    /// Example: cargo xtask run --kernel 7.3 hello-parameter
    Run(RunArgs),
    /// Differential run: every spec with the Rust modules and with the C ports, on one
    /// kernel; exits non-zero when any spec's observations differ.
    ///
    /// Observations are the verdict and the modules' own log lines (timestamps, ephemeral
    /// ports and taint notices taken out).
    Diff(DiffArgs),
    /// Keep a guest running and re-run specs as you edit: the module developer's loop.
    ///
    /// Builds the modules the selected specs load, boots one guest, runs the specs, then
    /// watches kmods/ and specs/. When a module's sources change it is rebuilt (only what
    /// changed, no module BTF), reloaded in the same guest, and the specs that load it run
    /// again; a changed spec runs again. Each round prints the verdicts and the time from
    /// the save to the verdict. The guest is rebooted only after it died (a panic, a hang)
    /// or a spec left a splat in the kernel log, and the output says which. Ctrl-C powers
    /// the guest off and leaves nothing behind.
    ///
    /// Example: cargo xtask watch --kernel 7.2 hello-load-unload
    Watch(WatchArgs),
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
    Repro(ReproArgs),
    /// Every test, in tiers, plus every spec on every kernel of the catalog (what CI runs).
    ///
    /// Tiers: host (what plain `cargo test --workspace` runs; boots nothing), doc, then,
    /// with the kernels prepared (with progress), guest (every test target that requires the
    /// `guest-tests` feature) and the spec x kernel tests in one process, so each kernel
    /// boots once for all its specs. Host and guest run under cargo-nextest where it is
    /// installed, else `cargo test`: the same tests either way. Each tier's test count,
    /// runner and skipped (ignored) tests are printed; with CI set a skipped test fails the
    /// run. Extra arguments go to the host and guest tiers' runner.
    Test(TestArgs),
    /// Fetch a kernel, make its toolchain root and module build tree (no boot).
    ///
    /// `--root` builds with another kernel's toolchain root to check it; a root whose
    /// compilers differ from the kernel's is refused, e.g.
    /// `cargo xtask prepare --kernel 7.2 --root trixie`.
    Prepare(PrepareArgs),
    /// Install the host tools ksock needs (apt packages, virtme-ng from PyPI).
    Setup,
    /// List the kernel catalog.
    Kernels,
    /// Fuzz this repository's targets (ksock.toml's [[fuzz]] tables), or the spec reader.
    ///
    /// The same as `ksock fuzz` (see its --help for what a target is and which oracles
    /// run) after building the agent and the in-guest fuzzer from this tree. This
    /// repository's targets: `sockopt` (ksock_sockopt's set/get calls, with its contract,
    /// the `message_store` model), `server` (ksock_server, echo=1: connections and messages
    /// at its buffer's edges), `client` (ksock_client's loads, the fuzzer as its peer) and
    /// `mixed` (sockopt calls and messages interleaved over ksock_sockopt + ksock_server).
    /// Findings and corpora: target/ksock/fuzz/<name>/<release>-<flavour>/.
    ///
    /// Example: cargo xtask fuzz sockopt --seconds 120 --seed-bugs --kernel 6.1
    ///
    /// `spec`: the spec reader on the host (cargo-fuzz, installed with `cargo install` on first
    /// use), seeded with specs/*.yaml; it must never panic.
    Fuzz(FuzzFlags),
    /// Measure the pipeline's speed on a kernel: warm preparation, a module build, and a boot
    /// that runs one spec, each repeated; prints min / median / max.
    ///
    /// `bench fuzz`: the in-guest fuzzer, each run a campaign from an empty corpus. Its
    /// module syscalls per second are compared with the same calls (the corpus the campaign
    /// built) replayed bare in the same boot. Alone it benches this repository's
    /// ksock_sockopt (throughput without planted bugs, then the time to find each seeded
    /// bug). With `--project DIR` it benches a module developer's target instead, as `ksock
    /// fuzz` runs it: per run one campaign of the module as it is, its throughput against
    /// the raw replay and the time to its first finding; per kernel the medians, with the
    /// targets (fuzzer >= 50% of raw, first finding <= 60 s) marked met or missed.
    ///
    /// Example: cargo xtask bench fuzz --project examples/sockopt_srv --kernel 7.2 --kernel 6.1
    Bench(BenchArgs),
    /// Regenerate specs/ksock-spec.schema.json (JSON Schema for editors) from the spec types.
    Schema,
}

// The flags of `cargo xtask test` (its help text is on its `Cmd` variant).
#[derive(Args)]
pub struct TestArgs {
    /// Limit the spec tests to these kernels (default: the whole catalog).
    #[arg(long = "kernel", short)]
    pub kernels: Vec<String>,
    /// The host and guest tiers' runner: cargo-nextest where installed, else `cargo test`.
    #[arg(long, value_enum, default_value = "auto")]
    pub runner: RunnerArg,
    /// Print each tier's tests (`<tier> <binary> <test>`) as its runner finds them, with
    /// the counts on stderr, and run nothing.
    #[arg(long)]
    pub list: bool,
    #[arg(last = true)]
    pub runner_args: Vec<String>,
}

// `cargo xtask test --runner`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunnerArg {
    Auto,
    Nextest,
    Cargo,
}

// The flags of `cargo xtask fuzz` (its help text is on its `Cmd` variant): `ksock fuzz`'s,
// and planted bugs.
#[derive(Args)]
pub struct FuzzFlags {
    #[command(flatten)]
    pub fuzz: ksock::flags::FuzzArgs,
    /// Load the modules with planted bugs (`--param seed_bugs=MASK`): alone it means 1, the
    /// seed article's bugs (sockopt's unchecked copies, server's receive path); for sockopt
    /// `--seed-bugs=2` plants a crash (a panic in the guest, which the campaign survives),
    /// `=3` both.
    #[arg(long, value_name = "MASK", num_args = 0..=1, default_missing_value = "1",
          value_parser = clap::value_parser!(u8).range(0..=3))]
    pub seed_bugs: Option<u8>,
}

// The flags of `cargo xtask bench` (its help text is on its `Cmd` variant).
#[derive(Args)]
pub struct BenchArgs {
    #[arg(value_enum, default_value = "pipeline")]
    pub what: BenchWhat,
    /// Fuzzing seconds per run (bench fuzz); default 30, with --project 60 (a first
    /// finding later than that counts as none).
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Kernels to measure, one after another (repeatable).
    #[arg(long = "kernel", short, value_name = "KERNEL",
          default_value = ksock_vm::catalog::DEFAULT_KERNEL)]
    pub kernels: Vec<String>,
    /// Repetitions of each measurement; default 3, with --project 5.
    #[arg(long)]
    pub runs: Option<usize>,
    #[arg(long, value_enum, default_value = "auto")]
    pub accel: AccelArg,
    /// bench fuzz: a project's fuzz target instead of ksock_sockopt, e.g.
    /// `examples/sockopt_srv` (a directory with a ksock.toml; this repository's agent is the
    /// in-guest fuzzer).
    #[arg(long, value_name = "DIR")]
    pub project: Option<std::path::PathBuf>,
    /// bench fuzz: keep each campaign's directory (corpus, findings, guest consoles with the
    /// fuzzer's time split) in DIR/<kernel>-run<N>, instead of a temporary one.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<std::path::PathBuf>,
    /// With --project: the name of its [[fuzz]] table (default: its only one).
    #[arg(long, value_name = "NAME", requires = "project")]
    pub target: Option<String>,
}

impl BenchArgs {
    /// --runs, or its default (3; 5 for a project's target).
    pub fn runs(&self) -> usize {
        let default = if self.project.is_some() { 5 } else { 3 };
        self.runs.unwrap_or(default).max(1)
    }

    /// --seconds, or its default (30; 60 for a project's target).
    pub fn seconds(&self) -> u64 {
        let default = if self.project.is_some() { 60 } else { 30 };
        self.seconds.unwrap_or(default)
    }
}

#[cfg(test)]
mod tests {
    /// clap's own consistency checks (unique argument and group names, valid defaults),
    /// which otherwise fire only when the command runs.
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
