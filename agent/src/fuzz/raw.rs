//! The fuzz benchmark's floor: the fuzzer's own syscalls, replayed bare.
//!
//! `bench fuzz` compares the in-guest fuzzer's module syscalls per second with "a raw loop
//! of the same syscalls in the same boot". The calls are the corpus the campaign just
//! built (decoded exactly as the fuzzer decodes it), prepared once — buffers filled, pointers
//! placed — and then issued in a tight loop with no oracle, no model, no arena bookkeeping
//! and no libFuzzer. Reloads are left out (they are not syscalls on the socket) and each
//! input starts from the module's initial message, as in the fuzzer. The cheapest pair
//! (a 5-byte set and a 64-byte get) is measured too, for scale.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ksock_fuzz::{lang::sockopt::Op, lang::sockopt::Place, lang::sockopt::Target, model};

use crate::fuzz::MAX_BUF;
use crate::guarded::BAD_USER_POINTER;
use ksock_fuzz::{Decoded, FuzzConfig};

/// Sets up to this long get a buffer of their own, holding their pattern.
const SMALL: usize = 4096;

/// One prepared call: what the fuzzer passed to the kernel, minus its checks.
struct Call {
    set: bool,
    opt: i32,
    len: libc::socklen_t,
    ptr: *mut libc::c_void,
}

/// The corpus's sockopt calls, ready to issue; owns their buffers.
pub struct Replay {
    /// The calls' `level`.
    level: i32,
    inputs: Vec<Vec<Call>>,
    /// Keeps the small sets' buffers alive.
    _buffers: Vec<Vec<u8>>,
    /// Where gets write, and large sets read from (zeros past their pattern's 4 KiB).
    shared: Vec<u8>,
    /// A read-only mapping for `Place::ReadOnly` (zeros).
    read_only: *mut libc::c_void,
}

impl Replay {
    /// Decodes every file of `corpus` for `cfg`'s target.
    pub fn from_corpus(corpus: &Path, cfg: &FuzzConfig) -> Result<Self> {
        // SAFETY: a fresh private read-only anonymous mapping, unmapped in Drop.
        let read_only = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                MAX_BUF,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        anyhow::ensure!(
            read_only != libc::MAP_FAILED,
            "mmap: {}",
            std::io::Error::last_os_error()
        );
        let mut r = Replay {
            level: cfg.target.level,
            inputs: Vec::new(),
            _buffers: Vec::new(),
            shared: vec![0; MAX_BUF],
            read_only,
        };
        let entries = std::fs::read_dir(corpus)
            .with_context(|| format!("reading the corpus {}", corpus.display()))?;
        for e in entries.flatten() {
            let data = std::fs::read(e.path())?;
            if let Decoded::Sockopt(ops) = cfg.decode(&data) {
                let calls: Vec<Call> = ops
                    .iter()
                    .filter_map(|op| r.prepare(op, &cfg.target))
                    .collect();
                if !calls.is_empty() {
                    r.inputs.push(calls);
                }
            }
        }
        Ok(r)
    }

    /// Calls in all inputs.
    pub fn calls(&self) -> usize {
        self.inputs.iter().map(Vec::len).sum()
    }

    fn prepare(&mut self, op: &Op, t: &Target) -> Option<Call> {
        let c = crate::fuzz::call_of(op, t)?;
        let (set, opt, stated, fill, place, size) =
            (c.set, c.opt, c.stated, &c.fill, c.place, c.size());
        let ptr = match place {
            Place::Null => std::ptr::null_mut(),
            Place::Unmapped => BAD_USER_POINTER as *mut libc::c_void,
            Place::ReadOnly => self.read_only,
            // The fill matters to what the module stores, so small sets keep theirs; a
            // large one (the module refuses it by its length) reads the shared zeros.
            Place::Guarded | Place::Canary if set && size <= SMALL => {
                let mut b = vec![0u8; size.max(1)];
                model::fill_into(&mut b[..size], fill);
                let p = b.as_mut_ptr().cast();
                self._buffers.push(b);
                p
            }
            Place::Guarded | Place::Canary => self.shared.as_mut_ptr().cast(),
        };
        Some(Call {
            set,
            opt,
            len: stated as libc::socklen_t,
            ptr,
        })
    }

    /// Issues every input's calls on `fd` (after `reset`) until `d` has passed; returns
    /// the calls per second (the resets are not counted, as the fuzzer does not count
    /// them either).
    pub fn run(&self, fd: libc::c_int, d: Duration, mut reset: impl FnMut()) -> f64 {
        let start = Instant::now();
        let mut calls = 0u64;
        let mut reset_time = Duration::ZERO;
        while start.elapsed() < d && !self.inputs.is_empty() {
            for input in &self.inputs {
                let r0 = Instant::now();
                reset();
                reset_time += r0.elapsed();
                for c in input {
                    let mut len = c.len;
                    // SAFETY: the pointers are the prepared buffers (owned by self) or the
                    // deliberately bad ones the fuzzer passes; the kernel checks them.
                    unsafe {
                        if c.set {
                            libc::setsockopt(fd, self.level, c.opt, c.ptr, c.len);
                        } else {
                            libc::getsockopt(fd, self.level, c.opt, c.ptr, &mut len);
                        }
                    }
                }
                calls += input.len() as u64;
            }
        }
        calls as f64 / (start.elapsed() - reset_time).as_secs_f64().max(1e-9)
    }
}

impl Drop for Replay {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `from_corpus`, of that length.
        unsafe { libc::munmap(self.read_only, MAX_BUF) };
    }
}
