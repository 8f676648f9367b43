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

use core::cell::UnsafeCell;
use core::ffi::c_void;
use kernel::ffi::{c_int, c_uint};
use core::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use kernel::prelude::*;
use kernel::uaccess::{UserPtr, UserSlice};

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

struct Store {
    buf: [u8; CAPACITY],
    len: usize,
}

/// The stored message. Only touched from `ksock_sockopt_set/get`, which the C glue calls
/// with `ksock_sockopt_lock` held, and from `init` before registration.
struct Locked(UnsafeCell<Store>);

// SAFETY: every access happens under the C glue's mutex (or before registration), see above.
unsafe impl Sync for Locked {}

static STORE: Locked = Locked(UnsafeCell::new(Store {
    buf: [0; CAPACITY],
    len: 0,
}));
/// The `seed_bugs` mask.
static SEED_BUGS: AtomicI64 = AtomicI64::new(0);
/// Bit of [`SEED_BUGS`]: the seed article's unchecked copies.
const SEED_COPIES: i64 = 1;
/// Bit of [`SEED_BUGS`]: a NULL dereference on a zero-length get after a full set.
const SEED_CRASH: i64 = 2;
/// Whether the last `set` stated exactly [`CAPACITY`] bytes (for [`SEED_CRASH`]).
static LAST_SET_FULL: AtomicBool = AtomicBool::new(false);

/// Called by the glue's `set` with the lock held.
#[no_mangle]
extern "C" fn ksock_sockopt_set(optval: c_int, user: *mut c_void, len: c_uint) -> c_int {
    // SAFETY: the caller holds ksock_sockopt_lock (see `Locked`).
    let store = unsafe { &mut *STORE.0.get() };
    let len = len as usize;
    LAST_SET_FULL.store(len == CAPACITY, Ordering::Relaxed);
    if SEED_BUGS.load(Ordering::Relaxed) & SEED_COPIES != 0 {
        // Seed bug: a fixed-size copy that ignores optlen.
        let mut r = UserSlice::new(UserPtr::from_ptr(user), SEED_SET_COPY).reader();
        if let Err(e) = r.read_slice(&mut store.buf[..SEED_SET_COPY]) {
            pr_info!("set fault optname={} errno={}\n", optval, e.to_errno());
            return e.to_errno();
        }
        store.len = store.buf.iter().position(|b| *b == 0).unwrap_or(SEED_SET_COPY);
        pr_info!("set optname={} len={}\n", optval, store.len);
        return 0;
    }
    if len == 0 || len > CAPACITY {
        pr_info!(
            "set rejected optname={} len={} capacity={} errno={}\n",
            optval,
            len,
            CAPACITY,
            EINVAL.to_errno()
        );
        return EINVAL.to_errno();
    }
    let mut tmp = [0u8; CAPACITY];
    let mut r = UserSlice::new(UserPtr::from_ptr(user), len).reader();
    if let Err(e) = r.read_slice(&mut tmp[..len]) {
        pr_info!("set fault optname={} errno={}\n", optval, e.to_errno());
        return e.to_errno();
    }
    store.buf = tmp;
    store.len = len;
    pr_info!("set optname={} len={}\n", optval, len);
    0
}

/// Called by the glue's `get` with the lock held; `len` is the kernel's copy of the
/// caller's length, written back to userspace by the IP layer when we return 0.
#[no_mangle]
extern "C" fn ksock_sockopt_get(optval: c_int, user: *mut c_void, len: *mut c_int) -> c_int {
    // SAFETY: the caller holds ksock_sockopt_lock (see `Locked`).
    let store = unsafe { &*STORE.0.get() };
    // SAFETY: `len` points to the IP layer's kernel copy of the length, valid for the call.
    let want = unsafe { *len };
    let full = LAST_SET_FULL.load(Ordering::Relaxed);
    if SEED_BUGS.load(Ordering::Relaxed) & SEED_CRASH != 0 && want == 0 && full {
        pr_info!("get optname={} len=0: seeded crash\n", optval);
        // SAFETY: none; this is the planted crash (NULL write → oops → panic in a guest).
        unsafe { core::ptr::write_volatile(core::ptr::null_mut::<u8>(), 0) };
    }
    if SEED_BUGS.load(Ordering::Relaxed) & SEED_COPIES != 0 {
        // Seed bug: copies the whole message whatever the caller's buffer holds.
        let mut w = UserSlice::new(UserPtr::from_ptr(user), store.len).writer();
        if let Err(e) = w.write_slice(&store.buf[..store.len]) {
            pr_info!("get fault optname={} errno={}\n", optval, e.to_errno());
            return e.to_errno();
        }
        pr_info!("get optname={} len={}\n", optval, store.len);
        return 0;
    }
    if want < 0 {
        pr_info!("get rejected optname={} len={} errno={}\n", optval, want, EINVAL.to_errno());
        return EINVAL.to_errno();
    }
    let n = store.len.min(want as usize);
    let mut w = UserSlice::new(UserPtr::from_ptr(user), n).writer();
    if let Err(e) = w.write_slice(&store.buf[..n]) {
        pr_info!("get fault optname={} errno={}\n", optval, e.to_errno());
        return e.to_errno();
    }
    // SAFETY: as above.
    unsafe { *len = n as c_int };
    pr_info!("get optname={} len={}\n", optval, n);
    0
}

struct KsockSockopt;

impl kernel::Module for KsockSockopt {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let min = ranged("optmin", param!(optmin), 64, 4095)?;
        let max = ranged("optmax", param!(optmax), min + 1, min + 16)?;
        let bugs = ranged("seed_bugs", param!(seed_bugs), 0, 3)?;
        SEED_BUGS.store(bugs, Ordering::Relaxed);
        // SAFETY: not registered yet, so no set/get can run concurrently.
        let store = unsafe { &mut *STORE.0.get() };
        store.buf[..INITIAL.len()].copy_from_slice(INITIAL);
        store.len = INITIAL.len();
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
