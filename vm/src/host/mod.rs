//! Layer 1, the host system: what every layer above stands on, and which knows nothing of
//! Debian, kernels or guests.
//!
//! - [`error`]: the crate's [`Error`](crate::Error).
//! - [`tools`], [`install`]: finding ksock's tools (the `PATH` every child gets) and
//!   installing the missing ones.
//! - [`privilege`]: root or an ordinary user (user namespaces, what to ask an administrator).
//! - [`supervise`], [`scratch`]: children and temporary directories that never outlive ksock.
//! - [`cache`], [`progress`], [`hash`], [`logs`]: the on-disk cache, progress lines, stable
//!   hashes for cache keys, build logs and their tails.
//!
//! `ksock_vm::host::…` also names the tool functions directly (its paths before the layers).

pub mod cache;
pub mod error;
pub mod hash;
pub mod install;
pub mod logs;
pub mod privilege;
pub mod progress;
pub mod scratch;
pub mod supervise;
pub mod tools;

pub use install::{
    ensure_host_tools, ensure_venv_tool, missing_packages, ACTIONLINT, HOST_COMMANDS, KEYRING,
    VIRTME_NG, ZIZMOR,
};
pub use tools::{find_tool, tool_dirs, tool_path, venv_dir, vng_path};
