//! What the guest knows of each coverage point beyond that it ran: how often it ran, and
//! which input reached it first. The campaign's page shows both per source line.
//!
//! The guest writes [`REACH_FILE`] in its job's directory (each boot's own: the host
//! renames it when the boot ends) and each input that reached a new point, once, as
//! `inputs/<id>` ([`input_id`]), so the input survives libFuzzer dropping it from the corpus.

use serde::{Deserialize, Serialize};

/// A JSON list of [`Reached`], rewritten as it grows and with every status line.
pub const REACH_FILE: &str = "reach.json";
/// Inputs that reached a new point, named by [`input_id`].
pub const INPUTS_DIR: &str = "inputs";

/// One point (named as in `coverage.json`: section and offset, or
/// [`crate::config::DEAD_SECTION`] and an offset in a page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reached {
    pub section: String,
    pub offset: u64,
    /// Times the point ran (trace entries) in this boot.
    pub hits: u64,
    /// The first input that ran it ([`input_id`]); `None` for code the module's load ran.
    pub first: Option<String>,
    /// That input's number in the boot (libFuzzer's replay of the corpus comes first).
    pub exec: u64,
}

/// An input's name in [`INPUTS_DIR`]: its [`input_hash`], in hex.
pub fn input_id(bytes: &[u8]) -> String {
    id_of(input_hash(bytes))
}

/// An input's 64-bit FNV-1a.
pub fn input_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The name of the input whose [`input_hash`] is `h`.
pub fn id_of(h: u64) -> String {
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_ids_are_stable_and_differ() {
        assert_eq!(input_id(b""), "cbf29ce484222325");
        assert_eq!(input_id(b"a"), "af63dc4c8601ec8c");
        assert_ne!(input_id(b"ab"), input_id(b"ba"));
    }
}
