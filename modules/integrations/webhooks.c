/*
 * webhooks.c: a tenant's webhook subscriptions and their delivery log
 * (API.md "Jobs, imports, exports, webhooks"; SECURITY.md 2.8, 3.5).
 *
 * A subscription names a URL and event filters (exact names, "*",
 * "<entity>.*", checked against app/jobspec.c's list).  Its signing
 * secret is made here, shown once in the 201 and stored sealed
 * (app/jobseal.c).  The URL passes the SSRF guard's first half here
 * (app/jobaddr.c: scheme, credentials, every spelling of a non-public
 * address literal, unless CRM_WEBHOOK_ALLOWLIST covers it); crm-worker
 * checks the resolved addresses again at delivery.
 *
 * Deliveries are jobs (crm.jobs, type webhook, subject_id the webhook),
 * made by a trigger on crm.events in the writing transaction
 * (sql/019_jobs.sql), so the delivery log is a view of the jobs table.
 * Every change is audited in the same statement as the change.
 */

#include <stdio.h>
#include <string.h>

#include "identity.h"
#include "job.h"

#define WH_MAX_PER_TENANT	50
#define WH_TS(c)							\
	"to_char(" c " AT TIME ZONE 'UTC', "				\
	"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

#define WH_JSON								\
	"json_build_object('id', w.id, 'url', w.url, 'events', "	\
	"to_json(w.events), 'description', w.description, 'enabled', "	\
	"w.enabled, 'secret_hint', w.secret_hint, "			\
	"'consecutive_failures', w.consecutive_failures, "		\
	"'failing_since', " WH_TS("w.failing_since") ", "		\
	"'disabled_at', " WH_TS("w.disabled_at") ", 'disabled_reason', "\
	"w.disabled_reason, 'created_at', " WH_TS("w.created_at") ", "	\
	"'updated_at', " WH_TS("w.updated_at") ")"

/* The audit row, in the statement of the change: $a.. are 7 params. */
#define WH_AUDIT(a1, a2, a3, a4, a5, a6, a7, src)			\
	"INSERT INTO crm.audit_log (tenant_id, id, actor_id, "		\
	"actor_kind, action, target_type, target_id, ip, user_agent, "	\
	"detail) SELECT tenant_id, " a1 "::uuid, " a2 "::uuid, " a3	\
	", " a4 ", 'webhook', id, " a5 "::inet, left(" a6 ", 512), "	\
	"coalesce(" a7 "::jsonb, '{}') FROM " src

static uint8_t			wh_key[JSEAL_KEY_LEN];
static int			wh_key_ok;
static struct jaddr_allow	wh_allow;

static const char	wh_list_sql[] =
	"SELECT json_build_object('data', coalesce(json_agg(" WH_JSON
	" ORDER BY w.id DESC), '[]'))::text FROM crm.webhooks w "
	"WHERE w.tenant_id = $1";

static const char	wh_get_sql[] =
	"SELECT " WH_JSON "::text FROM crm.webhooks w "
	"WHERE w.tenant_id = $1 AND w.id = $2";

/* $1 tenant, $2 id, $3 url, $4 events, $5 description, $6 enabled,
 * $7 sealed secret (hex), $8 hint, $9..$15 audit, $16 the limit. */
static const char	wh_create_sql[] =
	"WITH w AS (INSERT INTO crm.webhooks (tenant_id, id, url, events, "
	"description, enabled, secret_enc, secret_hint, created_by) "
	"SELECT $1, $2, $3, ARRAY(SELECT jsonb_array_elements_text($4::jsonb)),"
	" $5, $6::boolean, decode($7, 'hex'), $8, $10::uuid "
	"WHERE (SELECT count(*) FROM crm.webhooks x WHERE x.tenant_id = $1) "
	"< $16::int RETURNING *), a AS ("
	WH_AUDIT("$9", "$10", "$11", "$12", "$13", "$14", "$15", "w")
	") SELECT " WH_JSON "::text FROM w";

