//! `cargo xtask bench` (pipeline): preparation, a module build, the floor (a bare `vng`
//! boot), ksock's boot with one spec, and the warm guest's save → verdict, each repeated.
//! `bench fuzz` is in `fuzz.rs`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use ksock_harness::judge::Status;
use ksock_harness::runner::run_kernel;
use ksock_vm::boot::Accel;
use ksock_vm::kernel::Flavour;
use std::time::{Duration, Instant};

use crate::flags::BenchArgs;

pub fn pipeline(root: &Path, a: BenchArgs) -> Result<ExitCode> {
    anyhow::ensure!(
        a.project.is_none(),
        "--project is for `bench fuzz` (a project's fuzz target)"
    );
    for kernel in &a.kernels {
        pipeline_on(root, kernel, &a)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn pipeline_on(root: &Path, kernel: &str, a: &BenchArgs) -> Result<()> {
    let runs = a.runs();

    let project = crate::project(root)?;
    let (cache, specs, opts) =
        ksock::run::context(&project, &["hello-load-unload".to_string()], a.accel)?;
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
    let accel = ksock_vm::boot::resolve_accel(&cache, a.accel.get(), &k.vmlinuz, &k.release)?;
    let mut rows: Vec<(&str, Vec<f64>)> = vec![
        ("prepare (warm cache)", vec![]),
        ("module build (kbuild, uncached)", vec![]),
        ("bare vng --exec true (floor)", vec![]),
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
        copy_sources(&hello, &dir)?;
        touch_comment(&dir, i)?;
        let t = Instant::now();
        let built = k.build_module(&cache, &dir, flavour)?;
        rows[1].1.push(t.elapsed().as_secs_f64());
        ksock_vm::cache::remove_tree(&built)?;
        rows[2].1.push(bare_vng(&k, accel)?);
        let t = Instant::now();
        let v = run_kernel(&cache, &project, kernel, &specs, &opts)?;
        rows[3].1.push(t.elapsed().as_secs_f64());
        anyhow::ensure!(
            v.iter().all(|v| v.status == Status::Pass),
            "{}",
            ksock_harness::report::render(&v)
        );
    }
    rows.push((
        "warm guest: save -> verdict (hello)",
        warm_edits(&cache, &project, kernel, &specs[0], &hello, &opts, runs)?,
    ));
    println!(
        "\nkernel {kernel} ({}, {accel}), {runs} run(s), seconds:",
        k.release
    );
    println!("{:<38} {:>8} {:>8} {:>8}", "", "min", "median", "max");
    let mut medians = Vec::new();
    for (name, mut xs) in rows {
        xs.sort_by(|a, b| a.total_cmp(b));
        let median = xs[xs.len() / 2];
        medians.push(median);
        println!(
            "{name:<38} {:>8.2} {median:>8.2} {:>8.2}",
            xs[0],
            xs[xs.len() - 1]
        );
    }
    println!(
        "boot + 1 spec / floor: {:.2} (target <= 0.70); warm save -> verdict: {:.2} s (target <= 2)",
        medians[3] / medians[2],
        medians[4]
    );
    Ok(())
}

/// One boot as virtme-ng does it by default (`vng --run … --exec true`): the floor ksock's
/// own boots are measured against.
fn bare_vng(k: &ksock_vm::kernel::PreparedKernel, accel: Accel) -> Result<f64> {
    let vng = ksock_vm::host::vng_path().context("virtme-ng is not installed")?;
    let mut cmd = ksock_vm::supervise::contained(vng, false);
    cmd.arg("--run")
        .arg(&k.vmlinuz)
        .args(["--memory", "2G", "--cpus", "2", "--exec", "true"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if accel == Accel::Tcg {
        cmd.arg("--disable-kvm");
    }
    let t = Instant::now();
    ksock_vm::supervise::run(cmd, "vng (floor)", Some(Duration::from_secs(300)), || false)?;
    Ok(t.elapsed().as_secs_f64())
}

/// The warm guest's loop on a copy of hello: each run edits the copy, then times the
/// incremental build plus the spec's run in the same guest.
fn warm_edits(
    cache: &ksock_vm::Cache,
    project: &ksock_harness::project::Project,
    kernel: &str,
    spec: &ksock_spec::Spec,
    hello: &Path,
    opts: &ksock_harness::runner::RunOptions,
    runs: usize,
) -> Result<Vec<f64>> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("hello");
    copy_sources(hello, &dir)?;
    let mut dev = ksock_harness::watch::Dev::open(cache, project, kernel, opts)?;
    dev.build("ksock_hello", &dir)?;
    // The first run boots; it is not an edit.
    dev.run(&[spec])?;
    let mut times = Vec::new();
    for i in 0..runs {
        touch_comment(&dir, i)?;
        let t = Instant::now();
        dev.build("ksock_hello", &dir)?;
        let out = dev.run(&[spec])?;
        times.push(t.elapsed().as_secs_f64());
        anyhow::ensure!(
            out.verdicts.iter().all(|v| v.status == Status::Pass),
            "{}",
            ksock_harness::report::render(&out.verdicts)
        );
    }
    dev.shutdown()?;
    Ok(times)
}

fn copy_sources(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)?.flatten() {
        if e.path().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

/// A changed comment in the module's Kbuild: a new source, the same module.
fn touch_comment(dir: &Path, i: usize) -> Result<()> {
    let kb = dir.join("Kbuild");
    let text = std::fs::read_to_string(&kb)?;
    std::fs::write(&kb, format!("{text}# bench {i} {:?}\n", Instant::now()))?;
    Ok(())
}
