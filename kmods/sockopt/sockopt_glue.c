// SPDX-License-Identifier: GPL-2.0
/*
 * Registration glue for ksock_sockopt. The logic (bounds, user copies, logging) is Rust,
 * in sockopt.rs. This file exists because the kernel crate has no binding for
 * struct nf_sockopt_ops or nf_register_sockopt() (linux/netfilter.h is not in the kernel's
 * bindings_helper.h), and because the callback signatures use sockptr_t, whose helpers
 * are inline.
 *
 * Locking is Rust's: sockopt.rs serialises every set/get with the kernel crate's global
 * mutex, so this file holds no lock of its own.
 */
#include <linux/module.h>
#include <linux/netfilter.h>
#include <linux/sockptr.h>
#include <net/sock.h>

/* Called from sockopt.rs. */
int ksock_sockopt_register(int optmin, int optmax);
void ksock_sockopt_unregister(void);

/* Implemented in sockopt.rs. */
int ksock_sockopt_set(int optval, void __user *user, unsigned int len);
int ksock_sockopt_get(int optval, void __user *user, int *len);

static int glue_set(struct sock *sk, int optval, sockptr_t arg, unsigned int len)
{
	/* Only userspace callers: a kernel caller's buffer is not a user pointer. */
	if (sockptr_is_kernel(arg))
		return -EINVAL;
	return ksock_sockopt_set(optval, arg.user, len);
}

static int glue_get(struct sock *sk, int optval, void __user *user, int *len)
{
	return ksock_sockopt_get(optval, user, len);
}

static struct nf_sockopt_ops ksock_ops = {
	.pf = PF_INET,
	.set = glue_set,
	.get = glue_get,
	/* Pins the module while a call is inside set/get. */
	.owner = THIS_MODULE,
};

/* [optmin, optmax): the non-inclusive range nf_sockopt_ops uses. */
int ksock_sockopt_register(int optmin, int optmax)
{
	ksock_ops.set_optmin = optmin;
	ksock_ops.set_optmax = optmax;
	ksock_ops.get_optmin = optmin;
	ksock_ops.get_optmax = optmax;
	return nf_register_sockopt(&ksock_ops);
}

void ksock_sockopt_unregister(void)
{
	nf_unregister_sockopt(&ksock_ops);
}
