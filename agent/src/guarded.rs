//! User buffers placed so that the kernel's overreach is observable: they end exactly where
//! an inaccessible page begins (optionally after canary bytes), so a kernel copy of even one
//! byte past the stated length faults (EFAULT) or overwrites a canary instead of silently
//! reading or corrupting neighbouring memory.

/// An address that is never mapped in user space (the top of the x86-64 user range).
pub const BAD_USER_POINTER: usize = 0x7fff_ffff_f000;

/// The canary byte value.
pub const CANARY: u8 = 0xa5;

/// `len` bytes, then `canary` canary bytes, then a PROT_NONE page.
pub struct GuardedBuf {
    base: *mut libc::c_void,
    map_len: usize,
    len: usize,
    canary: usize,
}

fn page() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

impl GuardedBuf {
    pub fn new(len: usize) -> std::io::Result<Self> {
        Self::with_canary(len, 0)
    }

    pub fn with_canary(len: usize, canary: usize) -> std::io::Result<Self> {
        let page = page();
        let data_pages = (len + canary).div_ceil(page).max(1);
        let map_len = (data_pages + 1) * page;
        // SAFETY: an anonymous private mapping; checked for MAP_FAILED below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let mut buf = Self {
            base,
            map_len,
            len,
            canary,
        };
        // SAFETY: the last page lies inside the mapping we just made.
        let rc = unsafe {
            libc::mprotect(
                (base as usize + data_pages * page) as *mut libc::c_void,
                page,
                libc::PROT_NONE,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        buf.canary_mut().fill(CANARY);
        Ok(buf)
    }

    /// Start of the buffer: `len + canary` bytes before the guard page.
    pub fn ptr(&self) -> *mut u8 {
        (self.base as usize + self.map_len - page() - self.canary - self.len) as *mut u8
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `ptr()..ptr()+len` is inside the read-write part of our mapping.
        unsafe { std::slice::from_raw_parts_mut(self.ptr(), self.len) }
    }

    fn canary_mut(&mut self) -> &mut [u8] {
        // SAFETY: the canary bytes follow the buffer inside the read-write part.
        unsafe { std::slice::from_raw_parts_mut(self.ptr().add(self.len), self.canary) }
    }

    /// Whether every canary byte is still intact.
    pub fn canary_intact(&mut self) -> bool {
        self.canary_mut().iter().all(|b| *b == CANARY)
    }

    /// Makes the data pages read-only (the kernel may read them, not write).
    pub fn make_read_only(&mut self) -> std::io::Result<()> {
        let data_len = self.map_len - page();
        // SAFETY: the data pages are inside our mapping.
        let rc = unsafe { libc::mprotect(self.base, data_len, libc::PROT_READ) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for GuardedBuf {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what `new` mapped.
        unsafe { libc::munmap(self.base, self.map_len) };
    }
}
