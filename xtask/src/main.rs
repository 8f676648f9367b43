//! `cargo xtask …`: the project's entry points. See `cargo xtask --help`.
//!
//! `flags` holds every command's flags; `run`, `diff`, `watch`, `repro`, `prepare` and
//! `kernels` are the `ksock` crate's (what the `ksock` binary runs in any project), the
//! repository's own commands (`test`, `bench`, `fuzz`, `schema`) have a module each, and
//! `main` only dispatches.

mod bench;
mod flags;
mod fuzz;
mod test;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};
use clap::Parser;

use flags::{BenchWhat, Cli, Cmd};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the repo")
        .to_path_buf()
}

fn main() -> ExitCode {
    ksock_vm::supervise::install_interrupt_handler();
    let cli = Cli::parse();
    match dispatch(cli.cmd) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cmd: Cmd) -> Result<ExitCode> {
    let root = repo_root();
    match cmd {
        Cmd::Run(a) => ksock::run::run(&project(&root)?, a),
        Cmd::Diff(a) => ksock::run::diff(&project(&root)?, a),
        Cmd::Watch(a) => ksock::watch::watch(&project(&root)?, a),
        Cmd::Repro(a) => ksock::repro::repro(&project(&root)?, a),
        Cmd::Test(a) => test::test(&root, a),
        Cmd::Prepare(a) => ksock::kernels::prepare(a),
        Cmd::Setup => {
            ksock::setup()?;
            println!("host tools are installed");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Kernels => ksock::kernels::list(),
        Cmd::Fuzz(a) if a.fuzz.names == ["spec"] => fuzz::spec(&root, a.fuzz.seconds),
        Cmd::Fuzz(a) => fuzz::in_guest(&root, a),
        Cmd::Bench(a) if a.what == BenchWhat::Fuzz => fuzz::bench(&root, a),
        Cmd::Bench(a) => bench::pipeline(&root, a),
        Cmd::Schema => schema(&root),
    }
}

/// `cargo xtask schema`.
fn schema(root: &Path) -> Result<ExitCode> {
    let p = root.join("specs/ksock-spec.schema.json");
    std::fs::write(&p, ksock_spec::json_schema()).with_context(|| format!("{}", p.display()))?;
    println!("wrote {}", p.display());
    Ok(ExitCode::SUCCESS)
}

/// This repository as a ksock project (its ksock.toml), with the agent built first.
fn project(root: &Path) -> Result<ksock::Project> {
    ksock::setup()?;
    build_agent(root)?;
    ksock::Project::open(root)
}

pub(crate) fn build_agent(root: &Path) -> Result<()> {
    let st = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--quiet",
            "--profile",
            "guest",
            "-p",
            "ksock-agent",
        ])
        .current_dir(root)
        .status()
        .context("running cargo build --profile guest -p ksock-agent")?;
    if !st.success() {
        bail!("building the guest agent failed");
    }
    Ok(())
}
