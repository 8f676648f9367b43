//! A module that does not build on one kernel is that kernel's verdict, and the other
//! kernels still run: `ksock run --kernel A --kernel B` in a project outside this
//! repository, with a module written against an API one of them no longer has. The build
//! verdict names the API change (its call, its version, what to write instead), in the
//! table, the JSON report and the JUnit report; then the same module written with what the
//! explanation offers (ksock_compat.h, ksock's cfgs, neither named in its Kbuild) passes on
//! both.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

/// A C module that sends a page the way seed 000 did: `kernel_sendpage`, gone in 6.5.
const OLD_C: &str = r#"// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/net.h>

static int __maybe_unused send_page(struct socket *sock, struct page *page)
{
	return kernel_sendpage(sock, page, 0, PAGE_SIZE, 0);
}

static int __init oldapi_init(void)
{
	pr_info("oldapi: loaded\n");
	return 0;
}

static void __exit oldapi_exit(void)
{
}

module_init(oldapi_init);
module_exit(oldapi_exit);
MODULE_LICENSE("GPL");
"#;

/// The same with ksock's header, and a line only where kernel_sendpage is gone.
const COMPAT_C: &str = r#"// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <ksock_compat.h>

static int __maybe_unused send_page(struct socket *sock, struct page *page)
{
	return ksock_sendpage(sock, page, 0, PAGE_SIZE, 0);
}

static int __init oldapi_init(void)
{
#ifdef KSOCK_NO_KERNEL_SENDPAGE
	pr_info("oldapi: loaded, sending pages with MSG_SPLICE_PAGES\n");
#else
	pr_info("oldapi: loaded, sending pages with kernel_sendpage\n");
#endif
	return 0;
}

static void __exit oldapi_exit(void)
{
}

module_init(oldapi_init);
module_exit(oldapi_exit);
MODULE_LICENSE("GPL");
"#;

const C_SPEC: &str = r#"steps:
  - load: {module: oldapi}
  - unload: oldapi
expect:
  dmesg: ['oldapi: loaded']
"#;

const COMPAT_SPEC: &str = r#"steps:
  - load: {module: oldapi}
  - unload: oldapi
expect:
  dmesg: ['oldapi: loaded, sending pages with kernel_sendpage$']
  overrides:
    - kernels: '>= 6.5'
      dmesg: ['oldapi: loaded, sending pages with MSG_SPLICE_PAGES$']
"#;

/// A Rust module reading its parameter the 7.2 way (`value()` returned `&T` until 7.3).
const OLD_RUST: &str = r#"// SPDX-License-Identifier: GPL-2.0
//! A module of a developer's own, after the kernel's rust_minimal sample.
use kernel::prelude::*;

module! {
    type: Paramed,
    name: "paramed",
    authors: ["a developer"],
    description: "reads a parameter",
    license: "GPL",
    params: {
        times: u32 {
            default: 3,
            description: "how many times",
        },
    },
}

struct Paramed;

impl kernel::Module for Paramed {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let times: u32 = VALUE;
        pr_info!("paramed: times={}\n", times);
        Ok(Paramed)
    }
}
"#;

const OLD_VALUE: &str = "*module_parameters::times.value()";

/// What the explanation says to write: the cfg ksock passes, on both forms.
const CFG_VALUE: &str = "{
            #[cfg(ksock_param_value_by_copy)]
            let t = module_parameters::times.value();
            #[cfg(not(ksock_param_value_by_copy))]
            let t = *module_parameters::times.value();
            t
        }";

const RUST_SPEC: &str = r#"steps:
  - load: {module: paramed, params: {times: 5}}
  - unload: paramed
expect:
  dmesg: ['paramed: times=5$']
"#;

