//! A warm guest: one boot that runs plan after plan (the agent's `serve` mode), for the
//! module developer's edit → verdict loop (`cargo xtask watch`, see [`crate::watch`]).
//!
//! The host writes `plan-N.json` into a directory shared with the guest and waits for
//! `out-N/results.json` to say `complete`; the guest polls for the next plan. The boot
//! itself runs on a thread; if it ends (a panic, a hang the watchdog stopped), the plan in
//! flight comes back with what the guest reported before it died.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ksock_proto::{Plan, Results, RESULTS_FILE};
use ksock_vm::boot::{self, Accel, BootOutcome, BootRequest};
use ksock_vm::kernel::PreparedKernel;
use ksock_vm::scratch::Scratch;

use crate::runner::RunOptions;

/// What one plan came to.
pub struct Ran {
    /// What the agent reported (for a guest that died: the specs before the one it died in).
    pub results: Results,
    /// `Some` when the guest is gone; it must be started again.
    pub died: Option<BootOutcome>,
}

/// A guest kept running between plans.
pub struct WarmGuest {
    dir: Scratch,
    next: usize,
    guest: Option<JoinHandle<Result<BootOutcome, ksock_vm::Error>>>,
    ready: Arc<AtomicBool>,
    /// Set to stop the VM (the boot's watchdog reads it).
    stop: Arc<Mutex<Option<String>>>,
    pub console_log: PathBuf,
}

impl WarmGuest {
    /// Boots `k` with the agent serving plans; returns at once (see [`Self::wait_ready`]).
    pub fn start(
        k: &PreparedKernel,
        accel: Accel,
        agent: &crate::project::Agent,
        opts: &RunOptions,
        console_log: PathBuf,
    ) -> Result<Self> {
        let dir = ksock_vm::scratch::tempdir("run").context("creating the shared directory")?;
        let ready = Arc::new(AtomicBool::new(false));
        let stop: Arc<Mutex<Option<String>>> = Arc::default();
        let req = BootRequest {
            vmlinuz: k.vmlinuz.clone(),
            pvh: k.pvh.clone(),
            accel,
            exec: agent.command(&format!("serve --dir {}", dir.path().display())),
            append: vec![
                ksock_proto::GUEST_MARKER.to_string(),
                "oops=panic".to_string(),
            ],
            rwdirs: vec![dir.path().to_path_buf()],
            memory: opts.memory.clone(),
            cpus: opts.cpus,
            // A developer's session: hours, not a boot's minutes; Ctrl-C ends it.
            timeout: Duration::from_secs(7 * 24 * 3600),
            console_log: console_log.clone(),
            on_line: Some({
                let ready = ready.clone();
                Arc::new(move |line: &str| {
                    if line.starts_with(ksock_proto::SERVE_READY) {
                        ready.store(true, Ordering::Release);
                    }
                })
            }),
            watchdog: Some({
                let stop = stop.clone();
                Arc::new(move || stop.lock().expect("stop lock").clone())
            }),
            shared_memory: None,
        };
        let guest = std::thread::spawn(move || boot::boot(&req));
        Ok(Self {
            dir,
            next: 1,
            guest: Some(guest),
            ready,
            stop,
            console_log,
        })
    }

    /// Waits until the agent serves; `Err` with the console's tail if the guest ends first.
    pub fn wait_ready(&mut self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        while !self.ready.load(Ordering::Acquire) {
            if self.guest.as_ref().is_none_or(JoinHandle::is_finished) {
                let out = self.join()?;
                anyhow::bail!(
                    "the guest ended before its agent served ({}); console tail:\n{}",
                    boot::describe_end(&out.end),
                    out.console_tail(20)
                );
            }
            if Instant::now() > deadline {
                self.halt("the agent did not start");
                anyhow::bail!("the guest's agent did not start within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Runs `plan`; a plan still running after `limit` stops the guest (a hung spec).
    pub fn run(&mut self, plan: &Plan, limit: Duration) -> Result<Ran> {
        let n = self.next;
        self.next += 1;
        let file = self.dir.path().join(format!("plan-{n}.json"));
        let tmp = file.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(plan)?)?;
        // Renamed into place: the guest never reads half a plan.
        std::fs::rename(&tmp, &file)?;
        let results = self.dir.path().join(format!("out-{n}")).join(RESULTS_FILE);
        let deadline = Instant::now() + limit;
        loop {
            let r = read_results(&results);
            if r.complete {
                return Ok(Ran {
                    results: r,
                    died: None,
                });
            }
            if self.guest.as_ref().is_none_or(JoinHandle::is_finished) || Instant::now() > deadline
            {
                self.halt(&format!("the plan did not finish within {limit:?}"));
                let out = self.join()?;
                return Ok(Ran {
                    results: read_results(&results),
                    died: Some(out),
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Asks the agent to finish and waits for the guest to power off (stopping it after 30 s).
    pub fn shutdown(mut self) -> Result<()> {
        if self.guest.is_none() {
            return Ok(());
        }
        std::fs::write(self.dir.path().join("stop"), "")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.guest.as_ref().is_some_and(|g| !g.is_finished()) {
            if Instant::now() > deadline {
                self.halt("it did not power off");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.join().map(drop)
    }

    fn halt(&self, why: &str) {
        self.stop
            .lock()
            .expect("stop lock")
            .get_or_insert(why.to_string());
    }

    fn join(&mut self) -> Result<BootOutcome> {
        let g = self.guest.take().context("the guest was already gone")?;
        let out = g
            .join()
            .map_err(|_| anyhow::anyhow!("the boot thread panicked"))??;
        Ok(out)
    }
}

impl Drop for WarmGuest {
    fn drop(&mut self) {
        if let Some(g) = self.guest.take() {
            self.halt("ksock is done with it");
            let _ = g.join();
        }
    }
}

/// The agent's results so far (empty, not complete, while there are none).
fn read_results(path: &Path) -> Results {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}
