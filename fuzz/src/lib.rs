//! ksock-fuzz: the fuzzer of kernel modules' socket interfaces, everything but the
//! syscalls. Shared by the host (campaigns, reports, `repro`) and the guest agent, which
//! executes it against the kernel (`agent/src/fuzz/`).
//!
//! A newcomer's map:
//! - [`lang`]: the op languages (one file each) and their registry, which names them
//!   ([`Language`]) and gives the one decoded form of an input ([`Decoded`]);
//! - [`layout`]: argument layouts, structured optnames' arguments as typed fields;
//! - [`model`]: named contracts a target may check beside the generic oracles;
//! - [`config`]: what a fuzz session runs against ([`FuzzConfig`], the bounded spec step's
//!   [`Campaign`]);
//! - [`shrink`]: the one shrinker (drop ops, then simplify each), for both executors;
//! - [`titles`]: every crash title (op oracles, kernel splats, console panics), tested
//!   against console fixtures in `testdata/titles/`;
//! - [`findings`]: what a finding is and the one store that writes them;
//! - [`record`]: the input about to run, on the host before it runs;
//! - [`reach`]: per coverage point, how often it ran and the input that reached it first.
//!
//! Nothing here performs syscalls; the files it writes are the findings store's.

pub mod config;
pub mod findings;
pub mod lang;
pub mod layout;
pub mod model;
pub mod params;
pub mod reach;
pub mod record;
pub mod shrink;
pub mod titles;

pub use config::{AlsoModule, Campaign, FuzzConfig, Reset};
pub use findings::FindingMeta;
pub use lang::{Decoded, Language};
