//! Argument layouts make the difference: a user's C sockopt module whose set handler
//! checks a magic number, a command and a length field before it reaches its bug (it copies
//! the data by the header's length, never checking it against optlen). Fuzzed for 60 s on
//! 7.2 without a layout, the fuzzer never gets past the magic; with a `[[fuzz.layout]]`
//! describing the struct, it finds the read past optlen, saves it with the fields by name,
//! and `ksock repro` writes a spec whose set holds the struct's bytes: run as found it fails
//! on the module as it is, and it passes once the handler checks its length.

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::{chown_tree, ksock, ordinary_user, users_project};

/// The module: `struct ctl_req` on optname 128 at SOL_IP.
const MODULE: &str = r#"// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/netfilter.h>
#include <linux/sockptr.h>
#include <linux/uaccess.h>
#include <net/sock.h>

#define OPT 128
#define CTL_MAGIC 0x4b534f43

struct ctl_req {
	__u32 magic;
	__u16 op;
	__u16 len;
	__u8 data[32];
	char name[16];
};

static struct ctl_req last;

static int ctl_set(struct sock *sk, int optval, sockptr_t arg, unsigned int optlen)
{
	struct ctl_req req = {};
	const size_t head = offsetof(struct ctl_req, data);

	if (optlen < head)
		return -EINVAL;
	if (copy_from_sockptr(&req, arg, head))
		return -EFAULT;
	if (req.magic != CTL_MAGIC)
		return -EINVAL;
	if (req.op > 3)
		return -EOPNOTSUPP;
	if (req.len > sizeof(req.data))
		return -EMSGSIZE;
	/* CHECK */
	if (copy_from_sockptr_offset(req.data, arg, head, req.len))
		return -EFAULT;
	last = req;
	return 0;
}

static int ctl_get(struct sock *sk, int optval, void __user *user, int *len)
{
	int n;

	if (*len < 0)
		return -EINVAL;
	n = min_t(int, *len, sizeof(last));
	if (copy_to_user(user, &last, n))
		return -EFAULT;
	*len = n;
	return 0;
}

static struct nf_sockopt_ops ops = {
	.pf = PF_INET,
	.set_optmin = OPT,
	.set_optmax = OPT + 1,
	.set = ctl_set,
	.get_optmin = OPT,
	.get_optmax = OPT + 1,
	.get = ctl_get,
	.owner = THIS_MODULE,
};

static int __init ctl_init(void)
{
	return nf_register_sockopt(&ops);
}

static void __exit ctl_exit(void)
{
	nf_unregister_sockopt(&ops);
}

module_init(ctl_init);
module_exit(ctl_exit);
MODULE_LICENSE("GPL");
"#;

/// The fix: the data the header announces must be within optlen.
fn fixed() -> String {
    MODULE.replace(
        "/* CHECK */",
        "if (req.len > optlen - head)\n\t\treturn -EINVAL;",
    )
}

/// The same module twice: as bytes only, and with its argument's layout.
const TABLES: &str = r#"
[[fuzz]]
name = "ctl_bytes"
module = "ctl"
sockopt = { level = "SOL_IP", set = [128, 129], get = [128, 129], capacity = 56 }

[[fuzz]]
name = "ctl"
module = "ctl"
sockopt = { level = "SOL_IP", set = [128, 129], get = [128, 129], capacity = 56 }

[[fuzz.layout]]
optnames = [128]
fields = [
  { name = "magic", type = "u32", values = [0x4b534f43] },
  { name = "op", type = "u16", range = [0, 3] },
  { name = "len", type = "u16", len_of = "data" },
  { name = "data", type = "bytes", size = 32 },
  { name = "name", type = "string", size = 16 },
]
"#;

const KERNEL: &str = "7.2";
const TITLE: &str = "set reads past optlen in ctl";

type User = Option<(u32, u32, PathBuf)>;

