//! Userspace peers: real sockets in the guest that talk to the modules under test.
//!
//! Every peer is bounded: connect, read and accept all have timeouts, so a module that
//! never answers fails a spec instead of hanging the guest.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use ksock_proto::errno::name as errno_name;
pub use ksock_proto::peers::{ClientSpec, Outcome, PeerReport, ServerSpec, SockoptSpec};

/// A message for reports: as text, cut after 64 bytes with its length.
fn short(m: &[u8]) -> String {
    let text = String::from_utf8_lossy(&m[..m.len().min(64)]).to_string();
    if m.len() > 64 {
        format!("{text:?}… ({} bytes)", m.len())
    } else {
        format!("{text:?}")
    }
}

/// A listening socket with an explicit backlog (std's `TcpListener::bind` fixes it at 128).
pub fn listen(addr: SocketAddr, backlog: i32) -> std::io::Result<TcpListener> {
    use std::os::fd::FromRawFd;
    let SocketAddr::V4(v4) = addr else {
        return Err(std::io::Error::other("only IPv4 servers"));
    };
    // SAFETY: plain socket(2); ownership passes to the TcpListener below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh socket that nothing else owns.
    let listener = unsafe { TcpListener::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    let sa = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*v4.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: setsockopt/bind/listen on our socket with correctly sized arguments.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            &one as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        if libc::bind(
            fd,
            &sa as *const libc::sockaddr_in as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        ) != 0
        {
            -1
        } else {
            libc::listen(fd, backlog)
        }
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(listener)
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v.max(1))
}

fn io_errno(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => format!("{} ({n})", errno_name(n)),
        None => e.to_string(),
    }
}

pub fn run_client(c: &ClientSpec) -> PeerReport {
    let mut stream = match connect(c) {
        Ok(s) => s,
        Err(report) => return report,
    };
    let _ = stream.set_read_timeout(Some(ms(c.timeout_ms)));
    let _ = stream.set_write_timeout(Some(ms(c.timeout_ms)));
    let echoed = match send_messages(c, &mut stream) {
        Ok(echoed) => echoed,
        Err(report) => return report,
    };
    std::thread::sleep(Duration::from_millis(c.hold_ms));
    if c.abort {
        reset_on_close(&stream);
    }
    drop(stream);
    PeerReport {
        ok: true,
        detail: format!(
            "sent {} message(s){}{}",
            c.messages.len(),
            if c.expect_echo { ", all echoed" } else { "" },
            if c.abort { ", aborted" } else { ", closed" }
        ),
        received: echoed,
    }
}

/// The client's connection, or its report when connecting ends it: failed as the spec
/// expected (ok), failed otherwise, or succeeded where the spec expected an error.
fn connect(c: &ClientSpec) -> Result<TcpStream, PeerReport> {
    let report = |ok, detail| PeerReport {
        ok,
        detail,
        received: vec![],
    };
    let stream = match TcpStream::connect_timeout(&c.addr, ms(c.timeout_ms)) {
        Ok(s) => s,
        Err(e) => {
            let got = e.raw_os_error();
            return Err(match (c.expect_errno, got) {
                (Some(want), Some(g)) if want == g => report(
                    true,
                    format!("connect to {} failed as expected: {}", c.addr, io_errno(&e)),
                ),
                _ => report(false, format!("connect to {}: {}", c.addr, io_errno(&e))),
            });
        }
    };
    if let Some(want) = c.expect_errno {
        return Err(report(
            false,
            format!(
                "connected to {}, but the spec expected {}",
                c.addr,
                errno_name(want)
            ),
        ));
    }
    Ok(stream)
}

/// Sends each message, reading its echo back when the spec expects one: the echoes, or
/// the report of the first failure.
fn send_messages(c: &ClientSpec, stream: &mut TcpStream) -> Result<Vec<String>, PeerReport> {
    let mut echoed = Vec::new();
    for m in &c.messages {
        let shown = short(m);
        let fail = |detail, echoed| PeerReport {
            ok: false,
            detail,
            received: echoed,
        };
        if let Err(e) = stream.write_all(m) {
            return Err(fail(format!("send {shown}: {}", io_errno(&e)), echoed));
        }
        if c.expect_echo {
            let mut buf = vec![0u8; m.len()];
            if let Err(e) = stream.read_exact(&mut buf) {
                return Err(fail(
                    format!("waiting for the echo of {shown}: {}", io_errno(&e)),
                    echoed,
                ));
            }
            if buf != *m {
                return Err(fail(
                    format!("echo mismatch: sent {shown}, got {}", short(&buf)),
                    echoed,
                ));
            }
            echoed.push(String::from_utf8_lossy(&buf).to_string());
        }
    }
    Ok(echoed)
}

