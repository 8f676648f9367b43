//! Executes client sequences ([`ksock_fuzz::lang::client`]) against a module that connects
//! out: the fuzzer listens, loads the module with each input's parameters, accepts and
//! reads its connection, answers, resets, unloads. Oracles: parameters in their declared
//! ranges load and others are refused (the model's ranges, or the table's); with a model,
//! what arrives is its payload, whole, at most `count` times
//! ([`ksock_fuzz::lang::client::delivery_ok`]); the module unloads; no kernel splat.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use ksock_fuzz::lang::client::{delivery_ok, ClientLoad, ClientOp, ClientTarget, Port};
use ksock_fuzz::params::{join, Vary};

use ksock_fuzz::titles::{Oracle, Violation};

/// How long a `Read` waits for the module's connection, then for more bytes.
const ACCEPT_WAIT: Duration = Duration::from_millis(300);
const READ_WAIT: Duration = Duration::from_millis(20);
/// How long the end of an instance waits for the module's FIN (every message sent).
const DONE_WAIT: Duration = Duration::from_secs(2);

/// Loads and unloads the module under test (with coverage kept straight by the caller).
pub trait Loader {
    /// Loads with `params`; the errno when the kernel refuses.
    fn load(&mut self, params: &str) -> anyhow::Result<Option<i32>>;
    /// Unloads if loaded; what went wrong if it did not go.
    fn unload(&mut self) -> anyhow::Result<Option<String>>;
}

/// What a session's client inputs are relative to.
pub struct Setup<'a> {
    pub target: &'a ClientTarget,
    /// The campaign's `seed_bugs` mask (a model's in-range loads keep it).
    pub seed_bugs: i64,
    /// What loads vary (without a model), and the target's own parameters.
    pub vary: &'a [Vary],
    pub params: &'a str,
}

impl Setup<'_> {
    /// A load's parameter string, whether the module must accept it, and (with a model)
    /// what its peer must receive: one message and how many times.
    fn load(&self, l: &ClientLoad) -> (String, bool, Option<(Vec<u8>, usize)>) {
        let t = self.target;
        match t.model {
            Some(m) => {
                let count = m.resolve(l, t, self.seed_bugs)[1];
                (
                    join(&m.params(l, t, self.seed_bugs)),
                    m.valid(l, t, self.seed_bugs),
                    Some((m.payload(l, t, self.seed_bugs), count.max(0) as usize)),
                )
            }
            None => (
                join(&l.param_pairs(t, self.vary, self.params)),
                l.in_range(t, self.vary),
                None,
            ),
        }
    }
}

/// One loaded instance, as the fuzzer's peer sees it.
struct Instance {
    /// What it must send: one message, at most this many times (with a model).
    expect: Option<(Vec<u8>, usize)>,
    /// It connects to the fuzzer's listener.
    ours: bool,
    conn: Option<TcpStream>,
    received: Vec<u8>,
    eof: bool,
    /// The connection was reset by the fuzzer: delivery is cut short, not judged whole.
    reset: bool,
}

type Outcome = (usize, Option<(usize, Violation)>);

/// Runs `ops` (the module is not loaded before, and is not after).
pub fn run(
    setup: &Setup,
    ops: &[ClientOp],
    listener: &TcpListener,
    loader: &mut dyn Loader,
) -> anyhow::Result<Outcome> {
    let mut cur: Option<Instance> = None;
    for (i, op) in ops.iter().enumerate() {
        let found = match op {
            ClientOp::Load(l) => {
                let mut v = finish(&mut cur, listener, loader)?;
                if v.is_none() {
                    v = load(setup, l, &mut cur, listener, loader)?;
                }
                v
            }
            ClientOp::Read => match &mut cur {
                Some(c) => read(c, listener),
                None => None,
            },
            ClientOp::Send { n } => {
                if let Some(s) = cur.as_mut().and_then(|c| c.conn.as_mut()) {
                    let _ = s.set_write_timeout(Some(READ_WAIT));
                    let _ = s.write_all(&vec![b'r'; usize::from(*n)]);
                }
                None
            }
            ClientOp::Reset => {
                if let Some(c) = &mut cur {
                    if let Some(s) = c.conn.take() {
                        crate::fuzz::msg::reset(&s);
                        c.reset = true;
                    }
                }
                None
            }
            ClientOp::Unload => finish(&mut cur, listener, loader)?,
        };
        if let Some(v) = found {
            // The module must not outlive the input, whatever fired.
            let _ = loader.unload()?;
            return Ok((i + 1, Some((i, v))));
        }
    }
    let last = ops.len().saturating_sub(1);
    Ok((
        ops.len(),
        finish(&mut cur, listener, loader)?.map(|v| (last, v)),
    ))
}