fn ksock(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ksock"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// A project `tmp/<name>` holding one module file and one spec, set up with `ksock init`.
fn project(tmp: &Path, name: &str, file: &str, source: &str, spec: &str) -> std::path::PathBuf {
    let dir = tmp.join(name);
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("Kbuild"), format!("obj-m := {name}.o\n")).unwrap();
    std::fs::write(dir.join(file), source).unwrap();
    let init = ksock(&dir, &["init"]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    // Only the spec under test (init wrote a load-unload one).
    std::fs::remove_file(dir.join(format!("specs/{name}-load-unload.yaml"))).unwrap();
    std::fs::write(dir.join(format!("specs/{name}.yaml")), spec).unwrap();
    dir
}

/// `ksock run` on `kernels`, with both reports; returns stdout, the JSON and the JUnit.
fn run(dir: &Path, kernels: &[&str]) -> (bool, String, String, String) {
    let mut args = vec!["run"];
    for k in kernels {
        args.extend(["--kernel", k]);
    }
    args.extend(["--json", "report.json", "--junit", "report.xml"]);
    let t = Instant::now();
    let out = ksock(dir, &args);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    eprintln!(
        "ksock {}: {:.1} s\n{text}\n{}",
        args.join(" "),
        t.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
    (
        out.status.success(),
        text,
        read("report.json"),
        read("report.xml"),
    )
}

fn assert_has(text: &str, wants: &[&str]) {
    for w in wants {
        assert!(text.contains(w), "`{w}` not in:\n{text}");
    }
}

#[test]
fn a_c_module_that_does_not_build_on_one_kernel_gets_a_verdict_there_and_runs_on_the_other() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = project(tmp.path(), "oldapi", "oldapi.c", OLD_C, C_SPEC);

    let (ok, text, json, xml) = run(&dir, &["7.2", "6.1"]);
    assert!(!ok, "{text}");
    assert_has(
        &text,
        &[
            "BUILD 7.2   c    oldapi",
            "module oldapi did not build: oldapi.c:7: implicit declaration of function 'kernel_sendpage'",
            "PASS  6.1   c    oldapi",
            "kernel_sendpage(), changed in Linux 6.5: was removed, with proto_ops ->sendpage (this kernel: 7.2.",
            "MSG_SPLICE_PAGES",
            "ksock_sendpage(sock, page, offset, size, flags) from <ksock_compat.h>",
            "1 passed, 1 failed, 0 skipped",
        ],
    );
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let verdicts = report["verdicts"].as_array().unwrap();
    assert_eq!(verdicts.len(), 2, "{json}");
    let v72 = verdicts.iter().find(|v| v["kernel"] == "7.2").unwrap();
    assert_eq!(
        (&v72["status"], &v72["stage"]),
        (&"fail".into(), &"build".into())
    );
    assert_has(
        v72["failure"]["actual"].as_str().unwrap(),
        &["changed in Linux 6.5"],
    );
    let v61 = verdicts.iter().find(|v| v["kernel"] == "6.1").unwrap();
    assert_eq!(
        (&v61["status"], &v61["stage"]),
        (&"pass".into(), &"run".into())
    );
    assert_has(&xml, &["type=\"build\"", "changed in Linux 6.5"]);

    // Written as the explanation says: ksock's header, found without a Kbuild line, and
    // its define, which tells the two kernels apart.
    std::fs::write(dir.join("oldapi.c"), COMPAT_C).unwrap();
    std::fs::write(dir.join("specs/oldapi.yaml"), COMPAT_SPEC).unwrap();
    let (ok, text, _, _) = run(&dir, &["7.2", "6.1"]);
    assert!(ok, "{text}");
    assert_has(
        &text,
        &["PASS  7.2   c    oldapi", "PASS  6.1   c    oldapi"],
    );
}

#[test]
fn a_rust_module_reading_a_parameter_the_72_way_fails_on_73_as_a_build_verdict() {
    let tmp = tempfile::tempdir().unwrap();
    let source = OLD_RUST.replace("VALUE", OLD_VALUE);
    let dir = project(tmp.path(), "paramed", "paramed.rs", &source, RUST_SPEC);

    let (ok, text, json, _) = run(&dir, &["7.3", "7.2"]);
    assert!(!ok, "{text}");
    assert_has(
        &text,
        &[
            "BUILD 7.3   rust paramed",
            "module paramed did not build: paramed.rs:23: type `u32` cannot be dereferenced",
            "PASS  7.2   rust paramed",
            "module_parameters::NAME.value() (kernel::module_param), changed in Linux 7.3",
            "#[cfg(ksock_param_value_by_copy)]",
        ],
    );
    assert_has(&json, &["\"stage\": \"build\""]);

    // With the cfg the explanation names (ksock passes it; the Kbuild says nothing).
    std::fs::write(dir.join("paramed.rs"), OLD_RUST.replace("VALUE", CFG_VALUE)).unwrap();
    let (ok, text, _, _) = run(&dir, &["7.3", "7.2"]);
    assert!(ok, "{text}");
    assert_has(
        &text,
        &["PASS  7.3   rust paramed", "PASS  7.2   rust paramed"],
    );
}
