/*
 * apikeys.c: a tenant's API keys (docs/identity.md, SECURITY.md KEY-*).
 *
 * A key is made by akey_new() and shown once, in the 201; the database
 * keeps its public prefix and SHA-256.  Its scopes are checked twice at
 * creation: each must be a scope a key may carry (perm_key_scope_valid():
 * never an administrative resource) and within the creator's own role, so
 * a key never holds more than the user who made it.  At request time
 * crm.check_key() also requires the creator to be active.  Only users
 * manage keys: keys never hold api-keys:* (perm.c), so the permission step
 * already refuses them; apikeys_user() says so again here.
 */

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "identity.h"

#define APIKEYS_MAX_LIVE	50	/* per tenant */

#define APIKEYS_TS(c)							\
	"to_char(" c " AT TIME ZONE 'UTC', "				\
	"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

#define APIKEYS_JSON							\
	"json_build_object('id', k.id, 'name', k.name, 'prefix', "	\
	"k.prefix, 'scopes', to_json(k.scopes), 'created_by', "		\
	"k.created_by, 'created_at', " APIKEYS_TS("k.created_at")	\
	", 'expires_at', " APIKEYS_TS("k.expires_at") ", "		\
	"'last_used_at', " APIKEYS_TS("k.last_used_at") ", "		\
	"'revoked_at', " APIKEYS_TS("k.revoked_at") ")"

static const char	apikeys_list_sql[] =
	"SELECT json_build_object('data', coalesce(json_agg(" APIKEYS_JSON
	" ORDER BY k.id DESC), '[]'))::text FROM crm.api_keys k "
	"WHERE k.tenant_id = $1";

static const char	apikeys_get_sql[] =
	"SELECT " APIKEYS_JSON "::text FROM crm.api_keys k "
	"WHERE k.tenant_id = $1 AND k.id = $2";

/* What a key scope needs its creator to hold, per scope action. */
static const struct {
	const char	*scope;
	const char	*acts[6];
} apikeys_needs[] = {
	{ "read",	{ "read", NULL } },
	{ "create",	{ "create", NULL } },
	{ "update",	{ "update", NULL } },
	{ "delete",	{ "delete", NULL } },
	{ "write",	{ "create", "update", "delete", NULL } },
	{ "export",	{ "export", NULL } },
	{ "*",		{ "read", "create", "update", "delete", "export",
			    NULL } },
};

/* Is a (valid) key scope "<res>:<act>" within these grants? */
static int
apikeys_scope_held(const char *const *grants, const char *scope)
{
	const char	*colon = strchr(scope, ':');
	char		 want[64];
	size_t		 i, j;

	for (i = 0; i < sizeof(apikeys_needs) / sizeof(apikeys_needs[0]);
	    i++) {
		if (strcmp(apikeys_needs[i].scope, colon + 1) != 0)
			continue;
		for (j = 0; apikeys_needs[i].acts[j] != NULL; j++) {
			(void)snprintf(want, sizeof(want), "%.*s:%s",
			    (int)(colon - scope), scope,
			    apikeys_needs[i].acts[j]);
			if (!perm_allows(grants, want))
				return (0);
		}
		return (1);
	}
	return (0);
}

/*
 * RFC 3339 with a zone, as the API writes times:
 * YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM).  PostgreSQL checks
 * the calendar (and 22008 would be a 400 otherwise).
 */
static int
apikeys_time_ok(const char *s)
{
	static const char	shape[] = "dddd-dd-ddTdd:dd:dd";
	size_t			i;

	for (i = 0; shape[i] != '\0'; i++) {
		if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) :
		    s[i] != shape[i])
			return (0);
	}
	s += i;
	if (*s == '.')
		for (s++; isdigit((unsigned char)*s); s++)
			;
	if (strcmp(s, "Z") == 0)
		return (1);
	return ((*s == '+' || *s == '-') && strlen(s) == 6 &&
	    isdigit((unsigned char)s[1]) && isdigit((unsigned char)s[2]) &&
	    s[3] == ':' && isdigit((unsigned char)s[4]) &&
	    isdigit((unsigned char)s[5]));
}

/*
 * A scope a key may carry: perm_key_scope_valid()'s read, write, export
 * and *, and also one write action (contacts:create), which
 * perm_key_allows() honours as it is.
 */
static int
apikeys_scope_valid(const char *scope)
{
	const char	*colon = strchr(scope, ':');
	char		 read[64];

	if (perm_key_scope_valid(scope))
		return (1);
	if (colon == NULL || (strcmp(colon + 1, "create") != 0 &&
	    strcmp(colon + 1, "update") != 0 && strcmp(colon + 1, "delete") != 0))
		return (0);
	(void)snprintf(read, sizeof(read), "%.*s:read", (int)(colon - scope),
	    scope);
	return (perm_key_scope_valid(read));
}

static int
apikeys_user(struct rq *rq)
{
	return (rq->who.kind == PRINC_USER);
}

static int
apikeys_list(struct rq *rq)
{
	struct db_batch	*b;

	if (!apikeys_user(rq))
		return (reply_problem(rq, PROB_FORBIDDEN, "users only"));
	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, apikeys_list_sql);
	db_param(b, rq->who.tenant);
	return (db_run(rq, b, users_reply_200));
}

static int
apikeys_get(struct rq *rq)
{
	struct db_batch	*b;
	char		 id[UUID_STRLEN + 1];

	if (!apikeys_user(rq))
		return (reply_problem(rq, PROB_FORBIDDEN, "users only"));
	if (!users_path_id(rq, 0, id))
		return (reply_problem(rq, PROB_NOT_FOUND, "no such resource"));
	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, apikeys_get_sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
	return (db_run(rq, b, users_reply_200));
}

