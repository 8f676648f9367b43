// SPDX-License-Identifier: GPL-2.0
/*
 * ksock_server (C reference): a kernel TCP server after seeds 000/001/002, with the same
 * parameters and log lines as kmods/server/server.rs, so one spec checks both.
 *
 * An accept kthread blocks in kernel_accept(); each connection is served by its own
 * kthread. Threads never return before kthread_stop(), so stopping them is always valid.
 * Unload: shut the listener down (wakes accept), stop the accept thread, then for each
 * connection shut it down (wakes recv), stop its thread, and release it with no linger
 * (RST, no TIME_WAIT), so no socket is left.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kthread.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/uio.h>
#include <net/sock.h>

#include "ksock_compat.h"

static char *addr = "0.0.0.0";
module_param(addr, charp, 0444);
MODULE_PARM_DESC(addr, "IPv4 address (dotted quad)");
static int port = 8888;
module_param(port, int, 0444);
MODULE_PARM_DESC(port, "TCP port to listen on (1..=65535)");
static int backlog = 16;
module_param(backlog, int, 0444);
MODULE_PARM_DESC(backlog, "listen() backlog (1..=1024)");
static int max_conns = 4;
module_param(max_conns, int, 0444);
MODULE_PARM_DESC(max_conns, "Connections served at once (1..=64)");
static int echo;
module_param(echo, int, 0444);
MODULE_PARM_DESC(echo, "1: send every received message back");
static int seed_bugs;
module_param(seed_bugs, int, 0444);
MODULE_PARM_DESC(seed_bugs, "1: reproduce the seeds' receive-path bug (for fuzzing)");

struct conn {
	struct list_head node;
	struct socket *sock;
	struct task_struct *thread;
	struct sockaddr_in peer;
	bool done; /* written by the conn thread, read by the accept thread */
};

static struct socket *listener;
static struct task_struct *accept_task;
static bool stopping;
/* Only the accept thread touches `conns` while it runs; exit touches it after stopping it. */
static LIST_HEAD(conns);
static int nconns;

#define SEED_BUF 1024
/* The seed's memset(rb, 0, sizeof(rb)) on a pointer, spelled so gcc does not warn. */
static const size_t seed_clear = sizeof(char *);

/*
 * seed_bugs=1: seeds 000/002's receive path. One 1024-byte buffer per connection, "cleared"
 * with memset(buf, 0, sizeof(buf)) where buf is a pointer (8 bytes), and logged with %s:
 * the log reads past what was received (bytes left by earlier, longer messages; with 1024
 * bytes received, past the allocation). kzalloc, not the seed's kmalloc, keeps the log
 * deterministic (the same stale bytes every run) without hiding the bug.
 */
static int conn_thread_seed_bugs(struct conn *c)
{
	char *rb = kzalloc(SEED_BUF, GFP_KERNEL);

	if (!rb)
		return -ENOMEM;
	for (;;) {
		struct kvec vec = { .iov_base = rb, .iov_len = SEED_BUF };
		struct msghdr msg = { };
		int n;

		memset(rb, 0, seed_clear);
		n = kernel_recvmsg(c->sock, &msg, &vec, 1, SEED_BUF, 0);
		if (n <= 0) {
			pr_info("closed peer=%pI4:%u\n", &c->peer.sin_addr, ntohs(c->peer.sin_port));
			break;
		}
		pr_info("recv peer=%pI4:%u len=%d data=%s\n", &c->peer.sin_addr,
			ntohs(c->peer.sin_port), n, rb);
		if (echo) {
			struct kvec out = { .iov_base = rb, .iov_len = n };
			struct msghdr m = { };

			kernel_sendmsg(c->sock, &m, &out, 1, n);
		}
	}
	kfree(rb);
	return 0;
}

static int conn_thread(void *data)
{
	struct conn *c = data;
	char buf[512];

	if (seed_bugs) {
		conn_thread_seed_bugs(c);
		WRITE_ONCE(c->done, true);
		ksock_wait_for_stop();
		return 0;
	}

	for (;;) {
		struct kvec vec = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct msghdr msg = { };
		int n = kernel_recvmsg(c->sock, &msg, &vec, 1, sizeof(buf), 0);

		if (n == 0) {
			pr_info("closed peer=%pI4:%u\n", &c->peer.sin_addr, ntohs(c->peer.sin_port));
			break;
		}
		if (n < 0) {
			pr_info("closed peer=%pI4:%u errno=%d\n", &c->peer.sin_addr,
				ntohs(c->peer.sin_port), n);
			break;
		}
		pr_info("recv peer=%pI4:%u len=%d\n", &c->peer.sin_addr, ntohs(c->peer.sin_port), n);
		if (echo) {
			int sent = 0;

			while (sent < n) {
				struct kvec out = { .iov_base = buf + sent, .iov_len = n - sent };
				struct msghdr m = { };
				int k = kernel_sendmsg(c->sock, &m, &out, 1, n - sent);

				if (k <= 0)
					break;
				sent += k;
			}
		}
	}
	WRITE_ONCE(c->done, true);
	ksock_wait_for_stop();
	return 0;
}

