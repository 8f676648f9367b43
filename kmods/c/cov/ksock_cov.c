// SPDX-License-Identifier: GPL-2.0
/*
 * ksock_cov: coverage of one module on a kernel without KCOV.
 *
 * ksock builds the module under test with the compiler's trace-pc instrumentation
 * (C: -fsanitize-coverage=trace-pc; Rust: -Cpasses=sancov-module ... -trace-pc), which
 * makes every basic block call __sanitizer_cov_trace_pc(). Debian's kernels do not have
 * KCOV, so nothing defines that symbol; this module does, and exports it, so it is loaded
 * first and the instrumented module resolves the call against it.
 *
 * The runtime appends each caller's address to one global trace, the shape of kcov's:
 * word 0 counts the entries, words 1.. hold return addresses. It is global, not per task,
 * so the module's own kernel threads and softirq paths are seen too. Userspace maps the
 * trace read-write from /dev/ksock_cov, clears word 0 before an input and reads the
 * addresses after it. Entries past the end are counted but dropped.
 *
 * Log lines: "ready words=N".
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/vmalloc.h>

static unsigned int words = 1 << 18;
module_param(words, uint, 0444);
MODULE_PARM_DESC(words, "Trace size in 8-byte words, a power of two (1024..=16777216)");

/* Written once in init before the device exists, freed after it is gone. */
static unsigned long *trace;

/*
 * Called from every instrumented basic block, in any context (process, softirq, with
 * locks held, with user access enabled): no locks, no calls, no instrumentation.
 */
void notrace __sanitizer_cov_trace_pc(void)
{
	unsigned long *t = READ_ONCE(trace);
	unsigned long pos;

	if (!t)
		return;
	pos = atomic_long_inc_return((atomic_long_t *)&t[0]);
	if (pos < words)
		WRITE_ONCE(t[pos], _RET_IP_);
}
EXPORT_SYMBOL(__sanitizer_cov_trace_pc);

static int cov_mmap(struct file *file, struct vm_area_struct *vma)
{
	if (vma->vm_pgoff != 0 || vma->vm_end - vma->vm_start > (unsigned long)words * 8)
		return -EINVAL;
	return remap_vmalloc_range(vma, trace, 0);
}

static const struct file_operations cov_fops = {
	.owner = THIS_MODULE,
	.mmap = cov_mmap,
};

static struct miscdevice cov_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "ksock_cov",
	.fops = &cov_fops,
	.mode = 0600,
};

static int __init ksock_cov_init(void)
{
	int err;

	if (words < 1024 || words > (1 << 24) || (words & (words - 1))) {
		pr_err("invalid parameter words=%u (want a power of two in 1024..=16777216)\n",
		       words);
		return -EINVAL;
	}
	trace = vmalloc_user((unsigned long)words * 8);
	if (!trace)
		return -ENOMEM;
	err = misc_register(&cov_dev);
	if (err) {
		vfree(trace);
		trace = NULL;
		return err;
	}
	pr_info("ready words=%u\n", words);
	return 0;
}

static void __exit ksock_cov_exit(void)
{
	unsigned long *t = trace;

	/* No instrumented module is loaded any more: it depends on this one. */
	misc_deregister(&cov_dev);
	WRITE_ONCE(trace, NULL);
	vfree(t);
}

module_init(ksock_cov_init);
module_exit(ksock_cov_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("ksock: trace-pc coverage runtime for one module (no KCOV needed)");