/// Makes closing `stream` send a reset instead of a FIN (SO_LINGER with a zero timeout).
fn reset_on_close(stream: &TcpStream) {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket we own, with a correctly sized linger struct.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &l as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// Accepts `accept` connections and reads each until the peer closes it.
pub fn run_server(s: &ServerSpec, listener: TcpListener) -> PeerReport {
    let deadline = Instant::now() + ms(s.timeout_ms);
    let _ = listener.set_nonblocking(true);
    let mut received = Vec::new();
    while received.len() < s.accept {
        match listener.accept() {
            Ok((mut conn, peer)) => {
                let _ = conn.set_nonblocking(false);
                let left = deadline.saturating_duration_since(Instant::now());
                let _ = conn.set_read_timeout(Some(left.max(Duration::from_millis(1))));
                let mut data = Vec::new();
                if let Err(e) = conn.read_to_end(&mut data) {
                    return PeerReport {
                        ok: false,
                        detail: format!("reading from {peer}: {}", io_errno(&e)),
                        received,
                    };
                }
                received.push(String::from_utf8_lossy(&data).to_string());
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    return PeerReport {
                        ok: false,
                        detail: format!(
                            "accepted {} of {} connection(s) within {} ms",
                            received.len(),
                            s.accept,
                            s.timeout_ms
                        ),
                        received,
                    };
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => {
                return PeerReport {
                    ok: false,
                    detail: format!("accept: {}", io_errno(&e)),
                    received,
                }
            }
        }
    }
    std::thread::sleep(Duration::from_millis(s.hold_ms));
    PeerReport {
        ok: true,
        detail: format!("accepted {} connection(s)", received.len()),
        received,
    }
}

pub fn run_sockopt(o: &SockoptSpec) -> PeerReport {
    // SAFETY: plain socket(2) call.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    if fd < 0 {
        return PeerReport {
            ok: false,
            detail: format!("socket: {}", io_errno(&std::io::Error::last_os_error())),
            received: vec![],
        };
    }
    let report = sockopt_on(fd, o);
    // SAFETY: closing the fd we opened above.
    unsafe { libc::close(fd) };
    report
}

use crate::guarded::{Arena, ArenaBuf, BAD_USER_POINTER};

/// Canary bytes after a `Place::Canary` buffer.
const CANARY_LEN: usize = 16;
/// The largest buffer a step makes, as the fuzzer's.
const MAX_REPEAT: usize = (1 << 20) + 4096;

/// `value` repeated to `n` bytes in the first 4 KiB, zeros after, at most [`MAX_REPEAT`]
/// bytes: the buffer the fuzzer gives a set of `n` bytes (`guarded::Arena`).
pub fn repeated(value: &[u8], n: usize) -> Vec<u8> {
    let mut v = vec![0; n.min(MAX_REPEAT)];
    let k = v.len().min(crate::guarded::FILL_LIMIT);
    ksock_fuzz::model::fill_into(&mut v[..k], value);
    v
}

/// A buffer of `data.len()` bytes holding `data` in `arena`, placed as `place` says, and the
/// pointer to give the kernel.
fn placed<'a>(
    arena: &'a mut Arena,
    data: &[u8],
    place: ksock_fuzz::lang::sockopt::Place,
) -> (ArenaBuf<'a>, *mut libc::c_void) {
    use ksock_fuzz::lang::sockopt::Place;
    let canary = if place == Place::Canary {
        CANARY_LEN
    } else {
        0
    };
    let mut buf = arena.buf(data.len(), canary, b"");
    buf.write(data);
    let ptr = match place {
        Place::Null => std::ptr::null_mut(),
        Place::Unmapped => BAD_USER_POINTER as *mut libc::c_void,
        Place::ReadOnly => buf.read_only_ptr() as *mut libc::c_void,
        _ => buf.ptr() as *mut libc::c_void,
    };
    (buf, ptr)
}

fn sockopt_on(fd: libc::c_int, o: &SockoptSpec) -> PeerReport {
    let mut steps = Vec::new();
    if let Some(value) = &o.set {
        if let Some(report) = set_on(fd, o, value, &mut steps) {
            return report;
        }
    }
    if let Some(stated) = o.get_len {
        if let Some(report) = get_on(fd, o, stated, &mut steps) {
            return report;
        }
    }
    done(true, steps)
}

