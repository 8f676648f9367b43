/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksock_compat.h: the in-kernel socket API as one form that builds on every kernel of
 * ksock's catalog (5.10 to 7.3), for ksock's own C modules and for anyone's.
 *
 * Outside modules: ksock puts this header on the include path of every module it builds,
 * so `#include <ksock_compat.h>` works without a line in the module's Kbuild. Built by
 * hand, copy it next to the module and `#include "ksock_compat.h"`.
 *
 * Each fact below is a row of ksock's table of kernel API changes (vm/src/kernel/drift.rs),
 * which also explains a failed build. ksock detects the facts from the target kernel's own
 * headers and passes them as -DKSOCK_<FACT>=1 with -DKSOCK_COMPAT_FACTS=1 (a backport then
 * counts too); without ksock they follow LINUX_VERSION_CODE, from the versions in the table.
 *
 *   KSOCK_SOCK_CREATE_KERN_NET  sock_create_kern() takes a struct net * first      (4.2)
 *   KSOCK_ACCEPT_KERN           ->accept carries bool kern (an argument until 6.9) (4.11)
 *   KSOCK_NO_KERNEL_SETSOCKOPT  kernel_setsockopt()/kernel_getsockopt() are gone   (5.8)
 *   KSOCK_NF_SET_SOCKPTR        nf_sockopt_ops .set takes sockptr_t                (5.9)
 *   KSOCK_NO_KERNEL_SENDPAGE    kernel_sendpage() is gone                          (6.5)
 *   KSOCK_ACCEPT_ARG            ->accept(sock, newsock, struct proto_accept_arg *) (6.10)
 *   KSOCK_SOCKADDR_UNSIZED      kernel_bind()/kernel_connect() take sockaddr_unsized (6.19)
 *
 * Helpers: ksock_sock_create_kern(), ksock_ops_accept(), ksock_setsockopt(),
 * ksock_nf_set_arg_t with ksock_nf_copy_from(), ksock_sendpage(), KSOCK_SA(). (5.8 itself,
 * between kernel_setsockopt's removal and sockptr_t, is not covered.)
 */
#ifndef KSOCK_COMPAT_H
#define KSOCK_COMPAT_H

#include <linux/version.h>
#include <linux/kthread.h>
#include <linux/net.h>
#include <linux/in.h>
#include <linux/inet.h>
#include <linux/netfilter.h>
#include <linux/printk.h>
#include <linux/sched.h>
#include <linux/socket.h>
#include <linux/uaccess.h>
#include <linux/bvec.h>
#include <linux/uio.h>
#include <net/net_namespace.h>
#include <net/sock.h>

#ifndef KSOCK_COMPAT_FACTS
#if LINUX_VERSION_CODE >= KERNEL_VERSION(4, 2, 0)
#define KSOCK_SOCK_CREATE_KERN_NET 1
#endif
#if LINUX_VERSION_CODE >= KERNEL_VERSION(4, 11, 0)
#define KSOCK_ACCEPT_KERN 1
#endif
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 8, 0)
#define KSOCK_NO_KERNEL_SETSOCKOPT 1
#endif
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 9, 0)
#define KSOCK_NF_SET_SOCKPTR 1
#endif
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
#define KSOCK_NO_KERNEL_SENDPAGE 1
#endif
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 10, 0)
#define KSOCK_ACCEPT_ARG 1
#endif
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 19, 0)
#define KSOCK_SOCKADDR_UNSIZED 1
#endif
#endif /* KSOCK_COMPAT_FACTS */

/* A kernel socket in the initial network namespace. */
static inline int ksock_sock_create_kern(int family, int type, int protocol,
					 struct socket **res)
{
#ifdef KSOCK_SOCK_CREATE_KERN_NET
	return sock_create_kern(&init_net, family, type, protocol, res);
#else
	return sock_create_kern(family, type, protocol, res);
#endif
}

/* A kernel TCP/IPv4 socket (ksock's own modules). */
static inline int ksock_sock_create(struct socket **res)
{
	return ksock_sock_create_kern(PF_INET, SOCK_STREAM, IPPROTO_TCP, res);
}

