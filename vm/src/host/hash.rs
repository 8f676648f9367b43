//! Stable hashes for cache keys (not for security): 64-bit FNV-1a, of bytes and of a
//! directory's source files.

use std::path::{Path, PathBuf};

use crate::Error;

/// 64-bit FNV-1a: a stable hash for cache keys (not for security).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A stable 64-bit FNV-1a hash of a directory's regular files (names and contents), used as
/// the cache key of a module build.
pub fn hash_sources(dir: &Path) -> Result<u64, Error> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && is_source(p))
        .collect();
    files.sort();
    let mut all = Vec::new();
    for f in files {
        all.extend_from_slice(f.file_name().unwrap_or_default().as_encoded_bytes());
        all.push(0);
        all.extend(std::fs::read(&f).map_err(|e| Error::io(&f, e))?);
        all.push(0);
    }
    Ok(fnv1a(&all))
}

/// Whether `p` is a source file of a module directory (not a hidden file, nor something
/// kbuild wrote there).
pub fn is_source(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    !name.starts_with('.')
        && !name.ends_with(".o")
        && !name.ends_with(".ko")
        && !name.contains(".mod")
        && name != "Module.symvers"
        && name != "modules.order"
}
