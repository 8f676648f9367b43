//! Booting a kernel with virtme-ng and running one command in the guest.
//!
//! The guest's userland is the host's own root, shared read-only over 9p (vng's default):
//! the agent binary and module files are reachable at their host paths. Results come back
//! through a read-write shared directory, never through vng's exit status, which is not
//! reliable (without udev in the guest the command runs on the console and vng exits 255
//! even when the command succeeded).
//!
//! Invariants: qemu runs in its own process group under [`crate::host::supervise`], so a
//! timeout, a panic, an error on our side or Ctrl-C always ends with no qemu left; the whole
//! console is captured through a pipe (a file redirect was seen to lose the start).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::host::cache::Cache;
use crate::host::supervise::{self, Ended};
use crate::host::{privilege, progress, scratch, tools};
use crate::Error;

/// How the guest CPU is provided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    Kvm,
    Tcg,
}

impl std::fmt::Display for Accel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        })
    }
}

/// Called with each console line as it arrives (a long-lived guest process, such as a
/// fuzzer, streams its output back this way).
pub type LineSink = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// One boot.
#[derive(Clone)]
pub struct BootRequest {
    /// The kernel's bzImage: vng reads its version from it and finds its modules beside it.
    pub vmlinuz: PathBuf,
    /// The same kernel as an ELF with a PVH entry (`PreparedKernel::pvh`): booted instead
    /// of the bzImage when set, seconds faster under TCG.
    pub pvh: Option<PathBuf>,
    pub accel: Accel,
    /// Shell command run in the guest by virtme-init.
    pub exec: String,
    /// Extra kernel command-line words (the harness adds the guest marker here).
    pub append: Vec<String>,
    /// Host directories the guest may write (same path inside).
    pub rwdirs: Vec<PathBuf>,
    pub memory: String,
    pub cpus: u32,
    pub timeout: Duration,
    /// Where the console goes, line by line, as it arrives.
    pub console_log: PathBuf,
    pub on_line: Option<LineSink>,
    /// Polled while the guest runs: `Some(reason)` stops it (a spec that hangs).
    pub watchdog: Option<Watchdog>,
    /// A host file shown to the guest as shared memory (an ivshmem PCI device, BAR 2): what
    /// the guest writes there is in the file the moment it is written, so it survives a
    /// kernel panic. Its size must be a power of two.
    pub shared_memory: Option<PathBuf>,
}

/// See [`BootRequest::watchdog`].
pub type Watchdog = std::sync::Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// How a boot ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootEnd {
    /// vng returned (its status is informational only).
    Exited(Option<i32>),
    TimedOut,
    /// The console showed a kernel panic; the VM was stopped.
    Panicked,
    /// KVM could not run this kernel (emulation failure).
    KvmFailed,
    /// The watchdog stopped the guest, for this reason.
    Stopped(String),
    /// qemu itself was killed by this signal (from outside: the OOM killer, a user).
    QemuKilled(i32),
}

#[derive(Debug, Clone)]
pub struct BootOutcome {
    pub end: BootEnd,
    pub console: Vec<String>,
    pub duration: Duration,
}

impl BootOutcome {
    /// The last `n` console lines, for failure reports.
    pub fn console_tail(&self, n: usize) -> String {
        self.console[self.console.len().saturating_sub(n)..].join("\n")
    }
}

const PANIC_MARK: &str = "Kernel panic - not syncing";
const KVM_FAIL_MARKS: &[&str] = &["KVM internal error", "emulation failure"];

/// A console line after which the VM is useless: a kernel panic, or KVM unable to run it.
fn fatal_mark(line: &str) -> Option<BootEnd> {
    if line.contains(PANIC_MARK) {
        Some(BootEnd::Panicked)
    } else if KVM_FAIL_MARKS.iter().any(|m| line.contains(m)) {
        Some(BootEnd::KvmFailed)
    } else {
        None
    }
}

