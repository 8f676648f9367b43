//! Findings' vocabulary, shared by the in-guest fuzzer (which saves them) and the host
//! (which decodes crashing inputs, names and reproduces findings).

use std::sync::LazyLock;

use ksock_ops::client::ClientOp;
use ksock_ops::mixed::Step;
use ksock_ops::msg::MsgOp;
use ksock_ops::Op;

use crate::{FuzzConfig, Language};

/// An input's ops, in the language of the campaign's target (the host decodes a crashing
/// input the same way).
#[derive(Debug, Clone)]
pub enum Decoded {
    Sockopt(Vec<Op>),
    Msg(Vec<MsgOp>),
    Client(Vec<ClientOp>),
    Mixed(Vec<Step>),
}

/// `$e` with `$o` bound to the ops of whichever language `$d` holds.
macro_rules! each {
    ($d:expr, $o:ident => $e:expr) => {
        match $d {
            Decoded::Sockopt($o) => $e,
            Decoded::Msg($o) => $e,
            Decoded::Client($o) => $e,
            Decoded::Mixed($o) => $e,
        }
    };
}

impl Decoded {
    pub fn new(data: &[u8], cfg: &FuzzConfig) -> Self {
        let n = cfg.max_ops;
        match cfg.language {
            Language::Sockopt => Decoded::Sockopt(ksock_ops::decode(data, n)),
            Language::Msg => Decoded::Msg(ksock_ops::msg::decode(data, n)),
            Language::Client => Decoded::Client(ksock_ops::client::decode(data, n)),
            Language::Mixed => Decoded::Mixed(ksock_ops::mixed::decode(data, n)),
        }
    }

    /// A saved sequence (`sequence.json`) in `language`.
    pub fn from_json(language: Language, bytes: &[u8]) -> serde_json::Result<Self> {
        Ok(match language {
            Language::Sockopt => Decoded::Sockopt(serde_json::from_slice(bytes)?),
            Language::Msg => Decoded::Msg(serde_json::from_slice(bytes)?),
            Language::Client => Decoded::Client(serde_json::from_slice(bytes)?),
            Language::Mixed => Decoded::Mixed(serde_json::from_slice(bytes)?),
        })
    }

    pub fn len(&self) -> usize {
        each!(self, o => o.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether any op reloads the module.
    pub fn reloads(&self) -> bool {
        let reload = |op: &Op| matches!(op, Op::Reload(_));
        match self {
            Decoded::Sockopt(o) => o.iter().any(reload),
            Decoded::Mixed(o) => o
                .iter()
                .any(|s| matches!(s, ksock_ops::mixed::Step::Sockopt(op) if reload(op))),
            _ => false,
        }
    }

    pub fn prefix(&self, n: usize) -> Self {
        match self {
            Decoded::Sockopt(o) => Decoded::Sockopt(o[..n.min(o.len())].to_vec()),
            Decoded::Msg(o) => Decoded::Msg(o[..n.min(o.len())].to_vec()),
            Decoded::Client(o) => Decoded::Client(o[..n.min(o.len())].to_vec()),
            Decoded::Mixed(o) => Decoded::Mixed(o[..n.min(o.len())].to_vec()),
        }
    }

    pub fn without(&self, i: usize) -> Self {
        let mut d = self.clone();
        each!(&mut d, o => drop(o.remove(i)));
        d
    }

    /// This input with op `i` replaced by each of its simpler variants (`Op::simpler`,
    /// `MsgOp::simpler`).
    pub fn simpler_at(&self, i: usize) -> Vec<Self> {
        match self {
            Decoded::Sockopt(o) => replaced(o, i, o[i].simpler(), Decoded::Sockopt),
            Decoded::Msg(o) => replaced(o, i, o[i].simpler(), Decoded::Msg),
            Decoded::Client(o) => replaced(o, i, o[i].simpler(), Decoded::Client),
            Decoded::Mixed(o) => replaced(o, i, o[i].simpler(), Decoded::Mixed),
        }
    }

    pub fn describe(&self, t: &ksock_ops::Target) -> String {
        match self {
            Decoded::Sockopt(o) => ksock_ops::describe(o, t),
            Decoded::Msg(o) => ksock_ops::msg::describe(o),
            Decoded::Client(o) => ksock_ops::client::describe(o),
            Decoded::Mixed(o) => ksock_ops::mixed::describe(o, t),
        }
    }

    pub fn to_json(&self) -> serde_json::Result<Vec<u8>> {
        each!(self, o => serde_json::to_vec_pretty(o))
    }
}

/// A title as a directory name: `set reads past optlen in m` → `set-reads-past-optlen-in-m`.
pub fn slug(title: &str) -> String {
    let s: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    s.split('-')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// `ops` with op `i` replaced by each of `alternatives`, each wrapped by `wrap`.
fn replaced<T: Clone>(
    ops: &[T],
    i: usize,
    alternatives: Vec<T>,
    wrap: fn(Vec<T>) -> Decoded,
) -> Vec<Decoded> {
    alternatives
        .into_iter()
        .map(|op| {
            let mut v = ops.to_vec();
            v[i] = op;
            wrap(v)
        })
        .collect()
}

/// `BUG: KFENCE: out-of-bounds read in foo+0x1c/0x80` → `BUG: KFENCE: out-of-bounds read
/// in foo`: the log line from its report word on, without timestamps or offsets.
pub fn splat_title(line: &str) -> String {
    let words = [
        "BUG:",
        "WARNING:",
        "UBSAN:",
        "KFENCE:",
        "INFO:",
        "general protection",
        "Oops",
    ];
    let start = words.iter().filter_map(|w| line.find(w)).min().unwrap_or(0);
    static NOISE: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"\+0x[0-9a-f]+/0x[0-9a-f]+|\s+\[[^\]]*\]|0x[0-9a-f]{6,}")
            .expect("valid regex")
    });
    NOISE.replace_all(&line[start..], "").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_directory_names() {
        assert_eq!(
            slug("BUG: KFENCE: out-of-bounds read in f"),
            "bug-kfence-out-of-bounds-read-in-f"
        );
    }
}
