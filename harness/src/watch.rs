//! The developer's loop (`cargo xtask watch`): one warm guest ([`crate::warm`]); when a
//! module's sources or a spec change, rebuild what changed (incrementally, see
//! `PreparedKernel::build_module_dev`), reload it in the same guest, re-run the specs it
//! affects and print their verdicts. The guest is replaced only when it died (a panic, a
//! hang) or a spec left a splat in the log: a tainted kernel is not trusted for the next
//! verdict, and the output says so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ksock_proto::Plan;
use ksock_spec::{KernelVersion, Spec};
use ksock_vm::boot::{self, Accel};
use ksock_vm::kernel::{self, Flavour, PreparedKernel};
use ksock_vm::Cache;

use crate::judge::Verdict;
use crate::project::Project;
use crate::runner::{plan_spec, BootReport, KernelRun, RunOptions, CONSOLE_TAIL};
use crate::warm::WarmGuest;

/// One kernel kept warm, with the modules built for it.
pub struct Dev<'p> {
    cache: &'p Cache,
    project: &'p Project,
    opts: RunOptions,
    kernel_name: String,
    k: PreparedKernel,
    flavour: Flavour,
    version: KernelVersion,
    accel: Accel,
    kos: BTreeMap<String, PathBuf>,
    guest: Option<WarmGuest>,
    boots: usize,
}

/// What a run of specs came to.
pub struct Outcome {
    pub verdicts: Vec<Verdict>,
    /// Why the guest is being replaced before the next run, if it is.
    pub reboot: Option<String>,
}

impl<'p> Dev<'p> {
    /// Prepares `kernel_name` (no boot yet).
    pub fn open(
        cache: &'p Cache,
        project: &'p Project,
        kernel_name: &str,
        opts: &RunOptions,
    ) -> Result<Self> {
        let (k, flavour, version) = crate::runner::prepare(cache, project, kernel_name, opts)?;
        let accel = boot::resolve_accel(cache, opts.accel, &k.vmlinuz, &k.release)?;
        std::fs::create_dir_all(&opts.artifacts)?;
        Ok(Self {
            cache,
            project,
            opts: opts.clone(),
            kernel_name: kernel_name.to_string(),
            k,
            flavour,
            version,
            accel,
            kos: BTreeMap::new(),
            guest: None,
            boots: 0,
        })
    }

    pub fn release(&self) -> &str {
        &self.k.release
    }

    pub fn flavour(&self) -> Flavour {
        self.flavour
    }

    /// Guests booted so far.
    pub fn boots(&self) -> usize {
        self.boots
    }

    /// The source directory of `module` in this flavour.
    pub fn source(&self, module: &str) -> Result<PathBuf> {
        self.project
            .modules
            .get(module)
            .and_then(|m| m.get(self.flavour))
            .cloned()
            .with_context(|| format!("kmods has no {} {module}", self.flavour))
    }

    /// (Re)builds `module` from `src`; returns how long kbuild took.
    pub fn build(&mut self, module: &str, src: &Path) -> Result<Duration> {
        let t = Instant::now();
        let dir = self.k.build_module_dev(self.cache, src, self.flavour)?;
        let ko = dir.join(format!("{module}.ko"));
        anyhow::ensure!(ko.is_file(), "kbuild produced no {}", ko.display());
        self.kos.insert(module.to_string(), ko);
        Ok(t.elapsed())
    }

    /// Boots a guest unless one is up; returns the boot time when it booted.
    pub fn ensure_guest(&mut self) -> Result<Option<Duration>> {
        if self.guest.is_some() {
            return Ok(None);
        }
        let t = Instant::now();
        self.boots += 1;
        let log = self.opts.artifacts.join(format!(
            "console-{}-watch-{}.log",
            self.kernel_name, self.boots
        ));
        let mut g = WarmGuest::start(&self.k, self.accel, &self.project.agent, &self.opts, log)?;
        g.wait_ready(self.opts.boot_timeout)?;
        self.guest = Some(g);
        Ok(Some(t.elapsed()))
    }