static void conn_stop(struct conn *c)
{
	sock_no_linger(c->sock->sk);
	kernel_sock_shutdown(c->sock, SHUT_RDWR);
	kthread_stop(c->thread);
	sock_release(c->sock);
	list_del(&c->node);
	nconns--;
	kfree(c);
}

static int accept_thread(void *data)
{
	while (!kthread_should_stop() && !READ_ONCE(stopping)) {
		struct socket *sock;
		struct conn *c, *tmp;
		struct sockaddr_in peer = { };
		int err = kernel_accept(listener, &sock, 0);

		if (err < 0) {
			if (READ_ONCE(stopping))
				break;
			pr_err("accept failed errno=%d\n", err);
			schedule_timeout_interruptible(HZ / 10);
			continue;
		}
		kernel_getpeername(sock, (struct sockaddr *)&peer);
		pr_info("accepted peer=%pI4:%u\n", &peer.sin_addr, ntohs(peer.sin_port));
		list_for_each_entry_safe(c, tmp, &conns, node)
			if (READ_ONCE(c->done))
				conn_stop(c);
		if (nconns >= max_conns) {
			pr_info("rejected peer=%pI4:%u reason=max_conns\n", &peer.sin_addr,
				ntohs(peer.sin_port));
			sock_no_linger(sock->sk);
			sock_release(sock);
			continue;
		}
		c = kzalloc(sizeof(*c), GFP_KERNEL);
		if (!c) {
			sock_release(sock);
			continue;
		}
		c->sock = sock;
		c->peer = peer;
		c->thread = kthread_run(conn_thread, c, "ksock_conn");
		if (IS_ERR(c->thread)) {
			pr_err("no thread for peer=%pI4:%u errno=%ld\n", &peer.sin_addr,
			       ntohs(peer.sin_port), PTR_ERR(c->thread));
			sock_release(sock);
			kfree(c);
			continue;
		}
		list_add_tail(&c->node, &conns);
		nconns++;
	}
	ksock_wait_for_stop();
	return 0;
}

static int __init ksock_server_init(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int err;

	KSOCK_CHECK_RANGE(port, port, 1, 65535);
	KSOCK_CHECK_RANGE(backlog, backlog, 1, 1024);
	KSOCK_CHECK_RANGE(max_conns, max_conns, 1, 64);
	KSOCK_CHECK_RANGE(echo, echo, 0, 1);
	KSOCK_CHECK_RANGE(seed_bugs, seed_bugs, 0, 1);
	if (!ksock_parse_ipv4(addr, &sa.sin_addr.s_addr)) {
		pr_err("invalid parameter addr=%s (want a dotted quad)\n", addr);
		return -EINVAL;
	}
	sa.sin_port = htons(port);

	err = ksock_sock_create(&listener);
	if (err < 0) {
		pr_err("sock_create_kern failed errno=%d\n", err);
		return err;
	}
	sock_set_reuseaddr(listener->sk);
	err = kernel_bind(listener, KSOCK_SA(&sa), sizeof(sa));
	if (err < 0) {
		pr_err("bind failed addr=%pI4:%d errno=%d\n", &sa.sin_addr, port, err);
		goto release;
	}
	err = kernel_listen(listener, backlog);
	if (err < 0) {
		pr_err("listen failed errno=%d\n", err);
		goto release;
	}
	accept_task = kthread_run(accept_thread, NULL, "ksock_server");
	if (IS_ERR(accept_task)) {
		err = PTR_ERR(accept_task);
		goto release;
	}
	pr_info("listening addr=%pI4 port=%d backlog=%d max_conns=%d echo=%d\n", &sa.sin_addr,
		port, backlog, max_conns, echo);
	return 0;
release:
	sock_release(listener);
	return err;
}

static void __exit ksock_server_exit(void)
{
	struct conn *c, *tmp;
	int n = nconns;

	WRITE_ONCE(stopping, true);
	kernel_sock_shutdown(listener, SHUT_RDWR);
	kthread_stop(accept_task);
	list_for_each_entry_safe(c, tmp, &conns, node)
		conn_stop(c);
	sock_release(listener);
	pr_info("stopped port=%d conns=%d\n", port, n);
}

module_init(ksock_server_init);
module_exit(ksock_server_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("ksock: in-kernel TCP server (C reference)");
