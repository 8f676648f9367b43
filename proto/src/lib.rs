//! ksock-proto: what the host's harness and the guest's agent say to each other, as JSON
//! files in the shared directory and records in shared memory, and the vocabulary both
//! sides need to read them: peers' specs, fuzz campaigns and findings, errno names.
//!
//! Boundary: plain data and pure functions only. No syscalls, no guest code: the harness
//! depends on this crate, never on the agent.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub mod errno;
pub mod findings;
pub mod peers;

pub use findings::{slug, splat_title, Decoded};

/// The kernel command-line word that marks a ksock guest: the harness boots every guest with
/// it, and the agent refuses to load a module where it is missing.
pub const GUEST_MARKER: &str = "ksock.guest=1";

/// File (in the shared directory) holding a [`FuzzConfig`] for the in-guest fuzzer.
pub const FUZZ_CONFIG_FILE: &str = "fuzz.json";
/// Prefix of the kernel log line holding the input about to run (hex), written at the
/// emergency level so the console carries it even while quiet: when the kernel panics, the
/// last such line on the host's console names the input that did it.
pub const INPUT_MARK: &str = "KSOCK-INPUT";
/// The campaign's coverage so far: a JSON list of `[section, offset]` points.
pub const COVERAGE_FILE: &str = "coverage.json";
/// The section name in [`COVERAGE_FILE`] of code that a failed load ran: its offset is the
/// address's offset in its page (the host resolves it against the module's points).
pub const DEAD_SECTION: &str = "*";
/// Where findings go: one directory per title.
pub const FINDINGS_DIR: &str = "findings";
/// A finding's facts, beside its `input.bin`, `sequence.json` and `report.txt`: what
/// `cargo xtask repro` needs to write its regression spec.
pub const FINDING_META: &str = "finding.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FindingMeta {
    pub title: String,
    /// The oracle that fired (`guard page`, `kernel panic`, …).
    pub oracle: String,
    pub detail: String,
    pub module: String,
    /// The module's parameters in the campaign (`seed_bugs=1`).
    pub params: String,
    /// The language of its sequence.
    #[serde(default)]
    pub language: Language,
    /// What the sockopt ops are relative to.
    pub target: ksock_ops::Target,
    /// The named contract checked in the campaign (repro states its expectations).
    #[serde(default)]
    pub model: Option<ksock_ops::model::Model>,
    /// The server message ops talk to.
    #[serde(default)]
    pub server: Option<ksock_ops::msg::MsgTarget>,
    /// Where the module connects to (client ops).
    #[serde(default)]
    pub client: Option<ksock_ops::client::ClientTarget>,
    /// The modules loaded beside it, with their parameters.
    #[serde(default)]
    pub also: Vec<AlsoModule>,
    /// The kernel release it was found on.
    pub kernel: String,
}

impl FindingMeta {
    /// A finding of the campaign `cfg` describes, on `kernel`.
    pub fn new(cfg: &FuzzConfig, title: &str, oracle: &str, detail: &str, kernel: &str) -> Self {
        Self {
            title: title.to_string(),
            oracle: oracle.to_string(),
            detail: detail.to_string(),
            module: cfg.module.clone(),
            params: cfg.params.clone(),
            language: cfg.language,
            target: cfg.target,
            model: cfg.model,
            server: cfg.server,
            client: cfg.client,
            also: cfg.also.clone(),
            kernel: kernel.to_string(),
        }
    }
}

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
    pub target: ksock_ops::Target,
    /// A named contract checked beside the generic oracles.
    pub model: Option<ksock_ops::model::Model>,
    /// Set before every input, so an input means the same whenever it runs.
    pub reset: Option<Reset>,
    pub max_ops: usize,
    /// Kernel log lines matching any of these are findings.
    pub splats: Vec<String>,
    /// This guest's directory (shared with the host): current input, coverage.
    pub out: PathBuf,
    /// Where findings are saved, one directory per title (shared with the host).
    pub findings: PathBuf,
    /// The TCP server the message ops talk to (message and mixed languages).
    #[serde(default)]
    pub server: Option<ksock_ops::msg::MsgTarget>,
    /// Where a module that connects out finds its peer, the fuzzer (client language): each
    /// input loads it.
    #[serde(default)]
    pub client: Option<ksock_ops::client::ClientTarget>,
    /// Modules loaded beside `module` for the whole session (instrumented too: coverage
    /// covers them all).
    #[serde(default)]
    pub also: Vec<AlsoModule>,
}

