//! The in-guest fuzzer's session: one module load, one socket, many inputs.
//!
//! libFuzzer ([`crate::fuzz::libfuzzer`]) calls [`Session::run`] with each input. The
//! session writes the input where a kernel panic cannot lose it *before* running it
//! ([`InputLog`]: the host's shared memory, else the console), restores the module's state
//! (the target's `reset`) so an input means the same whenever it runs, executes the
//! decoded ops with every oracle of
//! [`crate::fuzz`], and folds the module's coverage trace into libFuzzer's extra counters.
//! A violation is shrunk in place and saved once per title under `findings/`.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ksock_fuzz::findings::{self, FindingMeta};
use ksock_fuzz::lang::mixed::Step;
use ksock_fuzz::lang::sockopt::Op;
use ksock_fuzz::shrink::shrink;
use ksock_fuzz::titles::{Oracle, Violation};
use ksock_fuzz::{model, Decoded, FuzzConfig};

use crate::fuzz;
use crate::fuzz::cov::{Sections, Seen, Trace};
use crate::fuzz::record::InputLog;
use crate::guarded::Arena;
use crate::kmsg::{Kmsg, SplatWatch};
use crate::modules;

/// Trace words the runtime is loaded with (2 MiB).
const TRACE_WORDS: usize = 1 << 18;
/// Tries a message sequence gets while shrinking (see [`Session::still_fires`]).
const MSG_TRIALS: usize = 3;
/// How often a status line is printed.
const STATUS_EVERY: Duration = Duration::from_secs(2);
/// Share of the session inputs with reloads may take. A reload costs ~35 ms under TCG
/// where a call costs ~15 us, and libFuzzer favours the inputs that reach the module's
/// init and exit code: unthrottled, they took 95% of the time. At 5% a 2-minute campaign
/// still runs dozens of them (each reloads, and the module is loaded again after it).
const RELOAD_SHARE: f64 = 0.05;

pub struct Session {
    cfg: FuzzConfig,
    /// Where a client module connects to (client targets).
    listener: Option<std::net::TcpListener>,
    /// The modules whose code the trace covers: the one under test, then `also`.
    names: Vec<String>,
    fd: libc::c_int,
    kmsg: Kmsg,
    /// Splats after each input (see [`SplatWatch`]).
    watch: SplatWatch,
    /// Where every op's user buffer is placed.
    arena: Arena,
    splats: regex::RegexSet,
    /// The same patterns as one, for the raw log after each sockopt or client input.
    splat: regex::bytes::Regex,
    trace: Option<(Trace, Sections)>,
    seen: Seen,
    /// Trace entries read before a reload moved the module (see [`reload_traced`]).
    pending: Vec<Pc>,
    /// Inputs that reached new points, by hash, not yet written (see [`Self::write_reach`]).
    first_inputs: Vec<(u64, Vec<u8>)>,
    /// The campaign's `seed_bugs` mask.
    seed_bugs: i64,
    /// The model's contract holds for these parameters (see [`model::Model::holds`]).
    contract: bool,
    /// The module is loaded with the campaign's parameters (no reload since).
    pristine: bool,
    /// Time spent on inputs with reloads (see [`RELOAD_SHARE`]).
    reload_time: Duration,
    /// Each input is written here before it runs.
    inputs: InputLog,
    titles: BTreeSet<String>,
    execs: u64,
    ops: u64,
    started: Instant,
    last_status: Instant,
    /// Where the time goes: persisting inputs, executing them, folding coverage; and all
    /// of it, in [`Self::run`] (the rest of the wall time is libFuzzer's).
    spent: [Duration; 4],
    /// Inputs not run: over the reload budget.
    skipped: u64,
}

// SAFETY: the trace mapping is plain shared memory; the session is used by one thread at a
// time (libFuzzer's), behind a Mutex.
unsafe impl Send for Session {}

