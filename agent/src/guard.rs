//! The guard: module loading happens only inside a ksock guest.
//!
//! The harness boots every guest with [`GUEST_MARKER`] on the kernel command line. The host
//! kernel never has it, so a mistaken call on the host (a test, a stray command) is refused
//! before any syscall that could load code into the host kernel.

pub use ksock_proto::GUEST_MARKER;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "refusing to load kernel modules: this is not a ksock guest (`{GUEST_MARKER}` is not on \
     the kernel command line). ksock only loads modules inside the VMs it boots; run \
     `cargo xtask run` instead"
)]
pub struct NotInGuest;

/// Whether a kernel command line carries the marker as a whole word.
pub fn cmdline_is_guest(cmdline: &str) -> bool {
    cmdline.split_whitespace().any(|w| w == GUEST_MARKER)
}

/// Checks `/proc/cmdline`. An unreadable command line counts as "not a guest".
pub fn ensure_guest() -> Result<(), NotInGuest> {
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    if cmdline_is_guest(&cmdline) {
        Ok(())
    } else {
        Err(NotInGuest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_must_be_a_whole_word() {
        assert!(cmdline_is_guest("console=ttyS0 ksock.guest=1 panic=-1"));
        assert!(!cmdline_is_guest("console=ttyS0 ksock.guest=10"));
        assert!(!cmdline_is_guest("xksock.guest=1"));
        assert!(!cmdline_is_guest(
            "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet"
        ));
    }

    #[test]
    fn this_host_is_not_a_guest() {
        // Tests run on the host: the guard must say no here.
        assert_eq!(ensure_guest(), Err(NotInGuest));
    }
}
