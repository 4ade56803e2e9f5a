/*
 * jobspec_test.c: event names, subscription filters and the full-jitter
 * backoff of jobspec.c.
 */

#include <stdint.h>
#include <string.h>

#include "job.h"
#include "ut.h"

static void
test_events(void)
{
	size_t	i;

	UT_EQ_INT(jspec_event_count(), 34);
	for (i = 0; i < jspec_event_count(); i++)
		UT_EQ_INT(jspec_event_valid(jspec_event_at(i)), 1);
	UT_CHECK(jspec_event_at(jspec_event_count()) == NULL);
	UT_EQ_INT(jspec_event_valid("account.created"), 1);
	UT_EQ_INT(jspec_event_valid("price_book.restored"), 1);
	UT_EQ_INT(jspec_event_valid("deal.stage_changed"), 1);
	UT_EQ_INT(jspec_event_valid("lead.converted"), 1);
	UT_EQ_INT(jspec_event_valid("contact.converted"), 0);
	UT_EQ_INT(jspec_event_valid("account.Created"), 0);
	UT_EQ_INT(jspec_event_valid("accounts.created"), 0);
	UT_EQ_INT(jspec_event_valid(""), 0);
	UT_EQ_INT(jspec_event_valid("account.created "), 0);
}

static void
test_filters(void)
{
	UT_EQ_INT(jspec_filter_valid("*"), 1);
	UT_EQ_INT(jspec_filter_valid("contact.*"), 1);
	UT_EQ_INT(jspec_filter_valid("price_book.*"), 1);
	UT_EQ_INT(jspec_filter_valid("account.updated"), 1);
	UT_EQ_INT(jspec_filter_valid("foo.*"), 0);
	UT_EQ_INT(jspec_filter_valid("*.created"), 0);
	UT_EQ_INT(jspec_filter_valid(".*"), 0);
	UT_EQ_INT(jspec_filter_valid("**"), 0);
	UT_EQ_INT(jspec_filter_valid("account"), 0);
	UT_EQ_INT(jspec_filter_valid("account.*.x"), 0);

	UT_EQ_INT(jspec_filter_match("*", "deal.stage_changed"), 1);
	UT_EQ_INT(jspec_filter_match("account.*", "account.deleted"), 1);
	UT_EQ_INT(jspec_filter_match("account.*", "accounts.deleted"), 0);
	UT_EQ_INT(jspec_filter_match("account.*", "contact.created"), 0);
	UT_EQ_INT(jspec_filter_match("deal.*", "deal.stage_changed"), 1);
	UT_EQ_INT(jspec_filter_match("lead.converted", "lead.converted"), 1);
	UT_EQ_INT(jspec_filter_match("lead.converted", "lead.created"), 0);
}

static void
test_backoff(void)
{
	uint64_t	r, v;
	int		a;

	/* The ceiling doubles from base and stops at cap. */
	UT_EQ_INT(jspec_backoff_ms(1, 2000, 3600000, UINT64_MAX), 
	    UINT64_MAX % 2001);
	UT_EQ_INT(jspec_backoff_ms(1, 2000, 3600000, 2000), 2000);
	UT_EQ_INT(jspec_backoff_ms(1, 2000, 3600000, 2001), 0);
	UT_EQ_INT(jspec_backoff_ms(2, 2000, 3600000, 4000), 4000);
	UT_EQ_INT(jspec_backoff_ms(3, 2000, 3600000, 8000), 8000);
	UT_EQ_INT(jspec_backoff_ms(30, 2000, 3600000, 3600000), 3600000);
	UT_EQ_INT(jspec_backoff_ms(30, 2000, 3600000, 3600001), 0);
	UT_EQ_INT(jspec_backoff_ms(5, 100, 1000, 1000), 1000);
	UT_EQ_INT(jspec_backoff_ms(0, 100, 1000, 50), 50);
	for (a = 1; a < 64; a++) {
		for (r = 0; r < 5000000; r += 999983) {
			v = jspec_backoff_ms(a, 2000, 3600000, r * 7919);
			UT_CHECK(v <= 3600000);
		}
	}
}

int
main(void)
{
	UT_TEST(test_events);
	UT_TEST(test_filters);
	UT_TEST(test_backoff);
	return (ut_summary());
}
