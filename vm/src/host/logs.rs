//! Build logs: where they go, and their tails for error messages.

use std::path::{Path, PathBuf};

use crate::host::cache::Cache;
use crate::Error;

/// `<cache>/logs`, created on first use: every long child's output is appended to a file
/// there.
pub fn dir(cache: &Cache) -> Result<PathBuf, Error> {
    let d = cache.root().join("logs");
    std::fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
    Ok(d)
}

/// The last `n` lines of a file, for error messages.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
