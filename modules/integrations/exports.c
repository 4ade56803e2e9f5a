/*
 * exports.c: POST /v1/exports and the download of its file (API.md "Jobs,
 * imports, exports, webhooks"; the worker's half is app/jobexp.c).
 *
 *	POST /v1/exports {entity, format: csv|jsonl, filter: {"f": {"op": v}},
 *	    sort: "-amount,name", fields?: [...]}  ->  202 {job}
 *	GET /v1/exports/{id}/download  ->  the file, to the user who asked
 *
 * The request is checked here exactly as a list would be (elist_parse on
 * the same grammar), so a bad filter is a 400 naming it now, not a failed
 * job later.  The export runs with the asker's record scope and needs the
 * "<entity>:export" grant on top of the route's exports:create.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"
#include "job.h"
#include "ent.h"

#define EXP_MAX_FIELDS	200

static const char *const	exp_members[] = {
	"entity", "format", "filter", "sort", "fields", NULL
};
static const char *const	exp_entities[] = {
	"accounts", "contacts", "leads", "deals", "products", NULL
};
static const char *const	exp_formats[] = { "csv", "jsonl", NULL };

static const char	exp_create_sql[] =
	"INSERT INTO crm.jobs (tenant_id, id, type, payload, created_by, "
	"max_attempts) VALUES ($1, $2, 'export', $3::jsonb, $4::uuid, 3) "
	"RETURNING json_build_object('id', id, 'type', type, 'status', status, "
	"'progress', progress, 'result_url', NULL, 'created_at', to_char("
	"created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))"
	"::text";

/* Only the asker, only while the file is there and not expired. */
static const char	exp_file_sql[] =
	"SELECT result->>'file', result->>'format' FROM crm.jobs "
	"WHERE tenant_id = $1 AND id = $2 AND type = 'export' "
	"AND status = 'succeeded' AND created_by = $3::uuid "
	"AND result ? 'file' AND NOT result ? 'removed_at' "
	"AND (result->>'expires_at')::timestamptz > now()";

static int
exp_allowed(struct rq *rq, const char *entity)
{
	char	perm[64];

	(void)snprintf(perm, sizeof(perm), "%s:export", entity);
	return (pipe_allows(rq, perm));
}

/* fields: names among the default columns; NULL (with v failed) if not. */
static json_t *
exp_columns(struct val *v, const struct ent_desc *d,
    const struct ent_field *custom)
{
	json_t		*all, *want, *out, *c, *x;
	size_t		 i, k;
	char		 detail[160];

	all = jexp_columns(d, custom);
	want = json_object_get(v->body, "fields");
	if (want == NULL || json_is_null(want))
		return (all);
	out = json_array();
	if (!json_is_array(want) || json_array_size(want) == 0 ||
	    json_array_size(want) > EXP_MAX_FIELDS)
		val_error(v, "fields", "invalid_type", "an array of 1 to 200 "
		    "column names");
	json_array_foreach(json_is_array(want) ? want : NULL, i, x) {
		json_array_foreach(all, k, c) {
			if (json_is_string(x) && json_equal(c, x))
				break;
		}
		if (k == json_array_size(all)) {
			(void)snprintf(detail, sizeof(detail), "%s is not a "
			    "column of this export", json_is_string(x) ?
			    json_string_value(x) : "a non-string");
			val_error(v, "fields", "invalid_value", detail);
			break;
		}
		json_array_append(out, x);
	}
	json_decref(all);
	return (out);
}

static int
exp_bad_list(struct rq *rq, struct elist *l)
{
	json_t	*p;

	p = problem_new(l->err_code, "%s", l->err_detail);
	problem_add_field(p, l->err_param, "invalid", l->err_detail);
	elist_free(l);
	return (reply_problem_json(rq, p));
}

/* The asker's record scope, as the engine applies it (eng_scope). */
static const char *
exp_scope(struct rq *rq, const struct ent_desc *d)
{
	if (d->flags & ENT_D_SHARED)
		return (perm_scope_name(PERM_SCOPE_ALL));
	return (perm_scope_name(rq->who.scope));
}

static int
exp_create_done(struct rq *rq)
{
	PGresult	*res;

	if (!db_ok(rq))
		return (users_db_error(rq, NULL));
	res = db_res(rq, 0);
	return (reply_raw(rq, 202, "application/json; charset=utf-8",
	    PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0)));
}

static int
exp_enqueue(struct rq *rq, const struct ent_desc *d, const char *format,
    const char *qs, json_t *cols, const struct ent_cdefs *cd)
{
	struct db_batch	*b;
	json_t		*p;
	char		 id[UUID_STRLEN + 1], *pj;

	p = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:o}", "entity",
	    d->name, "format", format, "qs", qs, "scope", exp_scope(rq, d),
	    "user", rq->who.owner, "actor", rq->who.user, "actor_kind",
	    rq->who.kind == PRINC_APIKEY ? "api_key" : "user", "columns", cols,
	    "desc", jexp_desc_json(d, cd != NULL ? cd->fields : NULL));
	pj = js_dump(p, NULL);
	json_decref(p);
	uuid7_new_str(id);
	b = db_batch(rq, DB_TX);
	db_stmt(b, exp_create_sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
	db_param(b, pj);
	db_param(b, rq->who.owner);
	xfree(pj);
	audit_add(b, rq, "export.requested", "job", id, json_pack(
	    "{s:s,s:s,s:s}", "entity", d->name, "format", format, "query",
	    qs));
	return (db_run(rq, b, exp_create_done));
}

/*
 * The tenant's custom fields of the entity, read fresh in the request's
 * own transaction (they become columns and filters).  Not through the
 * engine's per-worker cache (cfc.c), which is keyed by the route's entity.
 */