    /// Runs `specs` in the warm guest (booting one if needed) and judges them.
    pub fn run(&mut self, specs: &[&Spec]) -> Result<Outcome> {
        self.ensure_guest()?;
        let (to_run, skipped): (Vec<&Spec>, Vec<&Spec>) = specs
            .iter()
            .partition(|s| s.kernels.as_ref().is_none_or(|r| r.matches(&self.version)));
        let plan = Plan {
            specs: to_run.iter().map(|s| plan_spec(s, &self.kos)).collect(),
        };
        let limit = self.opts.spec_timeout * to_run.len().max(1) as u32;
        let guest = self.guest.as_mut().context("no guest")?;
        let console_log = guest.console_log.clone();
        let ran = guest.run(&plan, limit)?;
        let skipped: Vec<Spec> = skipped.into_iter().cloned().collect();
        let kr = self.kernel_run();
        let mut verdicts = kr.applicable(&skipped).0;
        let tail = format!("(console: {})", console_log.display());
        verdicts.extend(kr.judge_reported(&to_run, &ran.results, &tail));
        let reboot = match ran.died {
            Some(outcome) => {
                let done = ran.results.specs.len().min(to_run.len());
                let why = match &outcome.end {
                    boot::BootEnd::Panicked => {
                        format!(
                            "the kernel panicked: {}",
                            boot::crash_summary(&outcome.console)
                        )
                    }
                    other => format!("the guest ended: {}", boot::describe_end(other)),
                };
                let report = BootReport {
                    tail: format!(
                        "{}\n(full console: {})",
                        outcome.console_tail(CONSOLE_TAIL),
                        console_log.display()
                    ),
                    outcome,
                    console_log,
                    results: ran.results,
                    timeout: limit,
                };
                let dirty = report
                    .results
                    .specs
                    .last()
                    .filter(|r| !r.stuck_modules.is_empty());
                match (dirty, to_run.get(done)) {
                    // The agent stopped after a spec that left the kernel dirty.
                    (Some(r), Some(_)) => {
                        let why = format!("the guest was replaced after {} left it dirty", r.name);
                        verdicts.extend(to_run[done..].iter().map(|s| kr.not_run_because(s, &why)));
                    }
                    (None, Some(s)) => {
                        verdicts.push(kr.culprit(s, &report));
                        verdicts.extend(to_run[done + 1..].iter().map(|s| kr.not_run(s)));
                    }
                    (_, None) => {}
                }
                Some(why)
            }
            None => first_splat(&verdicts).map(|(spec, splat)| {
                format!(
                    "{spec} left the kernel tainted ({splat}); its next verdict must not come \
                     from that kernel"
                )
            }),
        };
        if reboot.is_some() {
            if let Some(g) = self.guest.take() {
                g.shutdown()?;
            }
        }
        Ok(Outcome { verdicts, reboot })
    }

    /// Powers the guest off.
    pub fn shutdown(&mut self) -> Result<()> {
        match self.guest.take() {
            Some(g) => g.shutdown(),
            None => Ok(()),
        }
    }

    fn kernel_run(&self) -> KernelRun<'_> {
        KernelRun {
            kernel_name: &self.kernel_name,
            k: &self.k,
            flavour: self.flavour,
            version: self.version,
            project: self.project,
            opts: &self.opts,
            kos: self.kos.clone(),
            accel: self.accel,
        }
    }
}

/// The first verdict whose spec left a splat in the kernel log, with that line.
fn first_splat(verdicts: &[Verdict]) -> Option<(String, String)> {
    verdicts.iter().find_map(|v| {
        let s = boot::splats(v.dmesg.iter().map(String::as_str));
        s.first().map(|l| (v.spec.clone(), l.clone()))
    })
}

/// What the loop watches: each module's sources and each spec file, by content hash.
fn signatures(project: &Project, modules: &[(String, PathBuf)]) -> BTreeMap<String, u64> {
    let mut sig = BTreeMap::new();
    for (m, dir) in modules {
        sig.insert(
            format!("module {m}"),
            kernel::hash_sources(dir).unwrap_or(0),
        );
    }
    for p in project.spec_dirs().iter().flat_map(|d| spec_files(d)) {
        let h = std::fs::read(&p).map(|b| kernel::fnv1a(&b)).unwrap_or(0);
        sig.insert(format!("spec {}", p.display()), h);
    }
    sig
}

fn spec_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// What changed between two signatures: module names and spec files.
fn changes(old: &BTreeMap<String, u64>, new: &BTreeMap<String, u64>) -> (Vec<String>, bool) {
    let changed: Vec<&String> = new.keys().filter(|k| old.get(*k) != new.get(*k)).collect();
    let gone = old.keys().any(|k| !new.contains_key(k));
    let modules = changed
        .iter()
        .filter_map(|k| k.strip_prefix("module "))
        .map(str::to_string)
        .collect();
    let specs = gone || changed.iter().any(|k| k.starts_with("spec "));
    (modules, specs)
}

/// The loop itself; returns on Ctrl-C. `only` limits the specs (by name), as for `run`.
pub fn watch(
    cache: &Cache,
    project: &Project,
    kernel_name: &str,
    only: &[String],
    opts: &RunOptions,
) -> Result<()> {
    let mut dev = Dev::open(cache, project, kernel_name, opts)?;
    let result = watch_loop(&mut dev, project, only);
    // After Ctrl-C the guest's processes are already stopped; what is left is cleanup.
    let shut = dev.shutdown();
    if ksock_vm::supervise::interrupted() {
        eprintln!("ksock: stopped; the guest is gone and its files removed");
        return Ok(());
    }
    result.and(shut)
}

