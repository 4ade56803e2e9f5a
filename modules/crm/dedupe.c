/*
 * dedupe.c: duplicate records and merging them, for the entities that
 * declare DEDUPE_ROUTES (accounts, contacts, leads; API.md "Special
 * routes", docs/entities.md "Duplicates and merge").
 *
 * GET /v1/{entity}/{id}/duplicates: crm.<singular>_duplicates()
 * (sql/020_duplicates_merge.sql) finds the candidates within the caller's
 * record scope; one statement joins them to the records, rendered like
 * GET renders them, best score first, at most DEDUPE_MAX.
 *
 * POST /v1/{entity}/{id}/merge {from_ids}: the body is checked here (422
 * naming from_ids or from_ids[i]); crm.merge_records() does all the work
 * in one call and raises CR404 (survivor), CR403 (no delete permission,
 * checked once the survivor is found, so an invisible id stays a 404) and
 * CR422 naming from_ids[i]; a second statement in the same transaction
 * renders the survivor.  The route needs <entity>:update; merged records
 * go to the recycle bin, so the handler also needs <entity>:delete, like
 * a batch's deletes (app/engine.c).
 */

#include <stdio.h>
#include <string.h>

#include "records.h"

#define DEDUPE_MAX	20	/* candidates answered */
#define DEDUPE_MAXFROM	10	/* records merged at once */

/* A request's state: its SQL text (the batch points at it), the ids. */
struct dedupe_state {
	char	*sql;				/* built per entity */
	char	 id[UUID_STRLEN + 1];
	char	 from[DEDUPE_MAXFROM][UUID_STRLEN + 1];
	int	 nfrom;
};

static void
dedupe_state_free(void *h)
{
	struct dedupe_state	*st = h;

	xfree(st->sql);
	xfree(st);
}

/* The {id} of the path, normalised; 0 when it is not a UUID. */
static int
dedupe_id(struct rq *rq, char out[UUID_STRLEN + 1])
{
	uint8_t		raw[UUID_LEN];
	const char	*id = pipe_param(rq, 0);

	if (id == NULL || uuid7_parse(id, raw) == -1)
		return (0);
	uuid7_fmt(raw, out);
	return (1);
}

static int
dedupe_not_found(struct rq *rq)
{
	return (reply_problem(rq, PROB_NOT_FOUND, "no such resource"));
}

/* GET /v1/{entity}/{id}/duplicates */

static int
dedupe_list_done(struct rq *rq)
{
	PGresult	*res;

	if (!db_ok(rq))
		return (db_reply_error(rq));
	res = db_res(rq, 0);
	return (reply_raw(rq, 200, "application/json; charset=utf-8",
	    PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0)));
}

/* $1 tenant, $2 id, $3 user, $4 scope; the whole answer as one text. */
static void
dedupe_list_sql(const struct ent_desc *d, struct buf *b)
{
	buf_appendf(b, "SELECT json_build_object('data', coalesce(json_agg("
	    "json_build_object('id', id, 'score', dup_score, 'reasons', "
	    "dup_reasons, 'record', j::json) ORDER BY dup_score DESC, id), "
	    "'[]'), 'next_cursor', NULL)::text FROM (SELECT t.id, "
	    "x.dup_score, x.dup_reasons, ");
	ent_sql_json(d, b);
	buf_appendf(b, " AS j FROM crm.%s_duplicates($1, $2, $3, $4) x JOIN "
	    "%s t ON t.tenant_id = $1 AND t.id = x.dup_id ORDER BY "
	    "x.dup_score DESC, t.id LIMIT %d) z", d->singular, d->table,
	    DEDUPE_MAX);
}

int
dedupe_list(struct rq *rq)
{
	const struct ent_desc	*d = eng_desc(rq);
	struct dedupe_state	*st;
	struct db_batch		*b;
	struct buf		 sql;
	char			 id[UUID_STRLEN + 1];

	if (!dedupe_id(rq, id))
		return (dedupe_not_found(rq));
	buf_init(&sql, 4096);
	dedupe_list_sql(d, &sql);
	st = xcalloc(1, sizeof(*st));
	st->sql = xstrdup(buf_cstr(&sql));
	buf_free(&sql);
	rq->h = st;
	rq->h_free = dedupe_state_free;
	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, st->sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
	db_param(b, rq->who.owner);
	db_param(b, eng_scope(rq));
	return (db_run(rq, b, dedupe_list_done));
}

/* POST /v1/{entity}/{id}/merge */

static const char	dedupe_merge_sql[] =
	"SELECT crm.merge_records($1, $2, $3, $4, $5, $6::uuid[], "
	"$7::text[], $8)";

