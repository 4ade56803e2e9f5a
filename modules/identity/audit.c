/*
 * audit.c: the audit log.  Rows are written by the application in the
 * same transaction as the change they record (never by triggers: Citus
 * refuses them, SECURITY.md finding 5), so an audited change and its row
 * commit or roll back together.  The service may only INSERT and SELECT.
 */

#include <stdio.h>
#include <string.h>

#include "identity.h"

static const char	audit_sql[] =
	"INSERT INTO crm.audit_log (tenant_id, id, actor_id, actor_kind, "
	"action, target_type, target_id, ip, user_agent, detail) "
	"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, left($9, 512), "
	"coalesce($10::jsonb, '{}'))";

/* Audit with an explicit actor (sign-up and login know the user first). */
void
audit_add_as(struct db_batch *b, struct rq *rq, const char *actor,
    const char *action, const char *type, const char *target, json_t *detail)
{
	char		 id[UUID_STRLEN + 1], ip[64];
	char		*d;

	uuid7_new_str(id);
	db_stmt(b, audit_sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
	db_param(b, actor);
	db_param(b, rq->who.kind == PRINC_APIKEY ? "api_key" : "user");
	db_param(b, action);
	db_param(b, type);
	db_param(b, target);
	db_param(b, auth_client_ip(rq, ip, sizeof(ip)) ? ip : NULL);
	db_param(b, auth_user_agent(rq));
	d = detail != NULL ? js_dump(detail, NULL) : NULL;
	db_param(b, d);
	xfree(d);
	if (detail != NULL)
		json_decref(detail);
}

void
audit_add(struct db_batch *b, struct rq *rq, const char *action,
    const char *type, const char *target, json_t *detail)
{
	audit_add_as(b, rq, rq->who.user[0] ? rq->who.user : NULL, action,
	    type, target, detail);
}

/*
 * GET /v1/audit-log: newest first, keyset-paged on the UUIDv7 id (time
 * ordered).  ?cursor is the last id seen, ?limit 1..200 (default 50),
 * ?action and ?actor_id filter.
 */
static const char	audit_list_sql[] =
	"SELECT coalesce(json_agg(json_build_object('id', id, "
	"'at', to_char(at AT TIME ZONE 'UTC', "
	"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'actor_id', actor_id, "
	"'actor_kind', actor_kind, 'action', action, 'target_type', "
	"target_type, 'target_id', target_id, 'ip', host(ip), 'user_agent', "
	"user_agent, 'detail', detail) ORDER BY id DESC), '[]')::text, "
	"count(*), min(id::text) FROM (SELECT * FROM crm.audit_log "
	"WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id < $2::uuid) "
	"AND ($3::text IS NULL OR action = $3) "
	"AND ($4::uuid IS NULL OR actor_id = $4::uuid) "
	"ORDER BY id DESC LIMIT $5) a";

struct audit_q {
	char	cursor[UUID_STRLEN + 1];
	char	action[64];
	char	actor[UUID_STRLEN + 1];
	int	limit;
};

static int
audit_list_done(struct rq *rq)
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
audit_parse_query(struct rq *rq, struct audit_q *q)
{
	char		*qs, *tok, *save, *eq;
	uint8_t		 raw[UUID_LEN];

	q->limit = 50;
	if (pipe_query(rq) == NULL)
		return (0);
	qs = xstrdup(pipe_query(rq));
	for (tok = strtok_r(qs, "&", &save); tok != NULL;
	    tok = strtok_r(NULL, "&", &save)) {
		if ((eq = strchr(tok, '=')) == NULL)
			goto bad;
		*eq++ = '\0';
		if (strcmp(tok, "limit") == 0) {
			q->limit = atoi(eq);
			if (q->limit < 1 || q->limit > 200 ||
			    strspn(eq, "0123456789") != strlen(eq))
				goto bad;
		} else if (strcmp(tok, "cursor") == 0 ||
		    strcmp(tok, "actor_id") == 0) {
			if (uuid7_parse(eq, raw) == -1 && tok[0] == 'c') {
				xfree(qs);
				return (-2);
			}
			if (uuid7_parse(eq, raw) == -1)
				goto bad;
			uuid7_fmt(raw, tok[0] == 'c' ? q->cursor : q->actor);
		} else if (strcmp(tok, "action") == 0 &&
		    strlen(eq) < sizeof(q->action) &&
		    strspn(eq, "abcdefghijklmnopqrstuvwxyz_.") == strlen(eq)) {
			(void)snprintf(q->action, sizeof(q->action), "%s", eq);
		} else {
			goto bad;
		}
	}
	xfree(qs);
	return (0);
bad:
	xfree(qs);
	return (-1);
}

static int
audit_list(struct rq *rq)
{
	struct audit_q	 q;
	struct db_batch	*b;

	memset(&q, 0, sizeof(q));
	switch (audit_parse_query(rq, &q)) {
	case -1:
		return (reply_problem(rq, PROB_INVALID_QUERY, "supported: "
		    "limit (1..200), cursor, action, actor_id"));
	case -2:
		return (reply_problem(rq, PROB_INVALID_CURSOR,
		    "the cursor is not one this list gave out"));
	}
	rq->h = xmalloc(sizeof(int));
	rq->h_free = xfree;
	*(int *)rq->h = q.limit;
	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, audit_list_sql);
	db_param(b, rq->who.tenant);
	db_param(b, q.cursor[0] ? q.cursor : NULL);
	db_param(b, q.action[0] ? q.action : NULL);
	db_param(b, q.actor[0] ? q.actor : NULL);
	db_paramf(b, "%d", q.limit);
	return (db_run(rq, b, audit_list_done));
}

static const struct route audit_routes[] = {
	ROUTE(HTTP_METHOD_GET, "/v1/audit-log", "audit-log:read", audit_list, 0,
	    "The tenant's audit log, newest first"),
};

const struct crm_module audit_module = {
	"audit", audit_routes, sizeof(audit_routes) / sizeof(audit_routes[0]),
	NULL, NULL
};