fn watch_loop(dev: &mut Dev<'_>, project: &Project, only: &[String]) -> Result<()> {
    let mut specs = select(project, only)?;
    let modules = used_modules(dev, &specs)?;
    for (m, src) in &modules {
        let t = dev.build(m, src)?;
        eprintln!(
            "ksock: built {m} ({}) in {:.1} s",
            dev.flavour(),
            t.as_secs_f64()
        );
    }
    if let Some(t) = dev.ensure_guest()? {
        eprintln!(
            "ksock: guest up ({}) in {:.1} s",
            dev.release(),
            t.as_secs_f64()
        );
    }
    report(&dev.run(&specs.iter().collect::<Vec<_>>())?, None);
    let mut sig = signatures(project, &modules);
    eprintln!("ksock: watching kmods/ and specs/ — save a file to re-run; Ctrl-C to stop");
    while !ksock_vm::supervise::interrupted() {
        std::thread::sleep(Duration::from_millis(50));
        let now = signatures(project, &modules);
        let (changed, specs_changed) = changes(&sig, &now);
        if changed.is_empty() && !specs_changed {
            continue;
        }
        sig = now;
        let t0 = Instant::now();
        if specs_changed {
            match select(project, only) {
                Ok(s) => specs = s,
                Err(e) => {
                    eprintln!("ksock: {e:#}");
                    continue;
                }
            }
        }
        if let Err(e) = rebuild(dev, &modules, &changed) {
            eprintln!("ksock: {e:#}");
            continue;
        }
        let affected: Vec<&Spec> = specs
            .iter()
            .filter(|s| {
                specs_changed || s.modules().iter().any(|m| changed.contains(&m.to_string()))
            })
            .collect();
        let built = t0.elapsed();
        let out = dev.run(&affected)?;
        report(&out, Some((t0.elapsed(), built)));
        if out.reboot.is_some() {
            // Now, not at the next save: that verdict should come as fast as any other.
            if let Some(t) = dev.ensure_guest()? {
                eprintln!("ksock: a new guest is up in {:.1} s", t.as_secs_f64());
            }
        }
    }
    Ok(())
}

fn rebuild(dev: &mut Dev<'_>, modules: &[(String, PathBuf)], changed: &[String]) -> Result<()> {
    for m in changed {
        if let Some((_, src)) = modules.iter().find(|(n, _)| n == m) {
            let t = dev.build(m, src)?;
            eprintln!("ksock: rebuilt {m} in {:.2} s", t.as_secs_f64());
        }
    }
    Ok(())
}

/// The selected specs (all, or those named).
fn select(project: &Project, only: &[String]) -> Result<Vec<Spec>> {
    let specs = project.load_specs()?;
    if only.is_empty() {
        return Ok(specs);
    }
    for o in only {
        anyhow::ensure!(specs.iter().any(|s| &s.name == o), "no spec named `{o}`");
    }
    Ok(specs
        .into_iter()
        .filter(|s| only.contains(&s.name))
        .collect())
}

/// Every module the specs load, with its source directory.
fn used_modules(dev: &Dev<'_>, specs: &[Spec]) -> Result<Vec<(String, PathBuf)>> {
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    for m in specs.iter().flat_map(|s| s.modules()) {
        if !out.iter().any(|(n, _)| n == m) {
            out.push((m.to_string(), dev.source(m)?));
        }
    }
    Ok(out)
}

fn report(out: &Outcome, timing: Option<(Duration, Duration)>) {
    print!("{}", crate::report::render(&out.verdicts));
    if let Some((total, built)) = timing {
        println!(
            "saved → verdict: {:.2} s (build {:.2} s, run {:.2} s)",
            total.as_secs_f64(),
            built.as_secs_f64(),
            (total - built).as_secs_f64()
        );
    }
    if let Some(why) = &out.reboot {
        println!("ksock: rebooting the guest: {why}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_name_modules_and_notice_specs() {
        let sig = |v: &[(&str, u64)]| -> BTreeMap<String, u64> {
            v.iter().map(|(k, h)| (k.to_string(), *h)).collect()
        };
        let old = sig(&[
            ("module ksock_hello", 1),
            ("spec a.yaml", 2),
            ("spec b.yaml", 3),
        ]);
        assert_eq!(changes(&old, &old), (vec![], false));
        let edited = sig(&[
            ("module ksock_hello", 9),
            ("spec a.yaml", 2),
            ("spec b.yaml", 3),
        ]);
        assert_eq!(
            changes(&old, &edited),
            (vec!["ksock_hello".to_string()], false)
        );
        let spec = sig(&[
            ("module ksock_hello", 1),
            ("spec a.yaml", 7),
            ("spec b.yaml", 3),
        ]);
        assert_eq!(changes(&old, &spec), (vec![], true));
        let removed = sig(&[("module ksock_hello", 1), ("spec a.yaml", 2)]);
        assert_eq!(
            changes(&old, &removed),
            (vec![], true),
            "a removed spec counts"
        );
    }
}
