//! TCP traffic from a module that connects out (ksock_client): the fuzzer is its peer.
//!
//! An input loads the module with arbitrary parameters (in and out of their ranges: port,
//! message count, message or pattern size at its buffer's edges, the message's bytes),
//! accepts its connection, reads what it sends, answers, resets, and unloads it. What the
//! peer receives is predictable from the parameters alone ([`ClientLoad::payload`]): the
//! payload, whole, once per message. That is the oracle that needs no log.

use std::fmt;

use arbitrary::{Arbitrary, Unstructured};
use serde::{Deserialize, Serialize};

use crate::params::Param;

/// What the ops are relative to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientTarget {
    /// Where the fuzzer listens for the module's connection.
    pub port: u16,
    /// A port nobody listens on (the connection is refused).
    pub closed_port: u16,
}

impl ClientTarget {
    pub const KSOCK_CLIENT: ClientTarget = ClientTarget {
        port: 9200,
        closed_port: 9201,
    };
}

/// The longest `message` a load passes (the kernel refuses longer string parameters).
pub const MAX_MESSAGE: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, Arbitrary, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientOp {
    /// Loads the module (unloading a loaded one first) with these parameters.
    Load(ClientLoad),
    /// Accepts the module's connection if it is pending, and reads what has arrived.
    Read,
    /// Sends `n` bytes to the module (which never reads: they fill its receive buffer).
    Send { n: u16 },
    /// Resets the accepted connection (SO_LINGER 0).
    Reset,
    /// Unloads the module.
    Unload,
}

/// Parameters of a load.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary, Serialize, Deserialize)]
pub struct ClientLoad {
    pub port: Port,
    /// `count` (0..=1000); in range it stays small (0..=3), as every message costs time.
    pub count: Param,
    pub size: Size,
    /// The message's bytes, mapped to what a module parameter can carry (see
    /// [`ClientLoad::message`]).
    pub message: Vec<u8>,
    /// In range, always the campaign's own mask.
    pub seed_bugs: Param,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Port {
    /// The fuzzer's listener.
    Listener,
    /// A port nobody listens on.
    Closed,
    /// 0, or a negative one.
    Below(u8),
    /// Past 65535.
    Above(u8),
}

/// `size`: 0 sends `message`; otherwise this many pattern bytes (1..=65536).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Size {
    Message,
    One,
    /// The seed's buffer (1024) and its neighbours.
    SeedMinus1,
    Seed,
    SeedPlus1,
    Max,
    Above(u8),
    Negative(u8),
}

impl ClientLoad {
    /// The module's `(port, count, size, seed_bugs)` given the campaign's mask.
    pub fn resolve(&self, t: &ClientTarget, seed_bugs: i64) -> (i64, i64, i64, i64) {
        let port = match self.port {
            Port::Listener => i64::from(t.port),
            Port::Closed => i64::from(t.closed_port),
            Port::Below(n) => -i64::from(n),
            Port::Above(n) => 65536 + i64::from(n),
        };
        let count = match self.count {
            Param::Default => 1,
            Param::In(n) => i64::from(n % 4),
            Param::Below(n) => -1 - i64::from(n),
            Param::Above(n) => 1001 + i64::from(n),
        };
        let size = match self.size {
            Size::Message => 0,
            Size::One => 1,
            Size::SeedMinus1 => 1023,
            Size::Seed => 1024,
            Size::SeedPlus1 => 1025,
            Size::Max => 65536,
            Size::Above(n) => 65537 + i64::from(n),
            Size::Negative(n) => -1 - i64::from(n),
        };
        let bugs = match self.seed_bugs {
            Param::Default | Param::In(_) => seed_bugs,
            Param::Below(n) => -1 - i64::from(n),
            Param::Above(n) => 2 + i64::from(n),
        };
        (port, count, size, bugs)
    }

    /// Whether ksock_client accepts these parameters.
    pub fn valid(&self, t: &ClientTarget, seed_bugs: i64) -> bool {
        let (port, count, size, bugs) = self.resolve(t, seed_bugs);
        (1..=65535).contains(&port)
            && (0..=1000).contains(&count)
            && (0..=65536).contains(&size)
            && (0..=1).contains(&bugs)
    }