/*
 * sock->ops->accept() into a socket the caller made (sock_create_lite() and
 * newsock->ops = sock->ops, as the old examples do). kernel_accept() does all of that and
 * builds everywhere too.
 */
static inline int ksock_ops_accept(struct socket *sock, struct socket *newsock, int flags)
{
#if defined(KSOCK_ACCEPT_ARG)
	struct proto_accept_arg arg = { .flags = flags, .kern = true };

	return sock->ops->accept(sock, newsock, &arg);
#elif defined(KSOCK_ACCEPT_KERN)
	return sock->ops->accept(sock, newsock, flags, true);
#else
	return sock->ops->accept(sock, newsock, flags);
#endif
}

/* setsockopt() on a kernel socket with a kernel buffer, as kernel_setsockopt() was. */
static inline int ksock_setsockopt(struct socket *sock, int level, int optname,
				   void *optval, unsigned int optlen)
{
#ifndef KSOCK_NO_KERNEL_SETSOCKOPT
	return kernel_setsockopt(sock, level, optname, (char *)optval, optlen);
#else
	if (level == SOL_SOCKET)
		return sock_setsockopt(sock, level, optname, KERNEL_SOCKPTR(optval), optlen);
	return sock->ops->setsockopt(sock, level, optname, KERNEL_SOCKPTR(optval), optlen);
#endif
}

/*
 * The value argument of an nf_sockopt_ops .set handler, and reading it:
 *   static int my_set(struct sock *sk, int optval, ksock_nf_set_arg_t arg, unsigned int len)
 *   { ... if (ksock_nf_copy_from(buf, arg, len)) return -EFAULT; ... }
 */
#ifdef KSOCK_NF_SET_SOCKPTR
typedef sockptr_t ksock_nf_set_arg_t;
static inline int ksock_nf_copy_from(void *dst, ksock_nf_set_arg_t arg, size_t len)
{
	return copy_from_sockptr(dst, arg, len) ? -EFAULT : 0;
}
#else
typedef void __user *ksock_nf_set_arg_t;
static inline int ksock_nf_copy_from(void *dst, ksock_nf_set_arg_t arg, size_t len)
{
	return copy_from_user(dst, arg, len) ? -EFAULT : 0;
}
#endif

/* Sends `size` bytes of `page` from `offset`, as kernel_sendpage() did. */
static inline int ksock_sendpage(struct socket *sock, struct page *page, int offset,
				 size_t size, int flags)
{
#ifndef KSOCK_NO_KERNEL_SENDPAGE
	return kernel_sendpage(sock, page, offset, size, flags);
#else
	struct bio_vec bvec;
	struct msghdr msg = { .msg_flags = flags | MSG_SPLICE_PAGES };

	bvec_set_page(&bvec, page, size, offset);
	iov_iter_bvec(&msg.msg_iter, ITER_SOURCE, &bvec, 1, size);
	return sock_sendmsg(sock, &msg);
#endif
}

/* The address argument of kernel_bind()/kernel_connect(): KSOCK_SA(&sin). */
#ifdef KSOCK_SOCKADDR_UNSIZED
#define KSOCK_SA(p) ((struct sockaddr_unsized *)(p))
#else
#define KSOCK_SA(p) ((struct sockaddr *)(p))
#endif

/* Parses a dotted quad; false if `s` is not one. */
static inline bool ksock_parse_ipv4(const char *s, __be32 *out)
{
	const char *end;

	return in4_pton(s, -1, (u8 *)out, '\0', &end) == 1 && *end == '\0';
}

/* Logs and fails when an integer parameter is out of range (same text as the Rust modules). */
#define KSOCK_CHECK_RANGE(name, v, lo, hi)                                              \
	do {                                                                            \
		if ((v) < (lo) || (v) > (hi)) {                                         \
			pr_err("invalid parameter " #name "=%d (want %d..=%d)\n", (v),    \
			       (lo), (hi));                                             \
			return -EINVAL;                                                 \
		}                                                                       \
	} while (0)

/* Sleeps until kthread_stop(): threads never return before it (see the Rust library). */
static inline void ksock_wait_for_stop(void)
{
	while (!kthread_should_stop())
		schedule_timeout_interruptible(HZ);
}

#endif /* KSOCK_COMPAT_H */
