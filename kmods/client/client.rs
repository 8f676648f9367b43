// SPDX-License-Identifier: GPL-2.0

//! ksock_client: a TCP client inside the kernel.
//!
//! At load, a kernel thread connects to `addr:port` and sends `count` messages (`message`,
//! or `size` bytes of a fixed pattern when `size > 0`), `interval_ms` apart, then closes.
//!
//! ```text
//! ksock_client: connected peer=127.0.0.1:9000
//! ksock_client: sent seq=1 len=23
//! ksock_client: done sent=3
//! ksock_client: connect failed peer=127.0.0.1:9 errno=-111
//! ```
//!
//! A refused or timed-out connection is logged with its errno; rmmod works at any point
//! (the socket is shut down first, which wakes a blocked connect or send).

use core::sync::atomic::{AtomicBool, Ordering};

use kernel::ffi::c_char;
use kernel::prelude::*;
use kernel::sync::Arc;

#[path = "ksock.rs"]
mod ksock;
#[path = "params.rs"]
mod params;
use ksock::{Ipv4, KThread, Socket};
use params::{param, ranged};

extern "C" {
    fn ksock_param_message() -> *const c_char;
}

module! {
    type: KsockClient,
    name: "ksock_client",
    authors: ["ksock developers"],
    description: "ksock: in-kernel TCP client (connect, send, log)",
    license: "GPL",
    params: {
        port: i64 {
            default: 8888,
            description: "TCP port to connect to (1..=65535)",
        },
        count: i64 {
            default: 1,
            description: "Messages to send (0..=1000)",
        },
        size: i64 {
            default: 0,
            description: "0: send `message`; else send this many pattern bytes (1..=65536)",
        },
        interval_ms: i64 {
            default: 0,
            description: "Pause between messages, ms (0..=60000)",
        },
        timeout_s: i64 {
            default: 5,
            description: "Connect/send timeout, seconds (1..=600)",
        },
        seed_bugs: i64 {
            default: 0,
            description: "1: send the seed's whole 1024-byte buffer (for fuzzing)",
        },
    },
}

/// seed_bugs=1: seed 000's send buffer, sent whole whatever the message's length.
const SEED_BUF: usize = 1024;

struct Shared {
    sock: Socket,
    peer: Ipv4,
    count: u32,
    interval_ms: u32,
    payload: KVec<u8>,
    stopping: AtomicBool,
}

/// The client thread's body: connect, send, close.
fn run(s: &Shared) {
    if let Err(e) = s.sock.connect(s.peer) {
        if !s.stopping.load(Ordering::Acquire) {
            pr_info!("connect failed peer={} errno={}\n", s.peer, e.to_errno());
        }
        return;
    }
    pr_info!("connected peer={}\n", s.peer);
    let mut sent = 0;
    for seq in 1..=s.count {
        if s.stopping.load(Ordering::Acquire) || !send_one(s, seq) {
            break;
        }
        sent += 1;
        if s.interval_ms > 0 && seq < s.count {
            ksock::sleep_ms(s.interval_ms);
        }
    }
    // FIN: the peer's read sees the end of the stream.
    s.sock.shutdown();
    pr_info!("done sent={}\n", sent);
}

/// Sends the payload once, whole; logs `sent seq=N len=L`, or the failure.
fn send_one(s: &Shared, seq: u32) -> bool {
    let mut off = 0;
    while off < s.payload.len() {
        match s.sock.send(&s.payload[off..]) {
            Ok(n) if n > 0 => off += n,
            Ok(_) => return false,
            Err(e) => {
                pr_info!("send failed seq={} errno={}\n", seq, e.to_errno());
                return false;
            }
        }
    }
    pr_info!("sent seq={} len={}\n", seq, off);
    true
}

struct KsockClient {
    shared: Arc<Shared>,
    thread: Option<KThread>,
}

impl kernel::Module for KsockClient {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let port = ranged("port", param!(port), 1, 65535)? as u16;
        let count = ranged("count", param!(count), 0, 1000)? as u32;
        let size = ranged("size", param!(size), 0, 65536)? as usize;
        let interval_ms = ranged("interval_ms", param!(interval_ms), 0, 60000)? as u32;
        let timeout_s = ranged("timeout_s", param!(timeout_s), 1, 600)?;
        let seed_bugs = ranged("seed_bugs", param!(seed_bugs), 0, 1)? == 1;
        let ip = ksock::addr_param()?;
        let mut payload = KVec::new();
        if size > 0 {
            for i in 0..size {
                payload.push(b'a' + (i % 26) as u8, GFP_KERNEL)?;
            }
        } else {
            // SAFETY: the `message` parameter string lives (NUL-terminated, read-only) as
            // long as the module.
            let m = unsafe { CStr::from_char_ptr(ksock_param_message()) };
            payload.extend_from_slice(m.to_bytes(), GFP_KERNEL)?;
        }
        if seed_bugs {
            // Seed 000's send path, as the C port does it: the message in a zeroed
            // 1024-byte buffer, all of which is sent.
            payload.truncate(SEED_BUF);
            payload.resize(SEED_BUF, 0, GFP_KERNEL)?;
        }
        let sock = Socket::tcp().inspect_err(|e| {
            pr_err!("sock_create_kern failed errno={}\n", e.to_errno());
        })?;
        sock.set_send_timeout(timeout_s);
        let peer = Ipv4 { addr: ip, port };
        let shared = Arc::new(
            Shared {
                sock,
                peer,
                count,
                interval_ms,
                payload,
                stopping: AtomicBool::new(false),
            },
            GFP_KERNEL,
        )?;
        let thread = KThread::spawn(shared.clone(), run, c"ksock_client")?;
        Ok(KsockClient {
            shared,
            thread: Some(thread),
        })
    }
}

impl Drop for KsockClient {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::Release);
        self.shared.sock.abort_on_close();
        // Wakes a thread blocked in connect or send.
        self.shared.sock.shutdown();
        // Waits for the thread to end.
        drop(self.thread.take());
        pr_info!("unloaded peer={}\n", self.shared.peer);
    }
}
