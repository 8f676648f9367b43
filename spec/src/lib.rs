//! ksock-spec: what a scenario says, and nothing about how it runs.
//!
//! A spec (`specs/*.yaml`) names the modules to load with which parameters, the ordered
//! steps, and what the kernel log must (and must not) show, optionally per kernel version.
//! [`load_file`] reads one strictly: unknown fields, wrong types, bad regexes, unknown modules
//! and impossible steps are errors with `file:line:col` and a hint. [`to_yaml`] writes one
//! back, as minimal YAML that reads back equal (regression specs are written this way).
//!
//! YAML is read and written only in [`yaml`] (serde_yaml is deprecated upstream; keeping it
//! behind one module makes it replaceable).

mod model;
mod validate;
mod yaml;

pub use model::*;
pub use validate::SpecError;
pub use yaml::{load_file, parse_str, to_yaml};
