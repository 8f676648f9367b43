//! ksock-harness: specs in, verdicts out.
//!
//! - [`project`]: where specs, kmods and the agent binary are; module discovery.
//! - [`runner`]: one kernel, many specs, as few boots as possible (a crash costs a reboot and
//!   fails only the spec that was running).
//! - [`judge`]: pure evaluation of a spec against what the guest reported.
//! - [`report`]: the terminal summary, JSON and JUnit.
//! - [`diff`]: differential runs (Rust modules vs their C reference ports).
//! - [`repro`]: fuzz findings → regression specs; a spec run as found on every kernel.
//! - [`coverage`], [`lines`], [`cover_data`], [`cover_page`], [`cover_plot`]: a module's
//!   coverage points, their source lines (its DWARF), and a campaign's page of them.
//! - [`warm`] and [`watch`]: a guest kept running between plans, and the edit → verdict
//!   loop on it.

pub mod campaign;
pub mod cover_data;
pub mod cover_page;
pub mod cover_plot;
pub mod coverage;
pub mod diff;
pub mod fuzz_table;
pub mod judge;
pub mod lines;
pub mod project;
pub mod report;
pub mod repro;
pub mod runner;
pub mod runtime;
pub mod warm;
pub mod watch;
