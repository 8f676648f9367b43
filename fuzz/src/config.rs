//! What a fuzz session runs against, as the host hands it to the guest: a target's table
//! resolved for one guest ([`FuzzConfig`]), the bounded spec step's [`Campaign`], and the
//! files and console marks they are exchanged through.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::lang::Language;

/// File (in the shared directory) holding a [`FuzzConfig`] for the in-guest fuzzer.
pub const FUZZ_CONFIG_FILE: &str = "fuzz.json";
/// The campaign's coverage so far: a JSON list of `[section, offset]` points.
pub const COVERAGE_FILE: &str = "coverage.json";
/// The section name in [`COVERAGE_FILE`] of code that a failed load ran: its offset is the
/// address's offset in its page (the host resolves it against the module's points).
pub const DEAD_SECTION: &str = "*";
/// The `seed_bugs=N` in a module parameter string (0 without one).
pub fn seed_bugs_in(params: &str) -> i64 {
    params
        .split_whitespace()
        .find_map(|w| w.strip_prefix("seed_bugs=")?.parse().ok())
        .unwrap_or(0)
}

/// Prefix of the fuzzer's status lines on the console.
pub const STATUS_MARK: &str = "KSOCK-FUZZ";
/// Prefix of the console line announcing a new finding.
pub const FINDING_MARK: &str = "KSOCK-FINDING";

/// What the in-guest fuzzer (`ksock agent fuzz`: libFuzzer over the agent's session) runs
/// against: one fuzz target's description (`[[fuzz]]` in `ksock.toml`) resolved for one
/// guest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FuzzConfig {
    pub module: String,
    pub ko: PathBuf,
    pub params: String,
    /// The coverage runtime (ksock_cov.ko), when the module was built for coverage.
    pub runtime: Option<PathBuf>,
    /// The op language inputs decode to.
    pub language: Language,
    /// What sockopt ops are relative to (level, optnames, capacity).
    pub target: crate::lang::sockopt::Target,
    /// A named contract checked beside the generic oracles.
    pub model: Option<crate::model::Model>,
    /// Set before every input, so an input means the same whenever it runs.
    pub reset: Option<Reset>,
    /// What reload ops vary (without a model).
    #[serde(default)]
    pub vary: Vec<crate::params::Vary>,
    pub max_ops: usize,
    /// Kernel log lines matching any of these are findings.
    pub splats: Vec<String>,
    /// This guest's directory (shared with the host): current input, coverage.
    pub out: PathBuf,
    /// Where findings are saved, one directory per title (shared with the host).
    pub findings: PathBuf,
    /// The TCP server the message ops talk to (message and mixed languages).
    #[serde(default)]
    pub server: Option<crate::lang::msg::MsgTarget>,
    /// Where a module that connects out finds its peer, the fuzzer (client language): each
    /// input loads it.
    #[serde(default)]
    pub client: Option<crate::lang::client::ClientTarget>,
    /// Modules loaded beside `module` for the whole session (instrumented too: coverage
    /// covers them all).
    #[serde(default)]
    pub also: Vec<AlsoModule>,
}

impl FuzzConfig {
    /// An input's bytes in this target's language.
    pub fn decode(&self, bytes: &[u8]) -> crate::Decoded {
        crate::Decoded::decode(self.language, bytes, self.max_ops)
    }
}

/// A set the session makes before every input (a module's state back to a known one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reset {
    pub optname: i32,
    pub data: Vec<u8>,
}

/// A module a fuzz session loads beside the one under test.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AlsoModule {
    pub name: String,
    pub ko: PathBuf,
    pub params: String,
}

/// A bounded, deterministic campaign (the `fuzz` spec step).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    pub module: String,
    pub path: PathBuf,
    pub params: String,
    pub target: crate::lang::sockopt::Target,
    pub seed: u64,
    pub runs: u64,
    pub max_ops: usize,
    /// The contract checked too.
    /// What reload ops vary (without a model).
    #[serde(default)]
    pub vary: Vec<crate::params::Vary>,
    pub model: Option<crate::model::Model>,
    /// Kernel log lines matching any of these are findings.
    pub splats: Vec<String>,
}
