//! Module parameters an input may vary (a reload, a client's load): which ones and their
//! ranges come from the target — its table's `vary = { name = [first, last] }`, or its
//! named model — and an op holds one [`Param`] per varied parameter, relative to its range,
//! so one input means the same whatever the range.

use arbitrary::Arbitrary;
use serde::{Deserialize, Serialize};

/// A parameter value relative to its range: the target's own value, one in range (its
/// edges first), or one just below or above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Param {
    Default,
    In(u8),
    Below(u8),
    Above(u8),
}

/// A parameter a target's inputs vary, and the values the module accepts (inclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vary {
    pub name: String,
    pub first: i64,
    pub last: i64,
}

impl Vary {
    /// The value `p` stands for; `None` for [`Param::Default`] (the target's own value).
    pub fn value(&self, p: Param) -> Option<i64> {
        let width = (self.last - self.first).max(0) + 1;
        Some(match p {
            Param::Default => return None,
            Param::In(n) => match n % 4 {
                0 => self.first,
                1 => self.last,
                // Spread over the range, deterministically.
                _ => self.first + (i64::from(n) * 2_654_435_761) % width,
            },
            Param::Below(n) => self.first - 1 - i64::from(n % 8),
            Param::Above(n) => self.last + 1 + i64::from(n % 8),
        })
    }

    /// Whether `value` is in the range (what a correct module accepts).
    pub fn accepts(&self, value: i64) -> bool {
        (self.first..=self.last).contains(&value)
    }
}

/// `base` (`name=value` words) with each varied parameter set as `params` says, in `vary`'s
/// order; [`Param::Default`] keeps `base`'s word (or leaves the parameter out).
pub fn apply(base: &str, vary: &[Vary], params: &[Param]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = base
        .split_whitespace()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (w.to_string(), String::new()),
        })
        .collect();
    for (v, p) in vary.iter().zip(params) {
        let Some(value) = v.value(*p) else { continue };
        match out.iter_mut().find(|(k, _)| *k == v.name) {
            Some(slot) => slot.1 = value.to_string(),
            None => out.push((v.name.clone(), value.to_string())),
        }
    }
    out
}

/// [`apply`] as a module parameter string.
pub fn apply_str(base: &str, vary: &[Vary], params: &[Param]) -> String {
    join(&apply(base, vary, params))
}

/// `(name, value)` pairs as a module parameter string (`name=value …`).
pub fn join(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.clone()
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port() -> Vary {
        Vary {
            name: "port".into(),
            first: 1,
            last: 65535,
        }
    }

    #[test]
    fn values_are_edges_spread_and_just_outside() {
        let v = port();
        assert_eq!(v.value(Param::Default), None);
        assert_eq!(v.value(Param::In(0)), Some(1));
        assert_eq!(v.value(Param::In(1)), Some(65535));
        assert!((1..=65535).contains(&v.value(Param::In(7)).unwrap()));
        assert_eq!(v.value(Param::Below(0)), Some(0));
        assert_eq!(v.value(Param::Above(0)), Some(65536));
        assert!(!v.accepts(0) && v.accepts(1) && v.accepts(65535) && !v.accepts(65536));
    }

    #[test]
    fn varied_values_replace_the_targets_own_and_defaults_keep_them() {
        let vary = [
            port(),
            Vary {
                name: "count".into(),
                first: 0,
                last: 9,
            },
        ];
        let s = apply_str("port=8888 echo=1", &vary, &[Param::Below(0), Param::In(1)]);
        assert_eq!(s, "port=0 echo=1 count=9");
        let kept = apply_str("port=8888 echo=1", &vary, &[Param::Default, Param::Default]);
        assert_eq!(kept, "port=8888 echo=1");
    }
}
