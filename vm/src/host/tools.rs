//! Where ksock finds its tools, and the `PATH` every child it runs gets.
//!
//! Invariant: ksock finds its tools, and the tools find theirs, whatever the user's `PATH`
//! is. Every child ksock supervises gets [`tool_path`] as its `PATH`: ksock's venv first
//! (vng runs `virtme-run` by name), then the system directories (vng runs `modprobe`, which
//! lives in sbin), then the user's own `PATH`.

use std::ffi::OsString;
use std::path::PathBuf;

/// System directories searched after ksock's venv, whatever the user's `PATH` holds.
const SYSTEM_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// ksock's virtualenv (`<cache>/venv`), where virtme-ng is installed.
pub fn venv_dir() -> Option<PathBuf> {
    crate::host::cache::Cache::from_env()
        .ok()
        .map(|c| c.root().join("venv"))
}

/// ksock's own virtme-ng (`<cache>/venv/bin/vng`), if it is installed.
pub fn vng_path() -> Option<PathBuf> {
    venv_dir()
        .map(|v| v.join("bin/vng"))
        .filter(|p| p.is_file())
}

/// The directories of [`tool_path`], in order, without duplicates.
pub fn tool_dirs() -> Vec<PathBuf> {
    tool_dirs_with(venv_dir(), std::env::var_os("PATH"))
}

fn tool_dirs_with(venv: Option<PathBuf>, user_path: Option<OsString>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = venv.map(|v| v.join("bin")).into_iter().collect();
    dirs.extend(SYSTEM_DIRS.iter().map(PathBuf::from));
    if let Some(p) = user_path {
        dirs.extend(std::env::split_paths(&p));
    }
    let mut seen = std::collections::HashSet::new();
    dirs.retain(|d| !d.as_os_str().is_empty() && seen.insert(d.clone()));
    dirs
}

/// `PATH` for every child ksock runs: venv, system directories, then the user's `PATH`.
pub fn tool_path() -> OsString {
    std::env::join_paths(tool_dirs()).expect("directories without ':'")
}

/// Finds `cmd` the way ksock's children will (see [`tool_path`]).
pub fn find_tool(cmd: &str) -> Option<PathBuf> {
    tool_dirs()
        .into_iter()
        .map(|d| d.join(cmd))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venv_first_then_system_then_user_without_duplicates() {
        let dirs = tool_dirs_with(
            Some(PathBuf::from("/c/venv")),
            Some(OsString::from("/home/u/bin::/usr/bin:/opt/x")),
        );
        let s: Vec<_> = dirs.iter().map(|d| d.to_str().unwrap()).collect();
        assert_eq!(s[0], "/c/venv/bin");
        assert_eq!(&s[1..7], SYSTEM_DIRS);
        assert_eq!(&s[7..], ["/home/u/bin", "/opt/x"]);
    }

    #[test]
    fn sbin_tools_are_found_with_an_empty_user_path() {
        // modprobe is in /usr/sbin or /sbin on Debian, which a user's PATH may lack.
        let dirs = tool_dirs_with(None, None);
        assert!(dirs.iter().any(|d| d == std::path::Path::new("/usr/sbin")));
        assert!(dirs.iter().any(|d| d == std::path::Path::new("/sbin")));
    }
}
