//! Reading the kernel log from `/dev/kmsg`: one record per read(2), starting at the end so a
//! spec sees only the lines its own actions caused.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

/// One kernel log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub level: u8,
    pub seq: u64,
    pub ts_us: u64,
    pub text: String,
}

impl Record {
    /// `dmesg`-style line: `[   12.345678] text`.
    pub fn line(&self) -> String {
        format!(
            "[{:5}.{:06}] {}",
            self.ts_us / 1_000_000,
            self.ts_us % 1_000_000,
            self.text
        )
    }
}

/// Parses `prio,seq,ts,flags[,…];message\n[ KEY=value\n…]` (see Documentation/ABI/testing/dev-kmsg).
pub fn parse_record(raw: &str) -> Option<Record> {
    let (head, rest) = raw.split_once(';')?;
    let mut f = head.split(',');
    let prio: u32 = f.next()?.parse().ok()?;
    let seq = f.next()?.parse().ok()?;
    let ts_us = f.next()?.parse().ok()?;
    // The message is the first line; continuation lines carry dictionary entries.
    let msg = rest.split('\n').next().unwrap_or("");
    Some(Record {
        level: (prio & 7) as u8,
        seq,
        ts_us,
        text: unescape(msg),
    })
}

/// `/dev/kmsg` escapes non-printable bytes as `\xNN`.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b.get(i + 1) == Some(&b'x') {
            if let Ok(v) = u8::from_str_radix(&s[i + 2..i + 4], 16) {
                out.push(if v == b'\n' { ' ' } else { v as char });
                i += 4;
                continue;
            }
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

pub struct Kmsg {
    f: std::fs::File,
}

impl Kmsg {
    /// Opens the log positioned after the newest record.
    pub fn open_at_end() -> std::io::Result<Self> {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")?;
        // SAFETY: lseek on an fd we own; SEEK_END on /dev/kmsg moves past the last record.
        unsafe {
            libc::lseek(f.as_raw_fd(), 0, libc::SEEK_END);
        }
        Ok(Self { f })
    }

    /// Every record that arrived since the last call.
    pub fn read_available(&mut self) -> Vec<Record> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 8192];
        loop {
            match self.f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if let Some(r) = parse_record(&String::from_utf8_lossy(&buf[..n])) {
                        out.push(r);
                    }
                }
                // EPIPE: records were overwritten before we read them; go on with the next.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break, // EAGAIN: nothing more now.
            }
        }
        out
    }
}

/// The kernel log through syslog(2)'s reader (the one `/proc/kmsg` serves): every new line
/// in one read, where `/dev/kmsg` gives one record per read(2). The fuzzer checks the log
/// after every input, and the module under test logs a line per call. Nothing else in a
/// ksock guest reads this log (no syslog daemon), so no line goes to another reader.
pub struct Syslog {
    buf: Vec<u8>,
}

const SYSLOG_ACTION_READ: libc::c_int = 2;
const SYSLOG_ACTION_SIZE_UNREAD: libc::c_int = 9;

impl Syslog {
    /// Starts after what is in the log now.
    pub fn open_at_end() -> Self {
        let mut s = Self {
            buf: vec![0; 64 * 1024],
        };
        while !s.read_new().is_empty() {}
        s
    }

    /// The first line logged since the last call that `pattern` matches, as `[ts] text`.
    /// The new bytes are scanned once, as they are: no line is split or copied unless one
    /// matches (the fuzzer calls this after every input, and the module logs a line per
    /// call). `pattern` must not match across a newline.
    pub fn first_match(&mut self, pattern: &regex::bytes::Regex) -> Option<String> {
        let n = self.read_raw();
        matching_line(&self.buf[..n], pattern)
    }

    /// The lines logged since the last call, as `[ts] text`; no allocation when none were.
    pub fn read_new(&mut self) -> Vec<String> {
        let n = self.read_raw();
        if n == 0 {
            return Vec::new();
        }
        parse_syslog(&self.buf[..n])
    }

