//! The compat detector: which form of each drifting kernel API the *target* tree has, read
//! from that tree's own headers and kernel-crate sources at module build time. The APIs are
//! the rows of [`crate::kernel::drift::CHANGES`] (one table, also used to explain failed
//! builds); each row's detector reads one file of the tree. The result reaches every module
//! without a line of its Kbuild: `KCFLAGS` (`-D<CFG>=1` for each fact, `-DKSOCK_COMPAT_FACTS=1`,
//! and `-I` to ksock's `ksock_compat.h`) and `KRUSTFLAGS` (`--cfg=<cfg>`), which kbuild adds
//! to every object it compiles; also as `KSOCK_CFLAGS`/`KSOCK_RUSTFLAGS`, for Kbuilds that
//! name them.

use std::path::{Path, PathBuf};

use crate::host::cache::Cache;
use crate::host::hash::fnv1a;
use crate::kernel::drift::{Change, CHANGES};
use crate::Error;

/// One detected fact about the target kernel: a row of the drift table whose new form the
/// tree has.
pub type Fact = &'static Change;

/// `ksock_compat.h`, the C helpers that build on every kernel of the catalog (its source is
/// `kmods/c/lib/ksock_compat.h`), compiled into ksock so outside modules can include it.
pub const HEADER: &str = include_str!("../../../kmods/c/lib/ksock_compat.h");

/// Where the directory holding [`HEADER`] is bound inside the build root.
pub const INCLUDE_IN_ROOT: &str = "/ksock/include";

/// Defined (to 1) in every C build ksock makes: `ksock_compat.h` then trusts the detected
/// facts instead of `LINUX_VERSION_CODE`.
pub const FACTS_DEFINE: &str = "KSOCK_COMPAT_FACTS";

/// Reads the facts from a kernel tree (a Debian headers tree or a ksock build tree). A row
/// whose file is absent (no Rust in the tree) gives no fact.
pub fn detect(tree: &Path) -> Vec<Fact> {
    CHANGES
        .iter()
        .filter(|c| {
            let text = std::fs::read_to_string(tree.join(c.detect.file)).unwrap_or_default();
            c.has_new_form(&text) == Some(true)
        })
        .collect()
}

/// Compiler flags and other make arguments, added to what the facts give.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    /// Into `KCFLAGS`.
    pub cflags: Vec<String>,
    /// Into `KRUSTFLAGS`.
    pub rustflags: Vec<String>,
    /// Other `NAME=value` make arguments.
    pub args: Vec<String>,
}

/// The make arguments (`NAME=value`, each one shell word once quoted) for these facts, with
/// `extra`'s flags appended: `KSOCK_RUSTFLAGS`, `KSOCK_CFLAGS`, `KCFLAGS`, `KRUSTFLAGS`,
/// then `extra.args`.
pub fn make_args(facts: &[Fact], extra: &Flags) -> Vec<String> {
    let rust: Vec<String> = facts.iter().map(|f| format!("--cfg={}", f.cfg)).collect();
    let c: Vec<String> = facts
        .iter()
        .map(|f| format!("-D{}=1", f.define()))
        .collect();
    let mut kc = vec![
        format!("-I{INCLUDE_IN_ROOT}"),
        format!("-D{FACTS_DEFINE}=1"),
    ];
    kc.extend(c.iter().cloned());
    kc.extend(extra.cflags.iter().cloned());
    let mut kr = rust.clone();
    kr.extend(extra.rustflags.iter().cloned());
    let mut args = vec![
        format!("KSOCK_RUSTFLAGS={}", rust.join(" ")),
        format!("KSOCK_CFLAGS={}", c.join(" ")),
        format!("KCFLAGS={}", kc.join(" ")),
        format!("KRUSTFLAGS={}", kr.join(" ")),
    ];
    args.extend(extra.args.iter().cloned());
    args
}

