//! TCP traffic from a module that connects out: the fuzzer is its peer.
//!
//! An input loads the module with parameters in and out of their ranges — the port it
//! connects to (the table's `port_param`: the fuzzer's listener, a closed port, or no port
//! at all), the integers the table varies (`vary`), a string (`text_param`) — accepts its
//! connection, reads what it sends, answers, resets, and unloads it. A named model may say
//! what the peer must receive ([`crate::model::ClientModel`]: ksock's own client sends a
//! payload, whole, once per message); without one the generic oracles speak: a load is
//! refused exactly when a value is outside its declared range, no splat, a clean unload.

use std::fmt;

use arbitrary::{Arbitrary, Unstructured};
use serde::{Deserialize, Serialize};

use crate::lang::sockopt::Reload;
use crate::model::ClientModel;
use crate::params::{apply, Param, Vary};

/// What the ops are relative to: where the fuzzer listens, and how a load's values become
/// the module's parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientTarget {
    /// Where the fuzzer listens for the module's connection.
    pub port: u16,
    /// A port nobody listens on (the connection is refused).
    pub closed_port: u16,
    /// The module parameter that takes the port to connect to.
    #[serde(default = "default_port_param")]
    pub port_param: String,
    /// A string parameter a load's text goes into, if the module has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_param: Option<String>,
    /// The named contract what the peer receives is checked against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ClientModel>,
}

fn default_port_param() -> String {
    "port".into()
}

impl ClientTarget {
    /// A target listening on `port` (`port + 1` stays closed), the port going into `port`.
    pub fn new(port: u16) -> Self {
        Self {
            port,
            closed_port: port.wrapping_add(1),
            port_param: default_port_param(),
            text_param: None,
            model: None,
        }
    }
}

/// The longest text a load passes (the kernel refuses longer string parameters).
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
    /// One value per varied parameter, relative to its range (the table's `vary`, or the
    /// model's).
    pub params: [Param; Reload::PARAMS],
    /// The text's bytes, mapped to what a module parameter can carry ([`ClientLoad::text`]).
    pub text: Vec<u8>,
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

impl ClientLoad {
    /// The port the module is told to connect to.
    pub fn port_value(&self, t: &ClientTarget) -> i64 {
        match self.port {
            Port::Listener => i64::from(t.port),
            Port::Closed => i64::from(t.closed_port),
            Port::Below(n) => -i64::from(n),
            Port::Above(n) => 65536 + i64::from(n),
        }
    }

    /// The text as the module gets it: printable bytes other than `"` and `\` (a parameter
    /// string cannot carry the others; those become `_`, the rest a printable byte), at
    /// most [`MAX_MESSAGE`].
    pub fn text(&self) -> Vec<u8> {
        self.text
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

    /// The parameters of a load without a model: the target's own (`base`), the port, the
    /// varied values and the text, as `(name, value)` pairs.
    pub fn param_pairs(
        &self,
        t: &ClientTarget,
        vary: &[Vary],
        base: &str,
    ) -> Vec<(String, String)> {
        let mut out = apply(base, vary, &self.params);
        out.retain(|(k, _)| *k != t.port_param && Some(k) != t.text_param.as_ref());
        out.push((t.port_param.clone(), self.port_value(t).to_string()));
        if let Some(name) = &t.text_param {
            let text = String::from_utf8(self.text()).expect("printable ASCII");
            out.push((name.clone(), format!("\"{text}\"")));
        }
        out
    }

    /// Whether every value is one the module declares it accepts: a port in 1..=65535 and
    /// each varied value in its range.
    pub fn in_range(&self, t: &ClientTarget, vary: &[Vary]) -> bool {
        (1..=65535).contains(&self.port_value(t))
            && vary
                .iter()
                .zip(self.params)
                .all(|(v, p)| v.value(p).is_none_or(|x| v.accepts(x)))
    }

    /// Strictly simpler loads (for shrinking): a shorter text, then each varied value back
    /// to the target's own.
    pub fn simpler(&self) -> Vec<ClientLoad> {
        let mut out = Vec::new();
        if self.text.len() > 1 {
            for n in [1, self.text.len() / 2] {
                let mut l = self.clone();
                l.text.truncate(n);
                out.push(l);
            }
        }
        for i in 0..self.params.len() {
            if self.params[i] != Param::Default {
                let mut l = self.clone();
                l.params[i] = Param::Default;
                out.push(l);
            }
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
                "load port={:?} params={:?} text={:?}",
                l.port,
                l.params,
                String::from_utf8_lossy(&l.text()),
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
                params: [Param::Default; Reload::PARAMS],
                text: b"ksock".to_vec(),
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

    fn load(port: Port, params: [Param; Reload::PARAMS], text: &[u8]) -> ClientLoad {
        ClientLoad {
            port,
            params,
            text: text.to_vec(),
        }
    }

    fn target() -> ClientTarget {
        ClientTarget {
            text_param: Some("greeting".into()),
            ..ClientTarget::new(9200)
        }
    }

    #[test]
    fn a_load_sets_the_port_the_varied_values_and_the_text() {
        let t = target();
        let vary = [Vary {
            name: "retries".into(),
            first: 0,
            last: 5,
        }];
        let d = Param::Default;
        let l = load(Port::Listener, [Param::In(1), d, d, d], b"hi");
        let pairs = l.param_pairs(&t, &vary, "port=1 debug=1");
        assert_eq!(
            crate::params::join(&pairs),
            "debug=1 retries=5 port=9200 greeting=\"hi\""
        );
        assert!(l.in_range(&t, &vary));
        assert!(!load(Port::Above(0), [d; 4], b"").in_range(&t, &vary));
        assert!(
            !load(Port::Below(0), [d; 4], b"").in_range(&t, &vary),
            "port 0"
        );
        assert!(!load(Port::Closed, [Param::Above(0), d, d, d], b"").in_range(&t, &vary));
    }

    #[test]
    fn texts_carry_only_what_a_parameter_can() {
        let l = load(
            Port::Listener,
            [Param::Default; 4],
            &[b'"', b'\\', 0, 200, b'a'],
        );
        let m = l.text();
        assert!(m
            .iter()
            .all(|c| (b' '..=b'~').contains(c) && *c != b'"' && *c != b'\\'));
        assert_eq!(m.last(), Some(&b'a'));
        let long = load(Port::Listener, [Param::Default; 4], &[b'x'; 2000]);
        assert_eq!(long.text().len(), MAX_MESSAGE);
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
        let mut cur = ClientOp::Load(load(Port::Closed, [Param::Above(3); 4], &[b'z'; 40]));
        let mut steps = 0;
        while let Some(next) = cur.simpler().into_iter().next() {
            cur = next;
            steps += 1;
            assert!(steps < 20, "shrinking must end");
        }
        assert!(cur.simpler().is_empty());
    }
}
