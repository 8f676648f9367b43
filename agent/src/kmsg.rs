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

#[cfg(test)]
mod tests {
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
