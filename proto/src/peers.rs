//! The userspace peers a spec asks for, as the harness resolves them for the agent (which
//! runs them: `ksock-agent`'s `peers` module).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// A TCP client peer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClientSpec {
    pub addr: SocketAddr,
    pub messages: Vec<Vec<u8>>,
    /// Each message must come back unchanged.
    pub expect_echo: bool,
    /// Close with RST (SO_LINGER 0) instead of FIN.
    pub abort: bool,
    /// Keep the connection open this long after the last message.
    pub hold_ms: u64,
    pub timeout_ms: u64,
    /// `Some(errno)`: the connection must fail with it (ECONNREFUSED).
    pub expect_errno: Option<i32>,
}

/// A TCP server peer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServerSpec {
    pub addr: SocketAddr,
    /// Connections to accept before finishing.
    pub accept: usize,
    pub timeout_ms: u64,
    /// listen() backlog; 0 queues a single connection and drops later SYNs, which is how a
    /// spec makes a connect time out.
    pub backlog: i32,
    /// Keep listening this long after the last accept.
    pub hold_ms: u64,
}

/// A setsockopt/getsockopt caller on an AF_INET socket. Its buffers end at a guard page
/// (the agent's `guarded::Arena`), so a kernel that copies past the given length gets EFAULT.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SockoptSpec {
    pub level: i32,
    pub optname: i32,
    /// `Some`: call setsockopt with these bytes (length `optlen` if given).
    pub set: Option<Vec<u8>>,
    /// `Some(n)`: call getsockopt with an n-byte buffer (n < 0: an empty one, and n).
    pub get_len: Option<i64>,
    /// Override the length passed to setsockopt (to send wrong lengths on purpose).
    pub optlen: Option<usize>,
    /// With `optlen`: the buffer is `optlen` bytes of `set` repeated (the agent's `peers::repeated`).
    pub repeat: bool,
    /// Where the user buffer lies (`Unmapped`: a bad pointer instead of the buffer).
    pub place: ksock_fuzz::lang::sockopt::Place,
    /// What the call must do.
    pub outcome: Outcome,
    /// For getsockopt: the bytes that must come back (up to the returned length).
    pub expect_value: Option<Vec<u8>>,
}

/// What a sockopt call must do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Succeed.
    #[default]
    Success,
    /// Fail with one of these errnos.
    Error(Vec<i32>),
    /// Succeed, or fail with any errno but these: what a correct module may answer when
    /// nothing says which (a regression spec from a finding without a model: a call on a
    /// valid buffer must not fault past it, whatever else it answers).
    AnyBut(Vec<i32>),
}

impl Outcome {
    /// For people: ` (expecting EINVAL)`, ` (anything but EFAULT)`, or nothing.
    pub fn describe(&self) -> String {
        let names = |v: &[i32]| {
            v.iter()
                .map(|e| crate::errno::name(*e))
                .collect::<Vec<_>>()
                .join(" or ")
        };
        match self {
            Outcome::Success => String::new(),
            Outcome::Error(v) => format!(" (expecting {})", names(v)),
            Outcome::AnyBut(v) if v.is_empty() => " (any outcome)".into(),
            Outcome::AnyBut(v) => format!(" (anything but {})", names(v)),
        }
    }
}

/// What a peer observed; `ok == false` fails the step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct PeerReport {
    pub ok: bool,
    pub detail: String,
    /// For servers: bytes received per accepted connection, as text.
    pub received: Vec<String>,
}