/// Boots, runs `exec`, and returns when the guest is gone.
pub fn boot(req: &BootRequest) -> Result<BootOutcome, Error> {
    let mut cmd = vng_command(req)?;
    // vng and qemu leave files in $TMPDIR (virtme_ret*, sockets) when killed; give them a
    // directory of their own, removed when this boot ends (or, if ksock is SIGKILLed, by
    // the next ksock's sweep).
    let vng_tmp = scratch::tempdir("vng")?;
    cmd.env("TMPDIR", vng_tmp.path());
    let qemu_status = vng_tmp.path().join("qemu.status");
    let (wrapper, qemu) = qemu_wrapper(vng_tmp.path())?;
    cmd.arg(format!("--qemu={}", wrapper.display()))
        .env("KSOCK_QEMU", qemu)
        .env("KSOCK_QEMU_STATUS", &qemu_status);
    cmd.arg("--exec").arg(&req.exec);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());

    let console = Console::create(&req.console_log)?;
    let start = Instant::now();
    let mut readers = Vec::new();
    let ended = supervise::run_with(
        cmd,
        "vng (virtme-ng)",
        Some(req.timeout),
        |child| {
            let out = child
                .stdout
                .take()
                .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>);
            let err = child
                .stderr
                .take()
                .map(|e| Box::new(e) as Box<dyn std::io::Read + Send>);
            for r in out.into_iter().chain(err) {
                readers.push(console.reader(r, req.on_line.clone()));
            }
        },
        || console.should_stop(req.watchdog.as_ref()),
    );
    // Readers end when the pipes close (the whole process group is gone by now).
    for r in readers {
        let _ = r.join();
    }
    let ended = ended?;
    let seen = console
        .fatal
        .lock()
        .expect("fatal lock")
        .clone()
        .map(|(e, _)| e);
    let end = match (ended, seen) {
        (_, Some(e)) => e,
        (Ended::TimedOut, None) => BootEnd::TimedOut,
        (Ended::Exited(st), None) => match qemu_signal(&qemu_status) {
            Some(sig) => BootEnd::QemuKilled(sig),
            None => BootEnd::Exited(st.code()),
        },
        (Ended::Stopped, None) => BootEnd::Exited(None),
    };
    let console = std::mem::take(&mut *console.lines.lock().expect("lines lock"));
    Ok(BootOutcome {
        end,
        console,
        duration: start.elapsed(),
    })
}

/// The `vng` command for `req`: the kernel, the machine, the command line and the QEMU
/// options (not yet its temporary directory, qemu wrapper or command).
fn vng_command(req: &BootRequest) -> Result<std::process::Command, Error> {
    let vng = tools::vng_path().ok_or_else(|| {
        Error::Config("virtme-ng (`vng`) is not installed; run `cargo xtask setup`".into())
    })?;
    // Contained: vng, virtme-run and qemu die with ksock, even on SIGKILL.
    let mut cmd = supervise::contained(vng, false);
    cmd.arg("--run")
        .arg(&req.vmlinuz)
        .args(["--memory", &req.memory, "--cpus", &req.cpus.to_string()])
        .args(["--verbose", "--cwd", "/"])
        // vng tries virtiofsd first for the root and every --rwdir, and where that daemon
        // cannot serve (QEMU's C virtiofsd, as on Debian 12) it waits 3.1 s for each before
        // falling back to 9p: go to 9p at once.
        .arg("--force-9p")
        // --verbose leaves the console at level 7, and every line printed on the emulated
        // serial port costs boot time under TCG: keep warnings and worse (splats, oopses,
        // panics); the agent reads the whole log through /dev/kmsg anyway. A caller's own
        // `loglevel=` comes later and wins.
        .arg("--append=loglevel=4");
    for a in &req.append {
        cmd.arg(format!("--append={a}"));
    }
    if req.accel == Accel::Tcg {
        cmd.arg("--disable-kvm");
    }
    for d in &req.rwdirs {
        cmd.arg(format!("--rwdir={}", d.display()));
    }
    let mut qemu_opts = Vec::new();
    if let Some(elf) = &req.pvh {
        // After vng's own `-kernel <bzImage>`, so QEMU boots this one. (Given to vng as the
        // kernel, the ELF would cost 2 s: vng runs `strings` over it for the version.)
        qemu_opts.push(format!("-kernel {}", elf.display()));
    }
    if let Some(f) = &req.shared_memory {
        qemu_opts.push(shared_memory_opts(f)?);
    }
    if !qemu_opts.is_empty() {
        cmd.arg(format!("--qemu-opts={}", qemu_opts.join(" ")));
    }
    Ok(cmd)
}

/// The guest's console as it arrives: every line, the log file, and the first line after
/// which the VM is useless.
struct Console {
    lines: Arc<Mutex<Vec<String>>>,
    /// Set when the console shows something after which the VM is useless.
    fatal: Arc<Mutex<Option<(BootEnd, Instant)>>>,
    log: Arc<Mutex<std::fs::File>>,
}

impl Console {
    fn create(path: &Path) -> Result<Self, Error> {
        let log = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        Ok(Self {
            lines: Arc::default(),
            fatal: Arc::default(),
            log: Arc::new(Mutex::new(log)),
        })
    }

