//! Loading and unloading modules with finit_module(2) and delete_module(2), so errors come
//! back as errno values rather than as insmod's prose.

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::guard::{ensure_guest, NotInGuest};

#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    #[error(transparent)]
    NotInGuest(#[from] NotInGuest),
    #[error("{path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("{op} {module}: {errno_name} ({errno}): {text}")]
    Syscall {
        op: &'static str,
        module: String,
        errno: i32,
        errno_name: String,
        text: String,
    },
}

impl ModuleError {
    pub fn errno(&self) -> Option<i32> {
        match self {
            ModuleError::Syscall { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

pub use ksock_proto::errno::name as errno_name;

fn syscall_error(op: &'static str, module: &str) -> ModuleError {
    let e = std::io::Error::last_os_error();
    let errno = e.raw_os_error().unwrap_or(0);
    ModuleError::Syscall {
        op,
        module: module.to_string(),
        errno,
        errno_name: errno_name(errno),
        text: e.to_string(),
    }
}

/// Loads the module file at `path` with `params` (`"count=3 port=9000"`).
/// Refused outside a ksock guest, before the file is even opened.
pub fn load(path: &Path, params: &str) -> Result<(), ModuleError> {
    ensure_guest()?;
    let f = std::fs::File::open(path).map_err(|source| ModuleError::Open {
        path: path.display().to_string(),
        source,
    })?;
    let params = CString::new(params).unwrap_or_default();
    // SAFETY: finit_module takes a valid open fd, a NUL-terminated string that outlives the
    // call, and flags; the kernel copies what it needs.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_finit_module,
            f.as_raw_fd(),
            params.as_ptr(),
            0 as libc::c_int,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(syscall_error("load", &path.display().to_string()))
    }
}

/// [`load`], as an op's result: the errno when the kernel refuses (EIO when it gave none).
pub fn load_errno(path: &Path, params: &str) -> Option<i32> {
    load(path, params)
        .err()
        .map(|e| e.errno().unwrap_or(libc::EIO))
}

/// Unloads module `name` (non-blocking: a busy module gives `EAGAIN`/`EBUSY` at once).
pub fn unload(name: &str) -> Result<(), ModuleError> {
    let cname = CString::new(name).unwrap_or_default();
    // SAFETY: delete_module takes a NUL-terminated name that outlives the call and flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_delete_module,
            cname.as_ptr(),
            libc::O_NONBLOCK as libc::c_uint,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(syscall_error("unload", name))
    }
}

/// Whether a module is loaded (from `/proc/modules`).
pub fn is_loaded(name: &str) -> bool {
    std::fs::read_to_string("/proc/modules")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().next() == Some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_on_the_host_is_refused_before_open() {
        // The path does not exist: if the guard were missing, the error would be Open, not
        // NotInGuest — and no real module is ever offered to the host kernel.
        let err = load(Path::new("/nonexistent/ksock_hello.ko"), "count=1").unwrap_err();
        assert!(matches!(err, ModuleError::NotInGuest(_)), "{err}");
        assert!(err.to_string().contains("not a ksock guest"));
    }
}
