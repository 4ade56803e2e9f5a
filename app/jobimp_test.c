/*
 * jobimp_test.c: the import worker's pure parts: which file names a job
 * may open, the text[] literal of a batch's lookup keys, cell trimming.
 * (The run itself is covered end to end by tests/jobs/test_imports.py.)
 */

#include <string.h>

#include "jobdb.h"
#include "ut.h"

#define T_TENANT	"01a208ef-95a8-77da-9001-ac570e600247"
#define T_JOB		"01a208ef-95eb-7655-b117-c8d1a3ab124d"

static void
test_file_ok(void)
{
	UT_CHECK(jimp_file_ok(T_TENANT, T_TENANT "." T_JOB ".csv"));
	UT_CHECK(!jimp_file_ok(T_JOB, T_TENANT "." T_JOB ".csv"));
	UT_CHECK(!jimp_file_ok(T_TENANT, T_TENANT "." T_JOB ".CSV"));
	UT_CHECK(!jimp_file_ok(T_TENANT, T_TENANT ".../../etc/passwd.csv"));
	UT_CHECK(!jimp_file_ok(T_TENANT, T_TENANT "." T_JOB ".csv/x"));
	UT_CHECK(!jimp_file_ok(T_TENANT, T_TENANT ".not-a-uuid-at-all-but-36-"
	    "chars!.csv"));
	UT_CHECK(!jimp_file_ok(T_TENANT, NULL));
	UT_CHECK(!jimp_file_ok(T_TENANT, ""));
}

static void
test_array(void)
{
	struct buf	b;

	buf_init(&b, 16);
	buf_appendc(&b, '{');
	buf_appendc(&b, '}');
	UT_EQ_STR(buf_cstr(&b), "{}");
	buf_reset(&b);
	buf_appendc(&b, '{');
	jimp_array_add(&b, "a@x.example");
	jimp_array_add(&b, "say \"hi\"");
	jimp_array_add(&b, "back\\slash,comma");
	jimp_array_add(&b, "");
	buf_appendc(&b, '}');
	UT_EQ_STR(buf_cstr(&b), "{\"a@x.example\",\"say \\\"hi\\\"\","
	    "\"back\\\\slash,comma\",\"\"}");
	buf_free(&b);
}

static void
test_trimmed(void)
{
	char	*s;

	s = jimp_trimmed("  Acme Inc\t ");
	UT_EQ_STR(s, "Acme Inc");
	xfree(s);
	s = jimp_trimmed("x");
	UT_EQ_STR(s, "x");
	xfree(s);
	UT_CHECK(jimp_trimmed(" \t ") == NULL);
	UT_CHECK(jimp_trimmed("") == NULL);
}

int
main(void)
{
	UT_TEST(test_file_ok);
	UT_TEST(test_array);
	UT_TEST(test_trimmed);
	return (ut_summary());
}
