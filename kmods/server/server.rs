// SPDX-License-Identifier: GPL-2.0

//! ksock_server: a TCP server inside the kernel.
//!
//! At load, a kernel thread creates a socket with `sock_create_kern`, binds, listens, and
//! accepts in a loop (blocking in accept: no busy wait). Each connection gets a thread that
//! receives, logs, and echoes when `echo=1`. Every event is one structured log line:
//!
//! ```text
//! ksock_server: listening addr=0.0.0.0 port=8888 backlog=16
//! ksock_server: accepted peer=127.0.0.1:40000
//! ksock_server: recv peer=127.0.0.1:40000 len=5
//! ksock_server: closed peer=127.0.0.1:40000
//! ksock_server: stopped port=8888 conns=0
//! ```
//!
//! rmmod works while the thread is blocked in accept and while clients are connected: the
//! listener and every connection are shut down (which wakes their threads), the threads are
//! stopped, and connections are closed with RST so no socket is left behind.

use core::sync::atomic::{AtomicBool, Ordering};

use kernel::prelude::*;
use kernel::sync::{new_mutex, Arc, Mutex};

#[path = "ksock.rs"]
mod ksock;
#[path = "params.rs"]
mod params;
use ksock::{Ipv4, KThread, Socket};
use params::{param, ranged};

module! {
    type: KsockServer,
    name: "ksock_server",
    authors: ["ksock developers"],
    description: "ksock: in-kernel TCP server (kthread, accept loop, receive, log, echo)",
    license: "GPL",
    params: {
        port: i64 {
            default: 8888,
            description: "TCP port to listen on (1..=65535)",
        },
        backlog: i64 {
            default: 16,
            description: "listen() backlog (1..=1024)",
        },
        max_conns: i64 {
            default: 4,
            description: "Connections served at once; more are accepted and closed (1..=64)",
        },
        echo: i64 {
            default: 0,
            description: "1: send every received message back",
        },
        seed_bugs: i64 {
            default: 0,
            description: "1: reproduce the seeds' receive-path bug (for fuzzing)",
        },
    },
}

/// seed_bugs=1: the seeds' receive buffer (1024 bytes, see `conn_thread_seed_bugs`).
const SEED_BUF: usize = 1024;

/// One accepted connection, shared by its slot and the thread serving it.
struct Conn {
    sock: Socket,
    peer: Ipv4,
    echo: bool,
    seed_bugs: bool,
    /// Set by the connection thread when the peer has gone.
    done: AtomicBool,
}

struct ConnSlot {
    conn: Arc<Conn>,
    thread: KThread,
}

impl ConnSlot {
    fn stop(self) {
        // Wake a thread blocked in recv; dropping `thread` then waits for it to end.
        self.conn.sock.abort_on_close();
        self.conn.sock.shutdown();
        drop(self.thread);
    }
}

#[pin_data]
struct Shared {
    listener: Socket,
    addr: Ipv4,
    max_conns: usize,
    echo: bool,
    seed_bugs: bool,
    /// Set before the listener is shut down, so the accept loop knows its error is the end.
    stopping: AtomicBool,
    /// Live connections: the accept thread adds and reaps them, `Drop` stops the rest after
    /// the accept thread has ended. Connection threads never take this lock, so stopping one
    /// (which waits for it) while holding the lock cannot deadlock.
    #[pin]
    conns: Mutex<KVec<ConnSlot>>,
}

/// A connection thread's body.
fn serve(c: &Conn) {
    if c.seed_bugs {
        serve_seed_bugs(c);
    } else {
        serve_correct(c);
    }
    c.done.store(true, Ordering::Release);
}

fn serve_correct(c: &Conn) {
    let mut buf = [0u8; 512];
    loop {
        match c.sock.recv(&mut buf) {
            Ok(0) => {
                pr_info!("closed peer={}\n", c.peer);
                break;
            }
            Ok(n) => {
                pr_info!("recv peer={} len={}\n", c.peer, n);
                if c.echo {
                    send_all(&c.sock, &buf[..n]);
                }
            }
            Err(e) => {
                pr_info!("closed peer={} errno={}\n", c.peer, e.to_errno());
                break;
            }
        }
    }
}

/// Sends `data` until it is all gone or the connection fails.
fn send_all(sock: &Socket, data: &[u8]) {
    let mut sent = 0;
    while sent < data.len() {
        match sock.send(&data[sent..]) {
            Ok(k) if k > 0 => sent += k,
            _ => break,
        }
    }
}

/// seed_bugs=1: seeds 000/002's receive path, as the C port does it. One 1024-byte buffer
/// per connection; before each receive only `size_of::<*const u8>()` bytes are cleared (the
/// seed's `memset(buf, 0, sizeof(buf))` on a pointer), and the log prints up to the first
/// NUL (the seed's `%s`), so it shows bytes left by earlier, longer messages. Safe Rust
/// cannot read past the allocation as the C port does with 1024 bytes received; it stops at
/// the buffer's end.
fn serve_seed_bugs(c: &Conn) {
    let Ok(mut rb) = KVec::from_elem(0u8, SEED_BUF, GFP_KERNEL) else {
        return;
    };
    loop {
        rb[..core::mem::size_of::<*const u8>()].fill(0);
        let n = match c.sock.recv(&mut rb) {
            Ok(n) if n > 0 => n,
            _ => {
                pr_info!("closed peer={}\n", c.peer);
                break;
            }
        };
        let shown = rb.iter().position(|b| *b == 0).unwrap_or(SEED_BUF);
        pr_info!(
            "recv peer={} len={} data={}\n",
            c.peer,
            n,
            kernel::str::BStr::from_bytes(&rb[..shown])
        );
        if c.echo {
            let _ = c.sock.send(&rb[..n]);
        }
    }
}

