//! TCP traffic to a module that serves connections: the message half of the op language.
//! Sizes are relative to the module's receive buffer, so the boundary cases (one byte short
//! of it, exactly it, one past it) come up often.

use std::fmt;

use arbitrary::{Arbitrary, Unstructured};
use serde::{Deserialize, Serialize};

use crate::model::ServerModel;

/// What the ops are relative to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MsgTarget {
    pub port: u16,
    /// The module's receive buffer in bytes.
    pub buffer: usize,
    /// The named contract what comes back and what the module logs are checked against
    /// (`echo_log`); without one only the generic oracles speak.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ServerModel>,
}

impl MsgTarget {
    /// ksock's own server as this repository fuzzes it (`port=9100 echo=1`).
    pub const KSOCK_SERVER: MsgTarget = MsgTarget {
        port: 9100,
        buffer: 1024,
        model: Some(ServerModel::EchoLog),
    };
}

/// The `echo_log` model's log line for each receive; its data may show at most `len` bytes
/// (the model's log oracle, and regression specs' `log_lengths`).
pub const RECV_LOG: &str = r": recv peer=\S+ len=(?P<len>\d+) data=(?P<data>.*)$";

/// Connections an input may hold at once.
pub const MAX_CONNS: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MsgOp {
    /// Opens a connection (up to [`MAX_CONNS`]).
    Connect,
    /// Sends a payload on connection `conn` (modulo the open ones; with none open, a new
    /// one).
    Send { conn: u8, payload: Payload },
    /// Reads what has come back on `conn` (waiting briefly).
    Recv { conn: u8 },
    /// `shutdown(SHUT_WR)` on `conn`.
    HalfClose { conn: u8 },
    /// Closes `conn` with a reset (SO_LINGER 0).
    Reset { conn: u8 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payload {
    /// These bytes.
    Bytes(Vec<u8>),
    /// `fill` repeated to a size at the module's edges.
    Sized { size: Size, fill: u8 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Size {
    One,
    BufferMinus1,
    Buffer,
    BufferPlus1,
    Page,
    /// Up to 8191 bytes.
    Raw(u16),
}

// Written out, not derived: a derived enum picks its variant from four bytes, scaled, so
// libFuzzer's runs of equal bytes (0x00, 0xff: its repeated-byte insertions) decoded to
// connects and resets only, and a send, the op that reaches a module's receive path,
// needed one byte in a narrow band (measured: no send among a server target's first ~200
// inputs). Here one byte picks each kind, sends half the time, sized payloads (the edges
// of the module's buffer) three times in four.
impl<'a> Arbitrary<'a> for MsgOp {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let kind: u8 = u.arbitrary()?;
        Ok(match kind {
            0..=31 => MsgOp::Connect,
            32..=159 => MsgOp::Send {
                conn: u.arbitrary()?,
                payload: u.arbitrary()?,
            },
            160..=207 => MsgOp::Recv {
                conn: u.arbitrary()?,
            },
            208..=231 => MsgOp::HalfClose {
                conn: u.arbitrary()?,
            },
            _ => MsgOp::Reset {
                conn: u.arbitrary()?,
            },
        })
    }
}

impl<'a> Arbitrary<'a> for Payload {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let kind: u8 = u.arbitrary()?;
        Ok(match kind {
            0..=63 => Payload::Bytes(u.arbitrary()?),
            _ => Payload::Sized {
                size: u.arbitrary()?,
                fill: u.arbitrary()?,
            },
        })
    }
}

impl<'a> Arbitrary<'a> for Size {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let kind: u8 = u.arbitrary()?;
        Ok(match kind % 6 {
            0 => Size::One,
            1 => Size::BufferMinus1,
            2 => Size::Buffer,
            3 => Size::BufferPlus1,
            4 => Size::Page,
            _ => Size::Raw(u.arbitrary()?),
        })
    }
}

impl Size {
    /// Order for shrinking: smaller sizes first (`Raw` counts by its value).
    fn rank(self) -> u32 {
        match self {
            Size::One => 1,
            Size::BufferMinus1 => 1023,
            Size::Buffer => 1024,
            Size::BufferPlus1 => 1025,
            Size::Page => 4096,
            Size::Raw(n) => u32::from(n % 8192),
        }
    }
}

impl Payload {
    /// Strictly smaller payloads (for shrinking a finding): byte payloads cut to half and
    /// to one byte; sized ones at each smaller edge. Each candidate is shorter, so
    /// shrinking ends.
    pub fn simpler(&self) -> Vec<Payload> {
        match self {
            Payload::Bytes(b) => {
                let mut out = Vec::new();
                if b.len() > 1 {
                    out.push(Payload::Bytes(b[..1].to_vec()));
                }
                if b.len() > 2 {
                    out.push(Payload::Bytes(b[..b.len() / 2].to_vec()));
                }
                out
            }
            Payload::Sized { size, fill } => [
                Size::One,
                Size::BufferMinus1,
                Size::Buffer,
                Size::BufferPlus1,
                Size::Page,
            ]
            .into_iter()
            .filter(|s| s.rank() < size.rank())
            .map(|s| Payload::Sized {
                size: s,
                fill: *fill,
            })
            .collect(),
        }
    }

    pub fn bytes(&self, t: &MsgTarget) -> Vec<u8> {
        match self {
            Payload::Bytes(b) => b.clone(),
            Payload::Sized { size, fill } => {
                let n = match size {
                    Size::One => 1,
                    Size::BufferMinus1 => t.buffer - 1,
                    Size::Buffer => t.buffer,
                    Size::BufferPlus1 => t.buffer + 1,
                    Size::Page => 4096,
                    Size::Raw(n) => usize::from(*n % 8192),
                };
                vec![*fill; n]
            }
        }
    }
}

impl fmt::Display for MsgOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MsgOp::Connect => write!(f, "connect"),
            MsgOp::Send { conn, payload } => match payload {
                Payload::Bytes(b) => {
                    write!(f, "send conn={conn} {:?}", String::from_utf8_lossy(b))
                }
                Payload::Sized { size, fill } => {
                    write!(f, "send conn={conn} {size:?} bytes of {fill:#04x}")
                }
            },
            MsgOp::Recv { conn } => write!(f, "recv conn={conn}"),
            MsgOp::HalfClose { conn } => write!(f, "half-close conn={conn}"),
            MsgOp::Reset { conn } => write!(f, "reset conn={conn}"),
        }
    }
}