/*
 * $1 tenant, $2 id, $3 url, $4 events (NULL: unchanged), $5 description
 * given, $6 description, $7 enabled (NULL: unchanged), $8..$14 audit.
 * Enabling clears the failure streak; disabling records who did it.
 */
static const char	wh_update_sql[] =
	"WITH w AS (UPDATE crm.webhooks w SET url = coalesce($3, w.url), "
	"events = CASE WHEN $4::jsonb IS NULL THEN w.events ELSE "
	"ARRAY(SELECT jsonb_array_elements_text($4::jsonb)) END, "
	"description = CASE WHEN $5::boolean THEN $6 ELSE w.description END, "
	"enabled = coalesce($7::boolean, w.enabled), "
	"consecutive_failures = CASE WHEN $7::boolean THEN 0 "
	"ELSE w.consecutive_failures END, "
	"failing_since = CASE WHEN $7::boolean THEN NULL "
	"ELSE w.failing_since END, "
	"disabled_at = CASE WHEN $7::boolean THEN NULL WHEN NOT $7::boolean "
	"AND w.enabled THEN now() ELSE w.disabled_at END, "
	"disabled_reason = CASE WHEN $7::boolean THEN NULL "
	"WHEN NOT $7::boolean AND w.enabled THEN 'by_user' "
	"ELSE w.disabled_reason END, updated_at = now() "
	"WHERE w.tenant_id = $1 AND w.id = $2 RETURNING w.*), a AS ("
	WH_AUDIT("$8", "$9", "$10", "$11", "$12", "$13", "$14", "w")
	") SELECT " WH_JSON "::text FROM w";

static const char	wh_delete_sql[] =
	"WITH w AS (DELETE FROM crm.webhooks w WHERE w.tenant_id = $1 "
	"AND w.id = $2 RETURNING w.tenant_id, w.id) "
	WH_AUDIT("$3", "$4", "$5", "$6", "$7", "$8", "$9", "w")
	" RETURNING target_id";

#define WH_DELIVERY_JSON						\
	"json_build_object('id', j.id, 'webhook_id', j.subject_id, "	\
	"'event_id', j.payload->>'event_id', 'event_type', e.type, "	\
	"'status', j.status, 'attempts', j.attempts, 'max_attempts', "	\
	"j.max_attempts, 'last_status', j.last_status, 'last_error', "	\
	"j.last_error, 'next_attempt_at', CASE WHEN j.status = 'queued' "\
	"THEN " WH_TS("j.run_at") " END, 'redelivery_of', "		\
	"j.payload->>'redelivery_of', 'created_at', "			\
	WH_TS("j.created_at") ", 'updated_at', " WH_TS("j.updated_at")	\
	", 'finished_at', " WH_TS("j.finished_at") ")"

static const char	wh_exists_sql[] =
	"SELECT w.enabled FROM crm.webhooks w "
	"WHERE w.tenant_id = $1 AND w.id = $2";

/* The delivery must be the webhook's before its state is told. */
static const char	wh_delivery_sql[] =
	"SELECT w.enabled FROM crm.webhooks w JOIN crm.jobs s "
	"ON s.tenant_id = w.tenant_id AND s.subject_id = w.id "
	"AND s.id = $3 AND s.type = 'webhook' "
	"WHERE w.tenant_id = $1 AND w.id = $2";

/* Newest first, keyset-paged on the job id (UUIDv7: time order). */
static const char	wh_deliveries_sql[] =
	"SELECT coalesce(json_agg(" WH_DELIVERY_JSON " ORDER BY j.id DESC), "
	"'[]')::text, count(*), min(j.id::text) FROM (SELECT * FROM crm.jobs "
	"WHERE tenant_id = $1 AND subject_id = $2 AND type = 'webhook' "
	"AND ($3::uuid IS NULL OR id < $3::uuid) ORDER BY id DESC LIMIT $4) j "
	"LEFT JOIN crm.events e ON e.tenant_id = j.tenant_id "
	"AND e.id = (j.payload->>'event_id')::uuid";

