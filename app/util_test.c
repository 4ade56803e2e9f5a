/*
 * util_test.c: unit tests for util.c: allocation helpers, clocks,
 * randomness and struct buf (growth, NUL termination, zeroed start).
 */

#include <string.h>
#include <time.h>

#include "crm.h"
#include "ut.h"

static void
test_alloc(void)
{
	char		*p;

	p = xmalloc(0);
	UT_CHECK(p != NULL);
	xfree(p);
	p = xcalloc(4, 8);
	UT_CHECK(p[0] == 0 && p[31] == 0);
	p = xrealloc(p, 1000);
	p[999] = 'x';
	xfree(p);
	xfree(NULL);

	p = xstrdup("hello");
	UT_EQ_STR(p, "hello");
	xfree(p);
	p = xstrndup("hello", 3);
	UT_EQ_STR(p, "hel");
	xfree(p);
	p = xstrndup("hi", 10);
	UT_EQ_STR(p, "hi");
	xfree(p);
}

static void
test_time(void)
{
	uint64_t	ms, us;
	time_t		now = time(NULL);

	ms = crm_now_ms();
	us = crm_now_us();
	UT_CHECK(ms / 1000 + 1 >= (uint64_t)now);
	UT_CHECK(ms / 1000 <= (uint64_t)now + 1);
	UT_CHECK(us / 1000 >= ms && us / 1000 <= ms + 1000);
}

static void
test_random(void)
{
	uint8_t		a[32], b[32], zero[32];

	memset(zero, 0, sizeof(zero));
	UT_EQ_INT(crm_random(a, sizeof(a)), 0);
	UT_EQ_INT(crm_random(b, sizeof(b)), 0);
	UT_CHECK(memcmp(a, b, sizeof(a)) != 0);
	UT_CHECK(memcmp(a, zero, sizeof(a)) != 0);
	UT_EQ_INT(crm_random(a, 0), 0);
}

static void
test_buf(void)
{
	struct buf	b;
	int		i;

	buf_init(&b, 0);
	UT_EQ_STR(buf_cstr(&b), "");
	buf_appends(&b, "ab");
	buf_appendc(&b, 'c');
	buf_append(&b, "defg", 2);
	buf_appendf(&b, "-%d-%s", 42, "x");
	UT_EQ_INT(b.len, 10);
	UT_EQ_STR(buf_cstr(&b), "abcde-42-x");
	UT_CHECK(buf_cstr(&b) == b.data);
	buf_reset(&b);
	UT_EQ_INT(b.len, 0);
	UT_EQ_STR(b.data, "");

	/* Growth keeps content and the NUL after every step. */
	for (i = 0; i < 10000; i++) {
		buf_appendc(&b, (char)('a' + i % 26));
		if (b.data[b.len] != '\0')
			break;
	}
	UT_EQ_INT(i, 10000);
	UT_EQ_INT(b.len, 10000);
	UT_CHECK(b.data[9999] == 'a' + 9999 % 26);
	UT_CHECK(b.cap > b.len);
	buf_free(&b);
	UT_CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
	buf_free(&b);
}

/* A zeroed struct buf (inside an xcalloc'd struct) works as is. */
static void
test_buf_zeroed(void)
{
	struct buf	b = { NULL, 0, 0 };
	char		big[3000];

	UT_EQ_STR(buf_cstr(&b), "");
	buf_free(&b);

	buf_reset(&b);
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_appendf(&b, "%s", big);	/* formats twice: grows */
	UT_EQ_INT(b.len, sizeof(big) - 1);
	UT_CHECK(strcmp(b.data, big) == 0);
	buf_appendf(&b, "%s", "");
	UT_EQ_INT(b.len, sizeof(big) - 1);
	buf_free(&b);

	buf_append(&b, "", 0);
	UT_EQ_STR(buf_cstr(&b), "");
	buf_append(&b, "a\0b", 3);			/* binary safe */
	UT_EQ_INT(b.len, 3);
	UT_CHECK(memcmp(b.data, "a\0b", 4) == 0);
	buf_free(&b);
}

int
main(void)
{
	UT_TEST(test_alloc);
	UT_TEST(test_time);
	UT_TEST(test_random);
	UT_TEST(test_buf);
	UT_TEST(test_buf_zeroed);
	return (ut_summary());
}
