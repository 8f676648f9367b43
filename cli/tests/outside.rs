//! A module developer's project outside this repository: a C module and a spec in a
//! temporary directory, set up with `ksock init` and run with `ksock run` on a real guest
//! (6.1, the C flavour), as the README tells. The guest runs the `ksock` binary itself as
//! its agent.

use std::process::Command;

const MODULE: &str = r#"// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/printk.h>

static int __init outside_init(void)
{
	pr_info("outside: hello from a project of its own\n");
	return 0;
}

static void __exit outside_exit(void)
{
	pr_info("outside: bye\n");
}

module_init(outside_init);
module_exit(outside_exit);
MODULE_LICENSE("GPL");
"#;

const SPEC: &str = r#"steps:
  - load: {module: outside}
  - unload: outside
expect:
  dmesg:
    - 'outside: hello from a project of its own$'
    - 'outside: bye$'
"#;

fn ksock(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ksock"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn a_c_module_in_its_own_directory_runs_with_ksock() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("outside");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("Kbuild"), "obj-m := outside.o\n").unwrap();
    std::fs::write(dir.join("outside.c"), MODULE).unwrap();

    let init = ksock(&dir, &["init"]);
    let said = String::from_utf8_lossy(&init.stdout);
    assert!(init.status.success() && said.contains("outside"), "{said}");
    // The generated spec loads and unloads; this one also states what the module logs.
    std::fs::write(dir.join("specs/outside-logs.yaml"), SPEC).unwrap();

    let run = ksock(&dir, &["run", "--kernel", "6.1"]);
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(out.contains("PASS  6.1   c    outside-logs"), "{out}");
    assert!(
        out.contains("PASS  6.1   c    outside-load-unload"),
        "{out}"
    );

    // A wrong expectation fails, naming it: the run is real.
    std::fs::write(
        dir.join("specs/outside-logs.yaml"),
        SPEC.replace("bye$", "goodbye$"),
    )
    .unwrap();
    let run = ksock(&dir, &["run", "--kernel", "6.1", "outside-logs"]);
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(!run.status.success() && out.contains("goodbye"), "{out}");
}
