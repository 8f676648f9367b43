//! `ksock`: test in-kernel socket code in real Linux kernels, from any project.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use ksock::flags::{DiffArgs, FuzzArgs, PrepareArgs, ReproArgs, RunArgs, WatchArgs};
use ksock::Project;
use ksock_harness::project::{Agent, Config, CONFIG_FILE};

/// ksock: test in-kernel socket code in real Linux kernels.
///
/// A project is a directory with a ksock.toml (`ksock init` writes one): where its kernel
/// modules (Rust or C, each a directory with a Kbuild) and its YAML specs are, and which
/// kernels to use. ksock fetches Debian's kernel, builds the modules with the exact
/// toolchain that built it, boots it in a virtme-ng guest (KVM where it works, else TCG),
/// runs the specs and prints a verdict per spec. Everything is cached under KSOCK_CACHE
/// (default ~/.cache/ksock).
#[derive(Parser)]
#[command(name = "ksock", verbatim_doc_comment)]
struct Cli {
    /// The project directory (default: the nearest directory up from here with a ksock.toml).
    #[arg(long, global = true, value_name = "DIR")]
    project: Option<PathBuf>,
    /// Module directories, instead of ksock.toml's `modules` (repeatable).
    #[arg(long, global = true, value_name = "DIR")]
    kmods: Vec<PathBuf>,
    /// Spec directories, instead of ksock.toml's `specs` (repeatable).
    #[arg(long = "specs", global = true, value_name = "DIR")]
    spec_dirs: Vec<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write a ksock.toml for the module(s) in this directory, and a first spec per module.
    ///
    /// Example: cd my-module && ksock init && ksock run
    Init {
        /// Directories holding the modules, relative to the project (default: `.`).
        dirs: Vec<PathBuf>,
    },
    /// Run the project's specs on a kernel and print a verdict for each.
    Run(RunArgs),
    /// Every spec with the Rust modules and with their C ports, compared.
    Diff(DiffArgs),
    /// Keep a guest running and re-run the affected specs whenever you save.
    ///
    /// Boots the kernel once and keeps it: when a module's source changes, it is rebuilt
    /// incrementally and the specs that load it run again in the same guest (about a
    /// second for a small module); when a spec changes, that spec runs. A guest that dies,
    /// or whose log shows a splat, is replaced (a verdict counts only from a clean kernel).
    /// Ctrl-C stops it and the guest.
    ///
    /// Example: ksock watch --kernel 6.1
    Watch(WatchArgs),
    /// Fuzz the project's modules: each [[fuzz]] table of ksock.toml is a target.
    ///
    /// The smallest target, for a module that serves setsockopt/getsockopt on optname 128
    /// at SOL_IP (ranges are half-open):
    ///
    ///     [[fuzz]]
    ///     name = "sockopt_srv"
    ///     module = "sockopt_srv"
    ///     sockopt = { level = "SOL_IP", set = [128, 129], get = [128, 129] }
    ///
    /// ksock builds the module with coverage instrumentation (trace-pc, with its own
    /// runtime: no KCOV needed), boots the kernel, and runs libFuzzer inside the guest
    /// against the loaded module: sequences of calls with lengths at the buffer's edges,
    /// buffers that end at a guard page or before canary bytes, bad pointers, reloads.
    /// Generic oracles need no knowledge of the module: a kernel splat (KFENCE, UBSAN,
    /// WARN, oops), a fault on a valid buffer of exactly the stated length, canaries
    /// overwritten, a get returning a larger optlen than it was given, a module that does
    /// not unload. Other interfaces: `tcp_server = { port = 8888, buffer = 1024 }`
    /// (connections and messages to a module that listens; inputs start once the port
    /// listens, and each ends when the module has read all it was sent), both together
    /// (interleaved), `tcp_client = { port_param = "port", text_param = "msg" }` (ksock
    /// listens on `port`, 9200 by default, and is the peer of a module that connects out:
    /// each input loads it with that port, a closed one or a bad one, and a text).
    /// Optional: `params = "a=1 b=2"`, `vary = { retries = [0, 5] }` (integer parameters
    /// reloads and client loads vary, with the values the module accepts),
    /// `also = [{ module = "m", params = "" }]`, `reset = { set = 128, data = "initial" }`
    /// (a set before every input), `model = "message_store"` (a named contract; a list
    /// names one per interface, as `["message_store", "echo_log"]`), `max_ops = 64`.
    ///
    /// A structured optname's argument can be described as a struct, so sets get past the
    /// module's own magic and length checks: each `[[fuzz.layout]]` table names its
    /// optnames and its fields, packed in order (integers `u8`…`u64`, big-endian
    /// `be16`…`be64`, with `values`, a `range` or `len_of` another field; `bytes` and
    /// NUL-padded `string` of a `size`, strings with optional `values`):
    ///
    ///     [[fuzz.layout]]
    ///     optnames = [128]
    ///     fields = [
    ///       { name = "magic", type = "u32", values = [0x4b534f43] },
    ///       { name = "op", type = "u16", range = [0, 3] },
    ///       { name = "len", type = "u16", len_of = "data" },
    ///       { name = "data", type = "bytes", size = 32 },
    ///       { name = "name", type = "string", size = 16 },
    ///     ]
    ///
    /// A set on 128 then writes that struct, its fields mostly valid (one in sixteen out
    /// of its description), at lengths around the struct's size.
    ///
    /// The corpus is kept in target/ksock/fuzz/<name>/<release>-<flavour>/corpus/; each
    /// finding is saved once per title in …/findings/<title>/ (report.txt, whose first line
    /// is `title: …`, the decoded sequence, the input, the kernel log). A kernel panic is a
    /// finding too (the guest is booted again). Exits 1 when there is a finding;
    /// `ksock repro <finding>` turns one into a regression spec. Each campaign ends with a
    /// page, …/coverage.html (one file, no network): the module's source line by line as
    /// the fuzzer reached it, the first input that reached each line, findings, and
    /// coverage, corpus and execs/s over time; the same as JSON in coverage-lines.json.
    /// `--report` writes it again without fuzzing.
    ///
    /// Example: ksock fuzz sockopt_srv --kernel 7.2 --seconds 60
    #[command(verbatim_doc_comment)]
    Fuzz(FuzzArgs),
    /// Run a regression spec (or a fuzz finding) on every kernel, with a table.
    Repro(ReproArgs),
    /// Fetch a kernel, make its toolchain root and module build tree (no boot).
    Prepare(PrepareArgs),
    /// List the kernel catalog.
    Kernels,
    /// Install the host tools ksock needs.
    Setup,
    /// The guest agent (run inside the guest by ksock itself).
    #[command(hide = true)]
    Agent {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    ksock_vm::supervise::install_interrupt_handler();
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    let here = std::env::current_dir()?;
    match cli.cmd {
        Cmd::Agent { args } => return Ok(ksock_agent::cli::main(args)),
        Cmd::Init { dirs } => {
            let dir = cli.project.unwrap_or(here);
            println!("{}", ksock::init::init(&dir, &dirs)?);
            return Ok(ExitCode::SUCCESS);
        }
        Cmd::Kernels => return ksock::kernels::list(),
        Cmd::Setup => {
            ksock::setup()?;
            println!("host tools are installed");
            return Ok(ExitCode::SUCCESS);
        }
        Cmd::Prepare(a) => return ksock::kernels::prepare(a),
        _ => {}
    }
    let project = open_project(cli.project.as_deref(), &here, cli.kmods, cli.spec_dirs)?;
    match cli.cmd {
        Cmd::Run(a) => ksock::run::run(&project, a),
        Cmd::Diff(a) => ksock::run::diff(&project, a),
        Cmd::Watch(a) => ksock::watch::watch(&project, a),
        Cmd::Repro(a) => ksock::repro::repro(&project, a),
        Cmd::Fuzz(a) => ksock::fuzz::fuzz(&project, &a),
        _ => unreachable!("handled above"),
    }
}

/// The project: `--project`, else the nearest ksock.toml up from `here`, else `here` when
/// `--kmods` and `--specs` say everything; the guest runs this very binary as its agent.
fn open_project(
    dir: Option<&Path>,
    here: &Path,
    kmods: Vec<PathBuf>,
    specs: Vec<PathBuf>,
) -> Result<Project> {
    let root = match dir {
        Some(d) => d.to_path_buf(),
        None => here
            .ancestors()
            .find(|d| d.join(CONFIG_FILE).is_file())
            .map(Path::to_path_buf)
            .or_else(|| (!kmods.is_empty() && !specs.is_empty()).then(|| here.to_path_buf()))
            .with_context(|| {
                format!(
                    "no {CONFIG_FILE} in {} or above: run `ksock init` in your module's \
                     directory, or give --kmods DIR --specs DIR",
                    here.display()
                )
            })?,
    };
    let root = root
        .canonicalize()
        .with_context(|| root.display().to_string())?;
    let mut config = Config::load(&root)?;
    // Flags are relative to where ksock was started; absolute paths stay as they are when
    // the project joins them to its root.
    if !kmods.is_empty() {
        config.modules = kmods.iter().map(|p| here.join(p)).collect();
    }
    if !specs.is_empty() {
        config.specs = specs.iter().map(|p| here.join(p)).collect();
    }
    let agent = Agent {
        program: std::env::current_exe().context("finding the ksock binary")?,
        args: vec!["agent".into()],
    };
    Project::with(root, config, agent)
}

#[cfg(test)]
mod tests {
    /// clap's own consistency checks, which otherwise fire only when a command runs; and
    /// every command's help stands on its own (it never sends the user to `cargo xtask`,
    /// which exists only in ksock's repository).
    #[test]
    fn the_command_line_is_consistent_and_its_help_stands_alone() {
        use clap::CommandFactory;
        let mut cmd = super::Cli::command();
        cmd.clone().debug_assert();
        for sub in cmd.get_subcommands_mut() {
            let help = sub.render_long_help().to_string();
            assert!(
                !help.contains("cargo xtask"),
                "ksock {} --help:\n{help}",
                sub.get_name()
            );
        }
    }
}
