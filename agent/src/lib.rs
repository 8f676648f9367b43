//! ksock-agent: what runs *inside* the guest.
//!
//! The host's harness writes a [`proto::Plan`] to a shared directory and boots the guest with
//! `ksock-agent run --plan … --out …`. The agent executes each spec's actions against the
//! real kernel (finit_module, delete_module, /dev/kmsg), and writes [`proto::Results`]
//! after every spec, so a kernel crash mid-plan still leaves the earlier specs' results.
//!
//! Invariant: [`modules::load`] refuses unless [`guard`] finds the ksock guest marker on
//! the kernel command line. Nothing in ksock loads a module any other way.

pub mod cli;
pub mod fuzz;
pub mod guard;
pub mod guarded;
pub mod kmsg;
pub mod modules;
pub mod net;
pub mod peers;
pub mod run;
pub mod sockets;

/// The protocol with the host lives in its own crate, which the harness uses without the
/// agent's guest code.
pub use ksock_proto as proto;
