//! Booting a kernel with virtme-ng and running one command in the guest.
//!
//! The guest's userland is the host's own root, shared read-only over 9p (vng's default):
//! the agent binary and module files are reachable at their host paths. Results come back
//! through a read-write shared directory, never through vng's exit status, which is not
//! reliable (without udev in the guest the command runs on the console and vng exits 255
//! even when the command succeeded).
//!
//! Invariants: qemu runs in its own process group under [`crate::supervise`], so a
//! timeout, a panic, an error on our side or Ctrl-C always ends with no qemu left; the whole
//! console is captured through a pipe (a file redirect was seen to lose the start).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::supervise::{self, Ended};
use crate::{Cache, Error};

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
    pub vmlinuz: PathBuf,
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
}

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

/// Finds the `vng` command: ksock's own pinned install (`<cache>/venv/bin/vng`, made by
/// [`crate::host::ensure_host_tools`]) first, then `PATH`.
pub fn vng_path() -> Option<PathBuf> {
    crate::host::venv_vng()
        .filter(|p| p.is_file())
        .or_else(|| which("vng"))
}

pub fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(cmd))
            .find(|p| p.is_file())
    })
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
    let vng = vng_path().ok_or_else(|| {
        Error::Config("virtme-ng (`vng`) is not installed; run `cargo xtask setup`".into())
    })?;
    let mut cmd = Command::new(vng);
    cmd.arg("--run")
        .arg(&req.vmlinuz)
        .args(["--memory", &req.memory, "--cpus", &req.cpus.to_string()])
        .args(["--verbose", "--cwd", "/"]);
    for a in &req.append {
        cmd.arg(format!("--append={a}"));
    }
    if req.accel == Accel::Tcg {
        cmd.arg("--disable-kvm");
    }
    for d in &req.rwdirs {
        cmd.arg(format!("--rwdir={}", d.display()));
    }
    cmd.arg("--exec").arg(&req.exec);
    // vng and qemu leave files in $TMPDIR (virtme_ret*, sockets) when killed; give them a
    // directory of their own that is removed when this boot ends, however it ends.
    let vng_tmp = tempfile::Builder::new()
        .prefix("ksock-vng-")
        .tempdir()
        .map_err(|e| Error::io(&std::env::temp_dir(), e))?;
    cmd.env("TMPDIR", vng_tmp.path());
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());

    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    // Set when the console shows something after which the VM is useless.
    let fatal: Arc<Mutex<Option<(BootEnd, Instant)>>> = Arc::default();
    let log = Arc::new(Mutex::new(
        std::fs::File::create(&req.console_log).map_err(|e| Error::io(&req.console_log, e))?,
    ));

    let start = Instant::now();
    let mut readers = Vec::new();
    let spawn_reader = |r: Box<dyn std::io::Read + Send>| {
        let (lines, fatal, log, sink) = (
            lines.clone(),
            fatal.clone(),
            log.clone(),
            req.on_line.clone(),
        );
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
    };
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
                readers.push(spawn_reader(r));
            }
        },
        || {
            // Give a panic 3 s to print its trace before stopping the VM; a KVM emulation
            // failure leaves qemu hung, so stop it at once.
            match &*fatal.lock().expect("fatal lock") {
                Some((BootEnd::Panicked, t)) => t.elapsed() > Duration::from_secs(3),
                Some(_) => true,
                None => false,
            }
        },
    );
    // Readers end when the pipes close (the whole process group is gone by now).
    for r in readers {
        let _ = r.join();
    }
    let ended = ended?;
    let seen = fatal.lock().expect("fatal lock").clone().map(|(e, _)| e);
    let end = match (ended, seen) {
        (_, Some(e)) => e,
        (Ended::TimedOut, None) => BootEnd::TimedOut,
        (Ended::Exited(st), None) => BootEnd::Exited(st.code()),
        (Ended::Stopped, None) => BootEnd::Exited(None),
    };
    let console = std::mem::take(&mut *lines.lock().expect("lines lock"));
    Ok(BootOutcome {
        end,
        console,
        duration: start.elapsed(),
    })
}

/// Resolves `auto` to KVM or TCG: TCG when `/dev/kvm` is not usable; otherwise a probe boot
/// with KVM decides, once per host (its kernel release), and the answer is cached. Whether
/// KVM can run stock guests is a property of the host: on a KVM-PVM host some guests fail
/// with an emulation error within seconds and others hang silently until the timeout, so
/// probing per guest kernel only repeats the cost.
pub fn resolve_accel(
    cache: &Cache,
    requested: Option<Accel>,
    vmlinuz: &Path,
    release: &str,
) -> Result<Accel, Error> {
    if let Some(a) = requested {
        return Ok(a);
    }
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_err()
    {
        return Ok(Accel::Tcg);
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let key = format!("accel-{}", host.trim());
    let path = cache.root().join(format!("{key}.json"));
    if let Some(a) = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str::<Accel>(&t).ok())
    {
        return Ok(a);
    }
    let step = crate::progress::Step::start(format!("probing KVM with {release} (once per host)"));
    let dir = tempfile::tempdir().map_err(|e| Error::io(Path::new("/tmp"), e))?;
    let marker = dir.path().join("ok");
    let out = boot(&BootRequest {
        vmlinuz: vmlinuz.to_path_buf(),
        accel: Accel::Kvm,
        exec: format!("echo ok > {}", marker.display()),
        append: Vec::new(),
        rwdirs: vec![dir.path().to_path_buf()],
        memory: "1G".into(),
        cpus: 1,
        // A KVM guest runs `echo` in a few seconds; a silent hang must not cost more.
        timeout: Duration::from_secs(45),
        console_log: dir.path().join("console.log"),
        on_line: None,
    })?;
    let accel = if marker.exists() {
        Accel::Kvm
    } else {
        Accel::Tcg
    };
    step.done(&format!(
        "{accel} ({})",
        match out.end {
            BootEnd::KvmFailed => "KVM cannot run this kernel here",
            _ if accel == Accel::Kvm => "KVM works",
            _ => "KVM boot did not finish",
        }
    ));
    let _ = std::fs::write(&path, serde_json::to_string(&accel).expect("serialisable"));
    Ok(accel)
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
