//! Which source a module is built from: Rust (Rust kernels only) or C (every kernel).

/// Which source a module is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavour {
    /// Rust, against ksock's ABI-checked build tree (Rust kernels only).
    Rust,
    /// C, against Debian's own linux-headers and linux-kbuild (every kernel).
    C,
}

impl std::fmt::Display for Flavour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Flavour::Rust => "rust",
            Flavour::C => "c",
        })
    }
}
