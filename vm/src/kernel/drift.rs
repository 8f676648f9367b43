//! The table of kernel API changes the catalog spans: the in-kernel socket API (C, and Rust
//! through `kernel::bindings`) and the Rust kernel crate. One row per change says what
//! changed, in which upstream release, what to write instead and what ksock offers; how to
//! see in a kernel's own tree which form it has ([`crate::kernel::compat`] turns that into the
//! cfgs and defines every module build gets); and how a compiler error caused by the old form
//! reads, so a failed build is explained ([`explain`]).
//!
//! Each row is checked against real kernels by `vm/tests/drift_table.rs`: its old forms
//! ([`Change::checks`]) are compiled as one-line modules on a catalog kernel and must fail
//! with this row named, and its detector must agree with its version on every prepared
//! catalog kernel.

/// What a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// The kernel's C API (Rust modules meet it through `kernel::bindings`).
    C,
    /// The Rust kernel crate.
    Rust,
}

/// How a kernel tree shows which form it has: `file`'s text (white space folded) contains
/// `needle` (`present`), or the file exists and does not (`!present`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detect {
    /// Relative to the tree (`include/linux/net.h`).
    pub file: &'static str,
    pub needle: &'static str,
    pub present: bool,
}

/// An old form, as a one-line module the guest-tier test compiles on `kernel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    /// The catalog kernel (`7.2`).
    pub kernel: &'static str,
    pub lang: Lang,
    /// Items at file scope (may be empty).
    pub items: &'static str,
    /// Statements in the module's init.
    pub body: &'static str,
}

