/*
 * deals.c: opportunities moving through a pipeline.  The behaviour is in
 * sql/014_pipelines_deals.sql: the pipeline and stage default from the
 * tenant's default pipeline, probability follows the stage, closed_at
 * follows the stage's kind, and every stage change writes the stage
 * history and a deal.stage_changed event in the same transaction.
 * GET /v1/deals/{id}/stage-history reads that history back.
 */

#include <string.h>

#include "records.h"

static const char *const deals_types[] = {
	"new_business", "existing_business", "renewal", "upsell", NULL
};

static const struct ent_field	deals_fields[] = {
	{ "name", ENT_TEXT, ENT_F_REQUIRED | ENT_F_SEARCH | ENT_F_SORT |
	    ENT_F_FILTER | ENT_F_AUDIT, 200, NULL, NULL },
	{ "account_id", ENT_REF, ENT_F_FILTER | ENT_F_AUDIT, 0, NULL,
	    "crm.accounts" },
	{ "pipeline_id", ENT_REF, ENT_F_FILTER | ENT_F_AUDIT, 0, NULL,
	    "crm.pipelines" },
	{ "stage_id", ENT_REF, ENT_F_FILTER | ENT_F_SORT | ENT_F_AUDIT, 0,
	    NULL, "crm.stages" },
	{ "amount", ENT_MONEY, ENT_F_FILTER | ENT_F_SORT | ENT_F_NONNEG |
	    ENT_F_AUDIT, 0, NULL, NULL },
	{ "currency", ENT_CURRENCY, ENT_F_FILTER, 0, NULL, NULL },
	{ "expected_close_date", ENT_DATE, ENT_F_FILTER | ENT_F_SORT |
	    ENT_F_AUDIT, 0, NULL, NULL },
	{ "probability", ENT_INT, ENT_F_FILTER | ENT_F_SORT | ENT_F_NONNEG,
	    0, NULL, NULL },
	{ "type", ENT_ENUM, ENT_F_FILTER, 0, deals_types, NULL },
	{ "source", ENT_TEXT, ENT_F_FILTER, 100, NULL, NULL },
	{ "lost_reason", ENT_TEXT, ENT_F_FILTER, 500, NULL, NULL },
	{ "next_step", ENT_TEXT, ENT_F_SEARCH, 500, NULL, NULL },
	{ "description", ENT_LONGTEXT, 0, 0, NULL, NULL },
	{ "contacts", ENT_ARRAY, 0, 16384, NULL, NULL },
	{ "closed_at", ENT_DATETIME, ENT_F_READONLY | ENT_F_FILTER |
	    ENT_F_SORT, 0, NULL, NULL },
	{ NULL, 0, 0, 0, NULL, NULL }
};

const struct ent_desc	deals_desc = {
	"deals", "deal", "crm.deals", deals_fields, 0
};

/*
 * GET /v1/deals/{id}/stage-history: every stage the deal entered, newest
 * first, with the amount and probability at that moment (the data of
 * time-in-stage and conversion reports).  The deal must be visible to the
 * caller, else the engine's 404.  A deal changes stage a handful of times,
 * so the list is not paged; DEALS_HISTORY_MAX bounds it all the same.
 */
#define DEALS_HISTORY_MAX	"1000"

#define DEALS_TS(c)	"to_char(" c " AT TIME ZONE 'UTC', " \
			"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

static const char	deals_history_sql[] =
	"SELECT EXISTS (SELECT 1 FROM crm.deals WHERE tenant_id = $1 AND "
	"id = $2 AND deleted_at IS NULL AND "
	ENT_SCOPE_SQL("$1", "owner_id", "$3", "$4") "), "
	"coalesce((SELECT json_agg(json_build_object('id', h.id, "
	"'pipeline_id', h.pipeline_id, 'from_stage_id', h.from_stage_id, "
	"'to_stage_id', h.to_stage_id, 'changed_at', "
	DEALS_TS("h.changed_at") ", 'changed_by', h.changed_by, 'amount', "
	"h.amount::text, 'probability', h.probability) ORDER BY "
	"h.changed_at DESC, h.id DESC) FROM (SELECT * FROM "
	"crm.deal_stage_history WHERE tenant_id = $1 AND deal_id = $2 "
	"ORDER BY changed_at DESC, id DESC LIMIT " DEALS_HISTORY_MAX ") h), "
	"'[]')::text";

static int
deals_history_done(struct rq *rq)
{
	PGresult	*res;
	struct buf	 out;

	if (!db_ok(rq))
		return (db_reply_error(rq));
	res = db_res(rq, 0);
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		return (reply_problem(rq, PROB_NOT_FOUND, "no such resource"));
	buf_init(&out, 1024);
	buf_appends(&out, "{\"data\":");
	buf_append(&out, PQgetvalue(res, 0, 1), PQgetlength(res, 0, 1));
	buf_appendc(&out, '}');
	reply_raw(rq, 200, "application/json; charset=utf-8", out.data,
	    out.len);
	buf_free(&out);
	return (RQ_DONE);
}

static int
deals_history(struct rq *rq)
{
	struct db_batch	*b;
	uint8_t		 raw[UUID_LEN];
	char		 id[UUID_STRLEN + 1];

	if (pipe_param(rq, 0) == NULL ||
	    uuid7_parse(pipe_param(rq, 0), raw) == -1)
		return (reply_problem(rq, PROB_NOT_FOUND, "no such resource"));
	uuid7_fmt(raw, id);
	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, deals_history_sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
	db_param(b, rq->who.owner);
	db_param(b, perm_scope_name(rq->who.scope));
	return (db_run(rq, b, deals_history_done));
}

static void
deals_parent_init(void)
{
	eng_parent_check(&deals_desc);
}

static void
deals_worker_init(void)
{
	eng_register(&deals_desc);
}

static const struct route	deals_routes[] = {
	ENTITY_ROUTES("deals", "a deal"),
	ROUTE(HTTP_METHOD_GET, "/v1/deals/{id}/stage-history", "deals:read",
	    deals_history, 0, "The stages a deal entered, newest first"),
};

const struct crm_module deals_module = {
	"deals", deals_routes, sizeof(deals_routes) / sizeof(deals_routes[0]),
	deals_worker_init, deals_parent_init
};