fn load(
    setup: &Setup,
    l: &ClientLoad,
    cur: &mut Option<Instance>,
    listener: &TcpListener,
    loader: &mut dyn Loader,
) -> anyhow::Result<Option<Violation>> {
    drain(listener);
    let (params, valid, expect) = setup.load(l);
    match (loader.load(&params)?, valid) {
        (None, true) => {
            *cur = Some(Instance {
                expect,
                ours: l.port == Port::Listener,
                conn: None,
                received: Vec::new(),
                eof: false,
                reset: false,
            });
            Ok(None)
        }
        (Some(_), false) => Ok(None),
        (None, false) => {
            let _ = loader.unload()?;
            Ok(Some(Violation::new(
                Oracle::Load,
                format!("out-of-range parameters were accepted: {params}"),
            )))
        }
        (Some(e), true) => Ok(Some(Violation::new(
            Oracle::Load,
            format!(
                "valid parameters were refused with {}: {params}",
                crate::modules::errno_name(e)
            ),
        ))),
    }
}

/// Accepts the instance's connection if it has none, reads what has arrived, judges it.
fn read(c: &mut Instance, listener: &TcpListener) -> Option<Violation> {
    if !c.ours || c.reset {
        return None;
    }
    if c.conn.is_none() {
        c.conn = accept(listener, ACCEPT_WAIT);
    }
    let s = c.conn.as_mut()?;
    let _ = s.set_read_timeout(Some(READ_WAIT));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => {
                c.eof = true;
                break;
            }
            Ok(n) => c.received.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    judge(c)
}

fn judge(c: &Instance) -> Option<Violation> {
    let (payload, count) = c.expect.as_ref()?;
    (!delivery_ok(&c.received, payload, *count, c.eof)).then(|| {
        Violation::new(
            Oracle::Delivery,
            format!(
                "the peer received {} byte(s) that are not whole copies of the {}-byte \
                 message (count {}{}): {:?}",
                c.received.len(),
                payload.len(),
                count,
                if c.eof { ", then FIN" } else { "" },
                String::from_utf8_lossy(&c.received[..c.received.len().min(16)])
            ),
        )
    })
}

/// Ends the loaded instance: reads its connection to the end, judges it, unloads it.
fn finish(
    cur: &mut Option<Instance>,
    listener: &TcpListener,
    loader: &mut dyn Loader,
) -> anyhow::Result<Option<Violation>> {
    let Some(mut c) = cur.take() else {
        return Ok(None);
    };
    let start = Instant::now();
    while c.ours && !c.reset && !c.eof && start.elapsed() < DONE_WAIT {
        if let Some(v) = read(&mut c, listener) {
            let _ = loader.unload()?;
            return Ok(Some(v));
        }
    }
    Ok(loader
        .unload()?
        .map(|why| Violation::new(Oracle::Unload, why)))
}

/// The module's connection, waiting up to `wait`.
fn accept(listener: &TcpListener, wait: Duration) -> Option<TcpStream> {
    let start = Instant::now();
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                let _ = s.set_nonblocking(false);
                return Some(s);
            }
            Err(_) if start.elapsed() < wait => std::thread::sleep(Duration::from_millis(2)),
            Err(_) => return None,
        }
    }
}

/// Drops connections earlier instances left queued.
fn drain(listener: &TcpListener) {
    while listener.accept().is_ok() {}
}

/// The fuzzer's listener for `t` (non-blocking; accepts poll).
pub fn listen(t: &ClientTarget) -> anyhow::Result<TcpListener> {
    let l = TcpListener::bind(("127.0.0.1", t.port))?;
    l.set_nonblocking(true)?;
    Ok(l)
}
