// SPDX-License-Identifier: GPL-2.0

//! ksock's kernel-side socket library: safe wrappers over the kernel's in-kernel socket
//! calls (`sock_create_kern`, `kernel_bind/listen/accept/connect`, `kernel_sendmsg/recvmsg`)
//! and kernel threads, shared by the server and client modules (included with `#[path]`).
//!
//! The kernel APIs that changed between versions are bridged here, driven by cfgs that ksock
//! detects from the target tree (see `vm/src/compat.rs`):
//! - `ksock_sock_create_kern_net`: `sock_create_kern` takes a `struct net *` (since 4.2);
//! - `ksock_sockaddr_unsized`: `kernel_bind`/`kernel_connect` take `sockaddr_unsized` (7.x).

// A library shared by several modules: each uses a subset of it.
#![allow(dead_code)]

use core::ffi::c_void;
use core::ptr::NonNull;

use kernel::bindings;
use kernel::error::{from_err_ptr, to_result};
// The kernel's own C types (its `c_char` is `u8`).
use kernel::ffi::{c_char, c_int};
use kernel::prelude::*;
use kernel::sync::Arc;

// The helpers take `struct socket *`; declared opaque here because `bindings::socket` embeds
// types (lockdep maps) that are not FFI-safe by value and trip `improper_ctypes`.
extern "C" {
    fn ksock_sock_set_reuseaddr(sock: *mut c_void);
    fn ksock_sock_abort_on_close(sock: *mut c_void);
    fn ksock_sock_set_sndtimeo(sock: *mut c_void, secs: i64);
    fn ksock_param_addr() -> *const c_char;
}

/// `IPPROTO_TCP` from uapi/linux/in.h, which the kernel's bindings do not include.
const IPPROTO_TCP: c_int = 6;

#[cfg(ksock_sockaddr_unsized)]
type RawSockaddr = bindings::sockaddr_unsized;
#[cfg(not(ksock_sockaddr_unsized))]
type RawSockaddr = bindings::sockaddr;

/// `struct sockaddr_in`, laid out as uapi/linux/in.h has it (not in the bindings either).
#[repr(C)]
#[derive(Default)]
struct SockaddrIn {
    family: u16,
    port_be: [u8; 2],
    addr: [u8; 4],
    zero: [u8; 8],
}

/// An IPv4 address and port.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ipv4 {
    pub(crate) addr: [u8; 4],
    pub(crate) port: u16,
}

impl Ipv4 {
    /// Parses a dotted quad (`127.0.0.1`).
    pub(crate) fn parse_addr(s: &[u8]) -> Option<[u8; 4]> {
        let mut out = [0u8; 4];
        let mut n = 0;
        for part in s.split(|b| *b == b'.') {
            if n == 4 || part.is_empty() || part.len() > 3 {
                return None;
            }
            let mut v: u16 = 0;
            for d in part {
                if !d.is_ascii_digit() {
                    return None;
                }
                v = v * 10 + u16::from(d - b'0');
            }
            out[n] = u8::try_from(v).ok()?;
            n += 1;
        }
        (n == 4).then_some(out)
    }

    fn raw(&self) -> SockaddrIn {
        SockaddrIn {
            family: bindings::AF_INET as u16,
            port_be: self.port.to_be_bytes(),
            addr: self.addr,
            zero: [0; 8],
        }
    }
}

impl Ipv4 {
    fn write(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let a = self.addr;
        write!(f, "{}.{}.{}.{}:{}", a[0], a[1], a[2], a[3], self.port)
    }
}

// Log arguments go through `kernel::fmt::Display` where the kernel crate has it (7.2+),
// else through core's.
#[cfg(ksock_kernel_fmt_display)]
impl kernel::fmt::Display for Ipv4 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.write(f)
    }
}

#[cfg(not(ksock_kernel_fmt_display))]
impl core::fmt::Display for Ipv4 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.write(f)
    }
}

/// The `addr` module parameter (a C `charp`, see ksock_helpers.c), as bytes.
pub(crate) fn param_addr() -> &'static [u8] {
    // SAFETY: the helper returns the parameter's current string, which the module
    // parameter machinery keeps alive, NUL-terminated, for the module's lifetime; the
    // parameter is read-only after load (0444).
    unsafe { CStr::from_char_ptr(ksock_param_addr()) }.to_bytes()
}