/// A call's return code against the spec's outcome. `Ok`: it succeeded as allowed, go
/// on; `Err("")`: it failed as expected, which ends the step well; `Err(why)`: it did not.
fn judge(
    rc: libc::c_int,
    what: &str,
    o: &SockoptSpec,
    steps: &mut Vec<String>,
) -> Result<(), String> {
    let errno = (rc < 0).then(|| std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    match (errno, &o.outcome) {
        (None, Outcome::Success | Outcome::AnyBut(_)) => {
            steps.push(format!("{what}: ok"));
            Ok(())
        }
        (Some(e), Outcome::Error(want)) if want.contains(&e) => {
            steps.push(format!("{what}: {} as expected", errno_name(e)));
            Err(String::new())
        }
        (Some(e), Outcome::AnyBut(not)) if !not.contains(&e) => {
            steps.push(format!("{what}: {} (allowed)", errno_name(e)));
            Err(String::new())
        }
        (Some(e), _) => Err(format!("{what}: {} ({e})", errno_name(e))),
        (None, Outcome::Error(want)) => Err(format!(
            "{what} succeeded, but the spec expected {}",
            want.iter()
                .map(|e| errno_name(*e))
                .collect::<Vec<_>>()
                .join(" or ")
        )),
    }
}

/// After a call: the step's report if it ends here (the canary overwritten, or the call
/// failed, as expected or not), `None` to go on.
fn after_call(
    outcome: Result<(), String>,
    canary_intact: bool,
    steps: &mut Vec<String>,
) -> Option<PeerReport> {
    if !canary_intact {
        steps.push("the bytes after the buffer were overwritten".into());
        return Some(done(false, std::mem::take(steps)));
    }
    match outcome {
        Ok(()) => None,
        Err(e) if e.is_empty() => Some(done(true, std::mem::take(steps))),
        Err(e) => Some(done(false, vec![e])),
    }
}

/// The setsockopt of a step; `Some` when it ends the step.
fn set_on(
    fd: libc::c_int,
    o: &SockoptSpec,
    value: &[u8],
    steps: &mut Vec<String>,
) -> Option<PeerReport> {
    let len = o.optlen.unwrap_or(value.len());
    let data = match o.optlen {
        Some(n) if o.repeat => repeated(value, n),
        _ => value.to_vec(),
    };
    let mut arena = match Arena::new(data.len() + CANARY_LEN) {
        Ok(a) => a,
        Err(e) => return Some(done(false, vec![format!("mmap: {e}")])),
    };
    let (mut buf, ptr) = placed(&mut arena, &data, o.place);
    // SAFETY: the kernel validates the user pointer; a bad one is the point of some specs.
    let rc = unsafe { libc::setsockopt(fd, o.level, o.optname, ptr, len as libc::socklen_t) };
    let outcome = judge(
        rc,
        &format!("setsockopt({}, {len} bytes)", o.optname),
        o,
        steps,
    );
    after_call(outcome, buf.canary_intact(), steps)
}

/// The getsockopt of a step, with its returned length and value checked; `Some` when it
/// ends the step.
fn get_on(
    fd: libc::c_int,
    o: &SockoptSpec,
    stated: i64,
    steps: &mut Vec<String>,
) -> Option<PeerReport> {
    let n = (stated.max(0) as usize).min(MAX_REPEAT);
    let mut arena = match Arena::new(n + CANARY_LEN) {
        Ok(a) => a,
        Err(e) => return Some(done(false, vec![format!("mmap: {e}")])),
    };
    let (mut buf, ptr) = placed(&mut arena, &vec![0; n], o.place);
    let mut len = stated as libc::socklen_t;
    // SAFETY: as above; `len` is a valid socklen_t we own.
    let rc = unsafe { libc::getsockopt(fd, o.level, o.optname, ptr, &mut len) };
    let outcome = judge(
        rc,
        &format!("getsockopt({}, {stated}-byte buffer)", o.optname),
        o,
        steps,
    );
    if let Some(report) = after_call(outcome, buf.canary_intact(), steps) {
        return Some(report);
    }
    if len as usize > n {
        steps.push(format!(
            "getsockopt returned optlen {len}, larger than the {n} given"
        ));
        return Some(done(false, std::mem::take(steps)));
    }
    let got = &buf.as_mut_slice()[..(len as usize).min(n)];
    steps.push(format!(
        "returned len={len} value={:?}",
        String::from_utf8_lossy(got)
    ));
    if let Some(want) = &o.expect_value {
        if got != &want[..] {
            steps.push(format!(
                "expected value {:?}",
                String::from_utf8_lossy(want)
            ));
            return Some(done(false, std::mem::take(steps)));
        }
    }
    None
}

fn done(ok: bool, steps: Vec<String>) -> PeerReport {
    PeerReport {
        ok,
        detail: steps.join("; "),
        received: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_and_server_peers_talk_over_loopback() {
        let l = listen("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let addr = l.local_addr().unwrap();
        let srv = std::thread::spawn(move || {
            run_server(
                &ServerSpec {
                    addr,
                    accept: 1,
                    timeout_ms: 5000,
                    backlog: 16,
                    hold_ms: 0,
                },
                l,
            )
        });
        let c = run_client(&ClientSpec {
            addr,
            messages: vec![b"one".to_vec(), b"two".to_vec()],
            expect_echo: false,
            abort: false,
            hold_ms: 0,
            timeout_ms: 5000,
            expect_errno: None,
        });
        assert!(c.ok, "{c:?}");
        let s = srv.join().unwrap();
        assert!(s.ok, "{s:?}");
        assert_eq!(s.received, vec!["onetwo".to_string()]);
    }

    #[test]
    fn a_full_backlog_zero_queue_makes_connect_time_out() {
        let l = listen("127.0.0.1:0".parse().unwrap(), 0).unwrap();
        let addr = l.local_addr().unwrap();
        // The one queued (never accepted) connection fills the queue...
        let _first = TcpStream::connect(addr).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        // ...so the next SYN is dropped and connect times out.
        let r = run_client(&ClientSpec {
            addr,
            messages: vec![],
            expect_echo: false,
            abort: false,
            hold_ms: 0,
            timeout_ms: 500,
            expect_errno: None,
        });
        assert!(!r.ok, "{r:?}");
        assert!(
            r.detail.contains("timed out")
                || r.detail.contains("ETIMEDOUT")
                || r.detail.contains("EAGAIN")
                || r.detail.contains("EINPROGRESS"),
            "{r:?}"
        );
        drop(l);
    }

    #[test]
    fn refused_connection_is_reported_with_errno() {
        // Bind then drop: the port is (almost certainly) closed right after.
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut spec = ClientSpec {
            addr,
            messages: vec![],
            expect_echo: false,
            abort: false,
            hold_ms: 0,
            timeout_ms: 2000,
            expect_errno: None,
        };
        let r = run_client(&spec);
        assert!(!r.ok && r.detail.contains("ECONNREFUSED"), "{r:?}");
        spec.expect_errno = Some(libc::ECONNREFUSED);
        assert!(run_client(&spec).ok);
    }

    #[test]
    fn sockopt_caller_reports_values_and_errnos() {
        // SOL_SOCKET options behave the same on every Linux: SO_TYPE of a stream socket is 1.
        let get = SockoptSpec {
            level: libc::SOL_SOCKET,
            optname: libc::SO_TYPE,
            set: None,
            get_len: Some(4),
            optlen: None,
            repeat: false,
            place: ksock_fuzz::lang::sockopt::Place::Guarded,
            outcome: Outcome::Success,
            expect_value: Some(1i32.to_ne_bytes().to_vec()),
        };
        let r = run_sockopt(&get);
        assert!(r.ok && r.detail.contains("len=4"), "{r:?}");
        let wrong = SockoptSpec {
            expect_value: Some(2i32.to_ne_bytes().to_vec()),
            ..get.clone()
        };
        assert!(!run_sockopt(&wrong).ok);
        // An int option with a 1-byte optlen is EINVAL.
        let short = SockoptSpec {
            optname: libc::SO_RCVBUF,
            set: Some(vec![1]),
            get_len: None,
            expect_value: None,
            ..get.clone()
        };
        let r = run_sockopt(&short);
        assert!(!r.ok && r.detail.contains("EINVAL"), "{r:?}");
        let r = run_sockopt(&SockoptSpec {
            outcome: Outcome::Error(vec![libc::ENOPROTOOPT, libc::EINVAL]),
            ..short
        });
        assert!(r.ok, "{r:?}");
        // A bad user pointer is EFAULT.
        let r = run_sockopt(&SockoptSpec {
            place: ksock_fuzz::lang::sockopt::Place::Unmapped,
            outcome: Outcome::Error(vec![libc::EFAULT]),
            expect_value: None,
            ..get.clone()
        });
        assert!(r.ok, "{r:?}");
        // "Anything but EFAULT": another error is allowed, EFAULT is not, success is.
        let any_but = |place, not: Vec<i32>| {
            run_sockopt(&SockoptSpec {
                place,
                outcome: Outcome::AnyBut(not),
                expect_value: None,
                ..get.clone()
            })
        };
        let r = any_but(
            ksock_fuzz::lang::sockopt::Place::Unmapped,
            vec![libc::EFAULT],
        );
        assert!(!r.ok && r.detail.contains("EFAULT"), "{r:?}");
        assert!(any_but(ksock_fuzz::lang::sockopt::Place::Unmapped, vec![]).ok);
        assert!(
            any_but(
                ksock_fuzz::lang::sockopt::Place::Guarded,
                vec![libc::EFAULT]
            )
            .ok
        );
        // A value repeated to its stated length, as the fuzzer fills buffers.
        assert_eq!(repeated(b"ab", 5), b"ababa");
        let long = repeated(b"xyz", 8192);
        assert_eq!(long.len(), 8192);
        assert!(long[..4096].chunks(3).all(|c| b"xyz".starts_with(c)));
        assert!(long[4096..].iter().all(|b| *b == 0));
    }
}
