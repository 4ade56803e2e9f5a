/*
 * jobs.c: a tenant's background jobs (API.md "Jobs, imports, exports,
 * webhooks"): one job by id, and lists by status, of which
 * GET /v1/jobs?status=dead is the dead-letter list: jobs whose attempt
 * budget ran out, each with its last error.  Read only: the worker
 * (crm-worker, app/jobrun.c) is the only writer of a job's state.
 */

#include <stdio.h>
#include <string.h>

#include "identity.h"

#define JOBS_TS(c)							\
	"to_char(" c " AT TIME ZONE 'UTC', "				\
	"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

#define JOBS_JSON							\
	"json_build_object('id', j.id, 'type', j.type, 'status', "	\
	"j.status, 'attempts', j.attempts, 'max_attempts', "		\
	"j.max_attempts, 'progress', j.progress, 'errors', coalesce("	\
	"j.result->'errors', '[]'::jsonb), "				\
	"'result_url', CASE WHEN j.type = 'export' AND j.status = "	\
	"'succeeded' AND j.result ? 'file' AND NOT j.result ? "		\
	"'removed_at' THEN '/v1/exports/' || j.id || '/download' END, "	\
	"'result', j.result - 'file' - 'errors' - 'checkpoint', "	\
	"'last_error', j.last_error, 'last_status', j.last_status, "	\
	"'subject_id', j.subject_id, 'run_at', "			\
	JOBS_TS("j.run_at") ", 'created_at', " JOBS_TS("j.created_at")	\
	", 'updated_at', " JOBS_TS("j.updated_at") ", 'finished_at', "	\
	JOBS_TS("j.finished_at") ")"

static const char	jobs_get_sql[] =
	"SELECT " JOBS_JSON "::text FROM crm.jobs j "
	"WHERE j.tenant_id = $1 AND j.id = $2";

static const char	jobs_list_sql[] =
	"SELECT coalesce(json_agg(" JOBS_JSON " ORDER BY j.id DESC), "
	"'[]')::text, count(*), min(j.id::text) FROM (SELECT * FROM crm.jobs "
	"WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2) "
	"AND ($3::text IS NULL OR type = $3) "
	"AND ($4::uuid IS NULL OR id < $4::uuid) ORDER BY id DESC LIMIT $5) j";

static const char *const	jobs_statuses[] = {
	"queued", "running", "succeeded", "failed", "dead", NULL
};

struct jobs_q {
	const char	*status;
	char		 type[64];
	char		 cursor[UUID_STRLEN + 1];
	int		 limit;
};

static int
jobs_get(struct rq *rq)
{
	struct db_batch	*b;
	char		 id[UUID_STRLEN + 1];

	if (!users_path_id(rq, 0, id))
		return (reply_problem(rq, PROB_NOT_FOUND, "no such job"));
	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, jobs_get_sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
	return (db_run(rq, b, users_reply_200));
}

static const char *
jobs_status(const char *s)
{
	int	i;

	for (i = 0; jobs_statuses[i] != NULL; i++) {
		if (strcmp(jobs_statuses[i], s) == 0)
			return (jobs_statuses[i]);
	}
	return (NULL);
}

/* 0 ok, else the problem has been sent (RQ_DONE is returned through rc). */
static int
jobs_parse(struct rq *rq, struct jobs_q *q, int *rc)
{
	char		*qs, *tok, *save, *eq;
	uint8_t		 raw[UUID_LEN];
	json_t		*p = NULL;

	memset(q, 0, sizeof(*q));
	q->limit = 50;
	if (pipe_query(rq) == NULL)
		return (0);
	qs = xstrdup(pipe_query(rq));
	for (tok = strtok_r(qs, "&", &save); tok != NULL && p == NULL;
	    tok = strtok_r(NULL, "&", &save)) {
		eq = strchr(tok, '=');
		if (eq != NULL)
			*eq++ = '\0';
		if (eq != NULL && strcmp(tok, "status") == 0) {
			if ((q->status = jobs_status(eq)) == NULL) {
				p = problem_new(PROB_INVALID_QUERY, "status: "
				    "one of queued, running, succeeded, "
				    "failed, dead");
				problem_add_field(p, "status", "invalid_value",
				    "not a job status");
			}
		} else if (eq != NULL && strcmp(tok, "type") == 0 &&
		    *eq != '\0' && strlen(eq) < sizeof(q->type) &&
		    strspn(eq, "abcdefghijklmnopqrstuvwxyz_") == strlen(eq)) {
			(void)snprintf(q->type, sizeof(q->type), "%s", eq);
		} else if (eq != NULL && strcmp(tok, "limit") == 0 &&
		    *eq != '\0' && strspn(eq, "0123456789") == strlen(eq) &&
		    strlen(eq) <= 3 && atoi(eq) >= 1 && atoi(eq) <= 200) {
			q->limit = atoi(eq);
		} else if (eq != NULL && strcmp(tok, "cursor") == 0) {
			if (uuid7_parse(eq, raw) == -1)
				p = problem_new(PROB_INVALID_CURSOR, "the "
				    "cursor is not one this list gave out");
			else
				uuid7_fmt(raw, q->cursor);
		} else {
			p = problem_new(PROB_INVALID_QUERY, "supported: status, "
			    "type, limit (1..200), cursor");
			problem_add_field(p, tok, "unknown_parameter",
			    "not a parameter of this list");
		}
	}
	xfree(qs);
	if (p == NULL)
		return (0);
	*rc = reply_problem_json(rq, p);
	return (-1);
}

static int
jobs_list_done(struct rq *rq)
{
	PGresult	*res;
	struct buf	 out;
	int		 n, limit = *(int *)rq->h;

	if (!db_ok(rq))
		return (db_reply_error(rq));
	res = db_res(rq, 0);
	n = atoi(PQgetvalue(res, 0, 1));
	buf_init(&out, 1024);
	buf_appends(&out, "{\"data\":");
	buf_append(&out, PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0));
	buf_appends(&out, ",\"next_cursor\":");
	if (n == limit)
		js_escape(&out, PQgetvalue(res, 0, 2), PQgetlength(res, 0, 2));
	else
		buf_appends(&out, "null");
	buf_appendc(&out, '}');
	reply_raw(rq, 200, "application/json; charset=utf-8", out.data,
	    out.len);
	buf_free(&out);
	return (RQ_DONE);
}

static int
jobs_list(struct rq *rq)
{
	struct db_batch	*b;
	struct jobs_q	 q;
	int		 rc;

	if (jobs_parse(rq, &q, &rc) == -1)
		return (rc);
	rq->h = xmalloc(sizeof(int));
	rq->h_free = xfree;
	*(int *)rq->h = q.limit;
	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, jobs_list_sql);
	db_param(b, rq->who.tenant);
	db_param(b, q.status);
	db_param(b, q.type[0] ? q.type : NULL);
	db_param(b, q.cursor[0] ? q.cursor : NULL);
	db_paramf(b, "%d", q.limit);
	return (db_run(rq, b, jobs_list_done));
}

static const struct route jobs_routes[] = {
	ROUTE(HTTP_METHOD_GET, "/v1/jobs", "jobs:read", jobs_list, 0,
	    "The tenant's jobs, newest first; ?status=dead is the "
	    "dead-letter list"),
	ROUTE(HTTP_METHOD_GET, "/v1/jobs/{id}", "jobs:read", jobs_get, 0,
	    "One job: status, attempts, progress, last error"),
};

const struct crm_module jobs_module = {
	"jobs", jobs_routes, sizeof(jobs_routes) / sizeof(jobs_routes[0]),
	NULL, NULL
};