impl Session {
    /// Loads the runtime and the module, opens the socket, quiets the console.
    pub fn start(cfg: FuzzConfig) -> Result<Self> {
        // Module log lines on the emulated serial console cost ~5x the syscall rate; the
        // log is read from /dev/kmsg instead (an oops raises the console level itself).
        // SAFETY: klogctl(SYSLOG_ACTION_CONSOLE_LEVEL) takes no buffer.
        unsafe { libc::klogctl(8, std::ptr::null_mut(), 1) };
        let kmsg = Kmsg::open_at_end()?;
        let names = module_names(&cfg);
        // What each load ran (init, registration) is covered too: read after each load,
        // while its init's sections still say where that code was (see `expire_init`).
        let mut ran = Vec::new();
        let listener = load_modules(&cfg, &mut |loaded| match cfg.runtime {
            Some(_) => read_load(&mut ran, loaded, names.len() > 1),
            None => Ok(()),
        })?;
        let sections = match listener {
            Some(_) => Sections::from_starts(Vec::new()),
            None => {
                let mut s = Sections::of_modules(&names)?;
                s.expire_init(None);
                s
            }
        };
        let trace = match cfg.runtime {
            Some(_) => Some((Trace::open(TRACE_WORDS)?, sections)),
            None => None,
        };
        // SAFETY: plain socket(2); closed in Drop.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
        anyhow::ensure!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        std::fs::create_dir_all(&cfg.findings)?;
        let inputs = InputLog::open()?;
        eprintln!("ksock-agent: inputs are recorded in {}", inputs.describe());
        let mut seen = Seen::default();
        if let Some((t, sections)) = &trace {
            for (name, off) in ran {
                if let Some(i) = sections.index(&name) {
                    seen.insert((i, off));
                }
            }
            // And what the modules did since (a server's thread starting to listen).
            t.for_each(|pc| {
                if let Some(p) = sections.locate(pc) {
                    seen.insert(p);
                }
            });
            seen.claim(None, 0);
        }
        let seed_bugs = fuzz::seed_bugs_in(&cfg.params);
        let contract = cfg.model.is_some_and(|m| m.holds(seed_bugs));
        Ok(Self {
            contract,
            listener,
            names,
            splats: regex::RegexSet::new(&cfg.splats)?,
            splat: one_pattern(&cfg.splats)?,
            cfg,
            fd,
            kmsg,
            watch: SplatWatch::open(),
            arena: fuzz::arena()?,
            trace,
            seen,
            pending: Vec::new(),
            first_inputs: Vec::new(),
            seed_bugs,
            pristine: true,
            reload_time: Duration::ZERO,
            inputs,
            titles: BTreeSet::new(),
            execs: 0,
            ops: 0,
            started: Instant::now(),
            last_status: Instant::now(),
            spent: [Duration::ZERO; 4],
            skipped: 0,
        })
    }

    /// Runs one input; folds coverage into `counters`. Returns false for an input that
    /// decodes to nothing (libFuzzer should not keep it).
    pub fn run(&mut self, data: &[u8], counters: &mut [u8]) -> Result<bool> {
        let entered = Instant::now();
        let r = self.run_timed(data, counters);
        self.spent[3] += entered.elapsed();
        r
    }

    fn run_timed(&mut self, data: &[u8], counters: &mut [u8]) -> Result<bool> {
        let ops = self.cfg.decode(data);
        if ops.is_empty() {
            return Ok(false);
        }
        let reloads = ops.reloads();
        if reloads
            && self.reload_time.as_secs_f64() > RELOAD_SHARE * self.started.elapsed().as_secs_f64()
        {
            // Over budget: not run, so not kept; its meaning does not change.
            self.skipped += 1;
            return Ok(false);
        }
        let t0 = Instant::now();
        self.inputs.write(data)?;
        if let Some((t, _)) = &mut self.trace {
            t.reset();
        }
        let t1 = Instant::now();
        let (done, violation) = self.execute(&ops)?;
        self.execs += 1;
        self.ops += done as u64;
        let t2 = Instant::now();
        self.fold_coverage(counters, data)?;
        let t3 = Instant::now();
        if !self.pristine {
            // Now, so the next input does not pay for this one's reload.
            self.restore_module()?;
        }
        if reloads {
            self.reload_time += t0.elapsed();
        }
        self.spent[0] += t1 - t0;
        self.spent[1] += t2 - t1;
        self.spent[2] += t3 - t2;
        if let Some((at, v)) = violation {
            self.report(data, &ops, at, v)?;
        }
        if self.last_status.elapsed() >= STATUS_EVERY {
            self.status();
        }
        Ok(true)
    }