    /// Reads what is new into `buf`; its length.
    fn read_raw(&mut self) -> usize {
        // SAFETY: SIZE_UNREAD takes no buffer.
        let unread = unsafe { libc::klogctl(SYSLOG_ACTION_SIZE_UNREAD, std::ptr::null_mut(), 0) };
        if unread <= 0 {
            return 0;
        }
        // SAFETY: READ fills at most `len` bytes of our buffer; it does not block, as there
        // are unread bytes.
        let n = unsafe {
            libc::klogctl(
                SYSLOG_ACTION_READ,
                self.buf.as_mut_ptr().cast(),
                self.buf.len() as libc::c_int,
            )
        };
        n.max(0) as usize
    }
}

/// Kernel splats, noticed cheaply after every input. Where the kernel counts its warnings
/// and oopses (`/sys/kernel/warn_count`, `oops_count`: 6.2 and later, and every WARN,
/// KFENCE, UBSAN and KASAN report goes through that count), an input costs one `pread` of
/// each; only when one moved (or once a [`SCAN_EVERY`], for what no counter sees: hung
/// tasks, soft lockups) is the log's tail read, without consuming it (`READ_ALL`). Reading
/// every new line after every input cost ~8 us per line under TCG, and the module under
/// test may log one per call. Older kernels get exactly that: [`Syslog::first_match`].
/// The tail is 64 KiB: a splat is read right after the input that caused it, well within
/// it; a hung-task line found only by the periodic scan may already have been pushed out
/// by a chatty module (libFuzzer's per-input timeout still catches the hang itself).
pub struct SplatWatch {
    counters: Vec<(std::fs::File, u64)>,
    last_scan: std::time::Instant,
    /// The newest splat line already reported (its timestamp), so a scan reports only
    /// later ones.
    reported_until: f64,
    tail: Vec<u8>,
    fallback: Syslog,
}

/// How often the log's tail is read although no counter moved.
pub const SCAN_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
const SYSLOG_ACTION_READ_ALL: libc::c_int = 3;

impl SplatWatch {
    /// Starts after what the kernel has counted and logged so far.
    pub fn open() -> Self {
        let counters = ["/sys/kernel/warn_count", "/sys/kernel/oops_count"]
            .iter()
            .filter_map(|p| std::fs::File::open(p).ok())
            .map(|f| {
                let n = read_count(&f).unwrap_or(0);
                (f, n)
            })
            .collect();
        let mut w = Self {
            counters,
            last_scan: std::time::Instant::now(),
            reported_until: f64::MAX,
            tail: vec![0; 64 * 1024],
            fallback: Syslog::open_at_end(),
        };
        // Nothing logged before now is this session's. Lines are told apart by their
        // timestamps: without them (printk.time=0), every input reads the log instead.
        match last_timestamp(w.read_tail()) {
            Some(ts) => w.reported_until = ts,
            None => w.counters.clear(),
        }
        w
    }

    /// The first splat since the last call that `pattern` matches, as `[ts] text`.
    pub fn check(&mut self, pattern: &regex::bytes::Regex) -> Option<String> {
        if self.counters.is_empty() {
            return self.fallback.first_match(pattern);
        }
        let mut moved = false;
        for (f, last) in &mut self.counters {
            let n = read_count(f).unwrap_or(*last);
            moved |= n != *last;
            *last = n;
        }
        if !moved && self.last_scan.elapsed() < SCAN_EVERY {
            return None;
        }
        self.last_scan = std::time::Instant::now();
        let since = self.reported_until;
        let (line, newest) = newer_match(self.read_tail(), pattern, since);
        self.reported_until = newest.max(since);
        line
    }

    /// The log's last bytes (not consumed: no reader loses them).
    fn read_tail(&mut self) -> &[u8] {
        // SAFETY: READ_ALL copies at most `len` bytes into our buffer.
        let n = unsafe {
            libc::klogctl(
                SYSLOG_ACTION_READ_ALL,
                self.tail.as_mut_ptr().cast(),
                self.tail.len() as libc::c_int,
            )
        };
        &self.tail[..n.max(0) as usize]
    }
}

fn read_count(f: &std::fs::File) -> Option<u64> {
    let mut b = [0u8; 32];
    let n = std::os::unix::fs::FileExt::read_at(f, &mut b, 0).ok()?;
    std::str::from_utf8(&b[..n]).ok()?.trim().parse().ok()
}

