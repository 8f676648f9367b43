//! User buffers placed so that the kernel's overreach is observable: they end exactly where
//! an inaccessible page begins (optionally after canary bytes), so a kernel copy of even one
//! byte past the stated length faults (EFAULT) or overwrites a canary instead of silently
//! reading or corrupting neighbouring memory.

/// An address that is never mapped in user space (the top of the x86-64 user range).
pub const BAD_USER_POINTER: usize = 0x7fff_ffff_f000;

/// The canary byte value.
pub const CANARY: u8 = 0xa5;

fn page() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// A buffer from [`Arena::buf`] holds its fill pattern in this many bytes at most (a page),
/// zeros after: filling a 1 MiB buffer costs ~100 us under TCG, longer than the syscall, and no
/// module's contract reads that far (a message store's capacity is 64 bytes).
pub const FILL_LIMIT: usize = 4096;

/// User buffers that end exactly at a PROT_NONE page (optionally after canary bytes), from
/// one mapping reused by every op of a fuzzing session (no mmap, mprotect and munmap, and
/// no page faults of fresh memory, per op). The memory is
/// seen twice, read-write and read-only (one memfd, two views, each followed by its guard
/// page), so a read-only buffer costs no mprotect either.
///
/// Invariant: every byte outside `dirty` is zero, so a new buffer is made of its pattern
/// and zeros by clearing only what earlier buffers left behind.
pub struct Arena {
    base: *mut libc::c_void,
    read_only: *mut libc::c_void,
    /// Bytes before each view's guard page.
    data_len: usize,
    /// Offsets that may hold non-zero bytes (sorted, disjoint).
    dirty: Vec<std::ops::Range<usize>>,
}

