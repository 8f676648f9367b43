//! Every row of the kernel API drift table (`ksock_vm::kernel::drift::CHANGES`) against real
//! catalog kernels: each old form a row lists, as a one-line module, fails to build on the
//! row's kernel, and the error names that row's change (its call, its version, what to write
//! instead) and no other; the same module without the old line builds. And each row's
//! detector agrees with its version on those kernels. `KSOCK_KERNELS` (comma-separated)
//! limits the kernels.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use ksock_vm::kernel::drift::{Change, Check, Lang, CHANGES};
use ksock_vm::kernel::{self, Flavour, PrepareOptions, PreparedKernel};
use ksock_vm::{Cache, Error};

const C_MODULE: &str = r#"// SPDX-License-Identifier: GPL-2.0
#include <linux/fcntl.h>
#include <linux/in.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/netfilter.h>
#include <net/sock.h>

ITEMS

static int __init old_form_init(void)
{
	struct socket *sock = NULL, *newsock = NULL;
	struct sockaddr_in addr = { 0 };
	int one = 1, len = sizeof(one);

	(void)sock; (void)newsock; (void)addr; (void)one; (void)len;
	BODY
	return 0;
}
module_init(old_form_init);
MODULE_LICENSE("GPL");
"#;

const RUST_MODULE: &str = r#"// SPDX-License-Identifier: GPL-2.0
//! An old API form.
use kernel::prelude::*;

module! {
    type: OldForm,
    name: "old_form",
    authors: ["ksock"],
    description: "an old API form",
    license: "GPL",
    params: {
        times: u32 {
            default: 1,
            description: "a parameter",
        },
    },
}

ITEMS

struct OldForm;

impl kernel::Module for OldForm {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        BODY
        Ok(OldForm)
    }
}
"#;

fn wanted(kernel: &str) -> bool {
    std::env::var("KSOCK_KERNELS")
        .ok()
        .is_none_or(|o| o.split(',').any(|k| k == kernel))
}

/// The kernels the checks name, each with whether a Rust check needs its tree.
fn kernels() -> Vec<(&'static str, bool)> {
    let names: BTreeSet<&str> = CHANGES
        .iter()
        .flat_map(|c| c.checks.iter().map(|k| k.kernel))
        .filter(|k| wanted(k))
        .collect();
    names
        .into_iter()
        .map(|k| {
            let rust = CHANGES
                .iter()
                .flat_map(|c| c.checks)
                .any(|c| c.kernel == k && c.lang == Lang::Rust);
            (k, rust)
        })
        .collect()
}

fn prepare(cache: &Cache, name: &str, rust: bool) -> PreparedKernel {
    let opts = PrepareOptions {
        c_only: !rust,
        ..Default::default()
    };
    kernel::prepare(cache, name, &opts).unwrap()
}

/// A module directory `dir/<name>` holding the template with `items` and `body` filled in.
fn module(dir: &Path, name: &str, lang: Lang, items: &str, body: &str) -> std::path::PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    let (template, file) = match lang {
        Lang::C => (C_MODULE, "old_form.c"),
        Lang::Rust => (RUST_MODULE, "old_form.rs"),
    };
    let text = template.replace("ITEMS", items).replace("BODY", body);
    std::fs::write(d.join(file), text).unwrap();
    std::fs::write(d.join("Kbuild"), "obj-m := old_form.o\n").unwrap();
    d
}

fn flavour(lang: Lang) -> Flavour {
    match lang {
        Lang::C => Flavour::C,
        Lang::Rust => Flavour::Rust,
    }
}

/// Builds one check's old form and returns the explanation, checking it names `row` alone.
fn check_old_form(
    cache: &Cache,
    k: &PreparedKernel,
    tmp: &Path,
    row: &Change,
    i: usize,
    ck: &Check,
) {
    let name = format!("drift_{}_{i}", row.cfg.trim_start_matches("ksock_"));
    let dir = module(tmp, &name, ck.lang, ck.items, ck.body);
    let t = Instant::now();
    let err = k
        .build_module(cache, &dir, flavour(ck.lang))
        .expect_err(&format!("{name} built on {}: `{}`", ck.kernel, ck.body));
    let secs = t.elapsed().as_secs_f64();
    let Error::ModuleBuild(failure) = &err else {
        panic!("{name}: not a module build error: {err}");
    };
    let explanation = &failure.explanation;
    let named: Vec<&str> = CHANGES
        .iter()
        .filter(|c| explanation.contains(&c.heading()))
        .map(|c| c.cfg)
        .collect();
    assert_eq!(named, [row.cfg], "{name} on {}:\n{err}", ck.kernel);
    for part in [row.instead, row.compat] {
        assert!(
            explanation.contains(part),
            "{name}: {part} in\n{explanation}"
        );
    }
    eprintln!(
        "{} on {} ({:?}): failed in {secs:.1} s, explained:\n{explanation}",
        row.cfg, ck.kernel, ck.lang
    );
}

