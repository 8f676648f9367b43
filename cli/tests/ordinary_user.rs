//! ksock as an ordinary user, as the README's "As an ordinary user" tells: a C module and a
//! spec in a directory of the user's own, `ksock init`, `ksock run --kernel 6.1` on a real
//! guest, with the user's own cache (a Debian root made by mmdebstrap's unshare mode, the
//! kernel's packages, virtme-ng in a venv) and nothing run as root.
//!
//! Run by an ordinary user, the test is that user. Run as root (as CI is), it first does
//! what the README asks of an administrator — host packages, and an ordinary user
//! `ksock-test` made with `useradd` (which gives it subordinate ids) — then runs ksock as
//! that user with `runuser`, with a clean environment.

mod common;

use common::{chown_tree, ksock, ordinary_user, users_project};

const MODULE: &str = r#"// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/printk.h>

static int __init mine_init(void)
{
	pr_info("mine: loaded by an ordinary user's ksock\n");
	return 0;
}

static void __exit mine_exit(void)
{
	pr_info("mine: bye\n");
}

module_init(mine_init);
module_exit(mine_exit);
MODULE_LICENSE("GPL");
"#;

const SPEC: &str = r#"steps:
  - load: {module: mine}
  - unload: mine
expect:
  dmesg:
    - 'mine: loaded by an ordinary user.s ksock$'
    - 'mine: bye$'
"#;

#[test]
fn an_ordinary_user_runs_a_module_of_their_own() {
    let user = ordinary_user();
    let tmp = tempfile::tempdir().unwrap();
    let (dir, bin) = users_project(tmp.path(), "mine", MODULE, &user);
    std::fs::write(dir.join("specs/mine-logs.yaml"), SPEC).unwrap();
    if let Some((uid, gid, _)) = &user {
        chown_tree(&dir, *uid, *gid);
    }

    let run = ksock(&bin, &dir, &user, &["run", "--kernel", "6.1"]);
    let out = String::from_utf8_lossy(&run.stdout);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{out}\n{err}");
    assert!(out.contains("PASS  6.1   c    mine-logs"), "{out}");
    assert!(out.contains("PASS  6.1   c    mine-load-unload"), "{out}");

    // What the run made belongs to the user: their cache and their project's artifacts.
    if let Some((uid, _, home)) = &user {
        use std::os::unix::fs::MetadataExt;
        for p in [
            home.join(".cache/ksock/roots"),
            home.join(".cache/ksock/kernels"),
            dir.join("target/ksock"),
        ] {
            let m = std::fs::metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            assert_eq!(m.uid(), *uid, "{} is not the user's", p.display());
        }
    }

    // A wrong expectation fails, naming it: the run is real.
    std::fs::write(
        dir.join("specs/mine-logs.yaml"),
        SPEC.replace("bye$", "goodbye$"),
    )
    .unwrap();
    let run = ksock(&bin, &dir, &user, &["run", "--kernel", "6.1", "mine-logs"]);
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(!run.status.success() && out.contains("goodbye"), "{out}");
}