static const char	exp_defs_sql[] =
	ENTCF_DEFS_SQL("$1", "$2");

struct exp_state {
	const struct ent_desc	*d;
	const char		*format;
	const char		*sort;
	struct ent_cdefs	*cd;
};

static void
exp_state_free(void *h)
{
	struct exp_state	*st = h;

	entcf_free(st->cd);
	xfree(st);
}

static int
exp_create_defs(struct rq *rq)
{
	struct exp_state	*st = rq->h;
	const struct ent_field	*custom;
	struct elist		 l;
	struct val		 v;
	PGresult		*res;
	char			 why[160], *qs;
	json_t			*cols;
	int			 rc;

	if (!db_ok(rq))
		return (db_reply_error(rq));
	res = db_res(rq, 0);
	if ((st->cd = entcf_parse(PQgetvalue(res, 0, 1), strtoll(
	    PQgetvalue(res, 0, 0), NULL, 10))) == NULL)
		return (reply_problem(rq, PROB_INTERNAL, NULL));
	custom = st->cd->fields;
	val_init(&v, rq->body);
	cols = exp_columns(&v, st->d, custom);
	if (val_failed(&v)) {
		json_decref(cols);
		return (auth_reply_val(rq, &v));
	}
	val_free(&v);
	if ((qs = jexp_qs(json_object_get(rq->body, "filter"), st->sort, why,
	    sizeof(why))) == NULL) {
		json_decref(cols);
		val_init(&v, rq->body);
		val_error(&v, why, "invalid", "filter is {\"field\": "
		    "{\"operator\": value}}; a value is a string, number or "
		    "boolean, or for `in` a non-empty array of them");
		return (auth_reply_val(rq, &v));
	}
	if (elist_parse(&l, st->d, custom, qs) == -1) {
		xfree(qs);
		json_decref(cols);
		return (exp_bad_list(rq, &l));
	}
	elist_free(&l);
	rc = exp_enqueue(rq, st->d, st->format, qs, cols, st->cd);
	xfree(qs);
	return (rc);
}

static int
exp_create(struct rq *rq)
{
	struct exp_state	*st;
	struct db_batch		*b;
	const struct ent_desc	*d;
	struct val		 v;
	const char		*entity, *format, *sort;

	val_init(&v, rq->body);
	val_only(&v, exp_members);
	entity = val_enum(&v, "entity", 1, exp_entities);
	format = val_enum(&v, "format", 0, exp_formats);
	sort = val_str(&v, "sort", 0, 1, 200);
	if (val_failed(&v))
		return (auth_reply_val(rq, &v));
	val_free(&v);
	if ((d = eng_find(entity)) == NULL)
		return (reply_problem(rq, PROB_NOT_FOUND, "no such entity"));
	if (!exp_allowed(rq, entity))
		return (reply_problem(rq, PROB_FORBIDDEN, "exporting %s needs "
		    "the %s:export permission", entity, entity));
	st = xcalloc(1, sizeof(*st));
	st->d = d;
	st->format = format != NULL ? format : "csv";
	st->sort = sort;		/* both borrowed from rq->body */
	rq->h = st;
	rq->h_free = exp_state_free;
	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, exp_defs_sql);
	db_param(b, rq->who.tenant);
	db_param(b, d->name);
	return (db_run(rq, b, exp_create_defs));
}

static int
exp_download_done(struct rq *rq)
{
	PGresult	*res;
	const char	*file, *ctype;
	char		 path[1024], disp[128];

	if (!db_ok(rq))
		return (db_reply_error(rq));
	res = db_res(rq, 0);
	if (PQntuples(res) != 1 || !jexp_file_ok(file = PQgetvalue(res, 0, 0))
	    || strncmp(file, rq->who.tenant, UUID_STRLEN) != 0)
		return (reply_problem(rq, PROB_NOT_FOUND, "no such export"));
	ctype = strcmp(PQgetvalue(res, 0, 1), "jsonl") == 0 ?
	    "application/x-ndjson; charset=utf-8" : "text/csv; charset=utf-8";
	(void)snprintf(path, sizeof(path), "%s/%s", crm_conf.exports_dir,
	    file);
	(void)snprintf(disp, sizeof(disp), "attachment; filename=\"export-%s\"",
	    file + UUID_STRLEN + 1);
	reply_header(rq, "content-disposition", disp);
	if (reply_file(rq, 200, ctype, path) == -1)
		return (reply_problem(rq, PROB_NOT_FOUND, "no such export"));
	return (RQ_DONE);
}

static int
exp_download(struct rq *rq)
{
	struct db_batch	*b;
	char		 id[UUID_STRLEN + 1];

	if (!users_path_id(rq, 0, id) || rq->who.owner[0] == '\0')
		return (reply_problem(rq, PROB_NOT_FOUND, "no such export"));
	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, exp_file_sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
	db_param(b, rq->who.owner);
	return (db_run(rq, b, exp_download_done));
}

static const struct route exp_routes[] = {
	ROUTE(HTTP_METHOD_POST, "/v1/exports", "exports:create", exp_create,
	    RT_JSON | RT_WRITE | RT_IDEMPOTENT,
	    "Export records (filtered, sorted) as CSV or JSON lines: a job"),
	ROUTE(HTTP_METHOD_GET, "/v1/exports/{id}/download", "exports:create",
	    exp_download, 0,
	    "The file of a finished export, to the user who asked for it"),
};

const struct crm_module exports_module = {
	"exports", exp_routes, sizeof(exp_routes) / sizeof(exp_routes[0]),
	NULL, NULL
};