/// The op languages a fuzz target's interfaces decode inputs into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    /// setsockopt/getsockopt calls ([`ksock_ops::Op`]).
    #[default]
    Sockopt,
    /// TCP connections and messages to a server module ([`ksock_ops::msg`]).
    Msg,
    /// Loads of a module that connects out, the fuzzer its peer ([`ksock_ops::client`]).
    Client,
    /// Sockopt calls and messages interleaved ([`ksock_ops::mixed`]).
    Mixed,
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
    pub target: ksock_ops::Target,
    pub seed: u64,
    pub runs: u64,
    pub max_ops: usize,
    /// The contract checked too.
    pub model: Option<ksock_ops::model::Model>,
    /// Kernel log lines matching any of these are findings.
    pub splats: Vec<String>,
}

/// Input bytes per console record: their hex must fit one kernel log record (~1 KiB).
const CONSOLE_CHUNK: usize = 400;

/// The `/dev/kmsg` records announcing `input` (see [`INPUT_MARK`]): the first chunk after
/// `KSOCK-INPUT`, the rest after `KSOCK-INPUT+`.
pub fn input_records(input: &[u8]) -> Vec<String> {
    let hex = |c: &[u8]| c.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let mut chunks = input.chunks(CONSOLE_CHUNK);
    let first = chunks.next().unwrap_or(&[]);
    std::iter::once(format!("<0>{INPUT_MARK} {}\n", hex(first)))
        .chain(chunks.map(|c| format!("<0>{INPUT_MARK}+ {}\n", hex(c))))
        .collect()
}

/// Size of the shared-memory input record (an ivshmem device: a power of two).
pub const RECORD_BYTES: usize = 64 * 1024;
/// File in a job's directory backing the guest's input record.
pub const RECORD_FILE: &str = "input-record.bin";
const RECORD_MAGIC: &[u8; 8] = b"KSOCKIN1";
/// magic, generation (u64), length (u32), index of the op running (u32).
const RECORD_HEADER: usize = 24;
/// No op of the recorded input has started yet.
const NO_OP: u32 = u32::MAX;

/// Writes `input` as the record in `mem` (the guest's shared memory), seqlock-style: the
/// generation is odd while the bytes change, so a record torn by a panic on another CPU is
/// refused by [`read_input_record`] rather than misread.
pub fn write_input_record(mem: &mut [u8], input: &[u8]) {
    use std::sync::atomic::{compiler_fence, Ordering};
    let n = input.len().min(mem.len() - RECORD_HEADER);
    let gen = u64::from_le_bytes(mem[8..16].try_into().expect("8 bytes"));
    // The next odd generation after the last record (even when complete, odd if torn).
    let odd = (gen + 1) | 1;
    mem[8..16].copy_from_slice(&odd.to_le_bytes());
    compiler_fence(Ordering::SeqCst);
    mem[..8].copy_from_slice(RECORD_MAGIC);
    mem[16..20].copy_from_slice(&(n as u32).to_le_bytes());
    mem[20..24].copy_from_slice(&NO_OP.to_le_bytes());
    mem[RECORD_HEADER..RECORD_HEADER + n].copy_from_slice(&input[..n]);
    compiler_fence(Ordering::SeqCst);
    mem[8..16].copy_from_slice(&(odd + 1).to_le_bytes());
}

/// Notes that op `i` of the recorded input starts (a panic then names the op).
pub fn write_op_index(mem: &mut [u8], i: usize) {
    mem[20..24].copy_from_slice(&(i as u32).to_le_bytes());
}

/// The op of the recorded input that started last, if one did.
pub fn read_op_index(mem: &[u8]) -> Option<usize> {
    read_input_record(mem)?;
    let i = u32::from_le_bytes(mem.get(20..24)?.try_into().ok()?);
    (i != NO_OP).then_some(i as usize)
}