    /// A thread reading `r` line by line into the console, until the pipe closes.
    fn reader(
        &self,
        r: Box<dyn std::io::Read + Send>,
        sink: Option<LineSink>,
    ) -> std::thread::JoinHandle<()> {
        let (lines, fatal, log) = (self.lines.clone(), self.fatal.clone(), self.log.clone());
        std::thread::spawn(move || {
            let rd = std::io::BufReader::new(r);
            for line in rd.split(b'\n').map_while(Result::ok) {
                let line = String::from_utf8_lossy(&line)
                    .trim_end_matches('\r')
                    .to_string();
                {
                    use std::io::Write;
                    let mut f = log.lock().expect("log lock");
                    let _ = writeln!(f, "{line}");
                }
                if let Some(end) = fatal_mark(&line) {
                    let mut f = fatal.lock().expect("fatal lock");
                    if f.is_none() {
                        *f = Some((end, Instant::now()));
                    }
                }
                if let Some(f) = &sink {
                    f(&line);
                }
                lines.lock().expect("lines lock").push(line);
            }
        })
    }

    /// Whether to stop the VM now: after a fatal console line, or when `watchdog` says so.
    fn should_stop(&self, watchdog: Option<&Watchdog>) -> bool {
        // Give a panic 3 s to print its trace before stopping the VM; a KVM emulation
        // failure leaves qemu hung, so stop it at once.
        let mut fatal = self.fatal.lock().expect("fatal lock");
        match &*fatal {
            Some((BootEnd::Panicked, t)) => t.elapsed() > Duration::from_secs(3),
            Some(_) => true,
            None => match watchdog.and_then(|w| w()) {
                Some(why) => {
                    *fatal = Some((BootEnd::Stopped(why), Instant::now()));
                    true
                }
                None => false,
            },
        }
    }
}

/// virtme-run reports every unexpected end of qemu as status 255, so qemu is started through
/// this wrapper (`vng --qemu`), which runs the real qemu as its child and records its status.
const QEMU_WRAPPER: &str = r#"#!/bin/sh
"$KSOCK_QEMU" "$@"
st=$?
echo "$st" > "$KSOCK_QEMU_STATUS"
exit "$st"
"#;

/// Writes the wrapper into `dir`; returns it and the real qemu, which reaches the wrapper by
/// environment (`KSOCK_QEMU`, with `KSOCK_QEMU_STATUS` for the status file).
fn qemu_wrapper(dir: &Path) -> Result<(PathBuf, PathBuf), Error> {
    use std::os::unix::fs::PermissionsExt;
    let qemu = tools::find_tool("qemu-system-x86_64").ok_or_else(|| {
        Error::Config("qemu-system-x86_64 is not installed; run `cargo xtask setup`".into())
    })?;
    let path = dir.join("ksock-qemu");
    std::fs::write(&path, QEMU_WRAPPER).map_err(|e| Error::io(&path, e))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::io(&path, e))?;
    Ok((path, qemu))
}

/// QEMU options giving the guest `file` as an ivshmem device.
fn shared_memory_opts(file: &Path) -> Result<String, Error> {
    let size = std::fs::metadata(file)
        .map_err(|e| Error::io(file, e))?
        .len();
    let path = file.display().to_string();
    // vng splits its --qemu-opts at spaces, and QEMU's option syntax uses commas.
    if path.contains([',', ' ', '\t']) || !size.is_power_of_two() {
        return Err(Error::Config(format!(
            "{path}: cannot be shared memory (the path may hold no comma or space, the size \
             must be a power of two, is {size})"
        )));
    }
    Ok(format!(
        "-object memory-backend-file,id=ksock-shm,share=on,mem-path={path},size={size} \
         -device ivshmem-plain,memdev=ksock-shm"
    ))
}

/// The signal that killed qemu, from the wrapper's status file (a shell reports 128 + n).
fn qemu_signal(status: &Path) -> Option<i32> {
    let code: i32 = std::fs::read_to_string(status).ok()?.trim().parse().ok()?;
    (code > 128 && code < 128 + 65).then_some(code - 128)
}

/// The cached answer of a KVM probe: which accelerator, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AccelChoice {
    pub accel: Accel,
    /// What the probe saw, in words, e.g. "KVM cannot run 7.2.13+deb14-amd64 here: …".
    pub reason: String,
    /// The kernel release the probe booted.
    pub probed_with: String,
}

/// Where the probe's answer for this host is kept: `<cache>/accel-<host release>.json`.
/// Delete it to probe again.
pub fn accel_cache_file(cache: &Cache) -> PathBuf {
    let host = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    cache.root().join(format!("accel-{}.json", host.trim()))
}