#[test]
fn every_old_form_fails_to_build_naming_its_change() {
    ksock_vm::supervise::install_interrupt_handler();
    let cache = Cache::from_env().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    for (name, rust) in kernels() {
        let k = prepare(&cache, name, rust);
        // The templates themselves build: what fails is the old line.
        let langs: BTreeSet<_> = CHANGES
            .iter()
            .flat_map(|c| c.checks)
            .filter(|c| c.kernel == name)
            .map(|c| matches!(c.lang, Lang::Rust))
            .collect();
        for rust in langs {
            let lang = if rust { Lang::Rust } else { Lang::C };
            let dir = module(tmp.path(), &format!("drift_control_{rust}"), lang, "", "");
            let t = Instant::now();
            if let Err(e) = k.build_module(&cache, &dir, flavour(lang)) {
                panic!("the {lang:?} template does not build on {name}: {e}");
            }
            eprintln!(
                "control {lang:?} on {name}: built in {:.1} s",
                t.elapsed().as_secs_f64()
            );
        }
        for row in CHANGES {
            for (i, ck) in row.checks.iter().enumerate() {
                if ck.kernel == name {
                    check_old_form(&cache, &k, tmp.path(), row, i, ck);
                }
            }
        }
    }
}

#[test]
fn every_detector_agrees_with_its_version() {
    ksock_vm::supervise::install_interrupt_handler();
    let cache = Cache::from_env().unwrap();
    for (name, rust) in kernels() {
        let k = prepare(&cache, name, rust);
        let v: Vec<u32> = name.split('.').map(|p| p.parse().unwrap()).collect();
        let version = (v[0], v[1]);
        let mut trees = vec![k.c_source_tree()];
        trees.extend(k.tree.clone());
        for tree in &trees {
            let facts = ksock_vm::compat::detect(tree);
            for c in CHANGES {
                let text = std::fs::read_to_string(tree.join(c.detect.file)).unwrap_or_default();
                let Some(has) = c.has_new_form(&text) else {
                    continue;
                };
                assert_eq!(
                    has,
                    version >= c.since,
                    "{} on {name} ({}): the detector and the version {} disagree",
                    c.cfg,
                    tree.display(),
                    c.since_text()
                );
                assert_eq!(has, facts.iter().any(|f| f.cfg == c.cfg));
            }
        }
    }
}

/// Seed 001's listener as written before 4.2, with seed 000's `kernel_setsockopt`: one
/// build on 7.2 names both changes, each with its version and what to write instead.
#[test]
fn one_build_with_two_old_forms_names_both() {
    ksock_vm::supervise::install_interrupt_handler();
    if !wanted("7.2") {
        return;
    }
    let cache = Cache::from_env().unwrap();
    let k = prepare(&cache, "7.2", false);
    let tmp = tempfile::tempdir().unwrap();
    let body = "sock_create_kern(PF_INET, SOCK_STREAM, IPPROTO_TCP, &sock);\n\t\
                kernel_setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, (char *)&one, sizeof(one));";
    let dir = module(tmp.path(), "drift_seed_001", Lang::C, "", body);
    let err = k.build_module(&cache, &dir, Flavour::C).unwrap_err();
    let Error::ModuleBuild(f) = &err else {
        panic!("not a module build error: {err}");
    };
    for cfg in ["ksock_sock_create_kern_net", "ksock_no_kernel_setsockopt"] {
        let c = ksock_vm::kernel::drift::by_cfg(cfg).unwrap();
        for part in [c.heading(), c.instead.to_string(), c.compat.to_string()] {
            assert!(f.explanation.contains(&part), "{part} in\n{err}");
        }
    }
    let shown = err.to_string();
    assert!(
        shown.contains("changed in Linux 4.2") && shown.contains("changed in Linux 5.8"),
        "{shown}"
    );
    eprintln!("{shown}");
}
