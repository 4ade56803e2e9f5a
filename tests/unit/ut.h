/*
 * ut.h: the unit test framework, header only.
 *
 * A test binary is a main() that runs UT_TEST(fn) for each test function
 * and returns ut_summary().  Checks record a failure with file and line
 * and carry on, so one run shows every broken check.  Counts are of
 * checks; the last line printed is always "N passed, N failed", which
 * tests/unit/run.sh adds up.
 */

#ifndef UT_H
#define UT_H

#include <stdio.h>
#include <string.h>

static int		 ut_passed;
static int		 ut_failed;
static const char	*ut_current = "";

static inline int
ut_check(int ok, const char *file, int line, const char *what)
{
	if (ok) {
		ut_passed++;
		return (1);
	}
	ut_failed++;
	fprintf(stderr, "FAIL %s:%d: %s: %s\n", file, line, ut_current, what);
	return (0);
}

#define UT_CHECK(cond)							\
	ut_check((cond) ? 1 : 0, __FILE__, __LINE__, #cond)

#define UT_EQ_INT(got, want) do {					\
	long long	ut_g_ = (long long)(got);			\
	long long	ut_w_ = (long long)(want);			\
	if (!ut_check(ut_g_ == ut_w_, __FILE__, __LINE__,		\
	    #got " == " #want))						\
		fprintf(stderr, "     got %lld, want %lld\n", ut_g_, ut_w_); \
} while (0)

#define UT_EQ_STR(got, want) do {					\
	const char	*ut_g_ = (got);					\
	const char	*ut_w_ = (want);				\
	if (!ut_check(ut_g_ != NULL && ut_w_ != NULL &&			\
	    strcmp(ut_g_, ut_w_) == 0, __FILE__, __LINE__,		\
	    #got " == " #want))						\
		fprintf(stderr, "     got \"%s\", want \"%s\"\n",	\
		    ut_g_ ? ut_g_ : "(null)", ut_w_ ? ut_w_ : "(null)");\
} while (0)

#define UT_TEST(fn) do {						\
	ut_current = #fn;						\
	fn();								\
	ut_current = "";						\
} while (0)

static inline int
ut_summary(void)
{
	printf("%d passed, %d failed\n", ut_passed, ut_failed);
	fflush(stdout);
	return (ut_failed == 0 ? 0 : 1);
}

#endif /* UT_H */
