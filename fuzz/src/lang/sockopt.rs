//! The sockopt language: setsockopt/getsockopt calls on a module's served optnames.
//!
//! A sequence is a `Vec<Op>` derived from bytes with [`arbitrary`]: from libFuzzer's input,
//! or, for the bounded runs in the normal test suite, from a seed ([`generate`]). Ops are
//! relative to the module under test ([`Target`]): an optname is "the 2nd served one" or
//! "3 below the range", a length is "capacity + 1", so one sequence means the same on every
//! module configuration. [`model`] predicts what a correct message store returns.
//!
//! Nothing here performs I/O.

use std::borrow::Cow;
use std::fmt;

use arbitrary::{Arbitrary, Unstructured};
use serde::{Deserialize, Serialize};

use crate::layout::{Layout, Layouts};
use crate::params::Param;

/// What the ops are relative to: the socket level, the module's served optnames and its
/// buffer capacity. A target describes set and get ranges separately
/// (`sockopt = { set = [128, 130], get = [128, 129] }`); ops range over both together
/// (`optmin` is the lower start, `optmax` the higher end), since a name served in one
/// direction only is a boundary worth calling in the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The `level` argument of every call (`SOL_IP` = 0).
    #[serde(default)]
    pub level: i32,
    /// First optname served.
    pub optmin: i32,
    /// One past the last optname served.
    pub optmax: i32,
    /// The module's message capacity in bytes.
    pub capacity: usize,
    /// The argument layouts of structured optnames (`[[fuzz.layout]]`): a set on one of
    /// them builds its struct from its fill ([`crate::layout`]).
    #[serde(default, skip_serializing_if = "Layouts::is_empty")]
    pub layouts: Layouts,
}

impl Target {
    /// ksock's own sockopt module with its default parameters.
    pub const KSOCK_SOCKOPT: Target = Target {
        level: 0,
        optmin: 128,
        optmax: 129,
        capacity: 64,
        layouts: Layouts::NONE,
    };

    /// The layout of optname `opt`'s argument, if the target gives one.
    #[inline]
    pub fn layout(&self, opt: i32) -> Option<&'static Layout> {
        self.layouts.of(opt)
    }

    /// What an op's lengths on optname `opt` are relative to: with a layout, the struct's
    /// size is the capacity (`Capacity` is exactly the struct, `CapacityMinus1` one short).
    #[inline]
    pub fn for_opt(&self, opt: i32) -> Target {
        match self.layout(opt) {
            Some(l) => Target {
                capacity: l.size(),
                ..*self
            },
            None => *self,
        }
    }

    /// What a set of `fill` on optname `opt` writes: the fill, or with a layout the
    /// struct it builds.
    #[inline]
    pub fn set_value<'a>(&self, opt: i32, fill: &'a [u8]) -> Cow<'a, [u8]> {
        match self.layout(opt) {
            Some(l) => Cow::Owned(crate::layout::encode(l, fill)),
            None => Cow::Borrowed(fill),
        }
    }
}

/// One call against the module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// `setsockopt(SOL_IP, opt, buf, len)`; the buffer holds `fill` repeated to `len` bytes
    /// (in its first 4 KiB; zeros past that, which no module's contract reads).
    Set {
        opt: Opt,
        len: Len,
        fill: Vec<u8>,
        place: Place,
    },
    /// `getsockopt(SOL_IP, opt, buf, &len)`.
    Get { opt: Opt, len: Len, place: Place },
    /// Unloads the module (it must go, and its optnames with it) and loads it again with
    /// these parameters, in or out of their ranges. Later ops are relative to the new range.
    Reload(Reload),
}

