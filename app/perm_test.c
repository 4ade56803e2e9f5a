/*
 * perm_test.c: built-in roles, grant matching, key scopes (perm.c).
 */

#include "crm.h"
#include "ut.h"

static void
test_builtin(void)
{
	const struct perm_role	*r;

	UT_CHECK((r = perm_builtin("owner")) != NULL);
	UT_CHECK(perm_allows(r->grants, "users:manage"));
	UT_CHECK(perm_allows(r->grants, "deals:delete"));
	UT_CHECK((r = perm_builtin("read_only")) != NULL);
	UT_CHECK(perm_allows(r->grants, "contacts:read"));
	UT_CHECK(!perm_allows(r->grants, "contacts:create"));
	UT_CHECK(!perm_allows(r->grants, "users:manage"));
	UT_CHECK((r = perm_builtin("sales")) != NULL);
	UT_EQ_INT(r->scope, PERM_SCOPE_TEAM);
	UT_CHECK(perm_allows(r->grants, "deals:update"));
	UT_CHECK(!perm_allows(r->grants, "deals:delete"));
	UT_CHECK(!perm_allows(r->grants, "api-keys:manage"));
	UT_CHECK((r = perm_builtin("manager")) != NULL);
	UT_CHECK(perm_allows(r->grants, "deals:delete"));
	UT_CHECK(!perm_allows(r->grants, "roles:manage"));
	UT_CHECK(perm_builtin("platform_operator") == NULL);
	UT_CHECK(perm_builtin_at(0) != NULL);
	UT_CHECK(perm_builtin_at(100) == NULL);
}

static void
test_grants(void)
{
	const char	*g1[] = { "contacts:*", "deals:read", NULL };
	const char	*g2[] = { "*:read", NULL };
	const char	*g3[] = { "users:manage", NULL };

	UT_CHECK(perm_allows(g1, "contacts:delete"));
	UT_CHECK(perm_allows(g1, "deals:read"));
	UT_CHECK(!perm_allows(g1, "deals:update"));
	UT_CHECK(perm_allows(g2, "anything:read"));
	UT_CHECK(!perm_allows(g2, "contacts:update"));
	UT_CHECK(perm_allows(g3, "users:read"));
	UT_CHECK(perm_allows(g3, "users:create"));
	UT_CHECK(!perm_allows(NULL, "users:read"));
	UT_CHECK(!perm_allows(g1, "malformed"));
	UT_CHECK(!perm_allows(g1, ":read"));
}

static void
test_valid(void)
{
	UT_CHECK(perm_valid("contacts:read"));
	UT_CHECK(perm_valid("deals:*"));
	UT_CHECK(perm_valid("*:read"));
	UT_CHECK(!perm_valid("contacts:fly"));
	UT_CHECK(!perm_valid("spaceships:read"));
	UT_CHECK(!perm_valid("contacts"));
	UT_CHECK(!perm_valid("contacts:"));
	UT_CHECK(!perm_valid(":read"));
	UT_CHECK(!perm_valid(NULL));
}

static void
test_keys(void)
{
	const char	*s[] = { "contacts:read", "deals:write", NULL };
	const char	*all[] = { "contacts:*", NULL };

	UT_CHECK(perm_key_scope_valid("contacts:read"));
	UT_CHECK(perm_key_scope_valid("deals:write"));
	UT_CHECK(perm_key_scope_valid("webhooks:*"));
	UT_CHECK(!perm_key_scope_valid("users:read"));
	UT_CHECK(!perm_key_scope_valid("api-keys:write"));
	UT_CHECK(!perm_key_scope_valid("roles:*"));
	UT_CHECK(!perm_key_scope_valid("*:*"));
	UT_CHECK(!perm_key_scope_valid("contacts:manage"));
	UT_CHECK(perm_key_allows(s, "contacts:read"));
	UT_CHECK(!perm_key_allows(s, "contacts:update"));
	UT_CHECK(perm_key_allows(s, "deals:create"));
	UT_CHECK(perm_key_allows(s, "deals:delete"));
	UT_CHECK(!perm_key_allows(s, "deals:read"));
	UT_CHECK(perm_key_allows(all, "contacts:export"));
	UT_CHECK(!perm_key_allows(all, "users:read"));
}

static void
test_scope(void)
{
	UT_EQ_INT(perm_scope_parse("own"), PERM_SCOPE_OWN);
	UT_EQ_INT(perm_scope_parse("team"), PERM_SCOPE_TEAM);
	UT_EQ_INT(perm_scope_parse("all"), PERM_SCOPE_ALL);
	UT_EQ_INT(perm_scope_parse("some"), -1);
	UT_EQ_STR(perm_scope_name(PERM_SCOPE_TEAM), "team");
}

int
main(void)
{
	UT_TEST(test_builtin);
	UT_TEST(test_grants);
	UT_TEST(test_valid);
	UT_TEST(test_keys);
	UT_TEST(test_scope);
	return (ut_summary());
}
