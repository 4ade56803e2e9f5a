/*
 * lease_test.c: spare rate-limit tokens (lease.c).
 */

#include <string.h>

#include "crm.h"
#include "ut.h"

static const struct lease_view	grant = { 100, 2500000, 1 };

static void
test_take_counts_down(void)
{
	struct lease_view	v;
	int			i;

	lease_clear();
	UT_CHECK(!lease_take("rl:t:a\nrl:u:a:b", 1000, &v));
	lease_put("rl:t:a\nrl:u:a:b", 1000, 3, &grant);
	for (i = 2; i >= 0; i--) {
		UT_CHECK(lease_take("rl:t:a\nrl:u:a:b", 1001, &v));
		/* Unused leased tokens count as remaining. */
		UT_EQ_INT(v.remaining, 100 + i);
		UT_EQ_INT(v.reset_us, 2500000);
		UT_EQ_INT(v.tight, 1);
	}
	UT_CHECK(!lease_take("rl:t:a\nrl:u:a:b", 1002, &v));
}

static void
test_expiry_and_identity(void)
{
	struct lease_view	v;

	lease_clear();
	lease_put("k1", 5000, 10, &grant);
	UT_CHECK(!lease_take("k2", 5001, &v));
	UT_CHECK(!lease_take("k", 5001, &v));
	UT_CHECK(lease_take("k1", 5000 + LEASE_TTL_MS - 1, &v));
	UT_CHECK(!lease_take("k1", 5000 + LEASE_TTL_MS, &v));
	/* A clock that went back is not a fresh lease. */
	lease_put("k1", 5000, 10, &grant);
	UT_CHECK(!lease_take("k1", 4999, &v));
}

static void
test_grants_add_up(void)
{
	struct lease_view	v, newer = { 40, 900000, 0 };

	lease_clear();
	lease_put("k1", 100, 2, &grant);
	lease_put("k1", 150, 3, &newer);
	UT_CHECK(lease_take("k1", 151, &v));
	UT_EQ_INT(v.remaining, 40 + 4);
	UT_EQ_INT(v.reset_us, 900000);
	UT_EQ_INT(v.tight, 0);
	/* An expired lease's tokens are not added to a new grant. */
	lease_put("k2", 100, 5, &grant);
	lease_put("k2", 100 + LEASE_TTL_MS, 1, &grant);
	UT_CHECK(lease_take("k2", 100 + LEASE_TTL_MS, &v));
	UT_CHECK(!lease_take("k2", 100 + LEASE_TTL_MS, &v));
}

static void
test_one_grant_asked_at_a_time(void)
{
	struct lease_view	v;

	lease_clear();
	UT_CHECK(lease_ask("k1", 100));
	UT_CHECK(!lease_ask("k1", 101));
	UT_CHECK(lease_ask("k2", 101));
	/* The answer (even an empty grant) lets the next one ask. */
	lease_put("k1", 102, 0, &grant);
	UT_CHECK(!lease_take("k1", 102, &v));
	UT_CHECK(lease_ask("k1", 103));
	/* An answer that never came stops blocking after the TTL. */
	UT_CHECK(!lease_ask("k1", 103 + LEASE_TTL_MS - 1));
	UT_CHECK(lease_ask("k1", 103 + LEASE_TTL_MS));
}

static void
test_refusal_kept_for_its_wait(void)
{
	struct lease_view	v;

	lease_clear();
	lease_refuse("k1", 1000, 250000, 1);
	UT_EQ_INT(lease_take("k1", 1000, &v), -1);
	UT_EQ_INT(v.reset_us, 250000);
	UT_EQ_INT(v.tight, 1);
	UT_EQ_INT(v.remaining, 0);
	UT_EQ_INT(lease_take("k1", 1249, &v), -1);
	UT_EQ_INT(v.reset_us, 1000);
	UT_EQ_INT(lease_take("k1", 1250, &v), 0);
	/* A long wait is asked again after the TTL. */
	lease_refuse("k1", 2000, 3600000000LL, 1);
	UT_EQ_INT(lease_take("k1", 2000 + LEASE_TTL_MS - 1, &v), -1);
	UT_EQ_INT(v.reset_us, 3600000000LL - (LEASE_TTL_MS - 1) * 1000LL);
	UT_EQ_INT(lease_take("k1", 2000 + LEASE_TTL_MS, &v), 0);
	/* A grant ends a refusal; tokens still held are used first. */
	lease_refuse("k2", 1000, 9000000, 0);
	lease_put("k2", 1001, 2, &grant);
	UT_EQ_INT(lease_take("k2", 1002, &v), 1);
	lease_refuse("k2", 1003, 9000000, 0);
	UT_EQ_INT(lease_take("k2", 1004, &v), 1);
	UT_EQ_INT(lease_take("k2", 1005, &v), -1);
	lease_refuse("k3", 1000, 0, 0);
	UT_EQ_INT(lease_take("k3", 1000, &v), 0);
}

static void
test_refused_puts(void)
{
	struct lease_view	v;
	char			id[400];

	lease_clear();
	lease_put("k1", 1, 0, &grant);
	UT_CHECK(!lease_take("k1", 1, &v));
	memset(id, 'x', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	lease_put(id, 1, 5, &grant);
	UT_CHECK(!lease_take(id, 1, &v));
}

static void
test_eviction_loses_tokens_only(void)
{
	struct lease_view	v;
	char			id[32];
	int			i, held = 0, twice = 0;

	lease_clear();
	/* Far more ids than slots: each either holds its tokens or lost them. */
	for (i = 0; i < 2000; i++) {
		(void)snprintf(id, sizeof(id), "rl:t:%d", i);
		lease_put(id, 1, 1, &grant);
	}
	for (i = 0; i < 2000; i++) {
		(void)snprintf(id, sizeof(id), "rl:t:%d", i);
		held += lease_take(id, 2, &v);
		twice += lease_take(id, 2, &v);
	}
	UT_CHECK(held > 0 && held <= 512);
	UT_EQ_INT(twice, 0);
}

int
main(void)
{
	UT_TEST(test_take_counts_down);
	UT_TEST(test_expiry_and_identity);
	UT_TEST(test_grants_add_up);
	UT_TEST(test_one_grant_asked_at_a_time);
	UT_TEST(test_refusal_kept_for_its_wait);
	UT_TEST(test_refused_puts);
	UT_TEST(test_eviction_loses_tokens_only);
	return (ut_summary());
}
