//! Where the in-guest fuzzer writes each input before running it, so that a kernel panic
//! cannot lose it.
//!
//! Preferred: the host's shared-memory file, seen in the guest as an ivshmem PCI device
//! (vendor 0x1af4, device 0x1110; the harness adds it to the boot). Writing there is a
//! memcpy. Without the device: an emergency-level `/dev/kmsg` line, which the console
//! carries to the host at the price of the emulated serial port (~0.2 ms per input under
//! TCG).

use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub enum InputLog {
    Shared { mem: *mut u8, len: usize },
    Console(std::fs::File),
}

impl InputLog {
    pub fn open() -> Result<Self> {
        if let Some(dev) = find_ivshmem() {
            return map(&dev.join("resource2"))
                .with_context(|| format!("mapping the shared memory of {}", dev.display()));
        }
        let f = std::fs::OpenOptions::new().write(true).open("/dev/kmsg")?;
        Ok(InputLog::Console(f))
    }

    pub fn describe(&self) -> &'static str {
        match self {
            InputLog::Shared { .. } => "shared memory",
            InputLog::Console(_) => "the console",
        }
    }

    pub fn write(&mut self, input: &[u8]) -> Result<()> {
        match self {
            InputLog::Shared { .. } => {
                ksock_fuzz::record::write_input_record(self.shared().expect("shared"), input);
                Ok(())
            }
            InputLog::Console(f) => {
                for r in ksock_fuzz::record::input_records(input) {
                    // One write(2), one log record.
                    f.write_all(r.as_bytes())
                        .context("logging the input to /dev/kmsg")?;
                }
                Ok(())
            }
        }
    }

    /// Op `i` of the recorded input starts (shared memory only: on the console this would
    /// cost what the record saves).
    pub fn at(&mut self, i: usize) {
        if let Some(m) = self.shared() {
            ksock_fuzz::record::write_op_index(m, i);
        }
    }

    fn shared(&mut self) -> Option<&mut [u8]> {
        match self {
            InputLog::Shared { mem, len } => {
                // SAFETY: `mem..mem+len` is our mapping of the device's BAR, alive as long
                // as self and borrowed mutably with it; nothing else in this process
                // touches it.
                Some(unsafe { std::slice::from_raw_parts_mut(*mem, *len) })
            }
            InputLog::Console(_) => None,
        }
    }
}

impl Drop for InputLog {
    fn drop(&mut self) {
        if let InputLog::Shared { mem, len } = self {
            // SAFETY: unmapping what `map` mapped.
            unsafe { libc::munmap(mem.cast(), *len) };
        }
    }
}

/// The ivshmem device's sysfs directory.
fn find_ivshmem() -> Option<PathBuf> {
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    std::fs::read_dir("/sys/bus/pci/devices")
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|d| {
            read(d.join("vendor")).trim() == "0x1af4" && read(d.join("device")).trim() == "0x1110"
        })
}

fn map(resource: &Path) -> Result<InputLog> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(resource)?;
    let len = (f.metadata()?.len() as usize).min(ksock_fuzz::record::RECORD_BYTES);
    anyhow::ensure!(len > 64, "{} is only {len} bytes", resource.display());
    // SAFETY: a shared mapping of a sysfs resource file we opened read-write; checked for
    // MAP_FAILED below.
    let mem = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        )
    };
    anyhow::ensure!(
        mem != libc::MAP_FAILED,
        "mmap: {}",
        std::io::Error::last_os_error()
    );
    Ok(InputLog::Shared {
        mem: mem.cast(),
        len,
    })
}
