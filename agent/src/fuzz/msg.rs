//! Executes message sequences ([`ksock_fuzz::lang::msg`]) against a module serving TCP.
//! Every target has the generic oracle, no kernel splat (a panic is the host's finding);
//! a target naming the `echo_log` model ([`ServerModel::EchoLog`]) has its oracles too:
//! what comes back on a connection is a prefix of what was sent on it (the echo), and the
//! module's `recv … len=N data=…` log lines hold at most the N bytes received.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use ksock_fuzz::lang::msg::{logged_bytes, MsgOp, MsgTarget, MAX_CONNS};
use ksock_fuzz::model::ServerModel;

use crate::kmsg::Kmsg;
use crate::sockets;
use ksock_fuzz::titles::{Oracle, Violation};

/// How long a `Recv` waits for the echo.
const RECV_WAIT: Duration = Duration::from_millis(20);
/// How long the end of an input waits for the module: to log every connection's close
/// (`echo_log`), or to have read everything sent to it (no model).
const CLOSE_WAIT: Duration = Duration::from_millis(500);
/// How long a session waits for a server module to listen after loading it.
const LISTEN_WAIT: Duration = Duration::from_secs(10);

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

    /// Performs `op`; the echo oracle's violation (`echo_log`), if it fired.
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
                    let judged = self.t.model == Some(ServerModel::EchoLog);
                    if judged && !c.sent.starts_with(&c.echoed) {
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

    /// Closes every connection, waits for the module to be done with them, and checks the
    /// log: the lines read, and the log oracles' violation.
    pub fn finish(
        self,
        kmsg: &mut Kmsg,
        splats: &regex::RegexSet,
    ) -> (Vec<String>, Option<Violation>) {
        let (opened, port) = (self.opened, self.t.port);
        drop(self.conns);
        match self.t.model {
            Some(ServerModel::EchoLog) => {
                let lines = wait_for_closes(kmsg, opened);
                let found = check_log(&lines, splats);
                (lines, found)
            }
            None => {
                wait_until_read(port);
                let lines: Vec<String> = kmsg.read_available().iter().map(|r| r.line()).collect();
                let found = splat_in(&lines, splats);
                (lines, found)
            }
        }
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

/// Waits until the module has read everything sent to it ([`all_read`]), for at most
/// [`CLOSE_WAIT`]. A module that crashes on a message never reads what came after it (the
/// connection's end at least), so the input is still running, and still the one recorded,
/// when the kernel goes down in the module's own thread.
fn wait_until_read(port: u16) {
    let start = Instant::now();
    while !all_read(port) && start.elapsed() < CLOSE_WAIT {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Whether the module has read every connection at `port` to its end: none waits in the
/// listener's accept queue, none is still open from the fuzzer's side, and none holds
/// unread bytes, data or the FIN that ended it (which counts until it is read). Sockets the
/// module released are gone, or orphans with nothing to read.
fn all_read(port: u16) -> bool {
    let Ok(all) = sockets::tcp_sockets() else {
        return true;
    };
    all.iter().filter(|s| s.local.port() == port).all(|s| {
        s.recv_queue == 0
            && !matches!(
                s.state.as_str(),
                "ESTABLISHED" | "SYN_RECV" | "NEW_SYN_RECV"
            )
    })
}

/// Waits until something listens on `port`, for at most [`LISTEN_WAIT`]: a module's thread
/// may make its listening socket after the module's init returned.
pub fn wait_listening(port: u16) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let all = sockets::tcp_sockets()?;
        if all
            .iter()
            .any(|s| s.state == "LISTEN" && s.local.port() == port)
        {
            return Ok(());
        }
        anyhow::ensure!(
            start.elapsed() < LISTEN_WAIT,
            "nothing listens on port {port} {} s after the module was loaded (the port of \
             its [[fuzz]] table's tcp_server)",
            LISTEN_WAIT.as_secs()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The generic log oracle: a kernel splat.
fn splat_in(lines: &[String], splats: &regex::RegexSet) -> Option<Violation> {
    let l = lines.iter().find(|l| splats.is_match(l))?;
    Some(Violation::new(Oracle::KernelSplat, l.clone()))
}

/// The log oracles of `echo_log`: splats, and `recv … len=N data=D` with more than N bytes
/// in D.
pub fn check_log(lines: &[String], splats: &regex::RegexSet) -> Option<Violation> {
    if let Some(v) = splat_in(lines, splats) {
        return Some(v);
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

    #[test]
    fn without_a_model_an_input_ends_when_the_server_read_every_connection_to_its_end() {
        // A server on the host's loopback stands for the module.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(all_read(port), "nothing was sent");
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        assert!(!all_read(port), "a connection waits to be accepted");
        let (mut s, _) = l.accept().unwrap();
        c.write_all(b"hi").unwrap();
        drop(c);
        assert!(!all_read(port), "two bytes and the end are unread");
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"hi");
        assert!(all_read(port));
        wait_listening(port).unwrap();
    }
}