    /// Resets the module, runs `ops`; returns how many ran and the first violation with
    /// the index of the op it followed.
    fn execute(&mut self, ops: &Decoded) -> Result<(usize, Option<(usize, Violation)>)> {
        match ops {
            Decoded::Sockopt(ops) => self.execute_sockopt(ops),
            Decoded::Msg(ops) => {
                let t = self
                    .cfg
                    .server
                    .expect("message ops only with a server target");
                let mut logged = Vec::new();
                crate::fuzz::msg::run(&t, ops, &mut self.kmsg, &self.splats, &mut logged)
            }
            Decoded::Client(ops) => self.execute_client(ops),
            Decoded::Mixed(steps) => self.execute_mixed(steps),
        }
    }

    fn execute_client(
        &mut self,
        ops: &[ksock_fuzz::lang::client::ClientOp],
    ) -> Result<(usize, Option<(usize, Violation)>)> {
        let setup = crate::fuzz::client::Setup {
            target: self
                .cfg
                .client
                .as_ref()
                .expect("client ops only with a client target"),
            seed_bugs: self.seed_bugs,
            vary: &self.cfg.vary,
            params: &self.cfg.params,
        };
        let listener = self.listener.as_ref().expect("a client target listens");
        let mut loader = Traced {
            trace: &mut self.trace,
            pending: &mut self.pending,
            names: &self.names,
            ko: &self.cfg.ko,
        };
        let (n, found) = crate::fuzz::client::run(&setup, ops, listener, &mut loader)?;
        Ok((n, found.or_else(|| self.splat_after(n))))
    }

    /// A kernel splat since the last input, as a finding after op `n - 1` of this one.
    fn splat_after(&mut self, n: usize) -> Option<(usize, Violation)> {
        let line = self.watch.check(&self.splat)?;
        Some((
            n.saturating_sub(1),
            Violation::new(Oracle::KernelSplat, line),
        ))
    }

    fn execute_sockopt(&mut self, ops: &[Op]) -> Result<(usize, Option<(usize, Violation)>)> {
        let mut m = self.fresh_sockopt()?;
        for (i, op) in ops.iter().enumerate() {
            self.inputs.at(i);
            if let Some(v) = self.sockopt_step(&mut m, op)? {
                return Ok((i + 1, Some((i, v))));
            }
        }
        Ok((ops.len(), self.splat_after(ops.len())))
    }

    /// Sockopt calls and message ops in one sequence, against the module under test and
    /// the server loaded beside it.
    fn execute_mixed(&mut self, steps: &[Step]) -> Result<(usize, Option<(usize, Violation)>)> {
        let server = self.cfg.server.expect("mixed ops only with a server");
        let mut m = self.fresh_sockopt()?;
        let mut msgs = crate::fuzz::msg::MsgRun::new(&server);
        for (i, step) in steps.iter().enumerate() {
            self.inputs.at(i);
            let found = match step {
                Step::Sockopt(op) => self.sockopt_step(&mut m, op)?,
                Step::Msg(op) => msgs.step(op)?,
            };
            if let Some(v) = found {
                return Ok((i + 1, Some((i, v))));
            }
        }
        let n = steps.len();
        let (_, found) = msgs.finish(&mut self.kmsg, &self.splats);
        Ok((n, found.map(|v| (n - 1, v)).or_else(|| self.splat_after(n))))
    }

    /// The module as loaded, its message as at load: the model of this input's start.
    /// Always: the module's state must come from this input alone (its findings are
    /// replayed from the input, and a planted bug may depend on an earlier call).
    fn fresh_sockopt(&mut self) -> Result<model::SockoptModel> {
        if !self.pristine {
            self.restore_module()?;
        }
        self.reset_state()?;
        Ok(model::SockoptModel::new(self.cfg.target, self.seed_bugs))
    }

