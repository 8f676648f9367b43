//! Every spec × catalog kernel as a test of its own, named `<kernel>::<spec>`
//! (`cargo nextest run -E 'test(7.2::hello)'`, or `cargo test --test specs -- 7.3::`).
//!
//! Under nextest each test is its own process and so its own boot. When one process runs
//! several tests of a kernel (plain `cargo test`), they share one boot: the first test of a
//! kernel runs the whole selected batch and the others read its verdicts.
//!
//! `KSOCK_KERNELS=7.2,7.3` limits the kernels (default: every kernel in the catalog; Rust
//! modules on Rust kernels, the C ports elsewhere).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use ksock_harness::judge::{Status, Verdict};
use ksock_harness::project::Project;
use ksock_harness::runner::{run_kernel, RunOptions};
use libtest_mimic::{Arguments, Failed, Trial};

type Batch = Arc<OnceLock<Result<Vec<Verdict>, String>>>;

fn selected(name: &str, args: &Arguments) -> bool {
    let hit = |f: &str| {
        if args.exact {
            name == f
        } else {
            name.contains(f)
        }
    };
    args.filter.as_deref().is_none_or(hit) && !args.skip.iter().any(|s| hit(s))
}

fn main() {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let kernels: Vec<String> = match std::env::var("KSOCK_KERNELS") {
        Ok(v) if !v.trim().is_empty() => v.split(',').map(|s| s.trim().to_string()).collect(),
        _ => ksock_vm::catalog::CATALOG
            .iter()
            .map(|e| e.name.to_string())
            .collect(),
    };
    // Listing must work before anything is built: read specs without the agent.
    let cfg = ksock_harness::project::Config::load(&root).unwrap_or_else(|e| panic!("{e:#}"));
    let dirs = |ds: &[std::path::PathBuf]| ds.iter().map(|d| root.join(d)).collect::<Vec<_>>();
    let modules = ksock_harness::project::discover_modules(&dirs(&cfg.modules)).unwrap();
    let known: Vec<String> = modules.keys().cloned().collect();
    let specs = ksock_harness::project::load_specs(&dirs(&cfg.specs), &known)
        .unwrap_or_else(|e| panic!("{e:#}"));

    let batches: Arc<Mutex<HashMap<String, Batch>>> = Arc::default();
    let mut trials = Vec::new();
    for k in &kernels {
        let chosen: Vec<ksock_spec::Spec> = specs
            .iter()
            .filter(|s| selected(&format!("{k}::{}", s.name), &args))
            .cloned()
            .collect();
        let chosen = Arc::new(chosen);
        let version = ksock_spec::KernelVersion::parse(k);
        for s in &specs {
            let name = format!("{k}::{}", s.name);
            // A spec whose `kernels` condition excludes this kernel is listed as ignored.
            let excluded =
                matches!((&s.kernels, &version), (Some(req), Some(v)) if !req.matches(v));
            let (k, spec_name) = (k.clone(), s.name.clone());
            let (batches, chosen, root) = (batches.clone(), chosen.clone(), root.clone());
            trials.push(
                Trial::test(name, move || {
                    let batch = batches
                        .lock()
                        .unwrap()
                        .entry(k.clone())
                        .or_default()
                        .clone();
                    let verdicts = batch.get_or_init(|| {
                        ksock_vm::supervise::install_interrupt_handler();
                        let cache = ksock_vm::Cache::from_env().map_err(|e| e.to_string())?;
                        let project = Project::open(&root).map_err(|e| format!("{e:#}"))?;
                        let opts = RunOptions::defaults(&project);
                        run_kernel(&cache, &project, &k, &chosen, &opts)
                            .map_err(|e| format!("{e:#}"))
                    });
                    let verdicts = verdicts.as_ref().map_err(|e| Failed::from(e.clone()))?;
                    let v = verdicts
                        .iter()
                        .find(|v| v.spec == spec_name)
                        .ok_or_else(|| Failed::from("no verdict for this spec"))?;
                    match v.status {
                        Status::Pass | Status::Skip => Ok(()),
                        Status::Fail => Err(Failed::from(ksock_harness::report::render(
                            std::slice::from_ref(v),
                        ))),
                    }
                })
                .with_ignored_flag(excluded),
            );
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
