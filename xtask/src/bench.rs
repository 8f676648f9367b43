//! `cargo xtask bench` (pipeline): preparation, a module build and a boot with one spec,
//! each repeated. `bench fuzz` is in `fuzz.rs`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use ksock_harness::judge::Status;
use ksock_harness::runner::run_kernel;
use ksock_vm::kernel::Flavour;

use crate::flags::BenchArgs;

pub fn pipeline(root: &Path, a: BenchArgs) -> Result<ExitCode> {
    let (kernel, runs) = (a.kernel.as_str(), a.runs.max(1));
    use std::time::Instant;
    let (cache, project, specs, opts) =
        crate::run::run_context(root, &["hello-load-unload".to_string()], a.accel)?;
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