    /// One sockopt op, checked by every oracle (and the model `m`, which moves on).
    fn sockopt_step(&mut self, m: &mut model::SockoptModel, op: &Op) -> Result<Option<Violation>> {
        let fd = self.fd;
        let module = module_of(&self.cfg, self.seed_bugs);
        let t = m.target;
        let obs = match op {
            Op::Reload(r) => {
                self.pristine = false;
                let traced = Traced {
                    trace: &mut self.trace,
                    pending: &mut self.pending,
                    names: &self.names,
                    ko: &self.cfg.ko,
                };
                reload_traced(traced, fd, r, &t, &module)?
            }
            _ => fuzz::exec(&mut self.arena, fd, op, &t, &module)?,
        };
        // Without a model nothing moves the served range, and only the generic oracles speak.
        let expected = self.cfg.model.map(|_| m.step(op));
        let want = expected.as_ref().filter(|_| self.contract);
        Ok(fuzz::check(op, &obs, &t, want))
    }

    /// Loads the module again with the campaign's parameters after an input reloaded it.
    /// What this runs is no input's coverage.
    fn restore_module(&mut self) -> Result<()> {
        if modules::is_loaded(&self.cfg.module) {
            modules::unload(&self.cfg.module)
                .with_context(|| format!("unloading {} after a reload", self.cfg.module))?;
        }
        modules::load(&self.cfg.ko, &self.cfg.params)
            .with_context(|| format!("loading {} {} again", self.cfg.module, self.cfg.params))?;
        if let Some((trace, sections)) = &mut self.trace {
            *sections = Sections::of_modules(&self.names)?;
            trace.reset();
        }
        self.pristine = true;
        Ok(())
    }

    /// The target's reset (`reset = { set = N, data = "…" }`): a set before every input,
    /// from a buffer of 4 KiB (a module that copies a fixed size past the stated length
    /// still reads mapped memory), so every input starts from the same state.
    fn reset_state(&mut self) -> Result<()> {
        let Some(r) = &self.cfg.reset else {
            return Ok(());
        };
        let mut buf = [0u8; 4096];
        let n = r.data.len().min(buf.len());
        buf[..n].copy_from_slice(&r.data[..n]);
        // SAFETY: a valid 4 KiB buffer; the stated length is within it.
        let rc = unsafe {
            libc::setsockopt(
                self.fd,
                self.cfg.target.level,
                r.optname,
                buf.as_ptr().cast(),
                n as libc::socklen_t,
            )
        };
        anyhow::ensure!(
            rc == 0,
            "resetting {} (a set of optname {}, {n} bytes) failed: {}",
            self.cfg.module,
            r.optname,
            std::io::Error::last_os_error()
        );
        Ok(())
    }

    /// Folds the trace into libFuzzer's counters and records new points, and `data` as the
    /// input that reached them first.
    fn fold_coverage(&mut self, counters: &mut [u8], data: &[u8]) -> Result<()> {
        let Some((trace, sections)) = &self.trace else {
            return Ok(());
        };
        let seen = &mut self.seen;
        let n = counters.len().max(1) as u64;
        let mut bump = |key: u64| {
            let slot = key.wrapping_mul(0x9e37_79b9_7f4a_7c15) % n;
            if let Some(c) = counters.get_mut(slot as usize) {
                *c = c.saturating_add(1);
            }
        };
        for pc in self.pending.drain(..) {
            match pc {
                Pc::At((s, off)) => {
                    bump((s as u64) << 20 ^ off);
                    seen.insert((s, off));
                }
                // The code a failed load ran, known by its offset in a page.
                Pc::Dead(page_off) => {
                    bump(1 << 40 | page_off);
                    seen.insert_dead(page_off);
                }
            }
        }
        trace.for_each(|pc| {
            if let Some((s, off)) = sections.locate(pc) {
                bump((s as u64) << 20 ^ off);
                seen.insert((s, off));
            }
        });
        let input = ksock_fuzz::reach::input_hash(data);
        if self.seen.claim(Some(input), self.execs) {
            // Written with the next status line (see `write_reach`).
            self.first_inputs.push((input, data.to_vec()));
            self.write_coverage()?;
        }
        Ok(())
    }

