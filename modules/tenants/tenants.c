/*
 * tenants.c: tenants and their plans.  Plans are global reference data
 * (the sign-up page lists them); a tenant sees only its own row.
 */

#include "srv.h"

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

static const struct route tenants_routes[] = {
	ROUTE(HTTP_METHOD_GET, "/v1/plans", "public", plans_list, 0,
	    "List the plans a company can subscribe to"),
};

const struct crm_module tenants_module = {
	"tenants", tenants_routes,
	sizeof(tenants_routes) / sizeof(tenants_routes[0]), NULL, NULL
};
