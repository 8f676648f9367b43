// SPDX-License-Identifier: GPL-2.0
/*
 * sockopt_srv: a module developer's setsockopt/getsockopt channel (the seed article's
 * sockopt_srv.c), registered with nf_register_sockopt on optname 128 at SOL_IP.
 *
 * set stores up to 64 bytes of the caller's value, bounded by the stated length. get has
 * the article's bug: it copies its whole message whatever *len says (and never says how
 * much it wrote), so a caller with a short buffer gets bytes written past its end.
 * `ksock fuzz sockopt_srv` finds it; see README.md.
 */
#include <linux/module.h>
#include <linux/netfilter.h>
#include <linux/sockptr.h>
#include <linux/uaccess.h>
#include <net/sock.h>

#define OPT 128
static char kmsg[] = "a message from kernel";
static char store[64];

static int srv_set(struct sock *sk, int optval, sockptr_t arg, unsigned int len)
{
	if (len > sizeof(store))
		len = sizeof(store);
	if (copy_from_sockptr(store, arg, len))
		return -EFAULT;
	return 0;
}

static int srv_get(struct sock *sk, int optval, void __user *user, int *len)
{
	if (copy_to_user(user, kmsg, sizeof(kmsg)))
		return -EFAULT;
	return 0;
}

static struct nf_sockopt_ops ops = {
	.pf = PF_INET,
	.set_optmin = OPT,
	.set_optmax = OPT + 1,
	.set = srv_set,
	.get_optmin = OPT,
	.get_optmax = OPT + 1,
	.get = srv_get,
	.owner = THIS_MODULE,
};

static int __init srv_init(void)
{
	return nf_register_sockopt(&ops);
}

static void __exit srv_exit(void)
{
	nf_unregister_sockopt(&ops);
}

module_init(srv_init);
module_exit(srv_exit);
MODULE_LICENSE("GPL");