    /// The message as the module gets it: printable bytes other than `"` and `\` (a
    /// parameter string cannot carry the others; those become `_`, the rest a printable
    /// byte), at most [`MAX_MESSAGE`].
    pub fn message(&self) -> Vec<u8> {
        self.message
            .iter()
            .take(MAX_MESSAGE)
            .map(|&b| {
                let c = if (b' '..=b'~').contains(&b) {
                    b
                } else {
                    b' ' + b % 95
                };
                if c == b'"' || c == b'\\' {
                    b'_'
                } else {
                    c
                }
            })
            .collect()
    }

    /// The module's parameter string.
    pub fn params(&self, t: &ClientTarget, seed_bugs: i64) -> String {
        let (port, count, size, bugs) = self.resolve(t, seed_bugs);
        let msg = String::from_utf8(self.message()).expect("printable ASCII");
        format!("port={port} count={count} size={size} seed_bugs={bugs} message=\"{msg}\"")
    }

    /// What one message is, by the module's contract: `size` bytes of `a..z` repeated, or
    /// the message.
    pub fn payload(&self, t: &ClientTarget, seed_bugs: i64) -> Vec<u8> {
        match self.resolve(t, seed_bugs).2 {
            n if n > 0 => (0..n as usize).map(|i| b'a' + (i % 26) as u8).collect(),
            _ => self.message(),
        }
    }

    /// Strictly simpler loads (for shrinking): a shorter message, then a message instead
    /// of a pattern, then one message.
    pub fn simpler(&self) -> Vec<ClientLoad> {
        let mut out = Vec::new();
        let with = |f: &dyn Fn(&mut ClientLoad)| {
            let mut l = self.clone();
            f(&mut l);
            l
        };
        if self.message.len() > 1 {
            out.push(with(&|l| l.message.truncate(1)));
            out.push(with(&|l| l.message.truncate(self.message.len() / 2)));
        }
        if self.size != Size::Message {
            out.push(with(&|l| l.size = Size::Message));
        }
        if !matches!(self.count, Param::Default | Param::In(1)) {
            out.push(with(&|l| l.count = Param::Default));
        }
        out
    }
}

impl ClientOp {
    /// Strictly simpler variants of this op (loads only).
    pub fn simpler(&self) -> Vec<ClientOp> {
        match self {
            ClientOp::Load(l) => l.simpler().into_iter().map(ClientOp::Load).collect(),
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for ClientOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientOp::Load(l) => write!(
                f,
                "load port={:?} count={:?} size={:?} message={:?} seed_bugs={:?}",
                l.port,
                l.count,
                l.size,
                String::from_utf8_lossy(&l.message()),
                l.seed_bugs
            ),
            ClientOp::Read => write!(f, "accept and read"),
            ClientOp::Send { n } => write!(f, "send {n} bytes to the module"),
            ClientOp::Reset => write!(f, "reset the connection"),
            ClientOp::Unload => write!(f, "unload"),
        }
    }
}

/// The sequence `bytes` decode to, at most `max_ops` long, ending where the bytes do. Every
/// sequence starts with a load (a first op that is not one is preceded by a default load),
/// so each input exercises the module.
pub fn decode(bytes: &[u8], max_ops: usize) -> Vec<ClientOp> {
    let mut u = Unstructured::new(bytes);
    let n = u.int_in_range(1..=max_ops.max(1)).unwrap_or(1);
    // Ops stop where the bytes do: `arbitrary` would go on with default ops (loads),
    // each of which costs a module load.
    let mut ops: Vec<ClientOp> = (0..n)
        .map_while(|_| (!u.is_empty()).then(|| ClientOp::arbitrary(&mut u).ok())?)
        .collect();
    if !matches!(ops.first(), Some(ClientOp::Load(_))) {
        ops.insert(
            0,
            ClientOp::Load(ClientLoad {
                port: Port::Listener,
                count: Param::Default,
                size: Size::Message,
                message: b"ksock".to_vec(),
                seed_bugs: Param::Default,
            }),
        );
    }
    ops
}