impl Arena {
    /// Room for a buffer plus canary of up to `max` bytes.
    pub fn new(max: usize) -> std::io::Result<Self> {
        let data_len = max.div_ceil(page()).max(1) * page();
        // SAFETY: memfd_create with a NUL-terminated name.
        let fd = unsafe { libc::memfd_create(c"ksock-arena".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: the fd is ours and `data_len` long once truncated; the mappings keep the
        // memory alive after it is closed, and a view made before a failure is unmapped.
        let views = unsafe {
            let views = if libc::ftruncate(fd, data_len as libc::off_t) != 0 {
                Err(std::io::Error::last_os_error())
            } else {
                view(fd, data_len, libc::PROT_READ | libc::PROT_WRITE).and_then(|rw| {
                    view(fd, data_len, libc::PROT_READ)
                        .map(|ro| (rw, ro))
                        .inspect_err(|_| {
                            libc::munmap(rw, data_len + page());
                        })
                })
            };
            libc::close(fd);
            views?
        };
        Ok(Self {
            base: views.0,
            read_only: views.1,
            data_len,
            dirty: Vec::new(),
        })
    }

    /// `len` bytes holding `fill` repeated (up to [`FILL_LIMIT`] bytes, zeros after), then
    /// `canary` canary bytes, then the guard page.
    pub fn buf(&mut self, len: usize, canary: usize, fill: &[u8]) -> ArenaBuf<'_> {
        assert!(
            len + canary <= self.data_len,
            "arena buffer of {len}+{canary} bytes"
        );
        let start = self.data_len - canary - len;
        let pattern = if fill.is_empty() {
            0
        } else {
            len.min(FILL_LIMIT)
        };
        self.clear(start + pattern..start + len);
        self.mark(start..start + pattern);
        self.mark(start + len..start + len + canary);
        let mut b = ArenaBuf {
            start,
            arena: self,
            len,
            canary,
        };
        ksock_fuzz::model::fill_into(&mut b.as_mut_slice()[..pattern], fill);
        b.canary_mut().fill(CANARY);
        b
    }

    fn bytes(&mut self, r: std::ops::Range<usize>) -> &mut [u8] {
        assert!(r.start <= r.end && r.end <= self.data_len);
        // SAFETY: the range lies in the read-write part of the mapping, borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut((self.base as *mut u8).add(r.start), r.len()) }
    }

    /// Zeros what is dirty in `r`. (No allocation: this runs twice per op.)
    fn clear(&mut self, r: std::ops::Range<usize>) {
        let mut i = 0;
        while i < self.dirty.len() {
            let d = self.dirty[i].clone();
            let (lo, hi) = (d.start.max(r.start), d.end.min(r.end));
            if lo >= hi {
                i += 1;
                continue;
            }
            self.bytes(lo..hi).fill(0);
            match (d.start < lo, hi < d.end) {
                (true, true) => {
                    self.dirty[i] = d.start..lo;
                    self.dirty.insert(i + 1, hi..d.end);
                    i += 2;
                }
                (true, false) => {
                    self.dirty[i] = d.start..lo;
                    i += 1;
                }
                (false, true) => {
                    self.dirty[i] = hi..d.end;
                    i += 1;
                }
                (false, false) => drop(self.dirty.remove(i)),
            }
        }
    }

    /// Records that `r` may now hold non-zero bytes.
    fn mark(&mut self, r: std::ops::Range<usize>) {
        if r.is_empty() {
            return;
        }
        let i = self.dirty.partition_point(|d| d.start < r.start);
        self.dirty.insert(i, r);
        // Only the new range's neighbours can overlap it now.
        let mut j = i.saturating_sub(1);
        while j + 1 < self.dirty.len() {
            if self.dirty[j + 1].start <= self.dirty[j].end {
                let end = self.dirty[j + 1].end;
                self.dirty[j].end = self.dirty[j].end.max(end);
                self.dirty.remove(j + 1);
            } else if j >= i {
                break;
            } else {
                j += 1;
            }
        }
    }
}

/// `len` bytes of `fd` with `prot`, followed by a PROT_NONE page.
///
/// # Safety
/// `fd` must be a file of at least `len` bytes.
unsafe fn view(
    fd: libc::c_int,
    len: usize,
    prot: libc::c_int,
) -> std::io::Result<*mut libc::c_void> {
    // SAFETY: reserving address space (inaccessible), then mapping the file over its start.
    unsafe {
        let base = libc::mmap(
            std::ptr::null_mut(),
            len + page(),
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if base == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let v = libc::mmap(base, len, prot, libc::MAP_SHARED | libc::MAP_FIXED, fd, 0);
        if v == libc::MAP_FAILED {
            let e = std::io::Error::last_os_error();
            libc::munmap(base, len + page());
            return Err(e);
        }
        Ok(base)
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the two views `new` made.
        unsafe {
            libc::munmap(self.base, self.data_len + page());
            libc::munmap(self.read_only, self.data_len + page());
        }
    }
}

/// A buffer in an [`Arena`].
pub struct ArenaBuf<'a> {
    arena: &'a mut Arena,
    /// Offset of the buffer in the arena.
    start: usize,
    len: usize,
    canary: usize,
}

impl ArenaBuf<'_> {
    pub fn ptr(&self) -> *mut u8 {
        (self.arena.base as usize + self.start) as *mut u8
    }

    /// The same bytes through the read-only view: the kernel may read them, not write.
    pub fn read_only_ptr(&self) -> *mut u8 {
        (self.arena.read_only as usize + self.start) as *mut u8
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `start..start+len` lies in the arena's read-write view, and the arena is
        // borrowed mutably for this buffer's lifetime.
        unsafe { std::slice::from_raw_parts_mut(self.ptr(), self.len) }
    }

    fn canary_mut(&mut self) -> &mut [u8] {
        // SAFETY: the canary bytes end where the guard page begins, inside the arena.
        unsafe { std::slice::from_raw_parts_mut(self.ptr().add(self.len), self.canary) }
    }

    /// Whether every canary byte is still intact.
    pub fn canary_intact(&mut self) -> bool {
        self.canary_mut().iter().all(|b| *b == CANARY)
    }

    /// Copies `data` (exactly the buffer's length) into the buffer.
    pub fn write(&mut self, data: &[u8]) {
        self.as_mut_slice().copy_from_slice(data);
        let s = self.start;
        self.arena.mark(s..s + self.len);
    }

