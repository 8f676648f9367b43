//! A module developer fuzzes their own TCP server module: a C module of their own (a
//! kthread listener on a port, accepting connections and receiving messages with
//! `kernel_recvmsg`, as the seed articles' servers do) that keeps the last message as a
//! 64-byte note, copied with the received length. `ksock init`, one `[[fuzz]]` table with
//! `tcp_server` and no model, `ksock fuzz` on 7.2 and 6.1 as an ordinary user: the long
//! message trips FORTIFY_SOURCE's memcpy check in the module's thread (Debian's kernels
//! have it), the kernel panics, and the input the guest recorded before running it becomes
//! the finding, saved with its decoded message sequence. `ksock repro` turns it into a
//! regression spec that demands only what any correct server does (no splat, no panic, a
//! clean unload): it fails on the module as it is and passes once the copy is bounded.

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::{chown_tree, ksock, ordinary_user, users_project};

/// The server under test. Its thread makes the listening socket itself (seed 001's
/// kthread listener), so the module listens some time after its init returned.
const MODULE: &str = r#"// SPDX-License-Identifier: GPL-2.0
/*
 * note_srv: a kernel TCP server. Its kthread listens on `port`, accepts one connection at
 * a time and receives its messages with kernel_recvmsg; the last message received is kept
 * as the note.
 */
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/in.h>
#include <linux/slab.h>
#include <linux/uio.h>
#include <net/sock.h>

static int port = 8888;
module_param(port, int, 0444);
MODULE_PARM_DESC(port, "TCP port to listen on");

#define RECV_BUF 1024

static struct task_struct *thread;
static char note[64];
static int note_len;

/* Keeps a received message as the note. */
static void keep_note(const char *msg, int len)
{
	KEEP_BODY
}

/* Receives messages on `conn` until the peer closes (or the module is unloaded). */
static void serve(struct socket *conn, char *buf)
{
	while (!kthread_should_stop()) {
		struct kvec vec = { .iov_base = buf, .iov_len = RECV_BUF };
		struct msghdr msg = { };
		int n = kernel_recvmsg(conn, &msg, &vec, 1, RECV_BUF, 0);

		if (n == -EAGAIN)
			continue; /* the receive timeout: look for kthread_stop() */
		if (n <= 0)
			return;
		keep_note(buf, n);
		pr_info("note_srv: received %d bytes\n", n);
	}
}

static struct socket *listen_on(int port)
{
	struct sockaddr_in addr = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_ANY),
		.sin_port = htons(port),
	};
	struct socket *sock;
	int err = sock_create_kern(&init_net, PF_INET, SOCK_STREAM, IPPROTO_TCP, &sock);

	if (err < 0)
		return ERR_PTR(err);
	sock_set_reuseaddr(sock->sk);
	/* Accept and receive time out, so the thread sees kthread_stop(). */
	sock->sk->sk_rcvtimeo = HZ / 10;
	/* (void *): kernel_bind takes struct sockaddr * on older kernels, sockaddr_unsized * on 7.x. */
	err = kernel_bind(sock, (void *)&addr, sizeof(addr));
	if (!err)
		err = kernel_listen(sock, 16);
	if (err < 0) {
		sock_release(sock);
		return ERR_PTR(err);
	}
	return sock;
}

static int listener(void *data)
{
	struct socket *sock = listen_on(port);
	char *buf = kmalloc(RECV_BUF, GFP_KERNEL);

	if (IS_ERR(sock) || !buf) {
		pr_err("note_srv: cannot listen on port %d\n", port);
		goto out;
	}
	pr_info("note_srv: listening on port %d\n", port);
	while (!kthread_should_stop()) {
		struct socket *conn;

		if (kernel_accept(sock, &conn, 0) < 0)
			continue;
		conn->sk->sk_rcvtimeo = HZ / 10;
		serve(conn, buf);
		sock_release(conn);
	}
out:
	while (!kthread_should_stop())
		schedule_timeout_interruptible(HZ / 10);
	if (!IS_ERR(sock))
		sock_release(sock);
	kfree(buf);
	return 0;
}

static int __init note_srv_init(void)
{
	thread = kthread_run(listener, NULL, "note_srv");
	return PTR_ERR_OR_ZERO(thread);
}

static void __exit note_srv_exit(void)
{
	kthread_stop(thread);
	pr_info("note_srv: stopped, last note %d bytes\n", note_len);
}

module_init(note_srv_init);
module_exit(note_srv_exit);
MODULE_LICENSE("GPL");
"#;