/// `[  12.345678]` of a syslog line (after its `<level>`).
fn timestamp(line: &[u8]) -> Option<f64> {
    let open = line.iter().position(|&b| b == b'[')?;
    let close = open + line[open..].iter().position(|&b| b == b']')?;
    std::str::from_utf8(&line[open + 1..close])
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn last_timestamp(log: &[u8]) -> Option<f64> {
    log.split(|&b| b == b'\n').rev().find_map(timestamp)
}

/// The first line of `log` after `since` that `pattern` matches, and the newest timestamp
/// of a matching line.
fn newer_match(log: &[u8], pattern: &regex::bytes::Regex, since: f64) -> (Option<String>, f64) {
    let mut first = None;
    let mut newest = since;
    for line in log.split(|&b| b == b'\n') {
        let Some(ts) = timestamp(line) else { continue };
        if ts <= since || !pattern.is_match(line) {
            continue;
        }
        newest = newest.max(ts);
        if first.is_none() {
            first = parse_syslog(line).into_iter().next();
        }
    }
    (first, newest)
}

/// The first line of syslog `bytes` that `pattern` matches, without its level.
fn matching_line(bytes: &[u8], pattern: &regex::bytes::Regex) -> Option<String> {
    let m = pattern.find(bytes)?;
    let start = bytes[..m.start()]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let end = bytes[m.end()..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |i| m.end() + i);
    parse_syslog(&bytes[start..end]).into_iter().next()
}

/// `<6>[    1.234567] text` lines, without the level.
fn parse_syslog(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(
            |l| match l.strip_prefix('<').and_then(|r| r.split_once('>')) {
                Some((lvl, rest)) if lvl.chars().all(|c| c.is_ascii_digit()) => rest.to_string(),
                _ => l.to_string(),
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_splats_newer_than_the_last_reported_one_are_reported() {
        let log = b"<6>[ 1.0] ksock: set\n<4>[ 1.1] WARNING: old\n<3>[ 2.5] BUG: KFENCE: new\n<6>[ 2.6] x\n";
        let re = regex::bytes::Regex::new(r"\bBUG:|\bWARNING:").unwrap();
        let (line, newest) = super::newer_match(log, &re, 1.5);
        assert_eq!(line.as_deref(), Some("[ 2.5] BUG: KFENCE: new"));
        assert_eq!(newest, 2.5);
        assert_eq!(super::newer_match(log, &re, 2.5).0, None, "reported once");
        assert_eq!(
            super::newer_match(log, &re, 0.0).0.as_deref(),
            Some("[ 1.1] WARNING: old")
        );
        assert_eq!(super::last_timestamp(log), Some(2.6));
    }

    #[test]
    fn a_match_in_the_raw_log_is_its_whole_line() {
        let log = b"<6>[ 1.0] ksock: set\n<4>[ 1.1] BUG: KFENCE: x\n<6>[ 1.2] y\n";
        let re = regex::bytes::Regex::new(r"\bBUG:|\bWARNING:").unwrap();
        assert_eq!(
            super::matching_line(log, &re).as_deref(),
            Some("[ 1.1] BUG: KFENCE: x")
        );
        assert_eq!(
            super::matching_line(b"<4>[ 2.0] WARNING: at end", &re).as_deref(),
            Some("[ 2.0] WARNING: at end")
        );
        assert_eq!(super::matching_line(b"<6>[ 1.0] quiet\n", &re), None);
    }

    #[test]
    fn syslog_lines_lose_their_level_only() {
        assert_eq!(
            parse_syslog(
                b"<6>[    1.5] ksock: set optname=128 len=5\n<4>[    1.6] WARNING: x\nplain\n"
            ),
            [
                "[    1.5] ksock: set optname=128 len=5",
                "[    1.6] WARNING: x",
                "plain"
            ]
        );
    }

    use super::*;

    #[test]
    fn record_with_dictionary_and_escapes() {
        let r = parse_record(
            "6,1234,5123456,-,caller=T42;ksock_hello: loaded count=3\\x09x\n SUBSYSTEM=net\n",
        )
        .unwrap();
        assert_eq!(r.level, 6);
        assert_eq!(r.seq, 1234);
        assert_eq!(r.text, "ksock_hello: loaded count=3\tx");
        assert_eq!(r.line(), "[    5.123456] ksock_hello: loaded count=3\tx");
        assert!(parse_record("garbage").is_none());
    }
}
