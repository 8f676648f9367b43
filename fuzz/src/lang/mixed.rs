//! Sockopt calls and TCP traffic interleaved in one sequence, against two modules loaded
//! together (a sockopt module and a server): what one module's control interface does
//! while the other serves connections, and the other way round.

use std::fmt;

use arbitrary::{Arbitrary, Unstructured};
use serde::{Deserialize, Serialize};

use super::msg::MsgOp;
use super::sockopt::{Op, Target};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Sockopt(Op),
    Msg(MsgOp),
}

impl<'a> Arbitrary<'a> for Step {
    /// Three sockopt calls to one message op: a call costs microseconds, a message op
    /// waits on the network.
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(match u.arbitrary::<u8>()? {
            0..=191 => Step::Sockopt(u.arbitrary()?),
            _ => Step::Msg(u.arbitrary()?),
        })
    }
}

impl Step {
    /// Strictly simpler variants (see [`Op::simpler`] and [`MsgOp::simpler`]).
    pub fn simpler(&self) -> Vec<Step> {
        match self {
            Step::Sockopt(o) => o.simpler().into_iter().map(Step::Sockopt).collect(),
            Step::Msg(o) => o.simpler().into_iter().map(Step::Msg).collect(),
        }
    }
}

/// The sequence `bytes` decode to, at most `max_ops` long (as [`super::sockopt::decode`]).
pub fn decode(bytes: &[u8], max_ops: usize) -> Vec<Step> {
    let mut u = Unstructured::new(bytes);
    let n = u.int_in_range(1..=max_ops.max(1)).unwrap_or(1);
    (0..n).map_while(|_| Step::arbitrary(&mut u).ok()).collect()
}

/// One step per line, numbered, each named by the module it goes to.
pub fn describe(steps: &[Step], t: &Target) -> String {
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| match s {
            Step::Sockopt(o) => {
                let line = super::sockopt::describe(std::slice::from_ref(o), t);
                format!("  {}. sockopt: {}", i + 1, line.trim_start_matches("  1. "))
            }
            Step::Msg(o) => format!("  {}. server: {o}", i + 1),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The steps as one language when they are all of one kind (a shrunk finding usually is).
pub fn split(steps: &[Step]) -> Split {
    let sockopt: Vec<Op> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Sockopt(o) => Some(o.clone()),
            Step::Msg(_) => None,
        })
        .collect();
    let msg: Vec<MsgOp> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Msg(o) => Some(o.clone()),
            Step::Sockopt(_) => None,
        })
        .collect();
    match (sockopt.is_empty(), msg.is_empty()) {
        (false, true) => Split::Sockopt(sockopt),
        (true, false) => Split::Msg(msg),
        _ => Split::Both,
    }
}

/// What [`split`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Split {
    Sockopt(Vec<Op>),
    Msg(Vec<MsgOp>),
    Both,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Sockopt(o) => write!(f, "sockopt: {o}"),
            Step::Msg(o) => write!(f, "server: {o}"),
        }
    }
}

impl super::Ops for Step {
    fn decode(bytes: &[u8], max_ops: usize) -> Vec<Self> {
        decode(bytes, max_ops)
    }

    fn simpler(&self) -> Vec<Self> {
        Step::simpler(self)
    }

    fn describe(ops: &[Self], t: &Target) -> String {
        describe(ops, t)
    }

    fn reloads(&self) -> bool {
        matches!(self, Step::Sockopt(Op::Reload(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_interleave_both_languages() {
        let mut both = 0;
        for seed in 0..200u64 {
            let bytes: Vec<u8> = (0..512u64)
                .map(|i| (seed.wrapping_mul(0x9e37_79b9) ^ i.wrapping_mul(31)) as u8)
                .collect();
            let steps = decode(&bytes, 32);
            let kinds = (
                steps.iter().any(|s| matches!(s, Step::Sockopt(_))),
                steps.iter().any(|s| matches!(s, Step::Msg(_))),
            );
            if kinds == (true, true) {
                both += 1;
                assert_eq!(split(&steps), Split::Both);
                let text = describe(&steps, &Target::KSOCK_SOCKOPT);
                assert!(
                    text.contains("sockopt: ") && text.contains("server: "),
                    "{text}"
                );
            }
        }
        assert!(both > 50, "only {both} of 200 sequences mix the two");
    }

    #[test]
    fn a_sequence_of_one_kind_splits_to_that_language() {
        let steps = vec![
            Step::Msg(MsgOp::Connect),
            Step::Msg(MsgOp::Recv { conn: 0 }),
        ];
        assert_eq!(
            split(&steps),
            Split::Msg(vec![MsgOp::Connect, MsgOp::Recv { conn: 0 }])
        );
    }
}
