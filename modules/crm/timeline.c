/*
 * timeline.c: GET /v1/{entity}/{id}/timeline, a record's history: its
 * field changes (crm.timeline, written by one trigger on every entity
 * table, sql/018_timeline.sql) merged with the activities linked to it
 * (crm.activity_links), newest first.
 *
 * An activity sits on the timeline at its start, else its due time, else
 * its creation: a meeting shows where it happens, not when it was booked.
 * Activities appear only for a caller who may read activities, and each
 * one only when it is in the caller's record scope, like any activity.
 *
 * The record itself must be visible to the caller (live, in scope);
 * otherwise the answer is the engine's 404, identical to a missing id.
 * Pages are keyset pages on (at, id), so entries added meanwhile neither
 * repeat nor vanish; the cursor is that pair, base64url-encoded.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "records.h"

#define TIMELINE_TS(c)	"to_char(" c " AT TIME ZONE 'UTC', " \
			"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define TIMELINE_ACT_AT	"coalesce(a.starts_at, a.due_at, a.created_at)"

/*
 * $1 tenant, $2 record, $3 user, $4 scope, $5 entity (route name),
 * $6 activities readable, $7/$8 cursor (microseconds, id) or NULL,
 * $9 limit.  One row: record visible (0/1), the page as JSON, its
 * length, the cursor of its last entry.
 */
static const char	timeline_sql[] =
	"WITH rec AS (SELECT 1 FROM %s WHERE tenant_id = $1 AND id = $2 AND "
	"deleted_at IS NULL AND " ENT_SCOPE_SQL("$1", "owner_id", "$3", "$4")
	"), items AS (SELECT t.at, t.id, jsonb_build_object('kind', 'change', "
	"'id', t.id, 'at', " TIMELINE_TS("t.at") ", 'action', t.action, "
	"'actor_id', t.actor_id, 'changes', t.changes) AS j "
	"FROM crm.timeline t WHERE EXISTS (SELECT 1 FROM rec) AND "
	"t.tenant_id = $1 AND t.entity = $5 AND t.record_id = $2 "
	"UNION ALL SELECT " TIMELINE_ACT_AT ", a.id, jsonb_build_object("
	"'kind', 'activity', 'id', a.id, 'at', "
	TIMELINE_TS(TIMELINE_ACT_AT) ", 'type', a.type, 'subject', "
	"a.subject, 'body', a.body, 'status', a.status, 'due_at', "
	TIMELINE_TS("a.due_at") ", 'starts_at', " TIMELINE_TS("a.starts_at")
	", 'ends_at', " TIMELINE_TS("a.ends_at") ", 'completed_at', "
	TIMELINE_TS("a.completed_at") ", 'owner_id', a.owner_id) "
	"FROM crm.activity_links k JOIN crm.activities a ON "
	"a.tenant_id = k.tenant_id AND a.id = k.activity_id "
	"WHERE $6::boolean AND EXISTS (SELECT 1 FROM rec) AND "
	"k.tenant_id = $1 AND k.entity = $5 AND k.record_id = $2 AND "
	"a.deleted_at IS NULL AND "
	ENT_SCOPE_SQL("$1", "a.owner_id", "$3", "$4") "), "
	"page AS (SELECT at, id, j FROM items WHERE $7::bigint IS NULL OR "
	"(at, id) < ('epoch'::timestamptz + $7::bigint * "
	"interval '1 microsecond', $8::uuid) ORDER BY at DESC, id DESC "
	"LIMIT $9::int) "
	"SELECT (SELECT count(*) FROM rec), coalesce((SELECT jsonb_agg(j "
	"ORDER BY at DESC, id DESC) FROM page), '[]')::text, "
	"(SELECT count(*) FROM page), (SELECT (extract(epoch FROM at) * "
	"1000000)::bigint || ':' || id FROM page ORDER BY at, id LIMIT 1)";

#define TIMELINE_CURSOR_MAX	96

struct timeline_q {
	int	 limit;
	char	 at[24];			/* microseconds, "" none */
	char	 id[UUID_STRLEN + 1];
	char	*sql;
};

static void
timeline_q_free(void *h)
{
	struct timeline_q	*q = h;

	xfree(q->sql);
	xfree(q);
}

/* "<microseconds>:<uuid>", base64url: 0, or -1 when it is not ours. */
static int
timeline_cursor(const char *s, struct timeline_q *q)
{
	char		 raw[TIMELINE_CURSOR_MAX];
	uint8_t		 u[UUID_LEN];
	ssize_t		 n;
	size_t		 digits;
	char		*colon;

	n = b64url_decode(s, strlen(s), raw, sizeof(raw) - 1);
	if (n <= 0)
		return (-1);
	raw[n] = '\0';
	if ((colon = strchr(raw, ':')) == NULL)
		return (-1);
	*colon = '\0';
	digits = strspn(raw, "0123456789");
	if (digits == 0 || digits != strlen(raw) ||
	    digits >= sizeof(q->at) || uuid7_parse(colon + 1, u) == -1)
		return (-1);
	memcpy(q->at, raw, digits + 1);
	uuid7_fmt(u, q->id);
	return (0);
}

