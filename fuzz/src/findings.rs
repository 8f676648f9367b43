//! Findings: what one is ([`Finding`], its facts [`FindingMeta`]) and the one store that
//! keeps them ([`save`]): one directory per title under [`FINDINGS_DIR`], holding
//! `input.bin` (the fuzzer's bytes), `sequence.json` (the decoded ops), `report.txt` (first
//! line `title: …`) and `finding.json`. The guest saves what its oracles see, the host what
//! took the guest down; both through [`save`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{AlsoModule, FuzzConfig};
use crate::lang::{Decoded, Language};
use crate::titles::{slug, Oracle};

/// Where findings go: one directory per title.
pub const FINDINGS_DIR: &str = "findings";
/// A finding's facts, beside its `input.bin`, `sequence.json` and `report.txt`: what
/// `cargo xtask repro` needs to write its regression spec.
pub const FINDING_META: &str = "finding.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FindingMeta {
    pub title: String,
    /// The oracle that fired (`guard page`, `kernel panic`, …).
    pub oracle: Oracle,
    pub detail: String,
    pub module: String,
    /// The module's parameters in the campaign (`seed_bugs=1`).
    pub params: String,
    /// The language of its sequence.
    #[serde(default)]
    pub language: Language,
    /// What the sockopt ops are relative to.
    pub target: crate::lang::sockopt::Target,
    /// The named contract checked in the campaign (repro states its expectations).
    #[serde(default)]
    pub model: Option<crate::model::Model>,
    /// The server message ops talk to.
    #[serde(default)]
    pub server: Option<crate::lang::msg::MsgTarget>,
    /// Where the module connects to (client ops).
    #[serde(default)]
    pub client: Option<crate::lang::client::ClientTarget>,
    /// The modules loaded beside it, with their parameters.
    #[serde(default)]
    pub also: Vec<AlsoModule>,
    /// What its reloads varied (without a model).
    #[serde(default)]
    pub vary: Vec<crate::params::Vary>,
    /// The kernel release it was found on.
    pub kernel: String,
}

impl FindingMeta {
    /// A finding of the campaign `cfg` describes, on `kernel`.
    pub fn new(cfg: &FuzzConfig, title: &str, oracle: Oracle, detail: &str, kernel: &str) -> Self {
        Self {
            title: title.to_string(),
            oracle,
            detail: detail.to_string(),
            module: cfg.module.clone(),
            params: cfg.params.clone(),
            language: cfg.language,
            target: cfg.target,
            model: cfg.model,
            server: cfg.server,
            client: cfg.client.clone(),
            also: cfg.also.clone(),
            vary: cfg.vary.clone(),
            kernel: kernel.to_string(),
        }
    }
}

/// A finding as it is saved.
pub struct Finding<'a> {
    pub meta: FindingMeta,
    /// The input's bytes, as the fuzzer ran them.
    pub input: &'a [u8],
    /// The ops the report shows (shrunk, or the prefix that ran).
    pub ops: &'a Decoded,
    /// How `ops` came from the input (`shrunk from 12 ops`).
    pub how: String,
    /// The kernel's console, when the host saw the guest go down.
    pub console: &'a [String],
}

/// Saves `f` in its title's directory under `findings`; returns the directory and whether
/// the title is new there (a known title's files are replaced by this, later input).
pub fn save(findings: &Path, cfg: &FuzzConfig, f: &Finding) -> std::io::Result<(PathBuf, bool)> {
    let m = &f.meta;
    let dir = findings.join(slug(&m.title));
    let fresh = !dir.exists();
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("input.bin"), f.input)?;
    std::fs::write(dir.join("sequence.json"), f.ops.to_json()?)?;
    std::fs::write(dir.join(FINDING_META), serde_json::to_vec_pretty(m)?)?;
    let mut report = format!(
        "title: {}\noracle: {}\ndetail: {}\nmodule: {} {}\n\nsequence ({}):\n{}\n",
        m.title,
        m.oracle,
        m.detail,
        m.module,
        m.params,
        f.how,
        f.ops.describe(&cfg.target),
    );
    if !f.console.is_empty() {
        let tail = &f.console[f.console.len().saturating_sub(60)..];
        report.push_str(&format!("\nconsole:\n{}\n", tail.join("\n")));
    }
    std::fs::write(dir.join("report.txt"), report)?;
    Ok((dir, fresh))
}
