//! The op languages, and their registry.
//!
//! A language is one file here (its op type, derived from bytes with `arbitrary`, relative
//! to the module's interfaces) that implements [`Ops`], plus one line in [`registry!`]'s
//! call below. That line gives it a [`Language`] name (what a `[[fuzz]]` table's interfaces
//! choose, what `finding.json` records) and a [`Decoded`] variant (an input decoded in it),
//! with every operation the fuzzer, the shrinker and `repro` need.

pub mod client;
pub mod mixed;
pub mod msg;
pub mod sockopt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use sockopt::Target;

/// What the fuzzer needs of a language's op type.
pub trait Ops: Clone + Serialize + DeserializeOwned {
    /// The sequence `bytes` decode to, at most `max_ops` long.
    fn decode(bytes: &[u8], max_ops: usize) -> Vec<Self>;
    /// Strictly simpler variants of this op (the shrinker tries each).
    fn simpler(&self) -> Vec<Self>;
    /// The sequence as a reader sees it, one op per line (`t`: what sockopt ops resolve to).
    fn describe(ops: &[Self], t: &Target) -> String;
    /// Whether this op reloads the module under test.
    fn reloads(&self) -> bool {
        false
    }
}

/// Declares the languages: `Name => module::OpType` per line, in the order their
/// [`Language`] values are numbered.
macro_rules! registry {
    ($($(#[$attr:meta])* $name:ident => $module:ident::$op:ident,)*) => {
        /// The op languages a fuzz target's interfaces decode inputs into.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Language {
            $($(#[$attr])* $name,)*
        }

        /// An input's ops, in the language of its target: the one decoded form of an
        /// input, for the guest's executor and shrinker and the host's reports and `repro`.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Decoded {
            $($name(Vec<$module::$op>),)*
        }

        impl Decoded {
            /// `bytes` decoded in `language`, at most `max_ops` long.
            pub fn decode(language: Language, bytes: &[u8], max_ops: usize) -> Self {
                match language {
                    $(Language::$name => Decoded::$name(<$module::$op>::decode(bytes, max_ops)),)*
                }
            }

            /// A saved sequence (`sequence.json`) in `language`.
            pub fn from_json(language: Language, bytes: &[u8]) -> serde_json::Result<Self> {
                Ok(match language {
                    $(Language::$name => Decoded::$name(serde_json::from_slice(bytes)?),)*
                })
            }

            pub fn language(&self) -> Language {
                match self {
                    $(Decoded::$name(_) => Language::$name,)*
                }
            }

            pub fn len(&self) -> usize {
                match self {
                    $(Decoded::$name(o) => o.len(),)*
                }
            }

            /// Whether any op reloads the module.
            pub fn reloads(&self) -> bool {
                match self {
                    $(Decoded::$name(o) => o.iter().any(Ops::reloads),)*
                }
            }

            /// The first `n` ops.
            pub fn prefix(&self, n: usize) -> Self {
                match self {
                    $(Decoded::$name(o) => Decoded::$name(o[..n.min(o.len())].to_vec()),)*
                }
            }

            /// Without op `i`.
            pub fn without(&self, i: usize) -> Self {
                let mut d = self.clone();
                match &mut d {
                    $(Decoded::$name(o) => drop(o.remove(i)),)*
                }
                d
            }

            /// This input with op `i` replaced by each of its simpler variants.
            pub fn simpler_at(&self, i: usize) -> Vec<Self> {
                match self {
                    $(Decoded::$name(o) => replaced(o, i, Decoded::$name),)*
                }
            }

            pub fn describe(&self, t: &Target) -> String {
                match self {
                    $(Decoded::$name(o) => <$module::$op>::describe(o, t),)*
                }
            }

            pub fn to_json(&self) -> serde_json::Result<Vec<u8>> {
                match self {
                    $(Decoded::$name(o) => serde_json::to_vec_pretty(o),)*
                }
            }
        }
    };
}

registry! {
    /// setsockopt/getsockopt calls ([`sockopt::Op`]).
    #[default]
    Sockopt => sockopt::Op,
    /// TCP connections and messages to a server module ([`msg::MsgOp`]).
    Msg => msg::MsgOp,
    /// Loads of a module that connects out, the fuzzer its peer ([`client::ClientOp`]).
    Client => client::ClientOp,
    /// Sockopt calls and messages interleaved ([`mixed::Step`]).
    Mixed => mixed::Step,
}

impl Decoded {
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `ops` with op `i` replaced by each of its simpler variants, each wrapped by `wrap`.
fn replaced<T: Ops>(ops: &[T], i: usize, wrap: fn(Vec<T>) -> Decoded) -> Vec<Decoded> {
    ops[i]
        .simpler()
        .into_iter()
        .map(|op| {
            let mut v = ops.to_vec();
            v[i] = op;
            wrap(v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_decodes_roundtrips_and_shrinks() {
        let bytes: Vec<u8> = (0..512u32).map(|i| (i * 37 % 251) as u8).collect();
        for lang in [
            Language::Sockopt,
            Language::Msg,
            Language::Client,
            Language::Mixed,
        ] {
            let d = Decoded::decode(lang, &bytes, 8);
            assert_eq!(d.language(), lang);
            assert!(!d.is_empty() && d.len() <= 8, "{lang:?}: {}", d.len());
            let back = Decoded::from_json(lang, &d.to_json().unwrap()).unwrap();
            assert_eq!(back, d, "{lang:?} survives sequence.json");
            assert_eq!(d.without(0).len(), d.len() - 1);
            assert_eq!(d.prefix(1).len(), 1);
        }
    }
}
