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

use core::cell::UnsafeCell;
use core::ffi::c_void;
use kernel::ffi::c_int;
use core::sync::atomic::{AtomicBool, Ordering};

use kernel::prelude::*;

#[path = "ksock.rs"]
mod ksock;
#[path = "params.rs"]
mod params;
use params::{param, ranged};
use ksock::{Ipv4, KThread, Socket};

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

/// One accepted connection: its socket and the thread serving it.
struct Conn {
    sock: Socket,
    peer: Ipv4,
    echo: bool,
    seed_bugs: bool,
    /// Set by the connection thread when the peer has gone.
    done: AtomicBool,
}

struct ConnSlot {
    /// Boxed so the thread's pointer to it stays valid while the list grows.
    conn: KBox<Conn>,
    thread: KThread,
}

impl ConnSlot {
    fn stop(self) {
        // Wake a thread blocked in recv, then wait for it; only then is `conn` freed.
        self.conn.sock.abort_on_close();
        self.conn.sock.shutdown();
        self.thread.stop();
    }
}

struct Shared {
    listener: Socket,
    addr: Ipv4,
    max_conns: usize,
    echo: bool,
    seed_bugs: bool,
    /// Set before the listener is shut down, so the accept loop knows its error is the end.
    stopping: AtomicBool,
    /// Live connections. Only the accept thread touches this while it runs; `Drop` touches
    /// it only after that thread has been stopped.
    conns: UnsafeCell<KVec<ConnSlot>>,
}

// SAFETY: `conns` is accessed by one thread at a time (see its comment); every other field
// is Sync.
unsafe impl Sync for Shared {}
// SAFETY: all fields may move between threads.
unsafe impl Send for Shared {}

unsafe extern "C" fn conn_thread(data: *mut c_void) -> c_int {
    // SAFETY: `data` is the `Conn` boxed in its `ConnSlot`, which is freed only after
    // `KThread::stop` on this thread has returned.
    let c = unsafe { &*(data as *const Conn) };
    if c.seed_bugs {
        conn_thread_seed_bugs(c);
        c.done.store(true, Ordering::Release);
        ksock::wait_for_stop();
        return 0;
    }
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
                    let mut sent = 0;
                    while sent < n {
                        match c.sock.send(&buf[sent..n]) {
                            Ok(k) if k > 0 => sent += k,
                            _ => break,
                        }
                    }
                }
            }
            Err(e) => {
                pr_info!("closed peer={} errno={}\n", c.peer, e.to_errno());
                break;
            }
        }
    }
    c.done.store(true, Ordering::Release);
    ksock::wait_for_stop();
    0
}

/// seed_bugs=1: seeds 000/002's receive path, as the C port does it. One 1024-byte buffer
/// per connection; before each receive only `size_of::<*const u8>()` bytes are cleared (the
/// seed's `memset(buf, 0, sizeof(buf))` on a pointer), and the log prints up to the first
/// NUL (the seed's `%s`), so it shows bytes left by earlier, longer messages. Safe Rust
/// cannot read past the allocation as the C port does with 1024 bytes received; it stops at
/// the buffer's end.
fn conn_thread_seed_bugs(c: &Conn) {
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

unsafe extern "C" fn accept_thread(data: *mut c_void) -> c_int {
    // SAFETY: `data` is the module's boxed `Shared`, freed only after `KThread::stop` on this
    // thread has returned.
    let s = unsafe { &*(data as *const Shared) };
    // SAFETY: only this thread touches `conns` while it runs (see `Shared::conns`).
    let conns = unsafe { &mut *s.conns.get() };
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
        // Reap connections whose peers have gone.
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
        if conns.len() >= s.max_conns {
            pr_info!("rejected peer={} reason=max_conns\n", peer);
            sock.abort_on_close();
            continue; // `sock` is released here.
        }
        let conn = match KBox::new(
            Conn {
                sock,
                peer,
                echo: s.echo,
                seed_bugs: s.seed_bugs,
                done: AtomicBool::new(false),
            },
            GFP_KERNEL,
        ) {
            Ok(c) => c,
            Err(_) => continue,
        };
        let ptr = &*conn as *const Conn as *mut c_void;
        // SAFETY: `conn` is kept in `conns` until `ConnSlot::stop` has stopped the thread.
        match unsafe { KThread::spawn(conn_thread, ptr, c"ksock_conn") } {
            Ok(thread) => {
                if conns.push(ConnSlot { conn, thread }, GFP_KERNEL).is_err() {
                    pr_err!("out of memory tracking peer={}\n", peer);
                }
            }
            Err(e) => pr_err!("no thread for peer={} errno={}\n", peer, e.to_errno()),
        }
    }
    ksock::wait_for_stop();
    0
}

struct KsockServer {
    shared: KBox<Shared>,
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
        let shared = KBox::new(
            Shared {
                listener,
                addr,
                max_conns,
                echo,
                seed_bugs,
                stopping: AtomicBool::new(false),
                conns: UnsafeCell::new(KVec::new()),
            },
            GFP_KERNEL,
        )?;
        let ptr = &*shared as *const Shared as *mut c_void;
        // SAFETY: `shared` is owned by the module and dropped only after `thread` is stopped
        // (see `Drop`).
        let thread = unsafe { KThread::spawn(accept_thread, ptr, c"ksock_server") }?;
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
            echo as u8
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
        // Wakes the accept thread if it is blocked in accept.
        s.listener.shutdown();
        if let Some(t) = self.thread.take() {
            t.stop();
        }
        // SAFETY: the accept thread has been stopped; nothing else touches `conns`.
        let conns = unsafe { &mut *s.conns.get() };
        let n = conns.len();
        while let Some(slot) = conns.pop() {
            slot.stop();
        }
        pr_info!("stopped port={} conns={}\n", s.addr.port, n);
    }
}
