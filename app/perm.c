/*
 * perm.c: roles, grants and record scopes, without Kore.
 *
 * A grant is "<resource>:<action>" where either side may be "*".  Built-in
 * roles are a table here (they ship with the code); custom roles are rows
 * per tenant holding a list of grants and a record scope.  The pipeline's
 * permission step asks perm_allows() with the route's permission; the
 * entity engine asks for the record scope.
 *
 * API keys are for integrations: their scopes are intersected with their
 * creator's role, and administrative resources are never grantable to a
 * key (SECURITY.md KEY-05), whatever the creator holds.
 */

#include <string.h>

#include "crm.h"

/* Every resource a grant may name, sorted for bsearch. */
static const char	*perm_resources[] = {
	"accounts", "activities", "api-keys", "audit-log", "contacts",
	"custom-fields", "deals", "email-templates", "exports", "imports",
	"jobs", "leads", "pipelines", "price-books", "products", "roles",
	"search", "teams", "tenant", "users", "webhooks",
};

static const char	*perm_actions[] = {
	"create", "delete", "export", "manage", "read", "update",
};

/* Resources an API key can never reach, whatever its creator holds. */
static const char	*perm_admin_only[] = {
	"api-keys", "roles", "teams", "tenant", "users",
};


static const char *const perm_owner[] = { "*:*", NULL };
static const char *const perm_manager[] = {
	"accounts:*", "contacts:*", "leads:*", "deals:*", "activities:*",
	"products:*", "price-books:*", "pipelines:*", "custom-fields:read",
	"search:read", "users:read", "teams:read", "exports:create",
	"imports:create", "jobs:read", "webhooks:read", "email-templates:read",
	NULL
};
static const char *const perm_sales[] = {
	"accounts:read", "accounts:create", "accounts:update",
	"contacts:read", "contacts:create", "contacts:update",
	"leads:read", "leads:create", "leads:update", "deals:read",
	"deals:create", "deals:update", "activities:*", "products:read",
	"price-books:read", "pipelines:read", "custom-fields:read",
	"search:read", "users:read", "teams:read", "email-templates:read",
	NULL
};
static const char *const perm_marketing[] = {
	"accounts:read", "contacts:*", "leads:*", "activities:*",
	"products:read", "pipelines:read", "custom-fields:read",
	"search:read", "users:read", "exports:create", "imports:create",
	"jobs:read", "email-templates:read", NULL
};
static const char *const perm_support[] = {
	"accounts:read", "accounts:update", "contacts:read", "contacts:update",
	"activities:*", "products:read", "deals:read", "pipelines:read",
	"custom-fields:read", "search:read", "users:read",
	"email-templates:read", NULL
};
static const char *const perm_read_only[] = {
	"accounts:read", "contacts:read", "leads:read", "deals:read",
	"activities:read", "products:read", "price-books:read",
	"pipelines:read", "custom-fields:read", "search:read", "users:read",
	NULL
};

static const struct perm_role	perm_builtin_roles[] = {
	{ "owner",	PERM_SCOPE_ALL,		perm_owner },
	{ "admin",	PERM_SCOPE_ALL,		perm_owner },
	{ "manager",	PERM_SCOPE_ALL,		perm_manager },
	{ "sales",	PERM_SCOPE_TEAM,	perm_sales },
	{ "marketing",	PERM_SCOPE_ALL,		perm_marketing },
	{ "support",	PERM_SCOPE_ALL,		perm_support },
	{ "read_only",	PERM_SCOPE_ALL,		perm_read_only },
};

static int
perm_cmp(const void *a, const void *b)
{
	return (strcmp(*(const char *const *)a, *(const char *const *)b));
}

static int
perm_in(const char *word, const char **list, size_t n)
{
	return (bsearch(&word, list, n, sizeof(*list), perm_cmp) != NULL);
}

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

const struct perm_role *
perm_builtin(const char *name)
{
	size_t	i;

	for (i = 0; i < NELEM(perm_builtin_roles); i++) {
		if (strcmp(perm_builtin_roles[i].name, name) == 0)
			return (&perm_builtin_roles[i]);
	}
	return (NULL);
}

const struct perm_role *
perm_builtin_at(size_t i)
{
	return (i < NELEM(perm_builtin_roles) ? &perm_builtin_roles[i] : NULL);
}