/// The input last written with [`write_input_record`], unless none was or it is torn.
pub fn read_input_record(mem: &[u8]) -> Option<Vec<u8>> {
    if mem.len() < RECORD_HEADER || &mem[..8] != RECORD_MAGIC {
        return None;
    }
    let gen = u64::from_le_bytes(mem[8..16].try_into().ok()?);
    let n = u32::from_le_bytes(mem[16..20].try_into().ok()?) as usize;
    if gen == 0 || gen % 2 == 1 {
        return None;
    }
    mem.get(RECORD_HEADER..RECORD_HEADER + n)
        .map(<[u8]>::to_vec)
}

/// The input bytes a console line announces, if it is an [`INPUT_MARK`] line, and whether
/// they continue the previous line's.
pub fn parse_input_line(line: &str) -> Option<(bool, Vec<u8>)> {
    let rest = line.split_once(INPUT_MARK)?.1;
    let (more, hex) = match rest.strip_prefix('+') {
        Some(h) => (true, h.trim()),
        None => (false, rest.trim()),
    };
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some((more, bytes))
}

/// Everything one boot should do: specs in order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Plan {
    pub specs: Vec<PlanSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlanSpec {
    pub name: String,
    pub actions: Vec<Action>,
}

/// One resolved action (module files are absolute paths on the shared root).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Load {
        module: String,
        path: PathBuf,
        params: String,
        /// `Some(errno)`: the load must fail with it (bad parameters, say).
        expect_errno: Option<i32>,
    },
    Unload {
        module: String,
    },
    WaitDmesg {
        pattern: String,
        timeout_ms: u64,
    },
    Sleep {
        ms: u64,
    },
    Client {
        spec: peers::ClientSpec,
        background: Option<String>,
    },
    Server {
        name: String,
        spec: peers::ServerSpec,
        expect_received: Option<Vec<String>>,
    },
    Join {
        name: String,
    },
    Sockopt {
        spec: peers::SockoptSpec,
    },
    Sockets {
        port: u16,
        listening: Option<bool>,
        established: Option<usize>,
        none: bool,
        timeout_ms: u64,
    },
    /// A bounded, deterministic fuzz campaign; `expect_finding` inverts the verdict (for
    /// specs that prove the oracles catch a seeded bug).
    Fuzz {
        campaign: Campaign,
        expect_finding: bool,
    },
}

impl Action {
    pub fn describe(&self) -> String {
        match self {
            Action::Load {
                module,
                params,
                expect_errno,
                ..
            } => match expect_errno {
                Some(e) => format!("load {module} {params} (expecting errno {e})"),
                None => format!("load {module} {params}").trim_end().to_string(),
            },
            Action::Unload { module } => format!("unload {module}"),
            Action::WaitDmesg {
                pattern,
                timeout_ms,
            } => format!("wait_dmesg /{pattern}/ within {timeout_ms} ms"),
            Action::Sleep { ms } => format!("sleep {ms} ms"),
            Action::Client { spec, background } => describe_client(spec, background.as_deref()),
            Action::Server { name, spec, .. } => {
                format!("server {name} on {} accepting {}", spec.addr, spec.accept)
            }
            Action::Join { name } => format!("join {name}"),
            Action::Sockopt { spec } => describe_sockopt(spec),
            Action::Sockets {
                port,
                listening,
                established,
                none,
                ..
            } => describe_sockets(*port, *listening, *established, *none),
            Action::Fuzz {
                campaign: c,
                expect_finding,
            } => format!(
                "fuzz {} seed={} runs={} max_ops={}{}",
                c.module,
                c.seed,
                c.runs,
                c.max_ops,
                if *expect_finding {
                    " (expecting a finding)"
                } else {
                    ""
                }
            ),
        }
    }
}

fn describe_client(spec: &peers::ClientSpec, background: Option<&str>) -> String {
    format!(
        "client to {} ({} message(s){}){}",
        spec.addr,
        spec.messages.len(),
        if spec.expect_echo {
            ", expecting echoes"
        } else {
            ""
        },
        background
            .map(|b| format!(" in background as {b}"))
            .unwrap_or_default()
    )
}