impl Op {
    /// Variants of this op that are each simpler in one respect: a lower-ranked length, a
    /// one-byte fill, a plain guarded buffer, the optname nearest its range's edge. Every
    /// candidate is strictly simpler, so shrinking with them ends. Reloads stay as they are.
    pub fn simpler(&self) -> Vec<Op> {
        let mut out = Vec::new();
        let (opt, len, place) = match self {
            Op::Set {
                opt, len, place, ..
            }
            | Op::Get { opt, len, place } => (*opt, *len, *place),
            Op::Reload(_) => return out,
        };
        let with = |opt: Opt, len: Len, place: Place| match self {
            Op::Set { fill, .. } => Op::Set {
                opt,
                len,
                fill: fill.clone(),
                place,
            },
            _ => Op::Get { opt, len, place },
        };
        out.extend(len.simpler().into_iter().map(|l| with(opt, l, place)));
        if let Op::Set { fill, .. } = self {
            if fill.len() > 1 {
                out.push(Op::Set {
                    opt,
                    len,
                    fill: fill[..1].to_vec(),
                    place,
                });
            }
        }
        if place != Place::Guarded {
            out.push(with(opt, len, Place::Guarded));
        }
        out.extend(opt.simpler().map(|o| with(o, len, place)));
        out
    }
}

impl<'a> Arbitrary<'a> for Op {
    /// Written out, not derived, to weight the kinds: a reload costs milliseconds under TCG
    /// where a call costs microseconds, so 1 op in 256 is one (an input of a hundred calls
    /// then holds one in about a third of cases, and the session's reload budget rarely
    /// has to turn inputs away).
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let kind: u8 = u.arbitrary()?;
        Ok(match kind {
            0..=126 => Op::Set {
                opt: u.arbitrary()?,
                len: u.arbitrary()?,
                fill: u.arbitrary()?,
                place: u.arbitrary()?,
            },
            127..=254 => Op::Get {
                opt: u.arbitrary()?,
                len: u.arbitrary()?,
                place: u.arbitrary()?,
            },
            _ => Op::Reload(u.arbitrary()?),
        })
    }
}

/// A reload's parameters: one [`Param`] per parameter the target varies, in order (its
/// table's `vary`, or what its model varies: [`crate::model::Model::reload_params`]);
/// values past the varied ones are unused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary, Serialize, Deserialize)]
pub struct Reload {
    pub params: [Param; Reload::PARAMS],
}

impl Reload {
    /// How many parameters a reload can vary.
    pub const PARAMS: usize = 4;
}

/// An optname, relative to the served range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Opt {
    /// The n-th served optname (modulo the range's width).
    Served(u8),
    /// 1..=8 below the range.
    Below(u8),
    /// 0..=7 past the range's end (`optmax` itself is not served).
    Above(u8),
}

impl Opt {
    /// The same kind of optname, nearest the range's edge (`None`: it is already).
    fn simpler(self) -> Option<Opt> {
        match self {
            Opt::Served(n) if n != 0 => Some(Opt::Served(0)),
            Opt::Below(n) if n != 0 => Some(Opt::Below(0)),
            Opt::Above(n) if n != 0 => Some(Opt::Above(0)),
            _ => None,
        }
    }

    pub fn resolve(self, t: &Target) -> i32 {
        let width = (t.optmax - t.optmin).max(1);
        match self {
            Opt::Served(n) => t.optmin + i32::from(n) % width,
            Opt::Below(n) => t.optmin - 1 - i32::from(n % 8),
            Opt::Above(n) => t.optmax + i32::from(n % 8),
        }
    }
}

/// An option length, at the edges that matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Len {
    Zero,
    /// 1..=8 bytes.
    Small(u8),
    Capacity,
    CapacityMinus1,
    CapacityPlus1,
    /// One page (4096).
    Page,
    /// 1 MiB.
    Huge,
    /// A negative length (for get: the `int *optlen` the kernel reads; for set: the
    /// unsigned optlen wraps to a huge value).
    Negative(u8),
    /// Any length up to 65535.
    Raw(u16),
}

impl Len {
    /// How far from the simplest length (0) this is, for shrinking: a finding is reported
    /// with the simplest lengths that still show it.
    fn rank(self) -> u8 {
        match self {
            Len::Zero => 0,
            Len::Small(_) => 1,
            Len::CapacityMinus1 => 2,
            Len::Capacity => 3,
            Len::CapacityPlus1 => 4,
            Len::Raw(_) => 5,
            Len::Page => 6,
            Len::Huge => 7,
            Len::Negative(_) => 8,
        }
    }

    /// Lengths of a lower rank (each in its simplest form).
    fn simpler(self) -> Vec<Len> {
        [
            Len::Zero,
            Len::Small(0),
            Len::CapacityMinus1,
            Len::Capacity,
            Len::CapacityPlus1,
            Len::Raw(0),
        ]
        .into_iter()
        .filter(|l| l.rank() < self.rank())
        .collect()
    }

