// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers linked into ksock's Rust modules.
 *
 * They exist only where Rust cannot reach the kernel API from the `kernel` crate of the
 * target kernel: sock_set_reuseaddr(), sock_no_linger() and sock_set_sndtimeo() are declared
 * in net/sock.h, which the kernel's bindings_helper.h does not include (so there are no
 * bindings for them on 7.2/7.3), and module_param(..., charp, ...) is a C macro. Everything
 * else stays in Rust.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/net.h>
#include <net/sock.h>

/* Called from Rust (kmods/lib/ksock.rs). */
void ksock_sock_set_reuseaddr(struct socket *sock);
void ksock_sock_abort_on_close(struct socket *sock);
void ksock_sock_set_sndtimeo(struct socket *sock, s64 secs);
const char *ksock_param_addr(void);
const char *ksock_param_message(void);

void ksock_sock_set_reuseaddr(struct socket *sock)
{
	sock_set_reuseaddr(sock->sk);
}

/* Close with RST and free at once (no TIME_WAIT), so an unload leaves no socket behind. */
void ksock_sock_abort_on_close(struct socket *sock)
{
	sock_no_linger(sock->sk);
}

/* Bounds a blocking connect() or send(): the kernel uses sk_sndtimeo for both. */
void ksock_sock_set_sndtimeo(struct socket *sock, s64 secs)
{
	sock_set_sndtimeo(sock->sk, secs);
}

#ifndef KSOCK_DEFAULT_ADDR
#define KSOCK_DEFAULT_ADDR "0.0.0.0"
#endif

/* String parameters: the Rust `module!` macro takes integer parameters only. */
static char *addr = KSOCK_DEFAULT_ADDR;
module_param(addr, charp, 0444);
MODULE_PARM_DESC(addr, "IPv4 address (dotted quad)");

const char *ksock_param_addr(void)
{
	return addr;
}

#ifdef KSOCK_WITH_MESSAGE
static char *message = "hello from ksock_client";
module_param(message, charp, 0444);
MODULE_PARM_DESC(message, "Text to send (ignored when size > 0)");

const char *ksock_param_message(void)
{
	return message;
}
#endif
