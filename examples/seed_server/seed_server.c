// SPDX-License-Identifier: GPL-2.0
/*
 * seed_server: seed 000's kernel TCP server as its article writes it, ported only as far as
 * 7.2 requires (sock_create_kern takes the namespace; kernel_accept instead of calling
 * ->accept directly). All its work happens in module init: it listens on port 8888,
 * blocks in accept until one client connects, receives one message of up to 1024 bytes,
 * prints it, and returns what kernel_recvmsg returned. So `insmod` returns only after a
 * client has sent: load it in the background (a spec's `load: {…, background: NAME}`).
 *
 * Kept from the article on purpose: the receive buffer is cleared with the size of the
 * pointer, not of the buffer, and printed with %s (fine while the message is shorter than
 * 1024 bytes: the kernel zeroes fresh allocations), and init returns a byte count where
 * the kernel expects 0 or an errno (it warns and loads the module anyway).
 */
#include <linux/in.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/slab.h>
#include <linux/uio.h>
#include <net/net_namespace.h>
#include <net/sock.h>

#define PORT 8888
#define BUF 1024

static int __init seed_server_init(void)
{
	struct sockaddr_in addr = {
		.sin_family = AF_INET,
		.sin_port = htons(PORT),
		.sin_addr.s_addr = htonl(INADDR_ANY),
	};
	struct socket *sock, *client = NULL;
	struct msghdr msg = {};
	struct kvec vec;
	char *buf;
	int ret;

	ret = sock_create_kern(&init_net, PF_INET, SOCK_STREAM, IPPROTO_TCP, &sock);
	if (ret < 0) {
		pr_info("seed_server: socket create error\n");
		return ret;
	}
	pr_info("seed_server: create socket ok\n");
	ret = kernel_bind(sock, (void *)&addr, sizeof(addr));
	if (ret < 0)
		pr_info("seed_server: bind error %d\n", ret);
	else
		pr_info("seed_server: bind ok\n");
	ret = kernel_listen(sock, 10);
	if (ret < 0)
		pr_info("seed_server: listen error %d\n", ret);
	else
		pr_info("seed_server: listen ok\n");
	ret = kernel_accept(sock, &client, 0);
	if (ret < 0) {
		pr_info("seed_server: accept error %d\n", ret);
		sock_release(sock);
		return ret;
	}
	pr_info("seed_server: accept ok, connection established\n");
	buf = kmalloc(BUF, GFP_KERNEL);
	if (buf)
		memset(buf, 0, sizeof(buf));
	vec.iov_base = buf;
	vec.iov_len = BUF;
	ret = kernel_recvmsg(client, &msg, &vec, 1, BUF, 0);
	pr_info("seed_server: receive message:\n %s\n", buf);
	kfree(buf);
	sock_release(client);
	sock_release(sock);
	return ret;
}

static void __exit seed_server_exit(void)
{
	pr_info("seed_server: exit\n");
}

module_init(seed_server_init);
module_exit(seed_server_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Seed 000's kernel TCP server, as written: all in init");