    /// The kernel wrote the first `n` bytes (a get's returned length): they are no longer
    /// zero. A kernel that writes past what it says is what the canary and guard catch.
    pub fn kernel_wrote(&mut self, n: usize) {
        let s = self.start;
        self.arena.mark(s..s + n.min(self.len));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// write(2) of `n` bytes from `p` into a pipe: the kernel reads every byte.
    fn kernel_reads(p: *const u8, n: usize) -> Result<(), i32> {
        let mut fds = [0; 2];
        // SAFETY: pipe(2) fills the two-element array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: the kernel checks the user range itself.
        let rc = unsafe { libc::write(fds[1], p.cast(), n) };
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        // SAFETY: closing the fds pipe(2) gave us.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
        if rc == n as isize {
            Ok(())
        } else {
            Err(errno)
        }
    }

    /// read(2) of `n` bytes from /dev/zero into `p`: the kernel writes every byte.
    fn kernel_writes(p: *mut u8, n: usize) -> Result<(), i32> {
        let f = std::fs::File::open("/dev/zero").unwrap();
        use std::os::fd::AsRawFd;
        // SAFETY: the kernel checks the user range itself.
        let rc = unsafe { libc::read(f.as_raw_fd(), p.cast(), n) };
        if rc == n as isize {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
        }
    }

    #[test]
    fn arena_buffers_end_at_the_guard_page_whatever_their_length() {
        let mut a = Arena::new(3 * 4096).unwrap();
        for len in [0, 1, 5, 4095, 4096, 4097, 3 * 4096] {
            let b = a.buf(len, 0, b"x");
            assert_eq!(kernel_reads(b.ptr(), len), Ok(()), "len {len}");
            assert_eq!(kernel_reads(b.ptr(), len + 1), Err(libc::EFAULT));
        }
    }

    #[test]
    fn arena_canaries_catch_writes_and_read_only_buffers_refuse_them() {
        let mut a = Arena::new(8192).unwrap();
        {
            let mut b = a.buf(10, 16, b"");
            assert!(b.canary_intact());
            assert_eq!(kernel_writes(b.ptr(), 11), Ok(()));
            assert!(!b.canary_intact(), "the 11th byte is a canary");
        }
        let mut b = a.buf(10, 16, b"0123456789");
        assert!(
            b.canary_intact(),
            "canaries are written again for each buffer"
        );
        let ro = b.read_only_ptr();
        assert_eq!(kernel_reads(ro, 10), Ok(()));
        assert_eq!(
            kernel_reads(ro, 10 + 16 + 1),
            Err(libc::EFAULT),
            "guarded too"
        );
        assert_eq!(kernel_writes(ro, 1), Err(libc::EFAULT));
        // SAFETY: reading 10 bytes of the read-only view of the buffer.
        let seen = unsafe { std::slice::from_raw_parts(ro, 10) };
        assert_eq!(seen, b"0123456789", "one memory, two views");
    }

    #[test]
    fn arena_buffers_hold_their_pattern_then_zeros_whatever_came_before() {
        let mut a = Arena::new(4 * FILL_LIMIT).unwrap();
        let big = 3 * FILL_LIMIT;
        {
            let mut b = a.buf(big, 0, b"ab");
            assert!(b.as_mut_slice()[..FILL_LIMIT].chunks(2).all(|c| c == b"ab"));
            assert!(b.as_mut_slice()[FILL_LIMIT..].iter().all(|x| *x == 0));
            // The kernel writes a get's value: later buffers must not see it.
            b.as_mut_slice()[..100].fill(7);
            b.kernel_wrote(100);
        }
        {
            let mut b = a.buf(5, 16, b"xyz");
            assert_eq!(b.as_mut_slice(), b"xyzxy");
        }
        let mut b = a.buf(big + 21, 0, b"");
        assert!(
            b.as_mut_slice().iter().all(|x| *x == 0),
            "patterns, canaries and kernel writes were cleared"
        );
    }
}