/* A new delivery of the same event: same event id, new delivery id. */
static const char	wh_redeliver_sql[] =
	"WITH j AS (INSERT INTO crm.jobs (tenant_id, id, type, payload, "
	"subject_id) SELECT s.tenant_id, $4, 'webhook', jsonb_build_object("
	"'event_id', s.payload->'event_id', 'webhook_id', s.subject_id, "
	"'redelivery_of', s.id), s.subject_id FROM crm.jobs s "
	"JOIN crm.webhooks w ON w.tenant_id = s.tenant_id "
	"AND w.id = s.subject_id AND w.enabled "
	"WHERE s.tenant_id = $1 AND s.subject_id = $2 AND s.id = $3 "
	"AND s.type = 'webhook' RETURNING *) "
	"SELECT " WH_DELIVERY_JSON "::text FROM j "
	"LEFT JOIN crm.events e ON e.tenant_id = j.tenant_id "
	"AND e.id = (j.payload->>'event_id')::uuid";

/*
 * The parent reads (or makes) the key before it forks the workers, which
 * inherit it: a worker that dropped its privileges (CRM_RUNAS) need not
 * read the file itself.
 */
static void
wh_parent_init(void)
{
	wh_key_ok = jseal_key_load(crm_conf.keys_dir, wh_key, 1) == 0;
	if (!wh_key_ok)
		log_msg(LOG_LVL_ERROR, "webhooks", "cannot read or create "
		    "%s/webhook-secret.key: webhooks cannot be created",
		    crm_conf.keys_dir);
}

static void
wh_worker_init(void)
{
	if (!wh_key_ok)
		wh_key_ok = jseal_key_load(crm_conf.keys_dir, wh_key, 0) == 0;
	if (jaddr_allow_parse(crm_conf.webhook_allowlist, &wh_allow) == -1) {
		log_msg(LOG_LVL_ERROR, "webhooks", "CRM_WEBHOOK_ALLOWLIST is "
		    "not a list of CIDRs: ignored");
		memset(&wh_allow, 0, sizeof(wh_allow));
	}
}

/* The 7 audit parameters of WH_AUDIT, in order. */
static void
wh_audit_params(struct db_batch *b, struct rq *rq, const char *action,
    json_t *detail)
{
	char		 id[UUID_STRLEN + 1], ip[64];
	char		*d;

	uuid7_new_str(id);
	db_param(b, id);
	db_param(b, rq->who.user[0] ? rq->who.user : NULL);
	db_param(b, rq->who.kind == PRINC_APIKEY ? "api_key" : "user");
	db_param(b, action);
	db_param(b, auth_client_ip(rq, ip, sizeof(ip)) ? ip : NULL);
	db_param(b, auth_user_agent(rq));
	d = detail != NULL ? js_dump(detail, NULL) : NULL;
	db_param(b, d);
	xfree(d);
	json_decref(detail);
}

static int
wh_url_valid(struct val *v, const char *url)
{
	const char	*why = NULL;

	if (jaddr_check_url(url, &wh_allow, &why) == JADDR_OK)
		return (1);
	val_error(v, "url", "invalid_value", why);
	return (0);
}

static int
wh_events_valid(struct val *v, json_t *events)
{
	if (events == NULL)
		return (0);
	if (json_array_size(events) == 0) {
		val_error(v, "events", "too_short", "at least one event name");
		return (0);
	}
	return (1);
}

/* url, events, description, enabled; required says which must be there. */
static void
wh_parse(struct rq *rq, struct val *v, int required, const char **url,
    json_t **events, const char **desc, json_t **enabled)
{
	static const char *const	 fields[] = { "url", "events",
					    "description", "enabled", NULL };

	val_init(v, rq->body);
	val_only(v, fields);
	if ((*url = val_str(v, "url", required, 8, 2048)) != NULL)
		(void)wh_url_valid(v, *url);
	if ((*events = val_str_array(v, "events", required, 100,
	    jspec_filter_valid)) != NULL)
		(void)wh_events_valid(v, *events);
	*desc = val_str(v, "description", 0, 0, 500);
	*enabled = json_is_object(rq->body) ?
	    json_object_get(rq->body, "enabled") : NULL;
	if (*enabled != NULL && !json_is_boolean(*enabled))
		val_error(v, "enabled", "invalid_type", "must be true or false");
}

