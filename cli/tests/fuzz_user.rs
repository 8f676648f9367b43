//! A module developer fuzzes their own module, as the README's fuzzing section tells: a C
//! sockopt module of their own (the seed article's get handler, which copies its message
//! whatever `*len` says), `ksock init`, one `[[fuzz]]` table, `ksock fuzz` on 7.2 and 6.1
//! as an ordinary user, with only the installed program (`ksock`, copied out of this build:
//! libFuzzer is linked into it). The finding is saved with its decoded sequence; `ksock repro`
//! turns it into a regression spec that fails on the module as it is and passes once the
//! handler is fixed. The module is `examples/sockopt_srv`'s (the one copy; the fix is
//! derived from it here), in a project of the test's own making, as `ksock init` makes one.

mod common;

use std::path::{Path, PathBuf};

use common::{chown_tree, ksock, ordinary_user, users_project};

/// The module under test, as the example project holds it: `set` is correct (it bounds its
/// copy by the stated length and checks it); `get` copies the whole message whatever `*len`
/// says and never updates it.
const MODULE: &str = include_str!("../../examples/sockopt_srv/sockopt_srv.c");

/// The get handler's body as the seed article wrote it: the whole message, whatever `*len`
/// says.
const BUGGY: &str = r#"if (copy_to_user(user, kmsg, sizeof(kmsg)))
		return -EFAULT;
	return 0;"#;

/// The fix: copy at most what the caller has room for, and say how much.
const FIX: &str = r#"if (*len < 0)
		return -EINVAL;
	if (*len > sizeof(kmsg))
		*len = sizeof(kmsg);
	if (copy_to_user(user, kmsg, *len))
		return -EFAULT;
	return 0;"#;

/// The example's module with its get handler fixed.
fn fixed() -> String {
    assert_eq!(
        MODULE.matches(BUGGY).count(),
        1,
        "examples/sockopt_srv/sockopt_srv.c no longer holds the buggy get body once"
    );
    MODULE.replace(BUGGY, FIX)
}

/// Exactly the README's smallest target.
const TABLE: &str = r#"
[[fuzz]]
name = "sockopt_srv"
module = "sockopt_srv"
sockopt = { level = "SOL_IP", set = [128, 129], get = [128, 129] }
"#;

fn source_of(dir: &Path) -> PathBuf {
    dir.join("sockopt_srv.c")
}

const TITLE: &str = "get writes past optlen in sockopt_srv";

/// `findings/<title>/` of the target's campaign on `kernel`.
fn finding_dir(project: &Path, kernel: &str) -> PathBuf {
    common::finding_dir(project, "sockopt_srv", kernel, TITLE)
}

#[test]
fn a_users_sockopt_module_is_fuzzed_and_its_finding_becomes_a_failing_spec() {
    let user = ordinary_user();
    let tmp = tempfile::tempdir().unwrap();
    let (dir, bin) = users_project(tmp.path(), "sockopt_srv", MODULE, &user);
    let source = source_of(&dir);
    let own = |p: &Path| {
        if let Some((uid, gid, _)) = &user {
            chown_tree(p, *uid, *gid);
        }
    };
    let config = dir.join("ksock.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text + TABLE).unwrap();
    own(&dir);

    for kernel in ["7.2", "6.1"] {
        std::fs::write(&source, MODULE).unwrap();
        own(&dir);
        fuzz_finds_the_overwrite(&bin, &dir, &user, kernel);
        let spec = repro_writes_the_spec(&bin, &dir, &user, kernel);
        // As the module is: the spec fails on the call that writes past the buffer.
        let run = ksock(&bin, &dir, &user, &["run", "--kernel", kernel, &spec]);
        let out = String::from_utf8_lossy(&run.stdout);
        assert!(
            !run.status.success(),
            "the regression spec passed on the buggy module:\n{out}"
        );
        assert!(out.contains("FAIL") && out.contains("EFAULT"), "{out}");
        // Fixed: it passes.
        std::fs::write(&source, fixed()).unwrap();
        own(&dir);
        let run = ksock(&bin, &dir, &user, &["run", "--kernel", kernel, &spec]);
        let out = String::from_utf8_lossy(&run.stdout);
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(
            run.status.success(),
            "the fixed module fails its regression spec:\n{out}\n{err}"
        );
        std::fs::remove_file(dir.join(format!("specs/regressions/{spec}.yaml"))).unwrap();
    }
}

/// `ksock fuzz` finds the over-write within 60 s, exits 1, and saves the finding once
/// with its title, its decoded sequence and its input.
fn fuzz_finds_the_overwrite(
    bin: &Path,
    dir: &Path,
    user: &Option<(u32, u32, PathBuf)>,
    kernel: &str,
) {
    let args = ["fuzz", "sockopt_srv", "--kernel", kernel, "--seconds", "60"];
    let run = ksock(bin, dir, user, &args);
    let out = String::from_utf8_lossy(&run.stdout);
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{out}\n{err}");
    assert!(out.contains(TITLE), "{out}\n{err}");
    common::assert_saved(&finding_dir(dir, kernel), TITLE, "get opt=", &out);
}

/// `ksock repro <finding>` writes the regression spec into the project's spec directory
/// and runs it as found; returns the spec's name.
fn repro_writes_the_spec(
    bin: &Path,
    dir: &Path,
    user: &Option<(u32, u32, PathBuf)>,
    kernel: &str,
) -> String {
    let f = finding_dir(dir, kernel);
    let (yaml, out) = common::repro(bin, dir, user, kernel, &f, TITLE);
    let name = ksock_fuzz::titles::slug(TITLE);
    // What a correct module must do, with no model of this one: not fault past the buffer.
    assert!(
        yaml.contains("expect_not: [EFAULT]") || yaml.contains("- EFAULT"),
        "{yaml}"
    );
    assert!(out.contains(kernel), "no table row for {kernel}:\n{out}");
    name
}