    pub fn resolve(self, t: &Target) -> i64 {
        match self {
            Len::Zero => 0,
            Len::Small(n) => 1 + i64::from(n % 8),
            Len::Capacity => t.capacity as i64,
            Len::CapacityMinus1 => t.capacity as i64 - 1,
            Len::CapacityPlus1 => t.capacity as i64 + 1,
            Len::Page => 4096,
            Len::Huge => 1 << 20,
            Len::Negative(n) => -1 - i64::from(n),
            Len::Raw(n) => i64::from(n),
        }
    }
}

/// Where the user buffer lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    /// Exactly `len` bytes, then an inaccessible page: touching byte `len` faults.
    Guarded,
    /// `len` bytes, then 16 canary bytes, then an inaccessible page.
    Canary,
    /// A NULL pointer.
    Null,
    /// An address that is never mapped.
    Unmapped,
    /// `len` readable bytes that cannot be written.
    ReadOnly,
}

impl Place {
    /// Whether the buffer is valid memory of the stated length for this direction.
    pub fn valid_for(self, write: bool) -> bool {
        match self {
            Place::Guarded | Place::Canary => true,
            Place::ReadOnly => !write,
            Place::Null | Place::Unmapped => false,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Set {
                opt,
                len,
                fill,
                place,
            } => write!(
                f,
                "set opt={opt:?} len={len:?} fill={:?} buffer={place:?}",
                String::from_utf8_lossy(fill)
            ),
            Op::Get { opt, len, place } => {
                write!(f, "get opt={opt:?} len={len:?} buffer={place:?}")
            }
            Op::Reload(r) => write!(f, "reload params={:?}", r.params),
        }
    }
}

