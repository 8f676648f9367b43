//! Asking the trixie root (rustc 1.85.1, gcc-14) to build for Debian's 7.2 (rustc 1.97.1,
//! gcc-16) must be refused before anything is built or booted, naming both versions.
//! Real: the kernel's config and the root come from the Debian archive (cached by
//! `cargo xtask test`, which prepares the catalog kernels before running tests).

use ksock_vm::kernel::{prepare, PrepareOptions};

#[test]
fn trixie_root_is_refused_for_72() {
    let cache = ksock_vm::Cache::from_env().unwrap();
    let err = prepare(
        &cache,
        "7.2",
        &PrepareOptions {
            root: Some("trixie".into()),
            ..Default::default()
        },
    )
    .expect_err("a trixie root must not build for 7.2");
    let msg = err.to_string();
    assert!(
        matches!(err, ksock_vm::Error::ToolchainMismatch { .. }),
        "wrong error: {msg}"
    );
    assert!(msg.contains("7.2.") && msg.contains("trixie"), "{msg}");
    assert!(
        msg.contains("rustc 1.97") && msg.contains("rustc 1.85"),
        "{msg}"
    );
    // The kernel's gcc-16 is not in trixie; the message says which gcc the root has.
    assert!(
        msg.contains("gcc-16") && msg.contains("its gcc is gcc (Debian 14."),
        "{msg}"
    );
}

#[test]
fn matching_root_is_accepted() {
    let cache = ksock_vm::Cache::from_env().unwrap();
    let k = prepare(&cache, "7.3", &PrepareOptions::default()).unwrap();
    assert!(k.release.starts_with("7.3."));
    assert!(k
        .tree
        .as_ref()
        .is_some_and(|t| t.join("rust/libkernel.rmeta").is_file()));
}