    fn write_coverage(&self) -> Result<()> {
        let Some((_, sections)) = &self.trace else {
            return Ok(());
        };
        let points = self.seen.named(sections);
        let path = self.cfg.out.join(ksock_fuzz::config::COVERAGE_FILE);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(&points)?)?;
        std::fs::rename(&tmp, &path)?;
        Ok(())
    }

    /// Each point's hits and first input (`ksock_fuzz::reach`), for the campaign's page,
    /// with the inputs that reached new points since the last time. At the status's pace:
    /// over 9p each file costs milliseconds, and a new point comes with every few inputs
    /// while libFuzzer replays the corpus.
    fn write_reach(&mut self) -> Result<()> {
        let Some((_, sections)) = &self.trace else {
            return Ok(());
        };
        if !self.first_inputs.is_empty() {
            // Kept apart from the corpus, which libFuzzer may shrink them out of.
            let dir = self.cfg.out.join(ksock_fuzz::reach::INPUTS_DIR);
            std::fs::create_dir_all(&dir)?;
            for (id, data) in self.first_inputs.drain(..) {
                std::fs::write(dir.join(ksock_fuzz::reach::id_of(id)), data)?;
            }
        }
        let path = self.cfg.out.join(ksock_fuzz::reach::REACH_FILE);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(&self.seen.reached(sections))?)?;
        std::fs::rename(&tmp, &path)?;
        Ok(())
    }

    /// Shrinks the failing ops and saves them under their title, once per title.
    fn report(&mut self, data: &[u8], ops: &Decoded, at: usize, v: Violation) -> Result<()> {
        let t = title_of(ops, at, &v, &self.cfg.module);
        if !self.titles.insert(t.clone()) {
            return Ok(());
        }
        let (small, v) = shrink(ops.prefix(at + 1), v, |trial| self.still_fires(trial, &t))?;
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let finding = findings::Finding {
            meta: FindingMeta::new(&self.cfg, &t, v.oracle, &v.detail, kernel.trim()),
            input: data,
            ops: &small,
            how: format!("shrunk from {} ops", ops.len()),
            console: &[],
        };
        let (_, fresh) = findings::save(&self.cfg.findings, &self.cfg, &finding)?;
        println!(
            "{} {} {t}",
            ksock_fuzz::config::FINDING_MARK,
            if fresh { "new" } else { "again" }
        );
        Ok(())
    }

    /// Whether `trial` ends in a finding titled `t`, and where. Message sequences get
    /// [`MSG_TRIALS`] tries: TCP may coalesce two sends into one receive, and the server
    /// logs from its own thread, so one run that does not show a bug does not clear the
    /// candidate. Sockopt and client sequences are deterministic: one try.
    fn still_fires(&mut self, trial: &Decoded, t: &str) -> Result<Option<(usize, Violation)>> {
        let tries = if matches!(trial, Decoded::Msg(_)) {
            MSG_TRIALS
        } else {
            1
        };
        for _ in 0..tries {
            if let (_, Some((at, v))) = self.execute(trial)? {
                if title_of(trial, at, &v, &self.cfg.module) == t {
                    return Ok(Some((at, v)));
                }
            }
        }
        Ok(None)
    }

    fn status(&mut self) {
        self.last_status = Instant::now();
        // Hits grow without new points: the status's pace keeps them current.
        if let Err(e) = self.write_reach() {
            eprintln!(
                "ksock-agent: writing {}: {e:#}",
                ksock_fuzz::reach::REACH_FILE
            );
        }
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        println!(
            "{} execs={} ops={} execs_per_s={:.0} ops_per_s={:.0} points={} findings={} \
             persist_s={:.1} exec_s={:.1} fold_s={:.1} run_s={:.1} skipped={}",
            ksock_fuzz::config::STATUS_MARK,
            self.execs,
            self.ops,
            self.execs as f64 / secs,
            self.ops as f64 / secs,
            self.seen.len(),
            self.titles.len(),
            self.spent[0].as_secs_f64(),
            self.spent[1].as_secs_f64(),
            self.spent[2].as_secs_f64(),
            self.spent[3].as_secs_f64(),
            self.skipped,
        );
        let _ = std::io::stdout().flush();
    }

    /// The fuzz benchmark's floors, each run for `d`: the corpus's own sockopt calls
    /// replayed bare ([`crate::fuzz::raw`]), and, for scale, set(5 bytes) + get(64 bytes)
    /// pairs on the first served optname with plain buffers; then the corpus through this
    /// session's executor (every oracle, no libFuzzer), which says where the time goes.
    /// Syscalls per second each.
    pub fn raw_floors(&mut self, corpus: &Path, d: Duration) -> Result<(f64, f64, f64)> {
        let replay = crate::fuzz::raw::Replay::from_corpus(corpus, &self.cfg)?;
        anyhow::ensure!(
            replay.calls() > 0,
            "the corpus {} holds no sockopt calls to replay",
            corpus.display()
        );
        let fd = self.fd;
        let (level, opt) = (self.cfg.target.level, self.cfg.target.optmin);
        let same = replay.run(fd, d, || {
            let _ = self.reset_state();
        });
        let val = *b"hello";
        let mut out = [0u8; 64];
        let start = Instant::now();
        let mut calls = 0u64;
        while start.elapsed() < d {
            for _ in 0..100 {
                let mut len = out.len() as libc::socklen_t;
                // SAFETY: valid buffers of the stated lengths; `len` is ours.
                unsafe {
                    libc::setsockopt(fd, level, opt, val.as_ptr().cast(), 5);
                    libc::getsockopt(fd, level, opt, out.as_mut_ptr().cast(), &mut len);
                }
                calls += 2;
            }
        }
        let pair = calls as f64 / start.elapsed().as_secs_f64();
        // What the bare loops logged is no input's.
        self.watch = SplatWatch::open();
        let executor = self.executor_rate(corpus, d)?;
        Ok((same, pair, executor))
    }

    /// Ops per second of the corpus's inputs (those without reloads) run by
    /// [`Self::execute_sockopt`], for `d`.
    fn executor_rate(&mut self, corpus: &Path, d: Duration) -> Result<f64> {
        let mut inputs = Vec::new();
        for e in std::fs::read_dir(corpus)?.flatten() {
            if let Decoded::Sockopt(ops) = self.cfg.decode(&std::fs::read(e.path())?) {
                if !ops.iter().any(|o| matches!(o, Op::Reload(_))) {
                    inputs.push(ops);
                }
            }
        }
        anyhow::ensure!(!inputs.is_empty(), "no corpus input without reloads");
        let start = Instant::now();
        let mut ops = 0u64;
        while start.elapsed() < d {
            for input in &inputs {
                ops += self.execute_sockopt(input)?.0 as u64;
            }
        }
        let rate = ops as f64 / start.elapsed().as_secs_f64();
        self.print_breakdown(&inputs, d / 2)?;
        Ok(rate)
    }

    /// Where the executor's time goes, per op, on `inputs` (a console line for whoever
    /// tunes it): the op alone (buffer, syscall, what it returned), the model's step, and
    /// the buffer's preparation alone.
    fn print_breakdown(&mut self, inputs: &[Vec<Op>], d: Duration) -> Result<()> {
        let per_op = |f: &mut dyn FnMut(&Op) -> Result<()>| -> Result<f64> {
            let (start, mut n) = (Instant::now(), 0u64);
            while start.elapsed() < d / 3 {
                for op in inputs.iter().flatten() {
                    f(op)?;
                    n += 1;
                }
            }
            Ok(start.elapsed().as_secs_f64() * 1e6 / n.max(1) as f64)
        };
        let t = self.cfg.target;
        let module = module_of(&self.cfg, self.seed_bugs);
        let (fd, arena) = (self.fd, &mut self.arena);
        let exec = per_op(&mut |op| fuzz::exec(arena, fd, op, &t, &module).map(drop))?;
        let mut m = model::SockoptModel::new(t, self.seed_bugs);
        let model = per_op(&mut |op| {
            std::hint::black_box(m.step(op));
            Ok(())
        })?;
        let arena = &mut self.arena;
        let buffer = per_op(&mut |op| {
            fuzz::prepare_only(arena, op, &t);
            Ok(())
        })?;
        println!("KSOCK-BREAKDOWN us_per_op exec={exec:.1} model={model:.1} buffer={buffer:.1}");
        Ok(())
    }

    /// A last status line (libFuzzer calls `exit` when its time is up).
    pub fn finish(&mut self) {
        self.status();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: closing the socket opened in `start`.
        unsafe { libc::close(self.fd) };
    }
}