/// One API change.
#[derive(Debug, PartialEq, Eq)]
pub struct Change {
    /// The cfg ksock passes where a kernel has the new form (`--cfg=<cfg>` for Rust, and
    /// `-D<CFG>=1`, upper-cased, for C).
    pub cfg: &'static str,
    pub lang: Lang,
    /// What a user's code calls or uses.
    pub item: &'static str,
    /// The first upstream release with the new form.
    pub since: (u32, u32),
    /// What changed.
    pub change: &'static str,
    /// What to write instead.
    pub instead: &'static str,
    /// What ksock offers that builds on every kernel of the catalog: a helper of
    /// `<ksock_compat.h>` (C) or the cfg (Rust).
    pub compat: &'static str,
    pub detect: Detect,
    /// Compiler or modpost diagnostics the old form gives: a diagnostic matches when it
    /// contains every string of one entry (quotes normalised to `'`).
    pub symptoms: &'static [&'static [&'static str]],
    /// The old forms the guest-tier test compiles.
    pub checks: &'static [Check],
}

const NET_H: &str = "include/linux/net.h";

/// Every change, oldest first.
pub static CHANGES: &[Change] = &[
    Change {
        cfg: "ksock_sock_create_kern_net",
        lang: Lang::C,
        item: "sock_create_kern()",
        since: (4, 2),
        change: "gained a first argument, the network namespace (`struct net *`)",
        instead: "sock_create_kern(&init_net, family, type, protocol, &sock) \
                  (init_net from <net/net_namespace.h>); sock_create() would make a user \
                  socket, not a kernel one",
        compat: "ksock_sock_create_kern(family, type, protocol, &sock)",
        detect: Detect {
            file: NET_H,
            needle: "sock_create_kern(struct net *",
            present: true,
        },
        symptoms: &[
            &["'sock_create_kern'", "too few arguments"],
            &["'sock_create_kern'", "makes pointer from integer"],
            &["E0061", "sock_create_kern"],
        ],
        checks: &[Check {
            kernel: "7.2",
            lang: Lang::C,
            items: "",
            body: "sock_create_kern(PF_INET, SOCK_STREAM, IPPROTO_TCP, &sock);",
        }],
    },
    Change {
        cfg: "ksock_accept_kern",
        lang: Lang::C,
        item: "->accept() of struct proto_ops (sock->ops->accept)",
        since: (4, 11),
        change: "gained a last argument, `bool kern` (true for a kernel socket; since 6.10 \
                 a field of `struct proto_accept_arg`)",
        instead: "kernel_accept(sock, &newsock, flags), which makes newsock itself and \
                  builds on every kernel; or sock->ops->accept(sock, newsock, flags, true) \
                  (4.11 to 6.9 only)",
        compat: "ksock_ops_accept(sock, newsock, flags)",
        // The new form is every later one: the three-argument declaration is gone.
        detect: Detect {
            file: NET_H,
            needle: "(*accept) (struct socket *sock, struct socket *newsock, int flags);",
            present: false,
        },
        symptoms: &[&["->accept'", "too few arguments"]],
        checks: &[Check {
            kernel: "6.1",
            lang: Lang::C,
            items: "",
            body: "sock->ops->accept(sock, newsock, O_NONBLOCK);",
        }],
    },
    Change {
        cfg: "ksock_no_kernel_setsockopt",
        lang: Lang::C,
        item: "kernel_setsockopt()/kernel_getsockopt()",
        since: (5, 8),
        change: "were removed",
        instead: "the socket's own setters, with sk = sock->sk: sock_set_reuseaddr(sk), \
                  sock_set_keepalive(sk), sock_set_rcvbuf(sk, n) (<net/sock.h>), \
                  ip_sock_set_tos(sk, tos) (<net/ip.h>), tcp_sock_set_nodelay(sk), \
                  tcp_sock_set_keepidle(sk, secs) (<linux/tcp.h>); any option: \
                  do_sock_setsockopt(sock, false, level, optname, KERNEL_SOCKPTR(&val), \
                  sizeof(val)) where the kernel has it (6.12 and later in the catalog); \
                  reads: the socket's own fields, or do_sock_getsockopt(sock, false, level, \
                  optname, KERNEL_SOCKPTR(&val), KERNEL_SOCKPTR(&len))",
        compat: "ksock_setsockopt(sock, level, optname, &val, sizeof(val))",
        detect: Detect {
            file: NET_H,
            needle: "kernel_setsockopt(",
            present: false,
        },
        symptoms: &[
            &["function 'kernel_setsockopt'"],
            &["function 'kernel_getsockopt'"],
            &["\"kernel_setsockopt\"", "undefined"],
            &["\"kernel_getsockopt\"", "undefined"],
            &["E0425", "kernel_setsockopt"],
            &["E0425", "kernel_getsockopt"],
        ],
        checks: &[
            Check {
                kernel: "7.2",
                lang: Lang::C,
                items: "",
                body: "kernel_setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, (char *)&one, \
                       sizeof(one));",
            },
            Check {
                kernel: "6.1",
                lang: Lang::C,
                items: "",
                body: "kernel_getsockopt(sock, SOL_SOCKET, SO_RCVBUF, (char *)&one, &len);",
            },
        ],
    },
    Change {
        cfg: "ksock_nf_set_sockptr",
        lang: Lang::C,
        item: "the .set handler of struct nf_sockopt_ops (nf_register_sockopt)",
        since: (5, 9),
        change: "takes the option's value as `sockptr_t arg` instead of `void __user *user`",
        instead: "int set(struct sock *sk, int optval, sockptr_t arg, unsigned int len), \
                  reading the value with copy_from_sockptr(&buf, arg, len)",
        compat: "ksock_nf_set_arg_t as the argument's type and \
                 ksock_nf_copy_from(&buf, arg, len) to read it",
        detect: Detect {
            file: "include/linux/netfilter.h",
            needle: "int (*set)(struct sock *sk, int optval, sockptr_t arg",
            present: true,
        },
        symptoms: &[&["sockptr_t", "incompatible"]],
        checks: &[Check {
            kernel: "7.2",
            lang: Lang::C,
            items: "static int old_set(struct sock *sk, int optval, void __user *user, \
                    unsigned int len) { return 0; }\n\
                    static struct nf_sockopt_ops old_ops = { .set = old_set };",
            body: "(void)old_ops;",
        }],
    },
    Change {
        cfg: "ksock_no_kernel_sendpage",
        lang: Lang::C,
        item: "kernel_sendpage()",
        since: (6, 5),
        change: "was removed, with proto_ops ->sendpage",
        instead: "sock_sendmsg() with MSG_SPLICE_PAGES over the page: bvec_set_page(&bv, \
                  page, size, offset); iov_iter_bvec(&msg.msg_iter, ITER_SOURCE, &bv, 1, \
                  size); msg.msg_flags = flags | MSG_SPLICE_PAGES; or kernel_sendmsg() with \
                  a kvec when the data need not stay in the page",
        compat: "ksock_sendpage(sock, page, offset, size, flags)",
        detect: Detect {
            file: NET_H,
            needle: "kernel_sendpage(",
            present: false,
        },
        symptoms: &[
            &["function 'kernel_sendpage'"],
            &["\"kernel_sendpage\"", "undefined"],
            &["E0425", "kernel_sendpage"],
        ],
        checks: &[Check {
            kernel: "7.2",
            lang: Lang::C,
            items: "",
            body: "kernel_sendpage(sock, NULL, 0, 0, 0);",
        }],
    },
    Change {
        cfg: "ksock_accept_arg",
        lang: Lang::C,
        item: "->accept() of struct proto_ops (sock->ops->accept)",
        since: (6, 10),
        change: "takes `struct proto_accept_arg *` instead of `int flags, bool kern` (which \
                 it gained in 4.11; before, it took `int flags` alone)",
        instead: "kernel_accept(sock, &newsock, flags), which makes newsock itself and \
                  builds on every kernel; or struct proto_accept_arg arg = { .flags = flags, \
                  .kern = true }; sock->ops->accept(sock, newsock, &arg)",
        compat: "ksock_ops_accept(sock, newsock, flags)",
        detect: Detect {
            file: NET_H,
            needle: "struct socket *newsock, struct proto_accept_arg *arg)",
            present: true,
        },
        symptoms: &[
            &["->accept'", "too many arguments"],
            &["->accept'", "makes pointer from integer"],
            &["->accept'", "too few arguments"],
        ],
        checks: &[
            Check {
                kernel: "7.2",
                lang: Lang::C,
                items: "",
                body: "sock->ops->accept(sock, newsock, O_NONBLOCK, true);",
            },
            Check {
                kernel: "7.2",
                lang: Lang::C,
                items: "",
                body: "sock->ops->accept(sock, newsock, O_NONBLOCK);",
            },
        ],
    },
    Change {
        cfg: "ksock_sockaddr_unsized",
        lang: Lang::C,
        item: "kernel_bind()/kernel_connect() (and proto_ops ->bind/->connect)",
        since: (6, 19),
        change: "take `struct sockaddr_unsized *` instead of `struct sockaddr *`",
        instead: "cast the address to (struct sockaddr_unsized *) in the call",
        compat: "KSOCK_SA(&addr) in the call (a cast to what the kernel takes)",
        detect: Detect {
            file: NET_H,
            needle: "kernel_bind(struct socket *sock, struct sockaddr_unsized *",
            present: true,
        },
        symptoms: &[&["sockaddr_unsized"]],
        checks: &[Check {
            kernel: "7.2",
            lang: Lang::C,
            items: "",
            body: "kernel_bind(sock, (struct sockaddr *)&addr, sizeof(addr));",
        }],
    },
    Change {
        cfg: "ksock_kernel_fmt_display",
        lang: Lang::Rust,
        item: "`{}` arguments of pr_info!, pr_err!, … (kernel::fmt::Display)",
        since: (6, 19),
        change: "go through the kernel crate's own `kernel::fmt::Display`; a type that \
                 implements only `core::fmt::Display` no longer prints",
        instead: "impl kernel::fmt::Display for YourType (the same fmt method)",
        compat: "#[cfg(ksock_kernel_fmt_display)] on an impl of kernel::fmt::Display and \
                 #[cfg(not(ksock_kernel_fmt_display))] on the core::fmt::Display one",
        detect: Detect {
            file: "rust/kernel/fmt.rs",
            needle: "pub trait Display",
            present: true,
        },
        symptoms: &[&["kernel::fmt::Display"]],
        checks: &[Check {
            kernel: "7.2",
            lang: Lang::Rust,
            items: "struct Shown;\n\
                    impl core::fmt::Display for Shown { fn fmt(&self, f: &mut \
                    core::fmt::Formatter<'_>) -> core::fmt::Result { f.write_str(\"x\") } }",
            body: "pr_info!(\"{}\\n\", Shown);",
        }],
    },
    Change {
        cfg: "ksock_param_value_by_copy",
        lang: Lang::Rust,
        item: "module_parameters::NAME.value() (kernel::module_param)",
        since: (7, 3),
        change: "returns the value itself (`T`) instead of a reference (`&T`)",
        instead: "module_parameters::NAME.value(), without `*`",
        compat: "#[cfg(ksock_param_value_by_copy)] on the 7.3 form and \
                 #[cfg(not(ksock_param_value_by_copy))] on the `*…value()` one",
        detect: Detect {
            file: "rust/kernel/module_param.rs",
            needle: "pub fn value(&self) -> T ",
            present: true,
        },
        symptoms: &[&["E0614", ".value()"]],
        checks: &[Check {
            kernel: "7.3",
            lang: Lang::Rust,
            items: "",
            body: "let _times: u32 = *module_parameters::times.value();",
        }],
    },
];

/// The row whose cfg is `cfg`.
pub fn by_cfg(cfg: &str) -> Option<&'static Change> {
    CHANGES.iter().find(|c| c.cfg == cfg)
}