#[test]
fn a_layout_gets_the_fuzzer_past_a_magic_and_a_length_to_the_bug() {
    let start = Instant::now();
    let user = ordinary_user();
    let tmp = tempfile::tempdir().unwrap();
    let (dir, bin) = users_project(tmp.path(), "ctl", MODULE, &user);
    let own = |p: &Path| {
        if let Some((uid, gid, _)) = &user {
            chown_tree(p, *uid, *gid);
        }
    };
    let config = dir.join("ksock.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text + TABLES).unwrap();
    own(&dir);

    // Bytes only: the magic is never matched in 60 s.
    let t = Instant::now();
    let (out, code) = fuzz(&bin, &dir, &user, "ctl_bytes");
    eprintln!(
        "without the layout ({:.0} s):\n{out}",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("no findings"), "{out}");

    // With the layout: found, with the struct's fields in the report.
    let t = Instant::now();
    let (out, code) = fuzz(&bin, &dir, &user, "ctl");
    eprintln!(
        "with the layout ({:.0} s):\n{out}",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains(TITLE), "{out}");
    let f = finding_dir(&dir, "ctl");
    let report = std::fs::read_to_string(f.join("report.txt")).unwrap();
    eprintln!("{report}");
    assert!(report.contains("{magic=0x4b534f43 op="), "{report}");

    repro_fails_and_the_fix_passes(&bin, &dir, &user, &f);
    eprintln!("the test took {:.0} s", start.elapsed().as_secs_f64());
}

/// `ksock repro <finding>`: the spec's set holds the struct (its magic first,
/// little-endian), and run as found it fails on the module as it is; fixed, the module
/// passes it.
fn repro_fails_and_the_fix_passes(bin: &Path, dir: &Path, user: &User, f: &Path) {
    let t = Instant::now();
    let run = ksock(
        bin,
        dir,
        user,
        &["repro", &f.to_string_lossy(), "--kernel", KERNEL],
    );
    let out = String::from_utf8_lossy(&run.stdout);
    eprintln!("repro ({:.0} s):\n{out}", t.elapsed().as_secs_f64());
    assert!(
        run.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        out.contains("first failure"),
        "it did not reproduce:\n{out}"
    );
    let name = ksock_fuzz::titles::slug(TITLE);
    let yaml = std::fs::read_to_string(dir.join(format!("specs/regressions/{name}.yaml")))
        .unwrap_or_else(|e| panic!("{e}\n{out}"));
    eprintln!("{yaml}");
    assert!(yaml.contains("set_hex: 434f534b"), "{yaml}");

    // Fixed, the module passes it.
    std::fs::write(dir.join("ctl.c"), fixed()).unwrap();
    if let Some((uid, gid, _)) = user {
        chown_tree(dir, *uid, *gid);
    }
    let t = Instant::now();
    let r = ksock(bin, dir, user, &["run", "--kernel", KERNEL, &name]);
    let out = String::from_utf8_lossy(&r.stdout);
    eprintln!(
        "the fixed module ({:.0} s):\n{out}",
        t.elapsed().as_secs_f64()
    );
    assert!(
        r.status.success(),
        "the fixed module fails its regression spec:\n{out}"
    );
}

/// `ksock fuzz <target> --kernel 7.2 --seconds 60`: its stdout and exit code.
fn fuzz(bin: &Path, dir: &Path, user: &User, target: &str) -> (String, Option<i32>) {
    let args = ["fuzz", target, "--kernel", KERNEL, "--seconds", "60"];
    let run = ksock(bin, dir, user, &args);
    let out = format!(
        "{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    (out, run.status.code())
}

/// `findings/<title>/` of `target`'s campaign (one `<release>-c` directory).
fn finding_dir(project: &Path, target: &str) -> PathBuf {
    let base = project.join("target/ksock/fuzz").join(target);
    let run = std::fs::read_dir(&base)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap().to_string_lossy().ends_with("-c"))
        .unwrap_or_else(|| panic!("no campaign directory in {}", base.display()));
    run.join("findings").join(ksock_fuzz::titles::slug(TITLE))
}