/// Loads the coverage runtime, then the module under test (a client module is loaded by
/// each input instead, after the listener it connects to, which this returns), then the
/// modules beside it, and waits for a server to listen; leftovers of an earlier session
/// are unloaded first. `loaded` is called after each module's load with the modules
/// loaded so far.
/// The module under test as sockopt ops reload it.
fn module_of(cfg: &FuzzConfig, seed_bugs: i64) -> fuzz::Module<'_> {
    fuzz::Module {
        name: &cfg.module,
        ko: &cfg.ko,
        reload: fuzz::Reloads::of(cfg.model, seed_bugs, &cfg.params, &cfg.vary),
    }
}

fn load_modules(
    cfg: &FuzzConfig,
    loaded: &mut dyn FnMut(&[String]) -> Result<()>,
) -> Result<Option<std::net::TcpListener>> {
    for m in [cfg.module.as_str(), "ksock_cov"] {
        if modules::is_loaded(m) {
            modules::unload(m).with_context(|| format!("unloading a leftover {m}"))?;
        }
    }
    if let Some(rt) = &cfg.runtime {
        modules::load(rt, &format!("words={TRACE_WORDS}"))
            .context("loading the coverage runtime ksock_cov")?;
    }
    // A client module is loaded by each input (after the listener it connects to).
    let listener = match &cfg.client {
        Some(t) => Some(crate::fuzz::client::listen(t).context("listening for the client")?),
        None => {
            modules::load(&cfg.ko, &cfg.params)
                .with_context(|| format!("loading {} {}", cfg.module, cfg.params))?;
            loaded(std::slice::from_ref(&cfg.module))?;
            None
        }
    };
    let mut so_far: Vec<String> = listener
        .is_none()
        .then(|| cfg.module.clone())
        .into_iter()
        .collect();
    for a in &cfg.also {
        if modules::is_loaded(&a.name) {
            modules::unload(&a.name).with_context(|| format!("unloading a leftover {}", a.name))?;
        }
        modules::load(&a.ko, &a.params)
            .with_context(|| format!("loading {} {}", a.name, a.params))?;
        so_far.push(a.name.clone());
        loaded(&so_far)?;
    }
    // A server's thread may make its listening socket after the module's init returned:
    // inputs start when it listens.
    if let Some(s) = &cfg.server {
        crate::fuzz::msg::wait_listening(s.port)?;
    }
    Ok(listener)
}