/// The accept thread's body.
fn accept_loop(s: &Shared) {
    while !ksock::should_stop() && !s.stopping.load(Ordering::Acquire) {
        let sock = match s.listener.accept() {
            Ok(sock) => sock,
            Err(e) => {
                if s.stopping.load(Ordering::Acquire) {
                    break;
                }
                pr_err!("accept failed errno={}\n", e.to_errno());
                ksock::sleep_ms(100);
                continue;
            }
        };
        let peer = sock.peer().unwrap_or(Ipv4 {
            addr: [0; 4],
            port: 0,
        });
        pr_info!("accepted peer={}\n", peer);
        let mut conns = s.conns.lock();
        reap(&mut conns);
        if conns.len() >= s.max_conns {
            pr_info!("rejected peer={} reason=max_conns\n", peer);
            sock.abort_on_close();
            continue; // `sock` is released here.
        }
        let conn = Conn {
            sock,
            peer,
            echo: s.echo,
            seed_bugs: s.seed_bugs,
            done: AtomicBool::new(false),
        };
        // Room for the slot first: a thread that could not be tracked could not be
        // stopped either (dropping its `KThread` would wait on a recv nobody wakes).
        if conns.reserve(1, GFP_KERNEL).is_err() {
            pr_err!("out of memory tracking peer={}\n", peer);
            continue; // The connection is closed here.
        }
        let Ok(conn) = Arc::new(conn, GFP_KERNEL) else {
            continue;
        };
        match KThread::spawn(conn.clone(), serve, c"ksock_conn") {
            Ok(thread) => {
                // Within the capacity reserved above; were it to fail, stop the thread.
                if let Err(e) = conns.push_within_capacity(ConnSlot { conn, thread }) {
                    e.0.stop();
                }
            }
            Err(e) => pr_err!("no thread for peer={} errno={}\n", peer, e.to_errno()),
        }
    }
}

/// Stops the connections whose peers have gone.
fn reap(conns: &mut KVec<ConnSlot>) {
    let mut i = 0;
    while i < conns.len() {
        if conns[i].conn.done.load(Ordering::Acquire) {
            if let Ok(slot) = conns.remove(i) {
                slot.stop();
            }
        } else {
            i += 1;
        }
    }
}

struct KsockServer {
    shared: Arc<Shared>,
    thread: Option<KThread>,
}

impl kernel::Module for KsockServer {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let port = ranged("port", param!(port), 1, 65535)? as u16;
        let backlog = ranged("backlog", param!(backlog), 1, 1024)? as i32;
        let max_conns = ranged("max_conns", param!(max_conns), 1, 64)? as usize;
        let echo = ranged("echo", param!(echo), 0, 1)? == 1;
        let seed_bugs = ranged("seed_bugs", param!(seed_bugs), 0, 1)? == 1;
        let ip = ksock::addr_param()?;
        let addr = Ipv4 { addr: ip, port };

        let listener = Socket::tcp().inspect_err(|e| {
            pr_err!("sock_create_kern failed errno={}\n", e.to_errno());
        })?;
        listener.set_reuseaddr();
        listener.bind(addr).inspect_err(|e| {
            pr_err!("bind failed addr={} errno={}\n", addr, e.to_errno());
        })?;
        listener.listen(backlog).inspect_err(|e| {
            pr_err!("listen failed errno={}\n", e.to_errno());
        })?;
        let shared = Arc::pin_init(
            pin_init!(Shared {
                listener,
                addr,
                max_conns,
                echo,
                seed_bugs,
                stopping: AtomicBool::new(false),
                conns <- new_mutex!(KVec::new()),
            }),
            GFP_KERNEL,
        )?;
        let thread = KThread::spawn(shared.clone(), accept_loop, c"ksock_server")?;
        let a = addr.addr;
        pr_info!(
            "listening addr={}.{}.{}.{} port={} backlog={} max_conns={} echo={}\n",
            a[0],
            a[1],
            a[2],
            a[3],
            port,
            backlog,
            max_conns,
            u8::from(echo)
        );
        Ok(KsockServer {
            shared,
            thread: Some(thread),
        })
    }
}

impl Drop for KsockServer {
    fn drop(&mut self) {
        let s = &self.shared;
        s.stopping.store(true, Ordering::Release);
        // Wakes the accept thread if it is blocked in accept; then wait for it to end.
        s.listener.shutdown();
        drop(self.thread.take());
        let mut conns = s.conns.lock();
        let n = conns.len();
        while let Some(slot) = conns.pop() {
            slot.stop();
        }
        pr_info!("stopped port={} conns={}\n", s.addr.port, n);
    }
}