/// Resolves `auto` to KVM or TCG: TCG when `/dev/kvm` is not usable; otherwise a probe boot
/// with KVM decides, once per host (its kernel release), and the answer is cached with its
/// reason. Whether KVM can run stock guests is a property of the host: on a KVM-PVM host
/// some guests fail with an emulation error within seconds and others hang silently until
/// the timeout, so probing per guest kernel only repeats the cost.
///
/// Only a real answer about KVM is cached: a KVM guest that ran, an emulation failure, or a
/// KVM guest that did not finish while the same guest under TCG did. When no guest can be
/// started at all (vng missing a helper, a broken kernel image), that says nothing about KVM:
/// it is an error, and nothing is cached.
pub fn resolve_accel(
    cache: &Cache,
    requested: Option<Accel>,
    vmlinuz: &Path,
    release: &str,
) -> Result<Accel, Error> {
    if let Some(a) = requested {
        return Ok(a);
    }
    if let Err(why) = privilege::kvm_access() {
        if Path::new("/dev/kvm").exists() {
            // There is KVM, but not for this user: say how to get it.
            eprintln!("ksock: guests run under TCG: {why}");
        }
        return Ok(Accel::Tcg);
    }
    let path = accel_cache_file(cache);
    // An older format (a bare "tcg") carries no reason and may be a poisoned answer: re-probe.
    if let Some(c) = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str::<AccelChoice>(&t).ok())
    {
        return Ok(c.accel);
    }
    let step = progress::Step::start(format!("probing KVM with {release} (once per host)"));
    let choice = probe_accel(vmlinuz, release)?;
    step.done(&format!(
        "{}: {} (cached in {}; delete it to probe again)",
        choice.accel,
        choice.reason,
        path.display()
    ));
    let text = serde_json::to_string_pretty(&choice).expect("serialisable");
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| Error::io(&path, e))?;
    Ok(choice.accel)
}

/// Boots `vmlinuz` with KVM (and, if that does not finish, with TCG as a control) to learn
/// whether KVM can run it. Never touches the cache.
pub fn probe_accel(vmlinuz: &Path, release: &str) -> Result<AccelChoice, Error> {
    let kvm = probe_boot(vmlinuz, Accel::Kvm, Duration::from_secs(45))?;
    let choice = |accel, reason: String| AccelChoice {
        accel,
        reason,
        probed_with: release.to_string(),
    };
    if kvm.ran {
        return Ok(choice(Accel::Kvm, format!("a KVM guest of {release} ran")));
    }
    if kvm.outcome.end == BootEnd::KvmFailed {
        let line = kvm
            .outcome
            .console
            .iter()
            .find(|l| fatal_mark(l) == Some(BootEnd::KvmFailed))
            .cloned()
            .unwrap_or_default();
        return Ok(choice(
            Accel::Tcg,
            format!("KVM cannot run {release} here: {}", line.trim()),
        ));
    }
    // Did not run, no KVM error: a silent hang under KVM, or no guest can start at all?
    let tcg = probe_boot(vmlinuz, Accel::Tcg, Duration::from_secs(180))?;
    if tcg.ran {
        return Ok(choice(
            Accel::Tcg,
            format!(
                "a KVM guest of {release} did not finish ({}) while the same guest under TCG did",
                describe_end(&kvm.outcome.end)
            ),
        ));
    }
    Err(Error::Guest(format!(
        "cannot start a guest of {release} at all (neither with KVM nor with TCG; nothing was \
         cached). Last console lines:\n{}",
        tcg.outcome.console_tail(20)
    )))
}

struct Probe {
    ran: bool,
    outcome: BootOutcome,
}

fn probe_boot(vmlinuz: &Path, accel: Accel, timeout: Duration) -> Result<Probe, Error> {
    let dir = scratch::tempdir("probe")?;
    let marker = dir.path().join("ok");
    let outcome = boot(&BootRequest {
        vmlinuz: vmlinuz.to_path_buf(),
        pvh: None,
        accel,
        exec: format!("echo ok > {}", marker.display()),
        append: Vec::new(),
        rwdirs: vec![dir.path().to_path_buf()],
        memory: "1G".into(),
        cpus: 1,
        timeout,
        console_log: dir.path().join("console.log"),
        on_line: None,
        watchdog: None,
        shared_memory: None,
    })?;
    Ok(Probe {
        ran: marker.exists(),
        outcome,
    })
}

/// A boot's end in words, for messages.
pub fn describe_end(end: &BootEnd) -> String {
    match end {
        BootEnd::Exited(Some(c)) => format!("vng exited with status {c}"),
        BootEnd::Exited(None) => "vng was stopped".into(),
        BootEnd::TimedOut => "timed out".into(),
        BootEnd::Panicked => "kernel panic".into(),
        BootEnd::KvmFailed => "KVM emulation failure".into(),
        BootEnd::Stopped(why) => format!("stopped: {why}"),
        BootEnd::QemuKilled(sig) => format!("qemu was killed by signal {sig}"),
    }
}

