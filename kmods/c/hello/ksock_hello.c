// SPDX-License-Identifier: GPL-2.0
/* ksock_hello (C reference): the same lines as kmods/hello/ksock_hello.rs. */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/moduleparam.h>

static int count = 1;
module_param(count, int, 0444);
MODULE_PARM_DESC(count, "How many greeting lines to log at load (1..=16)");

static int __init ksock_hello_init(void)
{
	int i;

	if (count < 1 || count > 16) {
		pr_err("invalid parameter count=%d (want 1..=16)\n", count);
		return -EINVAL;
	}
	pr_info("loaded count=%d\n", count);
	for (i = 1; i <= count; i++)
		pr_info("hello %d/%d\n", i, count);
	return 0;
}

static void __exit ksock_hello_exit(void)
{
	pr_info("unloaded count=%d\n", count);
}

module_init(ksock_hello_init);
module_exit(ksock_hello_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("ksock pipeline check (C reference)");