/// Text with every run of white space folded to one space, so declarations match however
/// they are wrapped.
pub fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Change {
    /// The C define ksock passes for this row (`KSOCK_SOCK_CREATE_KERN_NET`).
    pub fn define(&self) -> String {
        self.cfg.to_ascii_uppercase()
    }

    /// Whether a tree whose `self.detect.file` reads `text` has the new form; `None` when
    /// the file is absent or empty (nothing can be said).
    pub fn has_new_form(&self, text: &str) -> Option<bool> {
        if text.trim().is_empty() {
            return None;
        }
        let needle = squash(self.detect.needle);
        Some(squash(text).contains(&needle) == self.detect.present)
    }

    /// `sock_create_kern(), changed in Linux 4.2: gained a first argument, …`: how an
    /// explanation starts.
    pub fn heading(&self) -> String {
        format!(
            "{}, changed in Linux {}: {}",
            self.item,
            self.since_text(),
            self.change
        )
    }

    /// `4.2`.
    pub fn since_text(&self) -> String {
        format!("{}.{}", self.since.0, self.since.1)
    }

    fn matches(&self, diagnostic: &str) -> bool {
        self.symptoms
            .iter()
            .any(|all| all.iter().all(|s| diagnostic.contains(s)))
    }
}

/// A change a failed build ran into, with the diagnostic that shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explained {
    pub change: &'static Change,
    /// `file.c:12: implicit declaration of function 'kernel_setsockopt'`.
    pub seen: String,
}

