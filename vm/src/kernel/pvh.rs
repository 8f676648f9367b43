//! The kernel as QEMU boots it fastest: the uncompressed ELF `vmlinux` started through its
//! PVH entry point, instead of Debian's bzImage.
//!
//! Under TCG a bzImage spends its first seconds in emulated firmware and real-mode setup
//! and decompressing itself (14.5 MB of zstd on 7.2). A kernel built with `CONFIG_PVH=y`
//! (every catalog kernel) carries a Xen PVH note that QEMU's `-kernel` follows straight into
//! 32-bit protected mode. The ELF is the bzImage's own payload, decompressed once per
//! kernel here and kept beside `vmlinuz` (where virtme-ng also finds the modules).
//!
//! The payload's place is in the boot protocol's setup header (`payload_offset`,
//! `payload_length`, protocol 2.08+); kbuild appends the uncompressed size (4 bytes, little
//! endian) to the compressed stream.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::Error;

/// The name of the extracted image, beside `vmlinuz`.
pub const VMLINUX: &str = "vmlinux";

/// The bzImage's compressed payload and the size it decompresses to.
struct Payload<'a> {
    data: &'a [u8],
    size: usize,
}

fn le32(b: &[u8], at: usize) -> Option<usize> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize)
}

/// Finds the payload in a bzImage; `None` for anything that is not one (protocol < 2.08).
fn payload(image: &[u8]) -> Option<Payload<'_>> {
    if image.get(0x202..0x206)? != b"HdrS" {
        return None;
    }
    let version = u16::from_le_bytes(image.get(0x206..0x208)?.try_into().ok()?);
    if version < 0x208 {
        return None;
    }
    let setup_sects = match *image.get(0x1f1)? {
        0 => 4,
        n => usize::from(n),
    };
    let start = (setup_sects + 1) * 512 + le32(image, 0x248)?;
    let with_size = image.get(start..start + le32(image, 0x24c)?)?;
    let (data, size) = with_size.split_at(with_size.len().checked_sub(4)?);
    Some(Payload {
        data,
        size: le32(size, 0)?,
    })
}

/// Decompresses a payload (zstd or xz, what Debian's kernels use); `None` for others.
fn decompress(p: &Payload<'_>) -> Result<Option<Vec<u8>>, String> {
    let mut out = Vec::with_capacity(p.size);
    if p.data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let mut d = ruzstd::decoding::StreamingDecoder::new(p.data).map_err(|e| e.to_string())?;
        d.read_to_end(&mut out).map_err(|e| e.to_string())?;
    } else if p.data.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        // The kernel's xz streams use the x86 BCJ filter, which pure-Rust decoders lack:
        // the host's xz (a required package on Debian and Ubuntu) decodes them.
        out = xz_decompress(p.data)?;
    } else {
        return Ok(None);
    }
    if out.len() != p.size || !out.starts_with(b"\x7fELF") {
        return Err(format!(
            "decompressed {} bytes, not the {}-byte ELF the header announces",
            out.len(),
            p.size
        ));
    }
    Ok(Some(out))
}

/// `xz -dc` over `data`.
fn xz_decompress(data: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let xz = crate::host::tools::find_tool("xz").ok_or("xz is not installed (package xz-utils)")?;
    let mut child = Command::new(xz)
        .args(["-dc", "--single-stream"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running xz: {e}"))?;
    let mut stdin = child.stdin.take().expect("piped");
    let input = data.to_vec();
    // Fed from a thread: xz writes while it reads, and both pipes must keep moving.
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let out = child
        .wait_with_output()
        .map_err(|e| format!("running xz: {e}"))?;
    let _ = feeder.join();
    if !out.status.success() {
        return Err(format!(
            "xz: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}

/// The PVH-bootable ELF beside `vmlinuz`, made on first use; `None` when the kernel lacks
/// `CONFIG_PVH` or its payload is compressed in a way ksock does not decode (then boots use
/// the bzImage, as before).
pub fn ensure_vmlinux(vmlinuz: &Path, pvh: bool) -> Result<Option<PathBuf>, Error> {
    let out = vmlinuz.with_file_name(VMLINUX);
    if !pvh {
        return Ok(None);
    }
    if out.is_file() {
        return Ok(Some(out));
    }
    let image = std::fs::read(vmlinuz).map_err(|e| Error::io(vmlinuz, e))?;
    let Some(p) = payload(&image) else {
        return Ok(None);
    };
    let elf = decompress(&p)
        .map_err(|e| Error::Config(format!("{}: its payload: {e}", vmlinuz.display())))?;
    let Some(elf) = elf else {
        return Ok(None);
    };
    // Written beside, then renamed: a killed extraction leaves no half image to boot.
    let tmp = out.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, elf).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, &out).map_err(|e| Error::io(&out, e))?;
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bzImage-shaped buffer around `payload` (setup header fields only).
    fn bzimage(payload: &[u8], size: u32) -> Vec<u8> {
        let mut img = vec![0u8; 5 * 512];
        img[0x1f1] = 4;
        img[0x202..0x206].copy_from_slice(b"HdrS");
        img[0x206..0x208].copy_from_slice(&0x20fu16.to_le_bytes());
        img[0x248..0x24c].copy_from_slice(&16u32.to_le_bytes());
        img[0x24c..0x250].copy_from_slice(&(payload.len() as u32 + 4).to_le_bytes());
        img.extend_from_slice(&[0u8; 16]);
        img.extend_from_slice(payload);
        img.extend_from_slice(&size.to_le_bytes());
        img
    }

    #[test]
    fn the_payload_is_found_from_the_setup_header() {
        let img = bzimage(b"\x28\xb5\x2f\xfdDATA", 100);
        let p = payload(&img).unwrap();
        assert_eq!(p.data, b"\x28\xb5\x2f\xfdDATA");
        assert_eq!(p.size, 100);
        assert!(payload(&[0u8; 4096]).is_none(), "no HdrS, no payload");
        let mut old = img.clone();
        old[0x206..0x208].copy_from_slice(&0x207u16.to_le_bytes());
        assert!(
            payload(&old).is_none(),
            "protocol 2.07 has no payload fields"
        );
    }

    /// `elf` compressed the way kbuild compresses an xz kernel (x86 BCJ, then LZMA2).
    fn kernel_xz(elf: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut c = std::process::Command::new("xz")
            .args(["--format=xz", "--check=crc32", "--x86", "--lzma2", "-c"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("xz (xz-utils) is a host tool ksock needs");
        c.stdin.take().unwrap().write_all(elf).unwrap();
        c.wait_with_output().unwrap().stdout
    }

    #[test]
    fn xz_payloads_with_the_x86_filter_decompress_and_sizes_are_checked() {
        let mut elf = b"\x7fELF".to_vec();
        // Calls (E8) with targets, which the BCJ filter rewrites: a decoder without it
        // returns different bytes.
        for i in 0..4096u32 {
            elf.push(0xe8);
            elf.extend_from_slice(&(i * 16).to_le_bytes());
        }
        let xz = kernel_xz(&elf);
        let img = bzimage(&xz, elf.len() as u32);
        assert_eq!(
            decompress(&payload(&img).unwrap()).unwrap(),
            Some(elf.clone())
        );
        let lying = bzimage(&xz, elf.len() as u32 + 1);
        assert!(decompress(&payload(&lying).unwrap()).is_err());
        let gzip = bzimage(b"\x1f\x8b\x08\x00rest", 10);
        assert_eq!(decompress(&payload(&gzip).unwrap()).unwrap(), None);
    }
}
