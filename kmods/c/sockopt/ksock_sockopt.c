// SPDX-License-Identifier: GPL-2.0
/*
 * ksock_sockopt (C reference): seed 003's user<->kernel channel through
 * nf_register_sockopt(), with the same parameters and log lines as
 * kmods/sockopt/sockopt.rs. seed_bugs is a bit mask of planted bugs: 1 reproduces the
 * seed's two mistakes (a fixed 64-byte copy_from_user() whatever optlen says, and a
 * copy_to_user() that ignores *len); 2 makes a zero-length get right after a set of
 * exactly CAPACITY bytes dereference NULL.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/netfilter.h>
#include <linux/sockptr.h>
#include <linux/uaccess.h>
#include <net/sock.h>

#define CAPACITY 64
#define SEED_SET_COPY 64
#define SEED_COPIES 1
#define SEED_CRASH 2
#define INITIAL "a message from kernel"

static int optmin = 128;
module_param(optmin, int, 0444);
MODULE_PARM_DESC(optmin, "First optname served (64..=4095)");
static int optmax = 129;
module_param(optmax, int, 0444);
MODULE_PARM_DESC(optmax, "One past the last optname served (optmin+1..=optmin+16)");
static int seed_bugs;
module_param(seed_bugs, int, 0444);
MODULE_PARM_DESC(seed_bugs, "Planted bugs for fuzzing: 1 the seed's unchecked copies, 2 a crash");

/* The stored message; every access holds `lock`. */
static DEFINE_MUTEX(lock);
static char store[CAPACITY];
static unsigned int store_len;
/* Whether the last set stated exactly CAPACITY bytes (for SEED_CRASH). */
static bool last_set_full;

static int do_set(struct sock *sk, int optval, sockptr_t arg, unsigned int len)
{
	char tmp[CAPACITY];
	int ret = 0;

	if (sockptr_is_kernel(arg))
		return -EINVAL;
	mutex_lock(&lock);
	last_set_full = len == CAPACITY;
	if (seed_bugs & SEED_COPIES) {
		/* Seed bug: a fixed-size copy that ignores optlen. */
		if (copy_from_user(store, arg.user, SEED_SET_COPY)) {
			pr_info("set fault optname=%d errno=%d\n", optval, -EFAULT);
			ret = -EFAULT;
			goto out;
		}
		store_len = strnlen(store, SEED_SET_COPY);
		pr_info("set optname=%d len=%u\n", optval, store_len);
		goto out;
	}
	if (len == 0 || len > CAPACITY) {
		pr_info("set rejected optname=%d len=%u capacity=%d errno=%d\n", optval, len,
			CAPACITY, -EINVAL);
		ret = -EINVAL;
		goto out;
	}
	if (copy_from_sockptr(tmp, arg, len)) {
		pr_info("set fault optname=%d errno=%d\n", optval, -EFAULT);
		ret = -EFAULT;
		goto out;
	}
	memcpy(store, tmp, len);
	store_len = len;
	pr_info("set optname=%d len=%u\n", optval, len);
out:
	mutex_unlock(&lock);
	return ret;
}

static int do_get(struct sock *sk, int optval, void __user *user, int *len)
{
	unsigned int n;
	int ret = 0;

	mutex_lock(&lock);
	if ((seed_bugs & SEED_CRASH) && *len == 0 && last_set_full) {
		int *volatile null = NULL;

		pr_info("get optname=%d len=0: seeded crash\n", optval);
		*null = 0;
	}
	if (seed_bugs & SEED_COPIES) {
		/* Seed bug: copies the whole message whatever the caller's buffer holds. */
		if (copy_to_user(user, store, store_len)) {
			pr_info("get fault optname=%d errno=%d\n", optval, -EFAULT);
			ret = -EFAULT;
			goto out;
		}
		pr_info("get optname=%d len=%u\n", optval, store_len);
		goto out;
	}
	if (*len < 0) {
		pr_info("get rejected optname=%d len=%d errno=%d\n", optval, *len, -EINVAL);
		ret = -EINVAL;
		goto out;
	}
	n = min_t(unsigned int, store_len, *len);
	if (copy_to_user(user, store, n)) {
		pr_info("get fault optname=%d errno=%d\n", optval, -EFAULT);
		ret = -EFAULT;
		goto out;
	}
	*len = n;
	pr_info("get optname=%d len=%u\n", optval, n);
out:
	mutex_unlock(&lock);
	return ret;
}

static struct nf_sockopt_ops ops = {
	.pf = PF_INET,
	.set = do_set,
	.get = do_get,
	.owner = THIS_MODULE,
};

static int __init ksock_sockopt_init(void)
{
	int err;

	if (optmin < 64 || optmin > 4095) {
		pr_err("invalid parameter optmin=%d (want 64..=4095)\n", optmin);
		return -EINVAL;
	}
	if (optmax < optmin + 1 || optmax > optmin + 16) {
		pr_err("invalid parameter optmax=%d (want %d..=%d)\n", optmax, optmin + 1,
		       optmin + 16);
		return -EINVAL;
	}
	if (seed_bugs < 0 || seed_bugs > 3) {
		pr_err("invalid parameter seed_bugs=%d (want 0..=3)\n", seed_bugs);
		return -EINVAL;
	}
	memcpy(store, INITIAL, sizeof(INITIAL) - 1);
	store_len = sizeof(INITIAL) - 1;
	ops.set_optmin = optmin;
	ops.set_optmax = optmax;
	ops.get_optmin = optmin;
	ops.get_optmax = optmax;
	err = nf_register_sockopt(&ops);
	if (err) {
		pr_err("register failed optnames=%d..%d errno=%d\n", optmin, optmax, err);
		return err;
	}
	pr_info("registered optnames=%d..%d capacity=%d seed_bugs=%d\n", optmin, optmax,
		CAPACITY, seed_bugs);
	return 0;
}

static void __exit ksock_sockopt_exit(void)
{
	nf_unregister_sockopt(&ops);
	pr_info("unregistered\n");
}

module_init(ksock_sockopt_init);
module_exit(ksock_sockopt_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("ksock: setsockopt/getsockopt channel via nf_register_sockopt (C reference)");