/// Reads what the last of `loaded` ran while loading (its init) into `ran`, as named points
/// (`prefixed` with their module when the session has several), and clears the trace.
fn read_load(ran: &mut Vec<(String, u64)>, loaded: &[String], prefixed: bool) -> Result<()> {
    let mut sections = Sections::of_modules_as(loaded, prefixed)?;
    sections.expire_init(loaded.last().map(String::as_str));
    let mut t = Trace::open(TRACE_WORDS)?;
    t.for_each(|pc| {
        if let Some((i, off)) = sections.locate(pc) {
            ran.push((sections.name(i).to_string(), off));
        }
    });
    t.reset();
    Ok(())
}

/// A trace entry read before a reload: a point of the instance that ran it, or, for a load
/// that failed (its sections never appeared), the address's offset in its page.
#[derive(Debug, Clone, Copy)]
enum Pc {
    At((usize, u64)),
    Dead(u64),
}

/// Moves the trace into `pending`, located with the current sections (or as dead code).
fn collect(trace: &mut Option<(Trace, Sections)>, pending: &mut Vec<Pc>, dead: bool) {
    let Some((t, sections)) = trace else {
        return;
    };
    t.for_each(|pc| {
        pending.push(match sections.locate(pc) {
            Some(p) if !dead => Pc::At(p),
            _ => Pc::Dead(pc & 0xfff),
        })
    });
    t.reset();
}

