// SPDX-License-Identifier: GPL-2.0

//! ksock_sockopt: a user↔kernel channel through `setsockopt`/`getsockopt` (seed 003),
//! registered with `nf_register_sockopt` on PF_INET for optnames `[optmin, optmax)`.
//!
//! - `set` stores at most [`CAPACITY`] bytes and honours optlen: a length of 0 or over the
//!   capacity is `-EINVAL`; a bad user pointer is `-EFAULT`.
//! - `get` returns the stored message, copying at most the caller's `*len` bytes and writing
//!   back the length it copied; a negative `*len` is `-EINVAL`.
//! - User memory is touched only through `kernel::uaccess::UserSlice` (checked copies).
//!
//! `seed_bugs` is a bit mask of planted bugs, for the fuzzer to find. Bit 0 (`1`) is the seed
//! article's two mistakes: `set` always copies 64 bytes whatever optlen says, and `get`
//! copies the whole kernel message whatever `*len` allows. Bit 1 (`2`) is a crash: a `get`
//! with a zero length right after a `set` of exactly [`CAPACITY`] bytes dereferences NULL
//! (ksock's own test that a panic mid-campaign is a finding and the campaign goes on; it
//! takes a two-call sequence, so a campaign meets it only now and then).
//!
//! Log lines: `registered optnames=128..129 capacity=64 seed_bugs=0`, `set optname=128
//! len=5`, `get optname=128 len=5`, `set rejected optname=128 len=65 errno=-22`,
//! `set fault optname=128 errno=-14`, `unregistered`.

use kernel::error::from_result;
use kernel::ffi::{c_int, c_uint, c_void};
use kernel::prelude::*;
use kernel::uaccess::UserSlice;

#[path = "params.rs"]
mod params;
use params::{param, ranged};

extern "C" {
    fn ksock_sockopt_register(optmin: c_int, optmax: c_int) -> c_int;
    fn ksock_sockopt_unregister();
}

module! {
    type: KsockSockopt,
    name: "ksock_sockopt",
    authors: ["ksock developers"],
    description: "ksock: setsockopt/getsockopt control channel via nf_register_sockopt",
    license: "GPL",
    params: {
        optmin: i64 {
            default: 128,
            description: "First optname served (64..=4095)",
        },
        optmax: i64 {
            default: 129,
            description: "One past the last optname served (optmin+1..=optmin+16)",
        },
        seed_bugs: i64 {
            default: 0,
            description: "Planted bugs for fuzzing: 1 the seed's unchecked copies, 2 a crash",
        },
    },
}

/// The most `set` stores.
const CAPACITY: usize = 64;
/// What `get` returns before any `set` (the seed's KMSG, without its NUL).
const INITIAL: &[u8] = b"a message from kernel";
/// The seed's fixed copy size for `set`.
const SEED_SET_COPY: usize = 64;

/// Bit of `seed_bugs`: the seed article's unchecked copies.
const SEED_COPIES: i64 = 1;
/// Bit of `seed_bugs`: a NULL dereference on a zero-length get after a full set.
const SEED_CRASH: i64 = 2;

/// The module's state: the stored message and what the planted bugs need.
struct Store {
    buf: [u8; CAPACITY],
    len: usize,
    /// The `seed_bugs` mask.
    seed_bugs: i64,
    /// Whether the last `set` stated exactly [`CAPACITY`] bytes (for [`SEED_CRASH`]).
    last_set_full: bool,
}

// A static because the C glue's callbacks (see sockopt_glue.c) have no context pointer to
// reach the module's instance; the kernel crate's global lock serialises every set/get.
kernel::sync::global_lock! {
    // SAFETY: `init` calls `STORE.init()` once, before registering the callbacks that use it.
    unsafe(uninit) static STORE: Mutex<Store> = Store {
        buf: [0; CAPACITY],
        len: 0,
        seed_bugs: 0,
        last_set_full: false,
    };
}

/// `setsockopt` on one of our optnames (called by the glue).
#[no_mangle]
extern "C" fn ksock_sockopt_set(optval: c_int, user: *mut c_void, len: c_uint) -> c_int {
    from_result(|| set(optval, UserPtr::from_ptr(user), len as usize).map(|()| 0))
}