/// The sequence `bytes` decode to, at most `max_ops` long (as [`super::sockopt::decode`]).
pub fn decode(bytes: &[u8], max_ops: usize) -> Vec<MsgOp> {
    let mut u = Unstructured::new(bytes);
    let n = u.int_in_range(1..=max_ops.max(1)).unwrap_or(1);
    (0..n)
        .map_while(|_| MsgOp::arbitrary(&mut u).ok())
        .collect()
}

/// One op per line, numbered.
pub fn describe(ops: &[MsgOp]) -> String {
    ops.iter()
        .enumerate()
        .map(|(i, op)| format!("  {}. {op}", i + 1))
        .collect::<Vec<_>>()
        .join("\n")
}

/// How many bytes a logged `data=` value (see [`RECV_LOG`]) stands for, at least: Rust
/// modules print bytes with `BStr` (`\xNN`, `\t`, `\n`, `\r` for one byte each), C's `%s`
/// raw (which `/dev/kmsg` escapes and the agent unescapes). A payload that itself holds
/// `\x41` is counted short, never long: an oracle built on this may miss, it does not invent.
pub fn logged_bytes(data: &str) -> usize {
    let c: Vec<char> = data.chars().collect();
    let hex = |i: usize| c.get(i).is_some_and(|d| matches!(d, '0'..='9' | 'a'..='f'));
    let (mut i, mut n) = (0, 0);
    while i < c.len() {
        i += match (c[i], c.get(i + 1)) {
            ('\\', Some('x')) if hex(i + 2) && hex(i + 3) => 4,
            ('\\', Some('t' | 'n' | 'r')) => 2,
            _ => 1,
        };
        n += 1;
    }
    n
}