/// The `addr` parameter parsed as a dotted quad; logs
/// `invalid parameter addr=TEXT (want a dotted quad)` and fails with EINVAL otherwise.
pub(crate) fn addr_param() -> Result<[u8; 4]> {
    let text = param_addr();
    Ipv4::parse_addr(text).ok_or_else(|| {
        pr_err!(
            "invalid parameter addr={} (want a dotted quad)\n",
            core::str::from_utf8(text).unwrap_or("?")
        );
        EINVAL
    })
}

/// A kernel socket (`struct socket`) that this module owns; released on drop.
///
/// # Invariants
///
/// The pointer is a live socket from `sock_create_kern` or `kernel_accept`, owned by this
/// value alone until `drop` releases it.
pub(crate) struct Socket(NonNull<bindings::socket>);

// SAFETY: a `struct socket` may be used from any thread; the networking core serialises
// operations on it with the socket lock.
unsafe impl Send for Socket {}
// SAFETY: as above; the methods take `&self` only for calls the kernel makes safe to run
// concurrently (e.g. shutdown() from one thread while another is blocked in recv()).
unsafe impl Sync for Socket {}

fn to_len(r: c_int) -> Result<usize> {
    if r < 0 {
        to_result(r)?;
    }
    Ok(r as usize)
}

impl Socket {
    /// A new TCP/IPv4 socket in the initial network namespace.
    pub(crate) fn tcp() -> Result<Self> {
        let mut raw: *mut bindings::socket = core::ptr::null_mut();
        #[cfg(ksock_sock_create_kern_net)]
        // SAFETY: `init_net` lives as long as the kernel; `raw` is a valid out-pointer.
        let ret = unsafe {
            bindings::sock_create_kern(
                core::ptr::addr_of_mut!(bindings::init_net),
                bindings::AF_INET as c_int,
                bindings::sock_type_SOCK_STREAM as c_int,
                IPPROTO_TCP,
                &mut raw,
            )
        };
        #[cfg(not(ksock_sock_create_kern_net))]
        // SAFETY: `raw` is a valid out-pointer (pre-4.2 form, no namespace argument).
        let ret = unsafe {
            bindings::sock_create_kern(
                bindings::AF_INET as c_int,
                bindings::sock_type_SOCK_STREAM as c_int,
                IPPROTO_TCP,
                &mut raw,
            )
        };
        to_result(ret)?;
        NonNull::new(raw).map(Socket).ok_or(ENOMEM)
    }

    fn ptr(&self) -> *mut bindings::socket {
        self.0.as_ptr()
    }

    /// SO_REUSEADDR: rebinding a port with connections in TIME_WAIT (reloads in one boot).
    pub(crate) fn set_reuseaddr(&self) {
        // SAFETY: `self.0` is a live socket owned by `self`.
        unsafe { ksock_sock_set_reuseaddr(self.ptr().cast()) }
    }

    /// Close with RST on release, leaving no TIME_WAIT socket behind.
    pub(crate) fn abort_on_close(&self) {
        // SAFETY: `self.0` is a live socket owned by `self`.
        unsafe { ksock_sock_abort_on_close(self.ptr().cast()) }
    }

    /// Bounds blocking connect/send to `secs` seconds.
    pub(crate) fn set_send_timeout(&self, secs: i64) {
        // SAFETY: `self.0` is a live socket owned by `self`.
        unsafe { ksock_sock_set_sndtimeo(self.ptr().cast(), secs) }
    }

    pub(crate) fn bind(&self, a: Ipv4) -> Result {
        let mut sa = a.raw();
        // SAFETY: `sa` is a valid sockaddr_in for the duration of the call; the kernel
        // copies it. The cast matches the parameter type of this kernel version.
        to_result(unsafe {
            bindings::kernel_bind(
                self.ptr(),
                core::ptr::from_mut(&mut sa).cast::<RawSockaddr>(),
                core::mem::size_of::<SockaddrIn>() as c_int,
            )
        })
    }

    pub(crate) fn listen(&self, backlog: i32) -> Result {
        // SAFETY: `self.0` is a live, bound socket.
        to_result(unsafe { bindings::kernel_listen(self.ptr(), backlog) })
    }