static int
wh_list(struct rq *rq)
{
	struct db_batch	*b;

	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, wh_list_sql);
	db_param(b, rq->who.tenant);
	return (db_run(rq, b, users_reply_200));
}

static int
wh_get(struct rq *rq)
{
	struct db_batch	*b;
	char		 id[UUID_STRLEN + 1];

	if (!users_path_id(rq, 0, id))
		return (reply_problem(rq, PROB_NOT_FOUND, "no such webhook"));
	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, wh_get_sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
	return (db_run(rq, b, users_reply_200));
}

static void
wh_secret_free(void *h)
{
	explicit_bzero(h, JSEAL_SECRET_LEN + 1);
	xfree(h);
}

static int
wh_create_done(struct rq *rq)
{
	PGresult	*res;
	json_error_t	 e;
	json_t		*out;

	if (!db_ok(rq))
		return (users_db_error(rq, NULL));
	res = db_res(rq, 0);
	if (PQntuples(res) == 0)
		return (reply_problem(rq, PROB_CONFLICT, "a tenant may have at "
		    "most %d webhooks", WH_MAX_PER_TENANT));
	if ((out = json_loads(PQgetvalue(res, 0, 0), 0, &e)) == NULL)
		return (reply_problem(rq, PROB_INTERNAL, NULL));
	json_object_set_new(out, "secret", json_string(rq->h));
	return (reply_json(rq, 201, out));
}