/* Split "res:act" into its halves; -1 when the shape is wrong. */
static int
perm_split(const char *g, char res[32], char act[16])
{
	const char	*c;
	size_t		 rl;

	if (g == NULL || (c = strchr(g, ':')) == NULL)
		return (-1);
	rl = (size_t)(c - g);
	if (rl == 0 || rl >= 32 || strlen(c + 1) == 0 || strlen(c + 1) >= 16)
		return (-1);
	memcpy(res, g, rl);
	res[rl] = '\0';
	strcpy(act, c + 1);
	return (0);
}

/* A grant a tenant admin may write into a custom role. */
int
perm_valid(const char *g)
{
	char	res[32], act[16];

	if (perm_split(g, res, act) == -1)
		return (0);
	if (strcmp(res, "*") != 0 &&
	    !perm_in(res, perm_resources, NELEM(perm_resources)))
		return (0);
	return (strcmp(act, "*") == 0 ||
	    perm_in(act, perm_actions, NELEM(perm_actions)));
}

static int
perm_grant_covers(const char *grant, const char *res, const char *act)
{
	char	gres[32], gact[16];

	if (perm_split(grant, gres, gact) == -1)
		return (0);
	return ((strcmp(gres, "*") == 0 || strcmp(gres, res) == 0) &&
	    (strcmp(gact, "*") == 0 || strcmp(gact, act) == 0));
}

/*
 * Does this list of grants allow "res:act"?  A NULL-terminated list.
 * "manage" on a resource implies every action on it.
 */
int
perm_allows(const char *const *grants, const char *want)
{
	char	res[32], act[16];
	size_t	i;

	if (perm_split(want, res, act) == -1)
		return (0);
	for (i = 0; grants != NULL && grants[i] != NULL; i++) {
		if (perm_grant_covers(grants[i], res, act) ||
		    perm_grant_covers(grants[i], res, "manage"))
			return (1);
	}
	return (0);
}

/*
 * May an API key carry this scope?  Keys use "<res>:read", "<res>:write"
 * (create, update, delete) or "<res>:*"; administrative resources never.
 */
int
perm_key_scope_valid(const char *scope)
{
	char	res[32], act[16];

	if (perm_split(scope, res, act) == -1 || strcmp(res, "*") == 0)
		return (0);
	if (!perm_in(res, perm_resources, NELEM(perm_resources)) ||
	    perm_in(res, perm_admin_only, NELEM(perm_admin_only)))
		return (0);
	return (strcmp(act, "read") == 0 || strcmp(act, "write") == 0 ||
	    strcmp(act, "*") == 0 || strcmp(act, "export") == 0);
}

/* Does a key scope list allow "res:act"?  "write" covers the writes. */
int
perm_key_allows(const char *const *scopes, const char *want)
{
	char	res[32], act[16], sres[32], sact[16];
	size_t	i;
	int	write;

	if (perm_split(want, res, act) == -1 ||
	    perm_in(res, perm_admin_only, NELEM(perm_admin_only)))
		return (0);
	write = strcmp(act, "create") == 0 || strcmp(act, "update") == 0 ||
	    strcmp(act, "delete") == 0;
	for (i = 0; scopes != NULL && scopes[i] != NULL; i++) {
		if (perm_split(scopes[i], sres, sact) == -1 ||
		    strcmp(sres, res) != 0)
			continue;
		if (strcmp(sact, "*") == 0 || strcmp(sact, act) == 0 ||
		    (write && strcmp(sact, "write") == 0))
			return (1);
	}
	return (0);
}

/* "own" | "team" | "all" -> PERM_SCOPE_*, -1 when unknown. */
int
perm_scope_parse(const char *s)
{
	if (s == NULL)
		return (-1);
	if (strcmp(s, "own") == 0)
		return (PERM_SCOPE_OWN);
	if (strcmp(s, "team") == 0)
		return (PERM_SCOPE_TEAM);
	if (strcmp(s, "all") == 0)
		return (PERM_SCOPE_ALL);
	return (-1);
}

const char *
perm_scope_name(int scope)
{
	switch (scope) {
	case PERM_SCOPE_OWN:
		return ("own");
	case PERM_SCOPE_TEAM:
		return ("team");
	default:
		return ("all");
	}
}
