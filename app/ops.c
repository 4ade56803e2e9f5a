/*
 * ops.c: the operator's routes: liveness, readiness, metrics, and the
 * test-only routes that fault and isolation tests drive (present only when
 * CRM_TEST_ROUTES=1).
 */

#include <hiredis/hiredis.h>

#include <string.h>

#include "srv.h"

struct ops_ready {
	int	db;
	int	redis;
};

static void
ops_hfree(void *h)
{
	xfree(h);
}

static int
ops_healthz(struct rq *rq)
{
	return (reply_json(rq, 200, json_pack("{s:s, s:s}", "status", "ok",
	    "version", CRM_VERSION)));
}

static int
ops_ready_reply(struct rq *rq)
{
	struct ops_ready	*st = rq->h;
	json_t			*p;

	if (st->db && st->redis)
		return (reply_json(rq, 200, json_pack("{s:s, s:s, s:s}",
		    "status", "ready", "postgres", "up", "redis", "up")));
	p = problem_new(PROB_UNAVAILABLE, "%s%s%s", st->db ? "" : "postgresql",
	    !st->db && !st->redis ? " and " : "", st->redis ? "" : "redis");
	json_object_set_new(p, "postgres", json_string(st->db ? "up" : "down"));
	json_object_set_new(p, "redis", json_string(st->redis ? "up" : "down"));
	reply_header(rq, "retry-after", "1");
	return (reply_problem_json(rq, p));
}

static void
ops_ready_pong(struct rq *rq, struct redisReply *r)
{
	struct ops_ready	*st = rq->h;

	st->redis = r != NULL && r->type == REDIS_REPLY_STATUS &&
	    strcmp(r->str, "PONG") == 0;
}

static int
ops_ready_db(struct rq *rq)
{
	static const char	*argv[] = { "PING" };
	static const size_t	 lens[] = { 4 };
	struct ops_ready	*st = rq->h;

	st->db = db_ok(rq);
	return (rds_cmd_rq(rq, ops_ready_pong, ops_ready_reply, 1, argv, lens));
}

static int
ops_readyz(struct rq *rq)
{
	struct db_batch		*b;

	rq->h = xcalloc(1, sizeof(struct ops_ready));
	rq->h_free = ops_hfree;
	b = db_batch(rq, DB_NOTENANT);
	db_stmt(b, "SELECT 1");
	return (db_run(rq, b, ops_ready_db));
}

static int
ops_metrics(struct rq *rq)
{
	struct buf	out;

	met_set_gauge(MET_G_DB_IN_USE, db_pool_in_use());
	met_set_gauge(MET_G_DB_SIZE, db_pool_size());
	met_set_gauge(MET_G_REDIS_UP, rds_up());
	buf_init(&out, 16384);
	met_render(&out);
	reply_raw(rq, 200, "text/plain; version=0.0.4; charset=utf-8",
	    out.data, out.len);
	buf_free(&out);
	return (RQ_DONE);
}

/* Test only: echo the parsed body, proving the JSON path both ways. */
static int
ops_test_echo(struct rq *rq)
{
	return (reply_json(rq, 200, json_incref(rq->body)));
}

/*
 * Test only (SECURITY.md ISO-07): open a transaction with a tenant set and
 * answer without ending it.  The pool's release guard must roll it back
 * before the connection serves anyone else; /v1/_test/context shows what
 * a fresh request sees on a pooled connection.
 */
static int
ops_test_left_open(struct rq *rq)
{
	return (reply_json(rq, 200, json_pack("{s:s}", "tenant",
	    rq->who.tenant)));
}

static int
ops_test_leave_open(struct rq *rq)
{
	struct db_batch	*b;

	uuid7_new_str(rq->who.tenant);
	b = db_batch(rq, DB_TX_OPEN);
	db_stmt(b, "SELECT 1");
	return (db_run(rq, b, ops_test_left_open));
}

static int
ops_test_context_done(struct rq *rq)
{
	PGresult	*res;

	if (!db_ok(rq))
		return (db_reply_error(rq));
	res = db_res(rq, 0);
	return (reply_json(rq, 200, json_pack("{s:s}",
	    "tenant", PQgetvalue(res, 0, 0))));
}

static int
ops_test_context(struct rq *rq)
{
	struct db_batch	*b;

	b = db_batch(rq, DB_NOTENANT);
	db_stmt(b, "SELECT coalesce(current_setting('app.tenant_id', true), "
	    "'')");
	return (db_run(rq, b, ops_test_context_done));
}

/* Test only: the live route table, for the authorization matrix test. */
static int
ops_test_routes(struct rq *rq)
{
	const struct crm_module	*m;
	const struct route	*r;
	json_t			*list;
	int			 i;

	list = json_array();
	for (i = 0; (r = pipe_route_at(i, &m)) != NULL; i++) {
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, "
		    "s:b}", "method", http_method_text(r->method), "path",
		    r->path, "permission", r->perm, "module", m->name, "test",
		    (r->flags & RT_TEST) != 0));
	}
	return (reply_json(rq, 200, json_pack("{s:o}", "data", list)));
}

static const struct route ops_routes[] = {
	ROUTE(HTTP_METHOD_GET, "/healthz", "public", ops_healthz,
	    RT_NOLIMIT | RT_NOLOG, "Liveness: the process answers"),
	ROUTE(HTTP_METHOD_GET, "/readyz", "public", ops_readyz,
	    RT_NOLIMIT | RT_NOLOG, "Readiness: PostgreSQL and Redis answer"),
	ROUTE(HTTP_METHOD_GET, "/metrics", "public", ops_metrics,
	    RT_NOLIMIT | RT_NOLOG, "Prometheus metrics"),
	ROUTE(HTTP_METHOD_POST, "/v1/_test/echo", "public", ops_test_echo,
	    RT_JSON | RT_TEST | RT_NOLIMIT, "Test only: echo a JSON body"),
	ROUTE(HTTP_METHOD_POST, "/v1/_test/leave-open", "public",
	    ops_test_leave_open, RT_TEST | RT_NOLIMIT,
	    "Test only: leave a tenant transaction open"),
	ROUTE(HTTP_METHOD_GET, "/v1/_test/context", "public", ops_test_context,
	    RT_TEST | RT_NOLIMIT,
	    "Test only: the tenant context a fresh request sees"),
	ROUTE(HTTP_METHOD_GET, "/v1/_test/routes", "public", ops_test_routes,
	    RT_TEST | RT_NOLIMIT, "Test only: the route table with permissions"),
};

const struct crm_module ops_module = {
	"ops", ops_routes, sizeof(ops_routes) / sizeof(ops_routes[0]), NULL,
	NULL
};