impl MsgOp {
    /// This op with a smaller payload (sends only; see [`Payload::simpler`]).
    pub fn simpler(&self) -> Vec<MsgOp> {
        match self {
            MsgOp::Send { conn, payload } => payload
                .simpler()
                .into_iter()
                .map(|p| MsgOp::Send {
                    conn: *conn,
                    payload: p,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl super::Ops for MsgOp {
    fn decode(bytes: &[u8], max_ops: usize) -> Vec<Self> {
        decode(bytes, max_ops)
    }

    fn simpler(&self) -> Vec<Self> {
        MsgOp::simpler(self)
    }

    fn describe(ops: &[Self], _t: &super::sockopt::Target) -> String {
        describe(ops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smaller_payloads_are_strictly_smaller() {
        let t = MsgTarget::KSOCK_SERVER;
        let op = MsgOp::Send {
            conn: 0,
            payload: Payload::Sized {
                size: Size::Page,
                fill: b'x',
            },
        };
        let mut cur = op;
        let mut last = usize::MAX;
        while let Some(next) = cur.simpler().into_iter().last() {
            let MsgOp::Send { payload, .. } = &next else {
                unreachable!()
            };
            let n = payload.bytes(&t).len();
            assert!(n < last, "{n} after {last}");
            last = n;
            cur = next;
        }
        assert_eq!(last, 1, "down through every edge to one byte");
        let bytes = Payload::Bytes(b"hello world".to_vec());
        assert_eq!(
            bytes.simpler(),
            [
                Payload::Bytes(b"h".to_vec()),
                Payload::Bytes(b"hello".to_vec())
            ]
        );
        assert!(Payload::Bytes(b"h".to_vec()).simpler().is_empty());
        assert!(MsgOp::Connect.simpler().is_empty());
    }

    #[test]
    fn logged_escapes_count_one_byte_each() {
        assert_eq!(logged_bytes(r"ab\x00\tc"), 5);
        assert_eq!(logged_bytes("plain"), 5);
        assert_eq!(logged_bytes(r"\x4"), 3, "a cut escape is its characters");
        assert_eq!(logged_bytes(r"\q"), 2);
        assert_eq!(logged_bytes(""), 0);
    }

    #[test]
    fn sizes_sit_at_the_buffer_edges() {
        let t = MsgTarget::KSOCK_SERVER;
        let len = |size| Payload::Sized { size, fill: b'x' }.bytes(&t).len();
        assert_eq!(len(Size::BufferMinus1), 1023);
        assert_eq!(len(Size::Buffer), 1024);
        assert_eq!(len(Size::BufferPlus1), 1025);
        assert_eq!(len(Size::Raw(9000)), 9000 % 8192);
    }

    #[test]
    fn runs_of_equal_bytes_and_random_bytes_decode_to_sends_of_sized_payloads() {
        let t = MsgTarget::KSOCK_SERVER;
        let sends = |ops: &[MsgOp]| {
            ops.iter()
                .filter(
                    |o| matches!(o, MsgOp::Send { payload, .. } if payload.bytes(&t).len() > 64),
                )
                .count()
        };
        // libFuzzer's repeated-byte insertions: a run of one byte in the send band is all
        // sends of one size (0x61: 1023 bytes, one short of the buffer).
        let run = decode(&[0x61; 64], 16);
        assert!(sends(&run) > 0, "{run:?}");
        // Pseudo-random inputs: most hold a send past a small buffer.
        let mut x: u32 = 1;
        let mut hits = 0;
        for _ in 0..100 {
            let input: Vec<u8> = (0..64)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (x >> 16) as u8
                })
                .collect();
            hits += usize::from(sends(&decode(&input, 16)) > 0);
        }
        assert!(
            hits > 60,
            "{hits} of 100 random inputs send more than 64 bytes"
        );
    }

    #[test]
    fn bytes_decode_to_message_ops() {
        let ops = decode(&[3, 0, 1, 0, 0, 0, 2, 0], 8);
        assert!(!ops.is_empty());
        assert_eq!(ops[0], MsgOp::Connect);
        assert!(describe(&ops).starts_with("  1. connect"));
    }
}