/// Renders a sequence one op per line, numbered, with optnames and lengths resolved.
pub fn describe(ops: &[Op], t: &Target) -> String {
    ops.iter()
        .enumerate()
        .map(|(i, op)| match op {
            Op::Set {
                opt,
                len,
                fill,
                place,
            } if t.layout(opt.resolve(t)).is_some() => {
                let o = opt.resolve(t);
                let l = t.layout(o).expect("matched");
                format!(
                    "  {}. set opt={opt:?} len={len:?} {} buffer={place:?}  (optname {o}, {} \
                     bytes)",
                    i + 1,
                    l.build(fill).describe(l),
                    len.resolve(&t.for_opt(o))
                )
            }
            Op::Set { opt, len, .. } | Op::Get { opt, len, .. } => format!(
                "  {}. {op}  (optname {}, {} bytes)",
                i + 1,
                opt.resolve(t),
                len.resolve(&t.for_opt(opt.resolve(t)))
            ),
            Op::Reload(_) => format!("  {}. {op}", i + 1),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The sequence libFuzzer's bytes (or generated bytes) decode to, at most `max_ops` long.
pub fn decode(bytes: &[u8], max_ops: usize) -> Vec<Op> {
    // The first byte says how many ops; each op then takes what it needs. Bytes that run
    // out end the sequence early.
    let mut u = Unstructured::new(bytes);
    let n = u.int_in_range(1..=max_ops.max(1)).unwrap_or(1);
    (0..n).map_while(|_| Op::arbitrary(&mut u).ok()).collect()
}

/// Sequence `index` of the run seeded with `seed`: the same ops on every machine, forever
/// (for a given version of this crate and of `arbitrary`).
pub fn generate(seed: u64, index: u64, max_ops: usize) -> Vec<Op> {
    let mut state = seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let bytes: Vec<u8> = (0..max_ops * 24)
        .flat_map(|_| splitmix64(&mut state).to_le_bytes())
        .collect();
    decode(&bytes, max_ops)
}

/// SplitMix64, written out here rather than taken from a crate: CI seeds must decode to the
/// same bytes forever, and no dependency update may change this stream.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl super::Ops for Op {
    fn decode(bytes: &[u8], max_ops: usize) -> Vec<Self> {
        decode(bytes, max_ops)
    }

    fn simpler(&self) -> Vec<Self> {
        Op::simpler(self)
    }

    fn describe(ops: &[Self], t: &Target) -> String {
        describe(ops, t)
    }

    fn reloads(&self) -> bool {
        matches!(self, Op::Reload(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simpler_ops_are_strictly_simpler_so_shrinking_ends() {
        let op = Op::Set {
            opt: Opt::Served(3),
            len: Len::Page,
            fill: b"abc".to_vec(),
            place: Place::Canary,
        };
        let s = op.simpler();
        // Lengths below a page, a one-byte fill, a guarded buffer, the first optname.
        assert_eq!(s.len(), 6 + 1 + 1 + 1, "{s:?}");
        assert!(s.contains(&Op::Set {
            opt: Opt::Served(3),
            len: Len::Zero,
            fill: b"abc".to_vec(),
            place: Place::Canary,
        }));
        // Following candidates always reaches an op with none left.
        let mut cur = op;
        let mut steps = 0;
        while let Some(next) = cur.simpler().into_iter().next() {
            cur = next;
            steps += 1;
            assert!(steps < 20, "shrinking must end");
        }
        assert_eq!(
            cur,
            Op::Set {
                opt: Opt::Served(0),
                len: Len::Zero,
                fill: b"a".to_vec(),
                place: Place::Guarded,
            }
        );
        let get = Op::Get {
            opt: Opt::Below(0),
            len: Len::Zero,
            place: Place::Guarded,
        };
        assert!(get.simpler().is_empty());
    }

    #[test]
    fn a_seed_always_gives_the_same_sequences() {
        let a = generate(7, 3, 16);
        assert_eq!(a, generate(7, 3, 16));
        assert_ne!(a, generate(7, 4, 16));
        assert!(!a.is_empty() && a.len() <= 16);
        // The first value of the stream is frozen: changing it would change every CI seed.
        let mut s = 0;
        assert_eq!(splitmix64(&mut s), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn many_seeds_reach_every_kind_of_op_length_and_place() {
        let ops: Vec<Op> = (0..200).flat_map(|i| generate(1, i, 16)).collect();
        let t = Target::KSOCK_SOCKOPT;
        let lens: std::collections::HashSet<i64> = ops
            .iter()
            .filter_map(|op| match op {
                Op::Set { len, .. } | Op::Get { len, .. } => Some(len.resolve(&t)),
                Op::Reload(_) => None,
            })
            .collect();
        for want in [0, 64, 63, 65, 4096, 1 << 20] {
            assert!(lens.contains(&want), "length {want} never generated");
        }
        assert!(lens.iter().any(|l| *l < 0), "no negative length");
        assert!(ops.iter().any(|o| matches!(o, Op::Set { .. })));
        assert!(ops.iter().any(|o| matches!(o, Op::Get { .. })));
        let store = crate::model::Model::MessageStore;
        let reloads: Vec<&Reload> = ops
            .iter()
            .filter_map(|o| match o {
                Op::Reload(r) => Some(r),
                _ => None,
            })
            .collect();
        assert!(
            reloads.iter().any(|r| store.reload_valid(r, 0))
                && reloads.iter().any(|r| !store.reload_valid(r, 0)),
            "reloads in and out of range: {reloads:?}"
        );
        assert!(
            reloads.len() * 20 < ops.len(),
            "reloads are rare: {}",
            reloads.len()
        );
        for p in [
            Place::Guarded,
            Place::Canary,
            Place::Null,
            Place::Unmapped,
            Place::ReadOnly,
        ] {
            assert!(
                ops.iter().any(
                    |o| matches!(o, Op::Set { place, .. } | Op::Get { place, .. } if *place == p)
                ),
                "{p:?} never generated"
            );
        }
    }

    #[test]
    fn optnames_resolve_inside_and_around_the_range() {
        let t = Target {
            level: 0,
            optmin: 200,
            optmax: 203,
            capacity: 64,
            layouts: Layouts::NONE,
        };
        assert_eq!(Opt::Served(4).resolve(&t), 201);
        assert_eq!(Opt::Below(0).resolve(&t), 199);
        assert_eq!(Opt::Below(9).resolve(&t), 198);
        assert_eq!(Opt::Above(0).resolve(&t), 203);
    }
}
