// SPDX-License-Identifier: GPL-2.0
/*
 * ksock_client (C reference): a kernel TCP client after seeds 000/002, with the same
 * parameters and log lines as kmods/client/client.rs.
 *
 * The socket is created at load; a kthread connects, sends `count` messages and shuts the
 * connection down. Unload shuts the socket down first, which wakes a connect or send that
 * is still blocked, then stops the thread and releases the socket.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/uio.h>
#include <net/sock.h>

#include "ksock_compat.h"

static char *addr = "127.0.0.1";
module_param(addr, charp, 0444);
MODULE_PARM_DESC(addr, "IPv4 address (dotted quad)");
static int port = 8888;
module_param(port, int, 0444);
MODULE_PARM_DESC(port, "TCP port to connect to (1..=65535)");
static int count = 1;
module_param(count, int, 0444);
MODULE_PARM_DESC(count, "Messages to send (0..=1000)");
static int size;
module_param(size, int, 0444);
MODULE_PARM_DESC(size, "0: send `message`; else send this many pattern bytes (1..=65536)");
static char *message = "hello from ksock_client";
module_param(message, charp, 0444);
MODULE_PARM_DESC(message, "Text to send (ignored when size > 0)");
static int interval_ms;
module_param(interval_ms, int, 0444);
MODULE_PARM_DESC(interval_ms, "Pause between messages, ms (0..=60000)");
static int timeout_s = 5;
module_param(timeout_s, int, 0444);
MODULE_PARM_DESC(timeout_s, "Connect/send timeout, seconds (1..=600)");
static int seed_bugs;
module_param(seed_bugs, int, 0444);
MODULE_PARM_DESC(seed_bugs, "1: send the seed's whole 1024-byte buffer (for fuzzing)");

#define SEED_BUF 1024

static struct socket *sock;
static struct task_struct *task;
static struct sockaddr_in peer = { .sin_family = AF_INET };
static char *payload;
static int payload_len;
static bool stopping;

static int client_thread(void *data)
{
	int err = kernel_connect(sock, KSOCK_SA(&peer), sizeof(peer), 0);
	int seq, sent = 0;

	if (err < 0) {
		if (!READ_ONCE(stopping))
			pr_info("connect failed peer=%pI4:%u errno=%d\n", &peer.sin_addr,
				ntohs(peer.sin_port), err);
		goto wait;
	}
	pr_info("connected peer=%pI4:%u\n", &peer.sin_addr, ntohs(peer.sin_port));
	for (seq = 1; seq <= count && !READ_ONCE(stopping); seq++) {
		int off = 0;

		while (off < payload_len) {
			struct kvec vec = { .iov_base = payload + off, .iov_len = payload_len - off };
			struct msghdr msg = { };
			int n = kernel_sendmsg(sock, &msg, &vec, 1, payload_len - off);

			if (n < 0) {
				pr_info("send failed seq=%d errno=%d\n", seq, n);
				break;
			}
			if (n == 0)
				break;
			off += n;
		}
		if (off < payload_len)
			break;
		pr_info("sent seq=%d len=%d\n", seq, off);
		sent++;
		if (interval_ms > 0 && seq < count)
			schedule_timeout_interruptible(msecs_to_jiffies(interval_ms));
	}
	/* FIN: the peer's read sees the end of the stream. */
	kernel_sock_shutdown(sock, SHUT_RDWR);
	pr_info("done sent=%d\n", sent);
wait:
	ksock_wait_for_stop();
	return 0;
}

static int __init ksock_client_init(void)
{
	int err, i;

	KSOCK_CHECK_RANGE(port, port, 1, 65535);
	KSOCK_CHECK_RANGE(count, count, 0, 1000);
	KSOCK_CHECK_RANGE(size, size, 0, 65536);
	KSOCK_CHECK_RANGE(interval_ms, interval_ms, 0, 60000);
	KSOCK_CHECK_RANGE(timeout_s, timeout_s, 1, 600);
	KSOCK_CHECK_RANGE(seed_bugs, seed_bugs, 0, 1);
	if (!ksock_parse_ipv4(addr, &peer.sin_addr.s_addr)) {
		pr_err("invalid parameter addr=%s (want a dotted quad)\n", addr);
		return -EINVAL;
	}
	peer.sin_port = htons(port);
	payload_len = size > 0 ? size : strlen(message);
	if (seed_bugs) {
		/*
		 * Seed 000's send path: a 1024-byte buffer, all of it sent whatever the
		 * message's length. (The seed's kmalloc also leaked stale heap bytes to the
		 * peer; kzalloc sends zeros instead, so every run sends the same bytes.)
		 */
		payload = kzalloc(SEED_BUF, GFP_KERNEL);
		if (!payload)
			return -ENOMEM;
		memcpy(payload, message, min_t(int, strlen(message), SEED_BUF));
		payload_len = SEED_BUF;
	} else {
		payload = kmalloc(payload_len + 1, GFP_KERNEL);
		if (!payload)
			return -ENOMEM;
		if (size > 0)
			for (i = 0; i < size; i++)
				payload[i] = 'a' + i % 26;
		else
			memcpy(payload, message, payload_len);
	}

	err = ksock_sock_create(&sock);
	if (err < 0) {
		pr_err("sock_create_kern failed errno=%d\n", err);
		goto free;
	}
	sock_set_sndtimeo(sock->sk, timeout_s);
	task = kthread_run(client_thread, NULL, "ksock_client");
	if (IS_ERR(task)) {
		err = PTR_ERR(task);
		sock_release(sock);
		goto free;
	}
	return 0;
free:
	kfree(payload);
	return err;
}

static void __exit ksock_client_exit(void)
{
	WRITE_ONCE(stopping, true);
	sock_no_linger(sock->sk);
	kernel_sock_shutdown(sock, SHUT_RDWR);
	kthread_stop(task);
	sock_release(sock);
	kfree(payload);
	pr_info("unloaded peer=%pI4:%u\n", &peer.sin_addr, ntohs(peer.sin_port));
}

module_init(ksock_client_init);
module_exit(ksock_client_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("ksock: in-kernel TCP client (C reference)");
