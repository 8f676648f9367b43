//! ksock-proto: what the host's harness and the guest's agent say to each other, as JSON
//! files in the shared directory and records in shared memory, and the vocabulary both
//! sides need to read them: peers' specs, errno names. The fuzzer's own vocabulary (configs,
//! findings, input records) is `ksock-fuzz`'s.
//!
//! Boundary: plain data and pure functions only. No syscalls, no guest code: the harness
//! depends on this crate, never on the agent.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub mod errno;
pub mod peers;

/// The kernel command-line word that marks a ksock guest: the harness boots every guest with
/// it, and the agent refuses to load a module where it is missing.
pub const GUEST_MARKER: &str = "ksock.guest=1";

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
        /// Load in a thread under this name, checked by a `Join` (the module's init may
        /// block until a later step connects).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        background: Option<String>,
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
        campaign: ksock_fuzz::Campaign,
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
                background,
                ..
            } => {
                let mut s = format!("load {module} {params}").trim_end().to_string();
                if let Some(e) = expect_errno {
                    s.push_str(&format!(" (expecting errno {e})"));
                }
                if let Some(name) = background {
                    s.push_str(&format!(" in the background as {name}"));
                }
                s
            }
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
            ksock_fuzz::lang::sockopt::Place::Guarded => String::new(),
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