/// What a panicked guest's console says about why: the first splat (the oops or BUG that
/// `oops=panic` turned into a panic) and the panic line itself.
pub fn crash_summary(console: &[String]) -> String {
    let strip = |l: &str| {
        // Drop the "[    5.912345] " timestamp.
        match l
            .trim_start()
            .strip_prefix('[')
            .and_then(|r| r.split_once("] "))
        {
            Some((_, rest)) => rest.trim().to_string(),
            None => l.trim().to_string(),
        }
    };
    let panic = console
        .iter()
        .find(|l| l.contains(PANIC_MARK))
        .map(|l| strip(l));
    let first = splats(kernel_lines(console))
        .into_iter()
        .find(|l| !l.contains(PANIC_MARK))
        .map(|l| strip(&l));
    match (first, panic) {
        (Some(s), Some(p)) => format!("the kernel panicked after: {s} ({p})"),
        (None, Some(p)) => format!("the kernel panicked ({p})"),
        (Some(s), None) => format!("the kernel panicked after: {s}"),
        (None, None) => "the kernel panicked".to_string(),
    }
}

/// The console lines the kernel printed: they carry a `[ seconds]` timestamp, userspace
/// output on the console (a fuzzer's warnings) does not.
pub fn kernel_lines(console: &[String]) -> impl Iterator<Item = &str> {
    console
        .iter()
        .map(String::as_str)
        .filter(|l| l.trim_start().starts_with('['))
}

/// Kernel splats that fail any spec: a line matching one of these in dmesg or on the console.
pub const SPLAT_PATTERNS: &[&str] = &[
    r"\bBUG:",
    r"\bWARNING:",
    r"\bOops\b",
    r"general protection fault",
    r"\bKASAN\b",
    r"refcount_t:",
    r"list_(add|del) corruption",
    r"soft lockup",
    r"Kernel panic",
    r"UBSAN:",
];

/// Lines that look like kernel splats.
pub fn splats<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let set = regex::RegexSet::new(SPLAT_PATTERNS).expect("valid patterns");
    lines
        .into_iter()
        .filter(|l| set.is_match(l))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_and_kvm_failures_end_a_boot() {
        assert_eq!(
            fatal_mark("[    5.9] Kernel panic - not syncing: Fatal exception"),
            Some(BootEnd::Panicked)
        );
        assert_eq!(
            fatal_mark("KVM internal error. Suberror: 1"),
            Some(BootEnd::KvmFailed)
        );
        assert_eq!(
            fatal_mark("[    5.9] ksock_server: stopped port=8888 conns=0"),
            None
        );
    }

    #[test]
    fn crash_summary_names_the_oops_and_the_panic() {
        let console: Vec<String> = [
            "[    6.1] ksock_crash: armed=2",
            "[    6.2] BUG: kernel NULL pointer dereference, address: 0000000000000000",
            "[    6.2] Oops: Oops: 0000 [#1] SMP NOPTI",
            "[    6.3] Kernel panic - not syncing: Fatal exception",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            crash_summary(&console),
            "the kernel panicked after: BUG: kernel NULL pointer dereference, address: \
             0000000000000000 (Kernel panic - not syncing: Fatal exception)"
        );
        assert_eq!(crash_summary(&[]), "the kernel panicked");
    }

    #[test]
    fn qemu_status_names_the_signal_only_for_signals() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("st");
        std::fs::write(&f, "137\n").unwrap();
        assert_eq!(qemu_signal(&f), Some(9));
        std::fs::write(&f, "0\n").unwrap();
        assert_eq!(qemu_signal(&f), None);
        std::fs::write(&f, "1\n").unwrap();
        assert_eq!(qemu_signal(&f), None);
        assert_eq!(qemu_signal(&dir.path().join("absent")), None);
    }

    #[test]
    fn splats_are_found_and_normal_lines_pass() {
        let lines = [
            "[    1.0] ksock_hello: loaded count=3",
            "[    2.0] BUG: kernel NULL pointer dereference, address: 0000000000000000",
            "[    2.1] refcount_t: underflow; use-after-free.",
            "[    2.2] WARNING: CPU: 0 PID: 1 at net/socket.c:1 foo",
            "[    2.3] debug: no bugs here",
        ];
        let s = splats(lines);
        assert_eq!(s.len(), 3, "{s:?}");
    }
}