    /// Blocks until a connection arrives (or the socket is shut down).
    pub(crate) fn accept(&self) -> Result<Socket> {
        let mut new: *mut bindings::socket = core::ptr::null_mut();
        // SAFETY: `self.0` is a live listening socket; `new` is a valid out-pointer that the
        // kernel fills with a socket we then own.
        to_result(unsafe { bindings::kernel_accept(self.ptr(), &mut new, 0) })?;
        NonNull::new(new).map(Socket).ok_or(EINVAL)
    }

    pub(crate) fn connect(&self, a: Ipv4) -> Result {
        let mut sa = a.raw();
        // SAFETY: as in `bind`.
        to_result(unsafe {
            bindings::kernel_connect(
                self.ptr(),
                core::ptr::from_mut(&mut sa).cast::<RawSockaddr>(),
                core::mem::size_of::<SockaddrIn>() as c_int,
                0,
            )
        })
    }

    /// Sends all of `data` (one kernel_sendmsg; TCP may take it partially: returns the count).
    pub(crate) fn send(&self, data: &[u8]) -> Result<usize> {
        // SAFETY: all-zero is a valid `msghdr` (no name, no control data, no flags).
        let mut msg: bindings::msghdr = unsafe { core::mem::zeroed() };
        let mut vec = bindings::kvec {
            iov_base: data.as_ptr().cast_mut().cast::<c_void>(),
            iov_len: data.len(),
        };
        // SAFETY: `vec` describes `data`, which outlives the call; the kernel only reads it.
        to_len(unsafe { bindings::kernel_sendmsg(self.ptr(), &mut msg, &mut vec, 1, data.len()) })
    }

    /// Blocks until data arrives; `Ok(0)` means the peer closed (or we were shut down).
    pub(crate) fn recv(&self, buf: &mut [u8]) -> Result<usize> {
        // SAFETY: all-zero is a valid `msghdr`.
        let mut msg: bindings::msghdr = unsafe { core::mem::zeroed() };
        let mut vec = bindings::kvec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: `vec` describes `buf`, which is exclusively ours for the call.
        to_len(unsafe {
            bindings::kernel_recvmsg(self.ptr(), &mut msg, &mut vec, 1, buf.len(), 0)
        })
    }

    /// SHUT_RDWR: wakes any thread blocked in accept/recv/connect on this socket.
    pub(crate) fn shutdown(&self) {
        // SAFETY: `self.0` is live; shutdown may race with a blocked call on another thread,
        // which is exactly how in-kernel users stop such calls.
        unsafe { bindings::kernel_sock_shutdown(self.ptr(), bindings::sock_shutdown_cmd_SHUT_RDWR) };
    }

    /// The connected peer's address.
    pub(crate) fn peer(&self) -> Result<Ipv4> {
        let mut sa = SockaddrIn::default();
        // SAFETY: `sa` is large enough for an AF_INET address; the kernel writes into it.
        let r = unsafe {
            bindings::kernel_getpeername(
                self.ptr(),
                core::ptr::from_mut(&mut sa).cast::<bindings::sockaddr>(),
            )
        };
        to_len(r)?;
        Ok(Ipv4 {
            addr: sa.addr,
            port: u16::from_be_bytes(sa.port_be),
        })
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: we own the socket and nobody uses it after this point.
        unsafe { bindings::sock_release(self.ptr()) };
    }
}

/// What a thread started by [`KThread::spawn`] runs: `body(&data)`, holding its own
/// reference to `data`.
struct Start<T> {
    data: Arc<T>,
    body: fn(&T),
}

/// The thread function of every [`KThread`]: runs the body, then sleeps until
/// `kthread_stop`, then drops its reference to the data.
///
/// # Safety
///
/// `p` must come from `KBox::<Start<T>>::into_raw` in [`KThread::spawn`], and nothing else
/// may reclaim it while this function runs (see `KThread::drop`).
unsafe extern "C" fn trampoline<T: Send + Sync>(p: *mut c_void) -> c_int {
    // SAFETY: per this function's contract, `p` is a leaked `KBox<Start<T>>` and this thread
    // is its only owner now.
    let start = unsafe { KBox::from_raw(p.cast::<Start<T>>()) };
    (start.body)(&start.data);
    // The task must outlive this function until kthread_stop (see `KThread`'s invariants).
    wait_for_stop();
    drop(start);
    0
}