/* The 201: the stored key as listed, plus the key itself, this once. */
static void
apikeys_key_free(void *h)
{
	explicit_bzero(h, AKEY_LEN + 1);
	xfree(h);
}

static int
apikeys_create_done(struct rq *rq)
{
	PGresult	*res;
	json_error_t	 e;
	json_t		*out;

	if (!db_ok(rq))
		return (users_db_error(rq, "expires_at"));
	res = db_res(rq, rq->batch->nstmts - 1);
	if ((out = json_loads(PQgetvalue(res, 0, 0), 0, &e)) == NULL)
		return (reply_problem(rq, PROB_INTERNAL, NULL));
	json_object_set_new(out, "key", json_string(rq->h));
	return (reply_json(rq, 201, out));
}

static void
apikeys_parse(struct rq *rq, struct val *v, const char **name,
    json_t **scopes, const char **expires)
{
	static const char *const	 fields[] = { "name", "scopes",
					    "expires_at", NULL };
	json_t				*e;
	size_t				 i;

	val_init(v, rq->body);
	val_only(v, fields);
	if ((*name = val_str(v, "name", 1, 1, 100)) != NULL &&
	    strspn(*name, " \t\r\n") == strlen(*name))
		val_error(v, "name", "too_short", "must not be blank");
	if ((*expires = val_str(v, "expires_at", 0, 1, 64)) != NULL &&
	    !apikeys_time_ok(*expires))
		val_error(v, "expires_at", "invalid_format",
		    "an RFC 3339 time with a zone");
	*scopes = val_str_array(v, "scopes", 1, 50, apikeys_scope_valid);
	if (*scopes == NULL)
		return;
	if (json_array_size(*scopes) == 0)
		val_error(v, "scopes", "too_short", "at least one scope");
	json_array_foreach(*scopes, i, e) {
		if (!apikeys_scope_held(rq->who.grants,
		    json_string_value(e))) {
			val_error(v, "scopes", "not_held",
			    "a scope goes beyond your own role");
			break;
		}
	}
}

static int
apikeys_create(struct rq *rq)
{
	struct db_batch	*b;
	struct val	 v;
	json_t		*scopes;
	const char	*name, *expires;
	char		 id[UUID_STRLEN + 1], prefix[AKEY_ID_LEN + 1];
	char		 hex[AKEY_HASH_LEN * 2 + 1], *sj;
	uint8_t		 hash[AKEY_HASH_LEN];

	if (!apikeys_user(rq))
		return (reply_problem(rq, PROB_FORBIDDEN, "users only"));
	apikeys_parse(rq, &v, &name, &scopes, &expires);
	if (val_failed(&v))
		return (auth_reply_val(rq, &v));
	rq->h = xmalloc(AKEY_LEN + 1);
	rq->h_free = apikeys_key_free;
	akey_new(rq->h, prefix, hash);
	crm_hex(hash, sizeof(hash), hex);
	uuid7_new_str(id);
	b = db_batch(rq, DB_TX);
	db_stmt(b, "SELECT crm.api_key_create($1, $2, $3, decode($4, 'hex'), "
	    "$5, ARRAY(SELECT jsonb_array_elements_text($6::jsonb)), $7, "
	    "$8::timestamptz, $9)");
	db_param(b, rq->who.tenant);
	db_param(b, id);
	db_param(b, prefix);
	db_param(b, hex);
	db_param(b, name);
	sj = js_dump(scopes, NULL);
	db_param(b, sj);
	db_param(b, rq->who.user);
	db_param(b, expires);
	db_paramf(b, "%d", APIKEYS_MAX_LIVE);
	audit_add(b, rq, "api_key.created", "api_key", id, json_pack(
	    "{s:s, s:s, s:O}", "name", name, "prefix", prefix, "scopes",
	    scopes));
	xfree(sj);
	db_stmt(b, apikeys_get_sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
	return (db_run(rq, b, apikeys_create_done));
}

static int
apikeys_revoke_done(struct rq *rq)
{
	if (!db_ok(rq))
		return (users_db_error(rq, NULL));
	return (reply_empty(rq, 204));
}

static int
apikeys_revoke(struct rq *rq)
{
	struct db_batch	*b;
	char		 id[UUID_STRLEN + 1];

	if (!apikeys_user(rq))
		return (reply_problem(rq, PROB_FORBIDDEN, "users only"));
	if (!users_path_id(rq, 0, id))
		return (reply_problem(rq, PROB_NOT_FOUND, "no such resource"));
	b = db_batch(rq, DB_TX);
	db_stmt(b, "SELECT crm.api_key_revoke($1, $2)");
	db_param(b, rq->who.tenant);
	db_param(b, id);
	audit_add(b, rq, "api_key.revoked", "api_key", id, NULL);
	return (db_run(rq, b, apikeys_revoke_done));
}

static const struct route apikeys_routes[] = {
	ROUTE(HTTP_METHOD_GET, "/v1/api-keys", "api-keys:manage", apikeys_list,
	    0, "List the tenant's API keys (never the keys themselves)"),
	ROUTE(HTTP_METHOD_POST, "/v1/api-keys", "api-keys:manage",
	    apikeys_create, RT_JSON | RT_WRITE | RT_SECRET,
	    "Create an API key; the key is shown only in this reply"),
	ROUTE(HTTP_METHOD_GET, "/v1/api-keys/{id}", "api-keys:manage",
	    apikeys_get, 0, "One API key"),
	ROUTE(HTTP_METHOD_DELETE, "/v1/api-keys/{id}", "api-keys:manage",
	    apikeys_revoke, RT_WRITE, "Revoke an API key at once"),
};

const struct crm_module apikeys_module = {
	"apikeys", apikeys_routes,
	sizeof(apikeys_routes) / sizeof(apikeys_routes[0]), NULL, NULL
};
