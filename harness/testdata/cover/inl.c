/* A relocatable object like a module's: trace-pc calls, an inlined helper, two text sections. */
void __sanitizer_cov_trace_pc(void);

static inline int twice(int x)
{
	if (x > 10)
		return x * 2;
	return x + 3;
}

int entry(int x)
{
	if (x < 0)
		return -1;
	return twice(x) + 1;
}

__attribute__((section(".text.other"))) int other(int x)
{
	if (x == 7)
		return 70;
	return 0;
}
