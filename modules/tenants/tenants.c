/*
 * tenants.c: tenants and their plans.  Plans are global reference data
 * (the sign-up page lists them); a tenant sees only its own row.  Members
 * read their tenant, owners and admins rename it and set its settings and
 * see its usage against the plan.  Status and plan change through
 * operators and billing, never here (crm_app may not write them).
 */

#include <string.h>

#include "srv.h"
#include "modules/identity/identity.h"

#define TENANT_SETTINGS_MAX	(16 * 1024)	/* bytes of compact JSON */

#define TENANT_TS(c)							\
	"to_char(" c " AT TIME ZONE 'UTC', "				\
	"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

#define TENANT_JSON							\
	"json_build_object('id', tenant_id, 'name', name, 'slug', slug, " \
	"'plan', plan, 'status', status, 'created_at', "		\
	TENANT_TS("created_at") ", 'settings', settings)::text"

static const char	tenant_get_sql[] =
	"SELECT " TENANT_JSON " FROM crm.tenants WHERE tenant_id = $1";

/*
 * Usage against the plan.  Seats are active users.  Records are the
 * tenant's rows in the CRM record tables, recycle bin included, as the
 * record triggers count them (crm.records_used(), sql/030), the count
 * that refuses creates at the limit.  Storage is what the plan sells as
 * storage: stored files (attachments, export files), metered separately
 * from records; the service stores no files yet, so it is 0 until the
 * first feature that does counts its bytes.
 */
static const char	tenant_usage_sql[] =
	"SELECT json_build_object('plan', p.code, 'seats', "
	"json_build_object('used', (SELECT count(*) FROM crm.users u "
	"WHERE u.tenant_id = $1 AND u.status = 'active'), 'limit', p.seats), "
	"'records', json_build_object('used', crm.records_used($1), "
	"'limit', p.records), 'api_requests_per_minute', "
	"json_build_object('limit', p.api_per_min), 'storage_mb', "
	"json_build_object('used', 0, 'limit', p.storage_mb))::text "
	"FROM crm.tenants t JOIN crm.plans p ON p.code = t.plan "
	"WHERE t.tenant_id = $1";

/*
 * PostgreSQL builds the JSON: it escapes correctly and saves us a parse
 * and a dump on the hot path.
 */
static const char	plans_sql[] =
	"SELECT json_build_object('data', coalesce(json_agg(json_build_object("
	"'code', code, 'name', name, 'seats', seats, 'records', records, "
	"'api_requests_per_minute', api_per_min, 'storage_mb', storage_mb, "
	"'price_cents', price_cents) ORDER BY price_cents, code), '[]'))::text "
	"FROM crm.plans";

static int
plans_done(struct rq *rq)
{
	PGresult	*res;

	if (!db_ok(rq))
		return (db_reply_error(rq));
	res = db_res(rq, 0);
	return (reply_raw(rq, 200, "application/json; charset=utf-8",
	    PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0)));
}

static int
plans_list(struct rq *rq)
{
	struct db_batch	*b;

	b = db_batch(rq, DB_NOTENANT);
	db_stmt(b, plans_sql);
	return (db_run(rq, b, plans_done));
}

static int
tenant_read(struct rq *rq, const char *sql)
{
	struct db_batch	*b;

	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, sql);
	db_param(b, rq->who.tenant);
	return (db_run(rq, b, users_reply_200));
}

/*
 * Any member may read the tenant, but API keys never reach tenant routes
 * (docs/identity.md); "authenticated" lets keys through, so say it here.
 */
static int
tenant_get(struct rq *rq)
{
	if (rq->who.kind != PRINC_USER)
		return (reply_problem(rq, PROB_FORBIDDEN,
		    "this credential lacks tenant:read"));
	return (tenant_read(rq, tenant_get_sql));
}

static int
tenant_usage(struct rq *rq)
{
	return (tenant_read(rq, tenant_usage_sql));
}

/* {name?, settings?}: settings replaces the whole object. */
static char *
tenant_settings(struct val *v)
{
	json_t	*j;
	char	*s;
	size_t	 len;

	if ((j = json_object_get(v->body, "settings")) == NULL)
		return (NULL);
	if (!json_is_object(j)) {
		val_error(v, "settings", "invalid_type", "must be an object");
		return (NULL);
	}
	s = js_dump(j, &len);
	if (len > TENANT_SETTINGS_MAX) {
		val_error(v, "settings", "too_long", "at most 16 KiB of JSON");
		xfree(s);
		return (NULL);
	}
	return (s);
}

static int
tenant_patch(struct rq *rq)
{
	static const char *const	 fields[] = { "name", "settings", NULL };
	struct db_batch			*b;
	struct val			 v;
	const char			*name;
	char				*settings;

	val_init(&v, rq->body);
	val_only(&v, fields);
	if ((name = val_str(&v, "name", 0, 1, 200)) != NULL &&
	    strspn(name, " \t\r\n") == strlen(name))
		val_error(&v, "name", "too_short", "must not be blank");
	settings = json_is_object(rq->body) ? tenant_settings(&v) : NULL;
	if (val_failed(&v)) {
		xfree(settings);
		return (auth_reply_val(rq, &v));
	}
	b = db_batch(rq, DB_TX);
	db_stmt(b, "UPDATE crm.tenants SET name = coalesce($2, name), "
	    "settings = coalesce($3::jsonb, settings), updated_at = now() "
	    "WHERE tenant_id = $1");
	db_param(b, rq->who.tenant);
	db_param(b, name);
	db_param(b, settings);
	audit_add(b, rq, "tenant.updated", "tenant", rq->who.tenant,
	    json_pack("{s:b, s:b}", "name", name != NULL, "settings",
	    settings != NULL));
	xfree(settings);
	db_stmt(b, tenant_get_sql);
	db_param(b, rq->who.tenant);
	return (db_run(rq, b, users_reply_200));
}

static const struct route tenants_routes[] = {
	ROUTE(HTTP_METHOD_GET, "/v1/plans", "public", plans_list, 0,
	    "List the plans a company can subscribe to"),
	ROUTE(HTTP_METHOD_GET, "/v1/tenant", "authenticated", tenant_get, 0,
	    "The caller's tenant"),
	ROUTE(HTTP_METHOD_PATCH, "/v1/tenant", "tenant:manage", tenant_patch,
	    RT_JSON | RT_WRITE, "Rename the tenant or replace its settings"),
	ROUTE(HTTP_METHOD_GET, "/v1/tenant/usage", "tenant:read", tenant_usage,
	    0, "Seats, records, API rate and storage against the plan"),
};

const struct crm_module tenants_module = {
	"tenants", tenants_routes,
	sizeof(tenants_routes) / sizeof(tenants_routes[0]), NULL, NULL
};