/// One op per line, numbered.
pub fn describe(ops: &[ClientOp]) -> String {
    ops.iter()
        .enumerate()
        .map(|(i, op)| format!("  {}. {op}", i + 1))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `received` (from one connection, maybe cut short) is what a correct module
/// sends: `payload` whole, again and again, at most `count` times. `complete`: the stream
/// ended with the module's FIN, so it must hold whole messages.
pub fn delivery_ok(received: &[u8], payload: &[u8], count: usize, complete: bool) -> bool {
    if payload.is_empty() {
        return received.is_empty();
    }
    if received.len() > payload.len() * count {
        return false;
    }
    let matches = received
        .chunks(payload.len())
        .all(|c| payload.starts_with(c));
    matches && (!complete || received.len().is_multiple_of(payload.len()))
}

impl super::Ops for ClientOp {
    fn decode(bytes: &[u8], max_ops: usize) -> Vec<Self> {
        decode(bytes, max_ops)
    }

    fn simpler(&self) -> Vec<Self> {
        ClientOp::simpler(self)
    }

    fn describe(ops: &[Self], _t: &super::sockopt::Target) -> String {
        describe(ops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(size: Size, message: &[u8]) -> ClientLoad {
        ClientLoad {
            port: Port::Listener,
            count: Param::In(2),
            size,
            message: message.to_vec(),
            seed_bugs: Param::Default,
        }
    }

    #[test]
    fn parameters_resolve_in_and_out_of_range() {
        let t = ClientTarget::KSOCK_CLIENT;
        let l = load(Size::Message, b"hi");
        assert!(l.valid(&t, 0));
        assert_eq!(
            l.params(&t, 1),
            "port=9200 count=2 size=0 seed_bugs=1 message=\"hi\""
        );
        let mut bad = l.clone();
        bad.port = Port::Above(0);
        assert!(!bad.valid(&t, 0));
        let mut bad = l.clone();
        bad.size = Size::Above(0);
        assert!(!bad.valid(&t, 0));
        let mut bad = l;
        bad.seed_bugs = Param::Above(0);
        assert!(!bad.valid(&t, 0), "seed_bugs=2 is out of range");
    }

    #[test]
    fn messages_carry_only_what_a_parameter_can() {
        let l = load(Size::Message, &[b'"', b'\\', 0, 200, b'a']);
        let m = l.message();
        assert!(m
            .iter()
            .all(|c| (b' '..=b'~').contains(c) && *c != b'"' && *c != b'\\'));
        assert_eq!(m.last(), Some(&b'a'));
        let long = load(Size::Message, &[b'x'; 2000]);
        assert_eq!(long.message().len(), MAX_MESSAGE);
    }

    #[test]
    fn the_payload_is_the_pattern_or_the_message() {
        let t = ClientTarget::KSOCK_CLIENT;
        assert_eq!(load(Size::Message, b"abc").payload(&t, 0).len(), 3);
        let p = load(Size::SeedPlus1, b"abc").payload(&t, 0);
        assert_eq!(p.len(), 1025);
        assert_eq!(&p[..3], b"abc");
        assert_eq!(p[26], b'a');
    }

    #[test]
    fn delivery_holds_whole_payloads_and_no_more() {
        assert!(delivery_ok(b"msg-msg-", b"msg-", 2, true));
        assert!(
            delivery_ok(b"msg-ms", b"msg-", 2, false),
            "cut short, still running"
        );
        assert!(
            !delivery_ok(b"msg-ms", b"msg-", 2, true),
            "a FIN mid-message"
        );
        assert!(
            !delivery_ok(b"msg-msg-msg-", b"msg-", 2, true),
            "more than count"
        );
        assert!(
            !delivery_ok(b"msg-\0\0\0\0", b"msg-", 2, true),
            "seed 000's buffer"
        );
        assert!(delivery_ok(b"", b"", 3, true));
        assert!(!delivery_ok(b"x", b"", 3, true));
    }

    #[test]
    fn every_sequence_starts_with_a_load_and_shrinking_ends() {
        for seed in 0..50u8 {
            let bytes: Vec<u8> = (0..64).map(|i| seed.wrapping_mul(31) ^ i).collect();
            let ops = decode(&bytes, 8);
            assert!(matches!(ops[0], ClientOp::Load(_)));
        }
        let mut cur = ClientOp::Load(load(Size::Max, &[b'z'; 40]));
        let mut steps = 0;
        while let Some(next) = cur.simpler().into_iter().next() {
            cur = next;
            steps += 1;
            assert!(steps < 20, "shrinking must end");
        }
        assert!(cur.simpler().is_empty());
    }
}