fn describe_sockopt(spec: &peers::SockoptSpec) -> String {
    format!(
        "sockopt level={} optname={}{}{}{}{}",
        spec.level,
        spec.optname,
        spec.set
            .as_ref()
            .map(|v| format!(" set {:?}", String::from_utf8_lossy(v)))
            .unwrap_or_default(),
        spec.get_len
            .map(|n| format!(" get {n} bytes"))
            .unwrap_or_default(),
        match spec.place {
            ksock_ops::Place::Guarded => String::new(),
            p => format!(" buffer {p:?}"),
        },
        spec.outcome.describe()
    )
}

fn describe_sockets(
    port: u16,
    listening: Option<bool>,
    established: Option<usize>,
    none: bool,
) -> String {
    let mut w = vec![format!("sockets on port {port}:")];
    if let Some(l) = listening {
        w.push(if l {
            "listening".into()
        } else {
            "not listening".into()
        });
    }
    if let Some(n) = established {
        w.push(format!("{n} established"));
    }
    if none {
        w.push("none at all".into());
    }
    w.join(" ")
}

/// What came of one action.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ActionResult {
    pub action: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SpecResult {
    pub name: String,
    pub actions: Vec<ActionResult>,
    /// Kernel log lines from the start of the spec to its end, dmesg-style.
    pub dmesg: Vec<String>,
    /// Modules this spec left loaded that the agent had to unload.
    pub leftover_modules: Vec<String>,
    /// Modules still loaded after that: later specs would run on a dirty kernel.
    #[serde(default)]
    pub stuck_modules: Vec<String>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Results {
    /// `uname -r` in the guest.
    pub kernel_release: String,
    pub specs: Vec<SpecResult>,
    /// Set when the agent finished the whole plan.
    pub complete: bool,
}

/// The agent's first console line when it runs a plan.
pub const AGENT_START: &str = "KSOCK-AGENT-START";
/// The agent's console line once `serve` (a warm guest) waits for its first plan.
pub const SERVE_READY: &str = "KSOCK-SERVE-READY";

/// File names in the shared directory.
pub const PLAN_FILE: &str = "plan.json";
pub const RESULTS_FILE: &str = "results.json";

#[cfg(test)]
mod input_tests {
    use super::*;

    #[test]
    fn an_input_survives_the_console() {
        let data = [0u8, 1, 0xfe, 0x41];
        let rec = input_records(&data);
        assert_eq!(rec, ["<0>KSOCK-INPUT 0001fe41\n"]);
        let console =
            |r: &str| format!("[   12.345678] {}", r.trim_start_matches("<0>").trim_end());
        assert_eq!(
            parse_input_line(&console(&rec[0])).unwrap(),
            (false, data.to_vec())
        );
        assert_eq!(parse_input_line("[ 1.0] KSOCK-INPUT 0"), None);
        // A long input takes several records; the host joins them.
        let long: Vec<u8> = (0..1000).map(|i| i as u8).collect();
        let mut joined = Vec::new();
        for r in input_records(&long) {
            assert!(r.len() < 1000, "fits one log record");
            let (more, b) = parse_input_line(&console(&r)).unwrap();
            assert_eq!(more, !joined.is_empty());
            joined.extend(b);
        }
        assert_eq!(joined, long);
    }

    #[test]
    fn input_records_hold_the_last_input_and_refuse_torn_ones() {
        let mut mem = vec![0u8; 128];
        assert_eq!(read_input_record(&mem), None, "nothing written yet");
        write_input_record(&mut mem, b"first");
        write_op_index(&mut mem, 4);
        write_input_record(&mut mem, &[1, 2, 3]);
        assert_eq!(read_input_record(&mem), Some(vec![1, 2, 3]));
        assert_eq!(
            read_op_index(&mem),
            None,
            "a new input starts with no op running"
        );
        write_op_index(&mut mem, 2);
        assert_eq!(read_op_index(&mem), Some(2));
        write_input_record(&mut mem, &[7; 500]);
        assert_eq!(
            read_input_record(&mem),
            Some(vec![7; 128 - 24]),
            "cut to fit"
        );
        // A panic while the next record is half written: the generation is odd.
        mem[8] |= 1;
        assert_eq!(read_input_record(&mem), None);
        assert_eq!(parse_input_line("no mark"), None);
    }
}
