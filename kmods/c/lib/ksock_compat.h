/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Version bridges for ksock's C reference modules.
 *
 * - sock_create_kern() gained its `struct net *` first argument in 4.2: gated on
 *   LINUX_VERSION_CODE, like the seed articles' modules.
 * - kernel_bind()/kernel_connect() take `struct sockaddr_unsized *` on 7.x kernels; ksock
 *   detects that from the target's own include/linux/net.h and passes
 *   -DKSOCK_SOCKADDR_UNSIZED (see vm/src/compat.rs).
 */
#ifndef KSOCK_COMPAT_H
#define KSOCK_COMPAT_H

#include <linux/version.h>
#include <linux/net.h>
#include <linux/in.h>
#include <linux/inet.h>
#include <net/net_namespace.h>

static inline int ksock_sock_create(struct socket **res)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(4, 2, 0)
	return sock_create_kern(&init_net, PF_INET, SOCK_STREAM, IPPROTO_TCP, res);
#else
	return sock_create_kern(PF_INET, SOCK_STREAM, IPPROTO_TCP, res);
#endif
}

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