/*
 * ?limit=1..200 (default 50) and ?cursor=; anything else is refused, so a
 * typo never silently returns a default page.  Returns the problem code,
 * or -1 when the query is fine.
 */
static int
timeline_query(struct rq *rq, struct timeline_q *q)
{
	char	*qs, *tok, *save, *eq;
	int	 rc = -1;

	q->limit = 50;
	if (pipe_query(rq) == NULL || *pipe_query(rq) == '\0')
		return (-1);
	qs = xstrdup(pipe_query(rq));
	for (tok = strtok_r(qs, "&", &save); tok != NULL && rc == -1;
	    tok = strtok_r(NULL, "&", &save)) {
		if ((eq = strchr(tok, '=')) == NULL) {
			rc = PROB_INVALID_QUERY;
			break;
		}
		*eq++ = '\0';
		if (strcmp(tok, "limit") == 0) {
			q->limit = atoi(eq);
			if (strspn(eq, "0123456789") != strlen(eq) ||
			    strlen(eq) > 3 || q->limit < 1 || q->limit > 200)
				rc = PROB_INVALID_QUERY;
		} else if (strcmp(tok, "cursor") == 0) {
			if (timeline_cursor(eq, q) == -1)
				rc = PROB_INVALID_CURSOR;
		} else
			rc = PROB_INVALID_QUERY;
	}
	xfree(qs);
	return (rc);
}

static int
timeline_done(struct rq *rq)
{
	struct timeline_q	*q = rq->h;
	PGresult		*res;
	struct buf		 out;
	char			 cur[TIMELINE_CURSOR_MAX * 2];
	size_t			 n;

	if (!db_ok(rq))
		return (db_reply_error(rq));
	res = db_res(rq, 0);
	if (strcmp(PQgetvalue(res, 0, 0), "1") != 0)
		return (reply_problem(rq, PROB_NOT_FOUND, "no such resource"));
	buf_init(&out, 4096);
	buf_appends(&out, "{\"data\":");
	buf_append(&out, PQgetvalue(res, 0, 1), PQgetlength(res, 0, 1));
	buf_appends(&out, ",\"next_cursor\":");
	if (atoi(PQgetvalue(res, 0, 2)) == q->limit &&
	    !PQgetisnull(res, 0, 3)) {
		n = b64url_encode(PQgetvalue(res, 0, 3),
		    PQgetlength(res, 0, 3), cur, sizeof(cur));
		js_escape(&out, cur, n);
	} else
		buf_appends(&out, "null");
	buf_appendc(&out, '}');
	reply_raw(rq, 200, "application/json; charset=utf-8", out.data,
	    out.len);
	buf_free(&out);
	return (RQ_DONE);
}

/* May the caller read activities at all (role and, for a key, scopes)? */
static int
timeline_activities(struct rq *rq)
{
	return (pipe_allows(rq, "activities:read"));
}

int
timeline_list(struct rq *rq)
{
	const struct ent_desc	*d = eng_desc(rq);
	struct timeline_q	*q;
	struct db_batch		*b;
	struct buf		 sql;
	uint8_t			 raw[UUID_LEN];
	char			 id[UUID_STRLEN + 1];
	int			 code;

	if (pipe_param(rq, 0) == NULL || uuid7_parse(pipe_param(rq, 0),
	    raw) == -1)
		return (reply_problem(rq, PROB_NOT_FOUND, "no such resource"));
	uuid7_fmt(raw, id);
	q = xcalloc(1, sizeof(*q));
	rq->h = q;
	rq->h_free = timeline_q_free;
	if ((code = timeline_query(rq, q)) != -1)
		return (reply_problem(rq, code, code == PROB_INVALID_CURSOR ?
		    "the cursor is not one this list gave out" :
		    "supported: limit (1..200), cursor"));
	buf_init(&sql, sizeof(timeline_sql) + 64);
	buf_appendf(&sql, timeline_sql, d->table);
	q->sql = sql.data;
	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, q->sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
	db_param(b, rq->who.owner);
	db_param(b, eng_scope(rq));
	db_param(b, d->name);
	db_param(b, timeline_activities(rq) ? "true" : "false");
	db_param(b, q->at[0] ? q->at : NULL);
	db_param(b, q->at[0] ? q->id : NULL);
	db_paramf(b, "%d", q->limit);
	return (db_run(rq, b, timeline_done));
}
