//! The one shrinker, for the bounded spec step and the libFuzzer session alike: drop ops
//! one at a time while the finding still fires, then make each remaining op as simple as
//! it can be ([`Ops::simpler`](crate::lang::Ops::simpler): lengths, fills, buffers,
//! optnames). Whether a trial "still fires" is the executor's to say.

use crate::lang::Decoded;

/// Shrinks `ops`, which ended in `found`. `fires(trial)` runs a trial and returns the
/// index of the op it fired after and what it saw, when it is the same finding; a trial
/// is then cut after that op. Returns the smallest input and its finding (so a report
/// describes the sequence it shows).
pub fn shrink<V, E>(
    ops: Decoded,
    found: V,
    mut fires: impl FnMut(&Decoded) -> Result<Option<(usize, V)>, E>,
) -> Result<(Decoded, V), E> {
    let (mut cur, mut found) = (ops, found);
    let mut i = 0;
    while i < cur.len() && cur.len() > 1 {
        let trial = cur.without(i);
        match fires(&trial)? {
            Some((at, v)) => (cur, found) = (trial.prefix(at + 1), v),
            None => i += 1,
        }
    }
    // A simpler op may end the input earlier (the prefix up to the finding is kept).
    let mut i = 0;
    'ops: while i < cur.len() {
        for trial in cur.simpler_at(i) {
            if let Some((at, v)) = fires(&trial)? {
                (cur, found) = (trial.prefix(at + 1), v);
                continue 'ops;
            }
        }
        i += 1;
    }
    Ok((cur, found))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::sockopt::{Len, Op, Opt, Place};

    fn set(len: Len) -> Op {
        Op::Set {
            opt: Opt::Served(0),
            len,
            fill: b"abc".to_vec(),
            place: Place::Guarded,
        }
    }

    /// A finding that fires on any set longer than 8 bytes: the shrinker keeps one such
    /// set, made as simple as still fires (capacity - 1 = 63 bytes, no longer a page).
    #[test]
    fn keeps_only_the_op_that_fires_and_stays_a_finding() {
        let t = crate::lang::sockopt::Target::KSOCK_SOCKOPT;
        let long = |op: &Op| matches!(op, Op::Set { len, .. } if len.resolve(&t) > 8);
        let input = Decoded::Sockopt(vec![
            set(Len::Small(0)),
            set(Len::Page),
            set(Len::Small(1)),
            set(Len::Capacity),
        ]);
        let mut runs = 0;
        let (small, at) = shrink(input, 1usize, |d| {
            runs += 1;
            let Decoded::Sockopt(ops) = d else {
                unreachable!()
            };
            Ok::<_, ()>(ops.iter().position(long).map(|i| (i, i)))
        })
        .unwrap();
        let Decoded::Sockopt(ops) = &small else {
            unreachable!()
        };
        assert_eq!(ops.len(), 1, "{ops:?}");
        assert!(long(&ops[0]), "still a finding: {ops:?}");
        assert!(
            matches!(
                &ops[0],
                Op::Set {
                    len: Len::CapacityMinus1,
                    ..
                }
            ),
            "{ops:?}"
        );
        assert_eq!(at, 0);
        assert!(runs > 3, "every drop was tried: {runs}");
    }

    #[test]
    fn an_input_that_never_fires_again_is_kept_whole() {
        let input = Decoded::Sockopt(vec![set(Len::Small(0)), set(Len::Small(1))]);
        let (small, v) = shrink(input.clone(), "first", |_| Ok::<_, ()>(None)).unwrap();
        assert_eq!((small, v), (input, "first"));
    }
}
