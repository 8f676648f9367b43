//! Executes message sequences ([`ksock_fuzz::lang::msg`]) against a module serving TCP
//! (ksock_server loaded with `echo=1`), with its oracles: what comes back on a connection
//! is a prefix of what was sent on it (the echo), the module's `recv … len=N data=…` log
//! lines hold at most the N bytes received, and no kernel splat.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use ksock_fuzz::lang::msg::{logged_bytes, MsgOp, MsgTarget, MAX_CONNS};

use crate::kmsg::Kmsg;
use ksock_fuzz::titles::{Oracle, Violation};

/// How long a `Recv` waits for the echo.
const RECV_WAIT: Duration = Duration::from_millis(20);
/// How long the end of an input waits for the module to log every connection's close.
const CLOSE_WAIT: Duration = Duration::from_millis(500);

struct Conn {
    stream: TcpStream,
    sent: Vec<u8>,
    echoed: Vec<u8>,
}

/// Runs `ops`; returns how many ran and the first violation with the op it followed.
pub fn run(
    t: &MsgTarget,
    ops: &[MsgOp],
    kmsg: &mut Kmsg,
    splats: &regex::RegexSet,
    logged: &mut Vec<String>,
) -> anyhow::Result<(usize, Option<(usize, Violation)>)> {
    let mut m = MsgRun::new(t);
    for (i, op) in ops.iter().enumerate() {
        if let Some(v) = m.step(op)? {
            return Ok((i + 1, Some((i, v))));
        }
    }
    let (lines, found) = m.finish(kmsg, splats);
    logged.extend(lines);
    Ok((ops.len(), found.map(|v| (ops.len() - 1, v))))
}

/// The fuzzer's connections to the module, op by op (so message ops can be interleaved
/// with other calls: [`crate::fuzz::session`]'s mixed sequences).
pub struct MsgRun {
    t: MsgTarget,
    addr: SocketAddr,
    conns: Vec<Conn>,
    opened: usize,
}

impl MsgRun {
    pub fn new(t: &MsgTarget) -> Self {
        Self {
            t: *t,
            addr: SocketAddr::from(([127, 0, 0, 1], t.port)),
            conns: Vec::new(),
            opened: 0,
        }
    }

    /// Performs `op`; the echo oracle's violation, if it fired.
    pub fn step(&mut self, op: &MsgOp) -> anyhow::Result<Option<Violation>> {
        let n = self.conns.len();
        let pick = |c: u8| (n > 0).then(|| usize::from(c) % n);
        match op {
            MsgOp::Connect if n < MAX_CONNS => self.open(),
            MsgOp::Connect => {}
            MsgOp::Send { conn, payload } => {
                // A send with nothing open opens a connection first: most inputs then
                // reach the module's receive path.
                if n == 0 {
                    self.open();
                }
                let n = self.conns.len();
                if let Some(c) = (n > 0).then(|| &mut self.conns[usize::from(*conn) % n]) {
                    let bytes = payload.bytes(&self.t);
                    let _ = c.stream.set_write_timeout(Some(Duration::from_secs(2)));
                    // A peer that was reset or half-closed refuses; that is not a finding.
                    if c.stream.write_all(&bytes).is_ok() {
                        c.sent.extend_from_slice(&bytes);
                    }
                }
            }
            MsgOp::Recv { conn } => {
                if let Some(c) = pick(*conn).map(|k| &mut self.conns[k]) {
                    read_echo(c)?;
                    if !c.sent.starts_with(&c.echoed) {
                        return Ok(Some(Violation::new(
                            Oracle::Echo,
                            format!(
                                "{} byte(s) came back that differ from the {} sent",
                                c.echoed.len(),
                                c.sent.len()
                            ),
                        )));
                    }
                }
            }
            MsgOp::HalfClose { conn } => {
                if let Some(c) = pick(*conn).map(|k| &self.conns[k]) {
                    let _ = c.stream.shutdown(Shutdown::Write);
                }
            }
            MsgOp::Reset { conn } => {
                if let Some(k) = pick(*conn) {
                    let c = self.conns.remove(k);
                    reset(&c.stream);
                }
            }
        }
        Ok(None)
    }