/// [`Op::Reload`] with coverage kept straight (see [`Traced`]): the old instance's trace is
/// read before and during its unload, which also checks its optnames went with it.
fn reload_traced(
    mut traced: Traced,
    fd: libc::c_int,
    r: &ksock_fuzz::lang::sockopt::Reload,
    t: &ksock_fuzz::lang::sockopt::Target,
    module: &fuzz::Module,
) -> Result<fuzz::Observed> {
    collect(traced.trace, traced.pending, false);
    if let Some(why) = fuzz::unload_checked(fd, t, module) {
        return Ok(fuzz::Observed::reloaded(Some(why), None));
    }
    let errno = crate::fuzz::client::Loader::load(&mut traced, &module.reload_params(r))?;
    Ok(fuzz::Observed::reloaded(None, errno))
}

/// Loads and unloads the module under test (the first of `names`) with the trace read
/// while the sections it belongs to are known: a load or unload moves the module, so
/// entries are located before it (the old instance) and after it (the new one, or dead
/// code of a load that failed).
struct Traced<'a> {
    trace: &'a mut Option<(Trace, Sections)>,
    pending: &'a mut Vec<Pc>,
    /// The modules the trace covers; the first is the one loaded and unloaded.
    names: &'a [String],
    ko: &'a Path,
}

impl crate::fuzz::client::Loader for Traced<'_> {
    fn load(&mut self, params: &str) -> Result<Option<i32>> {
        collect(self.trace, self.pending, false);
        let errno = modules::load_errno(self.ko, params);
        if errno.is_none() {
            if let Some((_, sections)) = self.trace {
                // Its init is where its sections say; the others' may hold its code now.
                *sections = Sections::of_modules(self.names)?;
                sections.expire_init(Some(&self.names[0]));
            }
        }
        collect(self.trace, self.pending, errno.is_some());
        if let Some((_, sections)) = self.trace {
            sections.expire_init(None);
        }
        Ok(errno)
    }

    fn unload(&mut self) -> Result<Option<String>> {
        let name = &self.names[0];
        if !modules::is_loaded(name) {
            return Ok(None);
        }
        collect(self.trace, self.pending, false);
        let r = modules::unload(name);
        collect(self.trace, self.pending, false);
        Ok(r.err().map(|e| format!("unloading failed: {e}")))
    }
}

/// A finding's title: named after the op that fired the oracle, for sockopt sequences.
fn title_of(ops: &Decoded, at: usize, v: &Violation, module: &str) -> String {
    match ops {
        Decoded::Sockopt(o) => fuzz::title(o.get(at), v, module),
        Decoded::Mixed(s) => match s.get(at) {
            Some(Step::Sockopt(op)) => fuzz::title(Some(op), v, module),
            _ => fuzz::title(None, v, module),
        },
        Decoded::Msg(_) | Decoded::Client(_) => fuzz::title(None, v, module),
    }
}

/// The modules a session's trace covers: the one under test, then those loaded beside it.
fn module_names(cfg: &FuzzConfig) -> Vec<String> {
    std::iter::once(cfg.module.clone())
        .chain(cfg.also.iter().map(|a| a.name.clone()))
        .collect()
}

/// `patterns` as one alternation (none: a pattern that never matches).
fn one_pattern(patterns: &[String]) -> Result<regex::bytes::Regex> {
    let alt: Vec<String> = patterns.iter().map(|p| format!("(?:{p})")).collect();
    let re = if alt.is_empty() {
        r"[^\s\S]".to_string()
    } else {
        alt.join("|")
    };
    Ok(regex::bytes::Regex::new(&re)?)
}

/// Reads the config the harness wrote.
pub fn read_config(path: &Path) -> Result<FuzzConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}