/// The changes among `facts` (the rows whose new form the kernel has) that the build log
/// `log` shows the old form of, each once, in the log's order.
pub fn explain(log: &str, facts: &[&'static Change]) -> Vec<Explained> {
    let mut out: Vec<Explained> = Vec::new();
    for d in diagnostics(log) {
        for c in facts {
            if c.matches(&d) && !out.iter().any(|e| std::ptr::eq(e.change, *c)) {
                out.push(Explained {
                    change: c,
                    seen: summary(&d),
                });
            }
        }
    }
    out
}

/// A build log's errors, one line each (`file.c:12: what`), at most `n`.
pub fn errors(log: &str, n: usize) -> Vec<String> {
    diagnostics(log)
        .iter()
        .map(|d| summary(d))
        .filter(|s| !s.starts_with("aborting due to"))
        .take(n)
        .collect()
}

/// The compiler's and modpost's error diagnostics in a build log, each with its notes and
/// source lines, quotes normalised to `'` and `"`.
pub fn diagnostics(log: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in log.lines() {
        let l = normalise_quotes(line);
        if let Some(error) = starts_diagnostic(&l) {
            if let Some(d) = current.take() {
                out.push(d);
            }
            if error {
                current = Some(l);
            }
            continue;
        }
        if let Some(d) = current.as_mut() {
            d.push('\n');
            d.push_str(&l);
        }
    }
    out.extend(current);
    out
}

/// `Some(true)` for a line that starts an error, `Some(false)` for one that starts another
/// diagnostic (a warning, a make line, gcc's "In function" header), `None` for a
/// continuation (notes, source lines, rustc's `-->` and `|` lines).
fn starts_diagnostic(l: &str) -> Option<bool> {
    let t = l.trim_start();
    if t.starts_with("error[") || t.starts_with("error:") || l.contains(": error:") {
        return Some(true);
    }
    if t.starts_with("ERROR: modpost:") {
        return Some(true);
    }
    let other = t.starts_with("warning")
        || l.contains(": warning:")
        || t.starts_with("make")
        || l.ends_with("In function")
        || l.contains(": In function '");
    other.then_some(false)
}

fn normalise_quotes(l: &str) -> String {
    l.replace(['\u{2018}', '\u{2019}'], "'")
        .replace(['\u{201c}', '\u{201d}'], "\"")
}

/// A diagnostic in one line: where (file name and line) and what.
fn summary(d: &str) -> String {
    let first = d.lines().next().unwrap_or("").trim();
    let first = first.strip_prefix("ERROR: ").unwrap_or(first);
    let what = first
        .split_once("error: ")
        .or_else(|| first.split_once("]: "))
        .map_or(first, |(_, w)| w);
    let what = match what.rfind(" [-W") {
        Some(i) => &what[..i],
        None => what,
    };
    match location(d) {
        Some(at) => format!("{at}: {what}"),
        None => what.to_string(),
    }
}

/// Where the module's sources are inside the build root (`vm::builds`).
const MODULE_IN_ROOT: &str = "/ksock/mod/";

/// `file.c:12` from a gcc line or a rustc `-->` line: the first in the module's own files
/// (an error inside a macro is reported where the macro is defined, then noted where it
/// is used), else the first. The module's files are under [`MODULE_IN_ROOT`], or relative
/// (newer kbuilds name them from the module's directory); the kernel's are absolute.
fn location(d: &str) -> Option<String> {
    let places: Vec<(&str, String)> = d
        .lines()
        .filter_map(|l| {
            let t = l.trim_start().trim_start_matches("--> ");
            let (path, rest) = t.split_once(':')?;
            let line: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let known = [".c", ".h", ".rs"].iter().any(|e| path.ends_with(e));
            (known && !line.is_empty() && !path.contains(' ')).then_some((path, line))
        })
        .collect();
    let (path, line) = places
        .iter()
        .find(|(p, _)| p.starts_with(MODULE_IN_ROOT) || !p.starts_with('/'))
        .or(places.first())?;
    let file = path.rsplit('/').next().unwrap_or(path);
    Some(format!("{file}:{line}"))
}

/// The explanations as the user reads them, under the build's error.
pub fn render(explained: &[Explained], release: &str) -> String {
    let mut s = String::new();
    for e in explained {
        let c = e.change;
        s += &format!(
            "{} (this kernel: {release})\n  seen:    {}\n  instead: {}\n",
            c.heading(),
            e.seen,
            c.instead
        );
        s += &match c.lang {
            Lang::C => format!(
                "  or, on every kernel: {} from <ksock_compat.h> (ksock defines {} where the \
                 kernel has the new form)\n",
                c.compat,
                c.define()
            ),
            Lang::Rust => format!("  or, on every kernel: {}\n", c.compat),
        };
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cfg: &str) -> &'static Change {
        by_cfg(cfg).unwrap()
    }

    #[test]
    fn rows_are_unique_ordered_and_complete() {
        for (i, c) in CHANGES.iter().enumerate() {
            assert!(c.cfg.starts_with("ksock_"), "{}", c.cfg);
            assert_eq!(by_cfg(c.cfg).map(|r| r as *const _), Some(c as *const _));
            assert!(!c.symptoms.is_empty() && !c.checks.is_empty(), "{}", c.cfg);
            assert!(
                !c.instead.is_empty() && !c.compat.is_empty() && !c.change.is_empty(),
                "{}",
                c.cfg
            );
            if let Some(prev) = i.checked_sub(1).map(|p| &CHANGES[p]) {
                assert!(prev.since <= c.since, "{} before {}", prev.cfg, c.cfg);
            }
        }
    }

    /// The README's table of changes has one line per row, with its version and name.
    #[test]
    fn the_readme_lists_every_change() {
        let readme = include_str!("../../../README.md");
        let lines: Vec<&str> = readme
            .lines()
            .filter(|l| {
                l.starts_with("| ") && (l.contains(" | `KSOCK_") || l.contains(" | `ksock_"))
            })
            .collect();
        for c in CHANGES {
            let name = match c.lang {
                Lang::C => c.define(),
                Lang::Rust => c.cfg.to_string(),
            };
            let want = format!(" | {} | `{name}` |", c.since_text());
            assert!(
                lines.iter().any(|l| l.contains(&want)),
                "README.md's table of kernel API changes lacks `{want}`"
            );
        }
        assert_eq!(lines.len(), CHANGES.len(), "{lines:#?}");
    }

    #[test]
    fn detectors_read_both_forms() {
        let c = row("ksock_sock_create_kern_net");
        assert_eq!(
            c.has_new_form("int sock_create_kern(struct net *net, int family, int type,\n\t int proto, struct socket **res);"),
            Some(true)
        );
        assert_eq!(
            c.has_new_form("int sock_create_kern(int family, int type, int proto,\n\t\t     struct socket **res);"),
            Some(false)
        );
        // A removal: present before, absent after; an absent file says nothing.
        let s = row("ksock_no_kernel_setsockopt");
        assert_eq!(
            s.has_new_form("int kernel_setsockopt(struct socket *sock, int level"),
            Some(false)
        );
        assert_eq!(
            s.has_new_form("int kernel_accept(struct socket *sock"),
            Some(true)
        );
        assert_eq!(s.has_new_form(""), None);
        let (a, arg) = (row("ksock_accept_kern"), row("ksock_accept_arg"));
        let h410 = "int\t\t(*accept)    (struct socket *sock,\n\t\t\t\t      struct socket *newsock, int flags);";
        let h61 = "int\t\t(*accept)    (struct socket *sock,\n\t\t\t\t      struct socket *newsock, int flags, bool kern);";
        let h72 = "int\t\t(*accept)    (struct socket *sock,\n\t\t\t\t      struct socket *newsock,\n\t\t\t\t      struct proto_accept_arg *arg);";
        assert_eq!(a.has_new_form(h410), Some(false));
        assert_eq!(a.has_new_form(h61), Some(true));
        assert_eq!(
            a.has_new_form(h72),
            Some(true),
            "kern is in the argument since 6.10"
        );
        assert_eq!(arg.has_new_form(h61), Some(false));
        assert_eq!(arg.has_new_form(h72), Some(true));
    }

    const GCC_72: &str = "  CC [M]  /ksock/mod/outside.c
/ksock/mod/outside.c: In function \u{2018}outside_init\u{2019}:
/ksock/mod/outside.c:14:9: error: implicit declaration of function \u{2018}kernel_setsockopt\u{2019}; did you mean \u{2018}kernel_getsockopt\u{2019}? [-Wimplicit-function-declaration]
   14 |         kernel_setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, (char *)&one, sizeof(one));
      |         ^~~~~~~~~~~~~~~~~