/// Frees a [`Start`] whose thread was stopped before its function ever ran.
///
/// # Safety
///
/// As for [`trampoline`], and only after `kthread_stop` said the function never ran.
unsafe fn reclaim<T>(p: *mut c_void) {
    // SAFETY: per the contract, nobody else owns the leaked box.
    drop(unsafe { KBox::from_raw(p.cast::<Start<T>>()) });
}

/// A kernel thread running `body(&data)` with its own `Arc` of `data`; stopped (and waited
/// for) when dropped. Modules get threads without `unsafe`: the raw kthread calling
/// convention, and who frees the data, are handled here once.
///
/// # Invariants
///
/// `task` is a kthread created by `spawn` and not yet stopped; its function returns only
/// after `kthread_should_stop()`, so the task is alive until `drop` calls `kthread_stop`.
/// `start` is the `Start<T>` leaked for it and `reclaim` frees that type: the thread owns
/// it once its function runs; if the thread is stopped before it ran (`kthread_stop` then
/// returns `-EINTR`, which the trampoline never returns), `drop` frees it.
pub(crate) struct KThread {
    task: NonNull<bindings::task_struct>,
    start: *mut c_void,
    reclaim: unsafe fn(*mut c_void),
}

// SAFETY: a task pointer may be handed between threads and kthread_stop may be called from
// any of them; `start` is only touched by `drop`, after the thread has ended.
unsafe impl Send for KThread {}
// SAFETY: no method takes `&self`; the only operation, `drop`, needs `&mut self`.
unsafe impl Sync for KThread {}

impl KThread {
    /// Starts a kernel thread named `name` that runs `body(&data)`.
    pub(crate) fn spawn<T: Send + Sync + 'static>(
        data: Arc<T>,
        body: fn(&T),
        name: &CStr,
    ) -> Result<Self> {
        let start = KBox::into_raw(KBox::new(Start { data, body }, GFP_KERNEL)?).cast::<c_void>();
        // SAFETY: `trampoline::<T>` matches `start`'s type; `name` is a NUL-terminated format
        // string without conversions.
        let task = unsafe {
            bindings::kthread_create_on_node(
                Some(trampoline::<T>),
                start,
                bindings::NUMA_NO_NODE,
                name.as_char_ptr(),
            )
        };
        let task = match from_err_ptr(task) {
            Ok(t) => t,
            Err(e) => {
                // SAFETY: no thread was created, so `start` is still ours alone.
                unsafe { reclaim::<T>(start) };
                return Err(e);
            }
        };
        // SAFETY: `task` is a freshly created kthread, not yet running.
        unsafe { bindings::wake_up_process(task) };
        // INVARIANT: `task` was just created and is not stopped; `start` is its `Start<T>`.
        Ok(KThread {
            task: NonNull::new(task).ok_or(ENOMEM)?,
            start,
            reclaim: reclaim::<T>,
        })
    }
}

impl Drop for KThread {
    fn drop(&mut self) {
        // SAFETY: by the invariants the task is alive until this call.
        let ret = unsafe { bindings::kthread_stop(self.task.as_ptr()) };
        if ret == EINTR.to_errno() {
            // SAFETY: the thread function never ran (see the invariants), so `start` is ours.
            unsafe { (self.reclaim)(self.start) };
        }
    }
}

/// Whether `kthread_stop` has been called on the current thread.
pub(crate) fn should_stop() -> bool {
    // SAFETY: only called from kthreads created by `KThread::spawn`.
    unsafe { bindings::kthread_should_stop() }
}

/// Sleeps up to `ms`, waking early for kthread_stop (no busy waiting).
pub(crate) fn sleep_ms(ms: u32) {
    let j = kernel::time::msecs_to_jiffies(ms);
    let j = kernel::ffi::c_long::try_from(j).unwrap_or(kernel::ffi::c_long::MAX);
    // SAFETY: plain scheduler call from process context.
    unsafe { bindings::schedule_timeout_interruptible(j) };
}

/// The end of every thread function: sleep until kthread_stop.
fn wait_for_stop() {
    while !should_stop() {
        sleep_ms(1000);
    }
}