/* from_ids into st; -1 when the val holds the problem. */
static int
dedupe_from(struct rq *rq, struct val *v, struct dedupe_state *st)
{
	static const char *const	 keys[] = { "from_ids", NULL };
	json_t				*a, *e;
	uint8_t				 raw[UUID_LEN];
	char				 name[32];
	size_t				 i;
	int				 k;

	val_only(v, keys);
	a = json_object_get(rq->body, "from_ids");
	if (!json_is_array(a) || json_array_size(a) < 1 ||
	    json_array_size(a) > DEDUPE_MAXFROM) {
		if (json_is_object(rq->body))
			val_error(v, "from_ids", a == NULL ? "required" :
			    "invalid_value", "an array of 1 to 10 record ids");
		return (-1);
	}
	json_array_foreach(a, i, e) {
		(void)snprintf(name, sizeof(name), "from_ids[%zu]", i);
		if (!json_is_string(e) ||
		    uuid7_parse(json_string_value(e), raw) == -1) {
			val_error(v, name, "invalid_format", "not a UUID");
			continue;
		}
		uuid7_fmt(raw, st->from[st->nfrom]);
		if (strcmp(st->from[st->nfrom], st->id) == 0) {
			val_error(v, name, "invalid_value",
			    "the record cannot be merged into itself");
			continue;
		}
		for (k = 0; k < st->nfrom; k++) {
			if (strcmp(st->from[k], st->from[st->nfrom]) == 0)
				break;
		}
		if (k < st->nfrom) {
			val_error(v, name, "duplicate_value",
			    "this record is listed twice");
			continue;
		}
		st->nfrom++;
	}
	return (val_failed(v) ? -1 : 0);
}

/* The ids as a PostgreSQL array literal, into b. */
static void
dedupe_from_array(const struct dedupe_state *st, struct buf *b)
{
	int	i;

	buf_appendc(b, '{');
	for (i = 0; i < st->nfrom; i++)
		buf_appendf(b, "%s%s", i ? "," : "", st->from[i]);
	buf_appendc(b, '}');
}

/*
 * The fields a merge may fill on the survivor: what a client may write,
 * one value each (arrays such as a deal's contacts have their own rules;
 * booleans are never empty).
 */
static void
dedupe_fill(const struct ent_desc *d, struct buf *b)
{
	const struct ent_field	*f;
	int			 n = 0;

	buf_appendc(b, '{');
	for (f = d->fields; f->name != NULL; f++) {
		if ((f->flags & ENT_F_READONLY) || f->type == ENT_ARRAY ||
		    f->type == ENT_BOOL)
			continue;
		buf_appendf(b, "%s%s", n++ ? "," : "", f->name);
	}
	buf_appendc(b, '}');
}

/* The survivor as GET shows it, with "merged": [ids] added. */
static int
dedupe_merge_done(struct rq *rq)
{
	struct dedupe_state	*st = rq->h;
	PGresult		*res;
	struct buf		 out;
	char			 etag[32];
	int			 i, len;

	if (!db_ok(rq))
		return (db_reply_error(rq));
	res = db_res(rq, 1);
	if (PQntuples(res) != 1)
		return (dedupe_not_found(rq));
	len = PQgetlength(res, 0, 0);
	buf_init(&out, len + 64 + st->nfrom * 40);
	buf_append(&out, PQgetvalue(res, 0, 0), len - 1);	/* no '}' */
	buf_appends(&out, ", \"merged\": [");
	for (i = 0; i < st->nfrom; i++)
		buf_appendf(&out, "%s\"%s\"", i ? ", " : "", st->from[i]);
	buf_appends(&out, "]}");
	(void)snprintf(etag, sizeof(etag), "\"%s\"", PQgetvalue(res, 0, 1));
	reply_header(rq, "etag", etag);
	reply_raw(rq, 200, "application/json; charset=utf-8", out.data,
	    out.len);
	buf_free(&out);
	return (RQ_DONE);
}

int
dedupe_merge(struct rq *rq)
{
	const struct ent_desc	*d = eng_desc(rq);
	struct dedupe_state	*st;
	struct db_batch		*b;
	struct val		 v;
	struct buf		 sql, arr;
	char			 perm[64];

	st = xcalloc(1, sizeof(*st));
	rq->h = st;
	rq->h_free = dedupe_state_free;
	if (!dedupe_id(rq, st->id))
		return (dedupe_not_found(rq));
	val_init(&v, rq->body);
	if (dedupe_from(rq, &v, st) == -1)
		return (reply_problem_json(rq, val_problem(&v)));
	val_free(&v);
	(void)snprintf(perm, sizeof(perm), "%s:delete", d->name);
	buf_init(&sql, 2048);
	ent_sql_get(d, &sql);
	st->sql = xstrdup(buf_cstr(&sql));
	buf_free(&sql);
	b = db_batch(rq, DB_TX);
	db_stmt(b, dedupe_merge_sql);
	db_param(b, d->name);
	db_param(b, rq->who.tenant);
	db_param(b, st->id);
	db_param(b, rq->who.owner);
	db_param(b, eng_scope(rq));
	buf_init(&arr, 512);
	dedupe_from_array(st, &arr);
	db_param(b, buf_cstr(&arr));
	buf_reset(&arr);
	dedupe_fill(d, &arr);
	db_param(b, buf_cstr(&arr));
	buf_free(&arr);
	db_param(b, pipe_allows(rq, perm) ? NULL : perm);
	db_stmt(b, st->sql);
	db_param(b, rq->who.tenant);
	db_param(b, st->id);
	db_param(b, rq->who.owner);
	db_param(b, eng_scope(rq));
	return (db_run(rq, b, dedupe_merge_done));
}