    fn open(&mut self) {
        if let Some(c) = connect(&self.addr) {
            self.conns.push(c);
            self.opened += 1;
        }
    }

    /// Closes every connection, waits for the module to log their closes, and checks the
    /// log: the lines read, and the log oracles' violation.
    pub fn finish(
        self,
        kmsg: &mut Kmsg,
        splats: &regex::RegexSet,
    ) -> (Vec<String>, Option<Violation>) {
        let opened = self.opened;
        drop(self.conns);
        let lines = wait_for_closes(kmsg, opened);
        let found = check_log(&lines, splats);
        (lines, found)
    }
}

/// A new connection; `None` when the module refuses or resets it at once (its right
/// under `max_conns`), which is not the fuzzer's error.
fn connect(addr: &SocketAddr) -> Option<Conn> {
    let stream = TcpStream::connect_timeout(addr, Duration::from_secs(2)).ok()?;
    // Socket options fail on a connection the module already reset: same reason.
    let _ = stream.set_nodelay(true);
    Some(Conn {
        stream,
        sent: Vec::new(),
        echoed: Vec::new(),
    })
}

fn read_echo(c: &mut Conn) -> anyhow::Result<()> {
    let _ = c.stream.set_read_timeout(Some(RECV_WAIT));
    let mut buf = [0u8; 8192];
    loop {
        match c.stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => c.echoed.extend_from_slice(&buf[..n]),
            Err(_) => return Ok(()), // timeout, reset: nothing more now
        }
    }
}

/// Closes with a RST instead of a FIN.
pub(crate) fn reset(s: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket we own, with a correctly sized linger struct.
    unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(s),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// Reads the log until the module has logged `opened` closes (or rejections), or for at
/// most [`CLOSE_WAIT`]: its connection threads log asynchronously.
fn wait_for_closes(kmsg: &mut Kmsg, opened: usize) -> Vec<String> {
    let start = Instant::now();
    let mut lines: Vec<String> = Vec::new();
    loop {
        lines.extend(kmsg.read_available().iter().map(|r| r.line()));
        let closed = lines
            .iter()
            .filter(|l| l.contains(": closed peer=") || l.contains(": rejected peer="))
            .count();
        if closed >= opened || start.elapsed() > CLOSE_WAIT {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The log oracles: splats, and `recv … len=N data=D` with more than N bytes in D.
pub fn check_log(lines: &[String], splats: &regex::RegexSet) -> Option<Violation> {
    if let Some(l) = lines.iter().find(|l| splats.is_match(l)) {
        return Some(Violation::new(Oracle::KernelSplat, l.clone()));
    }
    static RECV: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(ksock_fuzz::lang::msg::RECV_LOG).expect("valid regex"));
    lines.iter().find_map(|l| {
        let c = RECV.captures(l)?;
        let n: usize = c["len"].parse().ok()?;
        let logged = logged_bytes(&c["data"]);
        (logged > n).then(|| {
            Violation::new(
                Oracle::Log,
                format!("the module logged {logged} data bytes for a {n}-byte message: {l}"),
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_line_with_more_data_than_received_is_a_finding() {
        let none = regex::RegexSet::new(["BUG:"]).unwrap();
        let ok =
            vec!["[ 1.0] ksock_server: recv peer=127.0.0.1:4000 len=10 data=bbbbbbbbbb".into()];
        assert!(check_log(&ok, &none).is_none());
        let stale = vec![
            "[ 1.0] ksock_server: recv peer=127.0.0.1:4000 len=10 data=bbbbbbbbbbAAAAAA".into(),
        ];
        assert_eq!(check_log(&stale, &none).unwrap().oracle, Oracle::Log);
        // Rust's BStr escapes are one byte each.
        let rust = vec![r"[ 1.0] ksock_server: recv peer=127.0.0.1:4000 len=2 data=\xff".into()];
        assert!(check_log(&rust, &none).is_none());
        assert_eq!(logged_bytes(r"ab\x00\tc"), 5);
        let splat = vec!["[ 2.0] BUG: KFENCE: out-of-bounds read in x".into()];
        assert_eq!(
            check_log(&splat, &none).unwrap().oracle,
            Oracle::KernelSplat
        );
        let _ = MsgTarget::KSOCK_SERVER;
    }
}