/// What a module build's result depends on besides its sources: the facts and the header.
pub fn fingerprint(facts: &[Fact]) -> u64 {
    let args = make_args(facts, &Flags::default()).join("\n");
    fnv1a(format!("{args}\n{HEADER}").as_bytes())
}

/// The directory holding `ksock_compat.h`, written once into the cache under its content's
/// hash.
pub fn header_dir(cache: &Cache) -> Result<PathBuf, Error> {
    let kind = format!("include/{:016x}", fnv1a(HEADER.as_bytes()));
    cache.get_or_build(&kind, "ksock", |out| {
        let p = out.join("ksock_compat.h");
        std::fs::write(&p, HEADER).map_err(|e| Error::io(&p, e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::drift::by_cfg;

    fn fact(cfg: &str) -> Fact {
        by_cfg(cfg).unwrap()
    }

    #[test]
    fn detect_reads_each_row_from_its_file() {
        let tree = tempfile::tempdir().unwrap();
        let inc = tree.path().join("include/linux");
        std::fs::create_dir_all(&inc).unwrap();
        // A 6.1-shaped net.h: the net argument, kern on accept, no kernel_setsockopt,
        // kernel_sendpage still there, no proto_accept_arg, no sockaddr_unsized.
        std::fs::write(
            inc.join("net.h"),
            "int sock_create_kern(struct net *net, int family, int type, int proto, struct socket **res);\n\
             int (*accept) (struct socket *sock,\n\t struct socket *newsock, int flags, bool kern);\n\
             int kernel_sendpage(struct socket *sock, struct page *page, int offset,\n",
        )
        .unwrap();
        let cfgs: Vec<&str> = detect(tree.path()).iter().map(|f| f.cfg).collect();
        assert_eq!(
            cfgs,
            [
                "ksock_sock_create_kern_net",
                "ksock_accept_kern",
                "ksock_no_kernel_setsockopt"
            ]
        );
    }

    #[test]
    fn make_args_carry_every_fact_and_the_extras() {
        let extra = Flags {
            cflags: vec!["-fsanitize-coverage=trace-pc".into()],
            rustflags: vec!["-Dwarnings".into()],
            args: vec!["KBUILD_EXTRA_SYMBOLS=/x".into()],
        };
        let a = make_args(
            &[
                fact("ksock_sock_create_kern_net"),
                fact("ksock_param_value_by_copy"),
            ],
            &extra,
        );
        assert_eq!(
            a,
            [
                "KSOCK_RUSTFLAGS=--cfg=ksock_sock_create_kern_net --cfg=ksock_param_value_by_copy",
                "KSOCK_CFLAGS=-DKSOCK_SOCK_CREATE_KERN_NET=1 -DKSOCK_PARAM_VALUE_BY_COPY=1",
                "KCFLAGS=-I/ksock/include -DKSOCK_COMPAT_FACTS=1 -DKSOCK_SOCK_CREATE_KERN_NET=1 \
                 -DKSOCK_PARAM_VALUE_BY_COPY=1 -fsanitize-coverage=trace-pc",
                "KRUSTFLAGS=--cfg=ksock_sock_create_kern_net --cfg=ksock_param_value_by_copy -Dwarnings",
                "KBUILD_EXTRA_SYMBOLS=/x",
            ]
        );
        assert_ne!(
            fingerprint(&[fact("ksock_sock_create_kern_net")]),
            fingerprint(&[])
        );
    }

    /// Built by hand (no ksock), the header derives each C fact from the kernel version:
    /// the versions it uses are the table's.
    #[test]
    fn the_header_falls_back_to_the_tables_versions() {
        let h = crate::kernel::drift::squash(HEADER);
        for c in CHANGES
            .iter()
            .filter(|c| c.lang == crate::kernel::drift::Lang::C)
        {
            let (a, b) = c.since;
            let want = format!(
                "#if LINUX_VERSION_CODE >= KERNEL_VERSION({a}, {b}, 0) #define {} 1 #endif",
                c.define()
            );
            assert!(h.contains(&want), "ksock_compat.h lacks `{want}`");
        }
    }
}
