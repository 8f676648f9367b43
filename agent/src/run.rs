//! Executes a [`Plan`] in the guest.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::kmsg::Kmsg;
use crate::modules;
use crate::proto::{Action, ActionResult, Plan, PlanSpec, Results, SpecResult, RESULTS_FILE};

/// Runs every spec, writing `results.json` into `out` after each one (atomically: a crash
/// leaves the previous complete file, never a torn one).
pub fn run_plan(plan: &Plan, out: &Path) -> anyhow::Result<Results> {
    crate::guard::ensure_guest()?;
    let mut results = Results {
        kernel_release: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string(),
        ..Default::default()
    };
    write_results(&results, out)?;
    for spec in &plan.specs {
        println!("KSOCK-SPEC-START {}", spec.name);
        let r = run_spec(spec)?;
        println!("KSOCK-SPEC-END {}", spec.name);
        results.specs.push(r);
        write_results(&results, out)?;
    }
    results.complete = true;
    write_results(&results, out)?;
    Ok(results)
}

fn write_results(r: &Results, out: &Path) -> anyhow::Result<()> {
    let tmp = out.join(format!("{RESULTS_FILE}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec_pretty(r)?)?;
    std::fs::rename(&tmp, out.join(RESULTS_FILE))?;
    Ok(())
}

fn run_spec(spec: &PlanSpec) -> anyhow::Result<SpecResult> {
    let start = Instant::now();
    let mut kmsg = Kmsg::open_at_end()?;
    let mut dmesg: Vec<String> = Vec::new();
    let mut loaded: Vec<String> = Vec::new();
    let mut actions = Vec::new();
    for action in &spec.actions {
        let (ok, detail) = run_action(action, &mut kmsg, &mut dmesg, &mut loaded);
        let failed = !ok;
        actions.push(ActionResult {
            action: action.describe(),
            ok,
            detail,
        });
        if failed {
            break;
        }
    }
    // Leave the kernel as the next spec expects it: nothing of ours loaded.
    let mut leftover = Vec::new();
    for m in loaded.iter().rev() {
        if modules::is_loaded(m) {
            leftover.push(m.clone());
            let _ = modules::unload(m);
        }
    }
    // Give the log a moment for messages printed by the unloads above.
    std::thread::sleep(Duration::from_millis(50));
    dmesg.extend(kmsg.read_available().iter().map(|r| r.line()));
    Ok(SpecResult {
        name: spec.name.clone(),
        actions,
        dmesg,
        leftover_modules: leftover,
        duration_ms: start.elapsed().as_millis() as u64,
    })
}

fn run_action(
    action: &Action,
    kmsg: &mut Kmsg,
    dmesg: &mut Vec<String>,
    loaded: &mut Vec<String>,
) -> (bool, String) {
    match action {
        Action::Load {
            module,
            path,
            params,
            expect_errno,
        } => {
            let r = modules::load(path, params);
            dmesg.extend(kmsg.read_available().iter().map(|r| r.line()));
            match (r, expect_errno) {
                (Ok(()), None) => {
                    loaded.push(module.clone());
                    (true, "loaded".into())
                }
                (Ok(()), Some(e)) => {
                    loaded.push(module.clone());
                    (
                        false,
                        format!(
                            "loaded, but the spec expected it to fail with {}",
                            modules::errno_name(*e)
                        ),
                    )
                }
                (Err(err), Some(e)) if err.errno() == Some(*e) => {
                    (true, format!("failed as expected: {err}"))
                }
                (Err(err), _) => (false, err.to_string()),
            }
        }
        Action::Unload { module } => {
            let r = modules::unload(module);
            dmesg.extend(kmsg.read_available().iter().map(|r| r.line()));
            match r {
                Ok(()) => (true, "unloaded".into()),
                Err(e) => (false, e.to_string()),
            }
        }
        Action::WaitDmesg {
            pattern,
            timeout_ms,
        } => {
            let re = match regex::Regex::new(pattern) {
                Ok(re) => re,
                Err(e) => return (false, format!("bad pattern: {e}")),
            };
            let deadline = Instant::now() + Duration::from_millis(*timeout_ms);
            // Lines seen before this step count too: the event may already have happened.
            loop {
                if let Some(l) = dmesg[..].iter().find(|l| re.is_match(l)) {
                    return (true, format!("matched: {l}"));
                }
                if Instant::now() > deadline {
                    return (
                        false,
                        format!(
                            "no kernel log line matched /{pattern}/ within {timeout_ms} ms \
                             ({} lines seen)",
                            dmesg.len()
                        ),
                    );
                }
                std::thread::sleep(Duration::from_millis(20));
                dmesg.extend(kmsg.read_available().iter().map(|r| r.line()));
            }
        }
        Action::Sleep { ms } => {
            std::thread::sleep(Duration::from_millis(*ms));
            dmesg.extend(kmsg.read_available().iter().map(|r| r.line()));
            (true, String::new())
        }
    }
}
