/*
 * crmctl_test.c: unit tests for crmctl.c's pure parts: slugs, migration
 * file names, integer options.  The database side is tested by
 * tests/schema against a live PostgreSQL.
 *
 * Includes crmctl.c itself (without its main) to reach static functions.
 */

#define CRMCTL_NO_MAIN
#include "crmctl.c"

#include "ut.h"

static void
test_slug_valid(void)
{
	UT_CHECK(slug_valid("demo"));
	UT_CHECK(slug_valid("abc"));
	UT_CHECK(slug_valid("a-1"));
	UT_CHECK(slug_valid("0123456789012345678901234567890123456789"));
	UT_CHECK(!slug_valid("ab"));
	UT_CHECK(!slug_valid("01234567890123456789012345678901234567890"));
	UT_CHECK(!slug_valid("-abc"));
	UT_CHECK(!slug_valid("abc-"));
	UT_CHECK(!slug_valid("Abc"));
	UT_CHECK(!slug_valid("a_bc"));
	UT_CHECK(!slug_valid("a bc"));
	UT_CHECK(!slug_valid("caf\xc3\xa9"));
	UT_CHECK(!slug_valid(""));
}

static void
test_slug_from_name(void)
{
	char	s[SLUG_MAX + 1];

	UT_EQ_INT(slug_from_name("Demo Company", s), 0);
	UT_EQ_STR(s, "demo-company");
	UT_EQ_INT(slug_from_name("  --ACME, Inc.--  ", s), 0);
	UT_EQ_STR(s, "acme-inc");
	UT_EQ_INT(slug_from_name("M\xc3\xbcller & S\xc3\xb6hne", s), 0);
	UT_EQ_STR(s, "m-ller-s-hne");
	UT_EQ_INT(slug_from_name("X", s), -1);
	UT_EQ_INT(slug_from_name("!!!", s), -1);
	UT_EQ_INT(slug_from_name("", s), -1);
	/* Cut at 40 without a trailing dash. */
	UT_EQ_INT(slug_from_name("aaaaaaaaaa bbbbbbbbbb cccccccccc ddddddd "
	    "eeeeeeee", s), 0);
	UT_EQ_STR(s, "aaaaaaaaaa-bbbbbbbbbb-cccccccccc-ddddddd");
	UT_EQ_INT(slug_from_name("aaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaa",
	    s), 0);
	UT_EQ_INT(strlen(s), SLUG_MAX);
	UT_EQ_INT(slug_from_name("aaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaa b", s), 0);
	UT_EQ_STR(s, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
}

static void
test_mig_name(void)
{
	int	v = 0;

	UT_EQ_INT(mig_name_parse("001_foundation.sql", &v), 1);
	UT_EQ_INT(v, 1);
	UT_EQ_INT(mig_name_parse("042_add_deals_2.sql", &v), 1);
	UT_EQ_INT(v, 42);
	UT_EQ_INT(mig_name_parse("1000_x.sql", &v), 1);
	UT_EQ_INT(v, 1000);
	UT_EQ_INT(mig_name_parse("roles.sql", &v), 0);
	UT_EQ_INT(mig_name_parse("README", &v), 0);
	UT_EQ_INT(mig_name_parse(".hidden", &v), 0);
	UT_EQ_INT(mig_name_parse("01_short.sql", &v), -1);
	UT_EQ_INT(mig_name_parse("001-dash.sql", &v), -1);
	UT_EQ_INT(mig_name_parse("001_.sql", &v), -1);
	UT_EQ_INT(mig_name_parse("001_x.sql~", &v), -1);
	UT_EQ_INT(mig_name_parse("001_Upper.sql", &v), -1);
	UT_EQ_INT(mig_name_parse("001_x.SQL", &v), -1);
	UT_EQ_INT(mig_name_parse("000_zero.sql", &v), -1);
	UT_EQ_INT(mig_name_parse("0000000001_x.sql", &v), -1);
	UT_EQ_INT(mig_name_parse("001_", &v), -1);
}

static void
test_ctl_int(void)
{
	int	v = 0;

	UT_EQ_INT(ctl_int("5", 1, 10, &v), 0);
	UT_EQ_INT(v, 5);
	UT_EQ_INT(ctl_int("0", 1, 10, &v), -1);
	UT_EQ_INT(ctl_int("11", 1, 10, &v), -1);
	UT_EQ_INT(ctl_int("", 1, 10, &v), -1);
	UT_EQ_INT(ctl_int("5x", 1, 10, &v), -1);
	UT_EQ_INT(ctl_int("99999999999999999999", 1, 10, &v), -1);
}

static void
test_line_of(void)
{
	const char	*sql = "a\n\xc3\xa9\xc3\xa9\nxyz";

	UT_EQ_INT(mig_line_of(sql, 1), 1);
	UT_EQ_INT(mig_line_of(sql, 3), 2);	/* characters, not bytes */
	UT_EQ_INT(mig_line_of(sql, 5), 2);
	UT_EQ_INT(mig_line_of(sql, 6), 3);
}

int
main(void)
{
	FILE	*null;

	UT_TEST(test_slug_valid);
	UT_TEST(test_slug_from_name);
	UT_TEST(test_mig_name);
	UT_TEST(test_ctl_int);
	UT_TEST(test_line_of);
	if ((null = fopen("/dev/null", "w")) != NULL) {
		ctl_help(null);	/* only main() uses it otherwise */
		fclose(null);
	}
	return (ut_summary());
}
