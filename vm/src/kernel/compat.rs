//! The compat detector: which form of each drifting kernel API the *target* tree has, read
//! from that tree's own headers and kernel-crate sources at module build time (not from a
//! version table). The result reaches the modules as kbuild variables:
//! `KSOCK_RUSTFLAGS` (`--cfg …` for Rust) and `KSOCK_CFLAGS` (`-D…` for C), which each
//! module's Kbuild adds to `rustflags-y` / `ccflags-y`.

use std::path::Path;

/// One detected fact about the target kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fact {
    /// `sock_create_kern(struct net *net, …)` (since 4.2) rather than `sock_create_kern(int family, …)`.
    SockCreateKernNet,
    /// `kernel_bind`/`kernel_connect` take `struct sockaddr_unsized *` (7.x) rather than `struct sockaddr *`.
    SockaddrUnsized,
    /// Rust `ModuleParam::value()` returns `T` by copy (7.3) rather than `&T` (7.2).
    ParamValueByCopy,
    /// The kernel crate formats log arguments through its own `kernel::fmt::Display`.
    KernelFmtDisplay,
}

impl Fact {
    /// The cfg / define name the modules test.
    pub fn name(self) -> &'static str {
        match self {
            Fact::SockCreateKernNet => "ksock_sock_create_kern_net",
            Fact::SockaddrUnsized => "ksock_sockaddr_unsized",
            Fact::ParamValueByCopy => "ksock_param_value_by_copy",
            Fact::KernelFmtDisplay => "ksock_kernel_fmt_display",
        }
    }
}

/// Header text with every run of white space folded to one space, so declarations match
/// however they are wrapped.
fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `include/linux/net.h`: does `sock_create_kern` take a `struct net *` first?
pub fn sock_create_kern_has_net(net_h: &str) -> bool {
    squash(net_h).contains("sock_create_kern(struct net *")
}

/// `include/linux/net.h`: does `kernel_bind` take `struct sockaddr_unsized *`?
pub fn kernel_bind_takes_unsized(net_h: &str) -> bool {
    squash(net_h).contains("kernel_bind(struct socket *sock, struct sockaddr_unsized *")
}

/// `rust/kernel/module_param.rs`: does `value()` return `T` (not `&T`)?
pub fn param_value_by_copy(module_param_rs: &str) -> bool {
    squash(module_param_rs).contains("pub fn value(&self) -> T ")
}

/// `rust/kernel/fmt.rs`: does the kernel crate define its own `Display` trait?
pub fn kernel_has_fmt_display(fmt_rs: &str) -> bool {
    fmt_rs.contains("pub trait Display")
}

/// Reads the facts from a kernel tree (a Debian headers tree or a ksock build tree).
/// Files that are absent (no Rust in the tree) simply give no Rust facts.
pub fn detect(tree: &Path) -> Vec<Fact> {
    let read = |rel: &str| std::fs::read_to_string(tree.join(rel)).unwrap_or_default();
    let net_h = read("include/linux/net.h");
    let param = read("rust/kernel/module_param.rs");
    let fmt = read("rust/kernel/fmt.rs");
    let mut facts = Vec::new();
    if sock_create_kern_has_net(&net_h) {
        facts.push(Fact::SockCreateKernNet);
    }
    if kernel_bind_takes_unsized(&net_h) {
        facts.push(Fact::SockaddrUnsized);
    }
    if param_value_by_copy(&param) {
        facts.push(Fact::ParamValueByCopy);
    }
    if kernel_has_fmt_display(&fmt) {
        facts.push(Fact::KernelFmtDisplay);
    }
    facts
}

/// `KSOCK_RUSTFLAGS=… KSOCK_CFLAGS=…` make arguments for these facts.
pub fn make_args(facts: &[Fact]) -> Vec<String> {
    let rust: Vec<String> = facts
        .iter()
        .map(|f| format!("--cfg={}", f.name()))
        .collect();
    let c: Vec<String> = facts
        .iter()
        .map(|f| format!("-D{}=1", f.name().to_ascii_uppercase()))
        .collect();
    vec![
        format!("KSOCK_RUSTFLAGS={}", rust.join(" ")),
        format!("KSOCK_CFLAGS={}", c.join(" ")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sock_create_kern_both_forms() {
        // 4.2 and later.
        assert!(sock_create_kern_has_net(
            "int sock_create_kern(struct net *net, int family, int type, int proto, struct socket **res);"
        ));
        // Before 4.2 (the form the seed article's listener was written for).
        assert!(!sock_create_kern_has_net(
            "int sock_create_kern(int family, int type, int proto,\n\t\t     struct socket **res);"
        ));
    }

    #[test]
    fn kernel_bind_both_forms() {
        assert!(kernel_bind_takes_unsized(
            "int kernel_bind(struct socket *sock, struct sockaddr_unsized *addr, int addrlen);"
        ));
        assert!(!kernel_bind_takes_unsized(
            "int kernel_bind(struct socket *sock, struct sockaddr *addr, int addrlen);"
        ));
    }

    #[test]
    fn module_param_value_both_forms() {
        let v72 = "    pub fn value(&self) -> &T {\n        self.value.as_ref().unwrap_or(&self.default)\n    }";
        let v73 = "    pub fn value(&self) -> T\n    where\n        T: Copy,\n    {";
        assert!(!param_value_by_copy(v72));
        assert!(param_value_by_copy(v73));
    }

    #[test]
    fn kernel_fmt_display_both_forms() {
        assert!(kernel_has_fmt_display(
            "/// A copy of core::fmt::Display\npub trait Display {\n    fn fmt(&self, f: &mut Formatter<'_>) -> Result;\n}"
        ));
        // Older kernel crates format with core::fmt directly and have no such trait.
        assert!(!kernel_has_fmt_display(
            "pub use core::fmt::{Arguments, Display};"
        ));
        assert!(!kernel_has_fmt_display(""));
    }

    #[test]
    fn make_args_carry_every_fact() {
        let a = make_args(&[Fact::SockCreateKernNet, Fact::ParamValueByCopy]);
        assert_eq!(
            a[0],
            "KSOCK_RUSTFLAGS=--cfg=ksock_sock_create_kern_net --cfg=ksock_param_value_by_copy"
        );
        assert_eq!(
            a[1],
            "KSOCK_CFLAGS=-DKSOCK_SOCK_CREATE_KERN_NET=1 -DKSOCK_PARAM_VALUE_BY_COPY=1"
        );
    }
}