static int
wh_create(struct rq *rq)
{
	struct db_batch	*b;
	struct val	 v;
	json_t		*events, *enabled;
	const char	*url, *desc;
	char		 id[UUID_STRLEN + 1], hint[16], *ej;
	char		 hex[(JSEAL_SECRET_LEN + JSEAL_OVERHEAD) * 2 + 1];
	uint8_t		 sealed[JSEAL_SECRET_LEN + JSEAL_OVERHEAD];
	size_t		 slen;

	wh_parse(rq, &v, 1, &url, &events, &desc, &enabled);
	if (val_failed(&v))
		return (auth_reply_val(rq, &v));
	val_free(&v);
	rq->h = xmalloc(JSEAL_SECRET_LEN + 1);
	rq->h_free = wh_secret_free;
	jseal_secret_new(rq->h);
	if (!wh_key_ok || jseal_seal(wh_key, rq->h, sealed, &slen) == -1)
		return (reply_problem(rq, PROB_UNAVAILABLE, "webhook secrets "
		    "cannot be sealed: the key file is missing"));
	crm_hex(sealed, slen, hex);
	(void)snprintf(hint, sizeof(hint), "...%s",
	    (char *)rq->h + JSEAL_SECRET_LEN - 4);
	uuid7_new_str(id);
	b = db_batch(rq, DB_TX);
	db_stmt(b, wh_create_sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
	db_param(b, url);
	ej = js_dump(events, NULL);
	db_param(b, ej);
	xfree(ej);
	db_param(b, desc);
	db_param(b, enabled == NULL || json_is_true(enabled) ? "true" :
	    "false");
	db_param(b, hex);
	db_param(b, hint);
	wh_audit_params(b, rq, "webhook.created", json_pack("{s:s, s:O}",
	    "url", url, "events", events));
	db_paramf(b, "%d", WH_MAX_PER_TENANT);
	return (db_run(rq, b, wh_create_done));
}

static int
wh_update(struct rq *rq)
{
	struct db_batch	*b;
	struct val	 v;
	json_t		*events, *enabled, *detail;
	const char	*url, *desc;
	char		 id[UUID_STRLEN + 1], *ej;

	if (!users_path_id(rq, 0, id))
		return (reply_problem(rq, PROB_NOT_FOUND, "no such webhook"));
	wh_parse(rq, &v, 0, &url, &events, &desc, &enabled);
	if (val_failed(&v))
		return (auth_reply_val(rq, &v));
	val_free(&v);
	b = db_batch(rq, DB_TX);
	db_stmt(b, wh_update_sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
	db_param(b, url);
	ej = events != NULL ? js_dump(events, NULL) : NULL;
	db_param(b, ej);
	xfree(ej);
	db_param(b, json_object_get(rq->body, "description") != NULL ?
	    "true" : "false");
	db_param(b, desc);
	db_param(b, enabled == NULL ? NULL : json_is_true(enabled) ? "true" :
	    "false");
	detail = json_object();
	if (url != NULL)
		json_object_set_new(detail, "url", json_string(url));
	if (events != NULL)
		json_object_set(detail, "events", events);
	if (enabled != NULL)
		json_object_set(detail, "enabled", enabled);
	wh_audit_params(b, rq, "webhook.updated", detail);
	return (db_run(rq, b, users_reply_200));
}

static int
wh_delete_done(struct rq *rq)
{
	if (!db_ok(rq))
		return (users_db_error(rq, NULL));
	if (PQntuples(db_res(rq, 0)) == 0)
		return (reply_problem(rq, PROB_NOT_FOUND, "no such webhook"));
	return (reply_empty(rq, 204));
}

static int
wh_delete(struct rq *rq)
{
	struct db_batch	*b;
	char		 id[UUID_STRLEN + 1];

	if (!users_path_id(rq, 0, id))
		return (reply_problem(rq, PROB_NOT_FOUND, "no such webhook"));
	b = db_batch(rq, DB_TX);
	db_stmt(b, wh_delete_sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
	wh_audit_params(b, rq, "webhook.deleted", NULL);
	return (db_run(rq, b, wh_delete_done));
}

/* ?limit=1..200&cursor=<delivery id>: 0 ok, -1 bad query, -2 bad cursor. */
static int
wh_page_query(struct rq *rq, int *limit, char cursor[UUID_STRLEN + 1])
{
	char		*qs, *tok, *save, *eq;
	uint8_t		 raw[UUID_LEN];
	int		 rc = 0;

	*limit = 50;
	cursor[0] = '\0';
	if (pipe_query(rq) == NULL)
		return (0);
	qs = xstrdup(pipe_query(rq));
	for (tok = strtok_r(qs, "&", &save); tok != NULL && rc == 0;
	    tok = strtok_r(NULL, "&", &save)) {
		if ((eq = strchr(tok, '=')) == NULL) {
			rc = -1;
			break;
		}
		*eq++ = '\0';
		if (strcmp(tok, "limit") == 0) {
			*limit = atoi(eq);
			if (*limit < 1 || *limit > 200 || *eq == '\0' ||
			    strspn(eq, "0123456789") != strlen(eq))
				rc = -1;
		} else if (strcmp(tok, "cursor") == 0) {
			if (uuid7_parse(eq, raw) == -1)
				rc = -2;
			else
				uuid7_fmt(raw, cursor);
		} else {
			rc = -1;
		}
	}
	xfree(qs);
	return (rc);
}

static int
wh_deliveries_done(struct rq *rq)
{
	PGresult	*res;
	struct buf	 out;
	int		 n, limit = *(int *)rq->h;

	if (!db_ok(rq))
		return (db_reply_error(rq));
	if (PQntuples(db_res(rq, 0)) == 0)
		return (reply_problem(rq, PROB_NOT_FOUND, "no such webhook"));
	res = db_res(rq, 1);
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
wh_deliveries(struct rq *rq)
{
	struct db_batch	*b;
	char		 id[UUID_STRLEN + 1], cursor[UUID_STRLEN + 1];
	int		 limit;

	if (!users_path_id(rq, 0, id))
		return (reply_problem(rq, PROB_NOT_FOUND, "no such webhook"));
	switch (wh_page_query(rq, &limit, cursor)) {
	case -1:
		return (reply_problem(rq, PROB_INVALID_QUERY, "supported: "
		    "limit (1..200), cursor"));
	case -2:
		return (reply_problem(rq, PROB_INVALID_CURSOR,
		    "the cursor is not one this list gave out"));
	}
	rq->h = xmalloc(sizeof(int));
	rq->h_free = xfree;
	*(int *)rq->h = limit;
	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, wh_exists_sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
	db_stmt(b, wh_deliveries_sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
	db_param(b, cursor[0] ? cursor : NULL);
	db_paramf(b, "%d", limit);
	return (db_run(rq, b, wh_deliveries_done));
}

static int
wh_redeliver_done(struct rq *rq)
{
	PGresult	*res;

	if (!db_ok(rq))
		return (db_reply_error(rq));
	if (PQntuples(db_res(rq, 0)) == 0)
		return (reply_problem(rq, PROB_NOT_FOUND, "no such delivery"));
	if (strcmp(PQgetvalue(db_res(rq, 0), 0, 0), "t") != 0)
		return (reply_problem(rq, PROB_CONFLICT, "the webhook is "
		    "disabled: enable it first (PATCH enabled: true)"));
	res = db_res(rq, 1);
	if (PQntuples(res) == 0)
		return (reply_problem(rq, PROB_NOT_FOUND, "no such delivery"));
	return (reply_raw(rq, 202, "application/json; charset=utf-8",
	    PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0)));
}

static int
wh_redeliver(struct rq *rq)
{
	struct db_batch	*b;
	char		 id[UUID_STRLEN + 1], did[UUID_STRLEN + 1];
	char		 job[UUID_STRLEN + 1];

	if (!users_path_id(rq, 0, id) || !users_path_id(rq, 1, did))
		return (reply_problem(rq, PROB_NOT_FOUND, "no such delivery"));
	uuid7_new_str(job);
	b = db_batch(rq, DB_TX);
	db_stmt(b, wh_delivery_sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
	db_param(b, did);
	db_stmt(b, wh_redeliver_sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
	db_param(b, did);
	db_param(b, job);
	return (db_run(rq, b, wh_redeliver_done));
}

static const struct route wh_routes[] = {
	ROUTE(HTTP_METHOD_GET, "/v1/webhooks", "webhooks:read", wh_list, 0,
	    "List the tenant's webhook subscriptions"),
	ROUTE(HTTP_METHOD_POST, "/v1/webhooks", "webhooks:create", wh_create,
	    RT_JSON | RT_WRITE | RT_SECRET, "Subscribe a URL to events; the "
	    "signing secret is shown only in this reply"),
	ROUTE(HTTP_METHOD_GET, "/v1/webhooks/{id}", "webhooks:read", wh_get, 0,
	    "One webhook subscription"),
	ROUTE(HTTP_METHOD_PATCH, "/v1/webhooks/{id}", "webhooks:update",
	    wh_update, RT_JSON | RT_WRITE,
	    "Change a subscription's URL, events, description or enabled"),
	ROUTE(HTTP_METHOD_DELETE, "/v1/webhooks/{id}", "webhooks:delete",
	    wh_delete, RT_WRITE, "Delete a subscription"),
	ROUTE(HTTP_METHOD_GET, "/v1/webhooks/{id}/deliveries", "webhooks:read",
	    wh_deliveries, 0, "A subscription's deliveries, newest first"),
	ROUTE(HTTP_METHOD_POST,
	    "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
	    "webhooks:update", wh_redeliver, RT_WRITE,
	    "Deliver a delivery's event again (a new delivery id)"),
};

const struct crm_module webhooks_module = {
	"webhooks", wh_routes, sizeof(wh_routes) / sizeof(wh_routes[0]),
	wh_worker_init, wh_parent_init
};