/ksock/mod/outside.c:15:26: error: passing argument 1 of \u{2018}sock_create_kern\u{2019} makes pointer from integer without a cast [-Wint-conversion]
   15 |         sock_create_kern(PF_INET, SOCK_STREAM, IPPROTO_TCP, &sock);
/usr/src/linux-headers-7.2.13+deb14-common/include/linux/net.h:279:35: note: expected \u{2018}struct net *\u{2019} but argument is of type \u{2018}int\u{2019}
/ksock/mod/outside.c:15:9: error: too few arguments to function \u{2018}sock_create_kern\u{2019}; expected 5, have 4
make[2]: *** [scripts/Makefile.build:289: /ksock/mod/outside.o] Error 1
";

    #[test]
    fn a_gcc_log_names_each_change_once_in_its_order() {
        let facts = [
            row("ksock_sock_create_kern_net"),
            row("ksock_no_kernel_setsockopt"),
        ];
        let e = explain(GCC_72, &facts);
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!(e[0].change.cfg, "ksock_no_kernel_setsockopt");
        assert_eq!(
            e[0].seen,
            "outside.c:14: implicit declaration of function 'kernel_setsockopt'; did you mean 'kernel_getsockopt'?"
        );
        assert_eq!(e[1].change.cfg, "ksock_sock_create_kern_net");
        assert!(
            e[1].seen.starts_with("outside.c:15: passing argument 1"),
            "{}",
            e[1].seen
        );
    }

    #[test]
    fn an_error_inside_a_macro_is_placed_where_the_module_uses_it() {
        let log = "/usr/src/linux-headers-7.2.13+deb14-common/include/linux/socket.h:207:25: error: passing argument 1 of 'sock_create_kern' makes pointer from integer without a cast [-Wint-conversion]
  207 | #define PF_INET         AF_INET
/ksock/mod/old_form.c:18:26: note: in expansion of macro 'PF_INET'
";
        let e = explain(log, &[row("ksock_sock_create_kern_net")]);
        assert_eq!(
            e[0].seen,
            "old_form.c:18: passing argument 1 of 'sock_create_kern' makes pointer from integer without a cast"
        );
        // 7.2's kbuild names the module's files relative to its directory.
        let log = log.replace("/ksock/mod/old_form.c", "old_form.c");
        let e = explain(&log, &[row("ksock_sock_create_kern_net")]);
        assert!(e[0].seen.starts_with("old_form.c:18: "), "{}", e[0].seen);
    }

    #[test]
    fn a_change_the_kernel_does_not_have_explains_nothing() {
        // On a kernel that still has kernel_setsockopt, its absence is some other mistake.
        assert!(explain(GCC_72, &[row("ksock_no_kernel_sendpage")]).is_empty());
        assert!(explain(GCC_72, &[]).is_empty());
    }

    #[test]
    fn warnings_are_not_errors() {
        let log = "x.c:3:1: warning: passing argument 2 of 'kernel_bind' from incompatible pointer type\n\
                   x.c:3:1: note: expected 'struct sockaddr_unsized *'\n";
        assert!(explain(log, &[row("ksock_sockaddr_unsized")]).is_empty());
        let log = log.replace("warning", "error");
        assert_eq!(explain(&log, &[row("ksock_sockaddr_unsized")]).len(), 1);
    }

    #[test]
    fn modpost_and_rustc_diagnostics_match() {
        let modpost =
            "ERROR: modpost: \"kernel_sendpage\" [/ksock/mod/old.ko] undefined!\nmake[2]: *** Error 1\n";
        let e = explain(modpost, &[row("ksock_no_kernel_sendpage")]);
        assert_eq!(
            e[0].seen,
            "modpost: \"kernel_sendpage\" [/ksock/mod/old.ko] undefined!"
        );
        let rustc = "error[E0614]: type `u32` cannot be dereferenced
  --> /ksock/mod/old_form.rs:21:27
   |
21 |         let _times: u32 = *module_parameters::times.value();
   |                           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ can't be dereferenced

error: aborting due to 1 previous error
";
        let e = explain(rustc, &[row("ksock_param_value_by_copy")]);
        assert_eq!(e.len(), 1);
        assert_eq!(
            e[0].seen,
            "old_form.rs:21: type `u32` cannot be dereferenced"
        );
    }

    #[test]
    fn the_rendering_names_the_call_the_version_and_the_replacements() {
        let e = explain(GCC_72, &[row("ksock_no_kernel_setsockopt")]);
        let text = render(&e, "7.2.13+deb14-amd64");
        assert!(
            text.starts_with(
                "kernel_setsockopt()/kernel_getsockopt(), changed in Linux 5.8: were removed (this kernel: 7.2.13+deb14-amd64)\n"
            ),
            "{text}"
        );
        for want in [
            "sock_set_reuseaddr",
            "ip_sock_set_tos",
            "tcp_sock_set_nodelay",
            "do_sock_setsockopt",
            "ksock_setsockopt(sock, level, optname, &val, sizeof(val)) from <ksock_compat.h>",
            "KSOCK_NO_KERNEL_SETSOCKOPT",
        ] {
            assert!(text.contains(want), "{want} in {text}");
        }
    }
}