/// The bug: the whole message goes into the 64-byte note, whatever its length.
const BUGGY: &str = "memcpy(note, msg, len);
	note_len = len;";

/// The fix: at most what the note holds.
const FIX: &str = "note_len = min_t(int, len, sizeof(note));
	memcpy(note, msg, note_len);";

/// One table: the port it listens on and its receive buffer; no model, so only the
/// generic oracles speak.
const TABLE: &str = r#"
[[fuzz]]
name = "note_srv"
module = "note_srv"
tcp_server = { port = 8888, buffer = 1024 }
"#;

/// The kernel's report, named after the module's function that made the copy (the same
/// on 7.2 and 6.1, whose fortify reports differ).
const TITLE: &str = "FORTIFY_SOURCE: buffer overflow in serve";

fn module(body: &str) -> String {
    MODULE.replace("KEEP_BODY", body)
}

/// `findings/<title>/` of the target's campaign on `kernel`.
fn finding_dir(project: &Path, kernel: &str) -> PathBuf {
    common::finding_dir(project, "note_srv", kernel, TITLE)
}

#[test]
fn a_users_tcp_server_is_fuzzed_and_its_crash_becomes_a_failing_spec() {
    let user = ordinary_user();
    let tmp = tempfile::tempdir().unwrap();
    let (dir, bin) = users_project(tmp.path(), "note_srv", &module(BUGGY), &user);
    let source = dir.join("note_srv.c");
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
        std::fs::write(&source, module(BUGGY)).unwrap();
        own(&dir);
        let start = Instant::now();
        fuzz_finds_the_crash(&bin, &dir, &user, kernel);
        eprintln!(
            "{kernel}: ksock fuzz took {:.1} s",
            start.elapsed().as_secs_f64()
        );
        let spec = repro_writes_the_spec(&bin, &dir, &user, kernel);
        // As the module is: the kernel panics in the spec's client step.
        let run = ksock(&bin, &dir, &user, &["run", "--kernel", kernel, &spec]);
        let out = String::from_utf8_lossy(&run.stdout);
        assert!(
            !run.status.success(),
            "the regression spec passed on the buggy module:\n{out}"
        );
        assert!(out.contains("FAIL") && out.contains("panic"), "{out}");
        // Fixed: it passes.
        std::fs::write(&source, module(FIX)).unwrap();
        own(&dir);
        let run = ksock(&bin, &dir, &user, &["run", "--kernel", kernel, &spec]);
        let out = String::from_utf8_lossy(&run.stdout);
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(
            run.status.success(),
            "the fixed module fails its regression spec:\n{out}\n{err}"
        );
        eprintln!(
            "{kernel}: fuzz, repro and both runs took {:.1} s",
            start.elapsed().as_secs_f64()
        );
        std::fs::remove_file(dir.join(format!("specs/regressions/{spec}.yaml"))).unwrap();
    }
}

/// `ksock fuzz` finds the crash within 60 s, exits 1, and saves the finding once with its
/// title, its decoded message sequence and its input.
fn fuzz_finds_the_crash(bin: &Path, dir: &Path, user: &Option<(u32, u32, PathBuf)>, kernel: &str) {
    let args = ["fuzz", "note_srv", "--kernel", kernel, "--seconds", "60"];
    let run = ksock(bin, dir, user, &args);
    let out = String::from_utf8_lossy(&run.stdout);
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{out}\n{err}");
    assert!(out.contains(TITLE), "{out}\n{err}");
    // When it was found, and how the campaign ended (a crash this easy stops it early).
    for l in out
        .lines()
        .filter(|l| l.contains(TITLE) || l.starts_with("fuzzed "))
    {
        eprintln!("{kernel}: {}", l.trim());
    }
    let f = finding_dir(dir, kernel);
    common::assert_saved(&f, TITLE, "send conn=", &format!("{out}\n{err}"));
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
    // The messages, sent by clients of the port once it listens; no model of this module,
    // so nothing about what it answers or logs: a correct one only must not crash.
    assert!(yaml.contains("- client:\n    port: 8888\n"), "{yaml}");
    assert!(yaml.contains("listening: true"), "{yaml}");
    for model_only in ["expect_echo", "log_lengths", "wait_dmesg"] {
        assert!(!yaml.contains(model_only), "{model_only} in:\n{yaml}");
    }
    assert!(out.contains(kernel), "no table row for {kernel}:\n{out}");
    assert!(out.contains("reproduces"), "{out}");
    name
}