fn set(optval: c_int, user: UserPtr, len: usize) -> Result {
    let mut store = STORE.lock();
    store.last_set_full = len == CAPACITY;
    if store.seed_bugs & SEED_COPIES != 0 {
        // Seed bug: a fixed-size copy that ignores optlen.
        let mut r = UserSlice::new(user, SEED_SET_COPY).reader();
        r.read_slice(&mut store.buf[..SEED_SET_COPY])
            .inspect_err(|e| pr_info!("set fault optname={} errno={}\n", optval, e.to_errno()))?;
        store.len = store.buf.iter().position(|b| *b == 0).unwrap_or(SEED_SET_COPY);
        pr_info!("set optname={} len={}\n", optval, store.len);
        return Ok(());
    }
    if len == 0 || len > CAPACITY {
        pr_info!(
            "set rejected optname={} len={} capacity={} errno={}\n",
            optval,
            len,
            CAPACITY,
            EINVAL.to_errno()
        );
        return Err(EINVAL);
    }
    let mut tmp = [0u8; CAPACITY];
    let mut r = UserSlice::new(user, len).reader();
    r.read_slice(&mut tmp[..len])
        .inspect_err(|e| pr_info!("set fault optname={} errno={}\n", optval, e.to_errno()))?;
    store.buf = tmp;
    store.len = len;
    pr_info!("set optname={} len={}\n", optval, len);
    Ok(())
}

/// `getsockopt` on one of our optnames (called by the glue); `len` is the IP layer's kernel
/// copy of the caller's length, written back to userspace when we return 0.
#[no_mangle]
extern "C" fn ksock_sockopt_get(optval: c_int, user: *mut c_void, len: *mut c_int) -> c_int {
    // SAFETY: `len` points to the IP layer's kernel copy of the length, valid for the call.
    let want = unsafe { *len };
    from_result(|| {
        let n = get(optval, UserPtr::from_ptr(user), want)?;
        // SAFETY: as above.
        unsafe { *len = n };
        Ok(0)
    })
}

/// Copies the message out; returns the length to write back.
fn get(optval: c_int, user: UserPtr, want: c_int) -> Result<c_int> {
    let store = STORE.lock();
    if store.seed_bugs & SEED_CRASH != 0 && want == 0 && store.last_set_full {
        pr_info!("get optname={} len=0: seeded crash\n", optval);
        // Through black_box: the lints must not see (and refuse) the NULL it is meant to hit.
        let null = core::hint::black_box(core::ptr::null_mut::<u8>());
        // SAFETY: none; this is the planted crash (NULL write → oops → panic in a guest).
        unsafe { core::ptr::write_volatile(null, 0) };
    }
    let n = if store.seed_bugs & SEED_COPIES != 0 {
        // Seed bug: copies the whole message whatever the caller's buffer holds.
        store.len
    } else if want < 0 {
        pr_info!("get rejected optname={} len={} errno={}\n", optval, want, EINVAL.to_errno());
        return Err(EINVAL);
    } else {
        store.len.min(want as usize)
    };
    let mut w = UserSlice::new(user, n).writer();
    w.write_slice(&store.buf[..n])
        .inspect_err(|e| pr_info!("get fault optname={} errno={}\n", optval, e.to_errno()))?;
    pr_info!("get optname={} len={}\n", optval, n);
    // The seed bug leaves the caller's length as it was.
    Ok(if store.seed_bugs & SEED_COPIES != 0 { want } else { n as c_int })
}

struct KsockSockopt;

impl kernel::Module for KsockSockopt {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let min = ranged("optmin", param!(optmin), 64, 4095)?;
        let max = ranged("optmax", param!(optmax), min + 1, min + 16)?;
        let bugs = ranged("seed_bugs", param!(seed_bugs), 0, 3)?;
        // SAFETY: called once per load, before the callbacks that lock it are registered.
        unsafe { STORE.init() };
        {
            let mut store = STORE.lock();
            store.seed_bugs = bugs;
            store.buf[..INITIAL.len()].copy_from_slice(INITIAL);
            store.len = INITIAL.len();
        }
        // SAFETY: the glue's ops are static; registration is undone in `Drop`.
        let r = unsafe { ksock_sockopt_register(min as c_int, max as c_int) };
        if r != 0 {
            pr_err!("register failed optnames={}..{} errno={}\n", min, max, r);
            return Err(Error::from_errno(r));
        }
        pr_info!(
            "registered optnames={}..{} capacity={} seed_bugs={}\n",
            min,
            max,
            CAPACITY,
            bugs
        );
        Ok(KsockSockopt)
    }
}

impl Drop for KsockSockopt {
    fn drop(&mut self) {
        // SAFETY: registered in `init`; nf_unregister_sockopt waits for callers to leave.
        unsafe { ksock_sockopt_unregister() };
        pr_info!("unregistered\n");
    }
}
