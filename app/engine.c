/*
 * engine.c: the entity engine's HTTP half.  One set of handlers serves
 * every entity a module registers (eng_register); which entity a request
 * is about comes from its route ("/v1/<entity>/...").  The descriptor
 * decides everything else (ent.c): validation, SQL, the JSON of a record.
 *
 * Concurrency: every record carries a version, served as its ETag; a
 * PATCH with If-Match changes the record only at that version (412
 * otherwise), checked in the same statement that writes.  Record scope
 * (own, team, all: the principal's role) is part of every statement, so a
 * record out of scope is simply not found (404), like another tenant's.
 */

#include <stdio.h>
#include <string.h>

#include "srv.h"
#include "ent.h"

#define ENG_MAX		32

struct eng_entity {
	const struct ent_desc	*desc;
	char			*get_sql;	/* ent_sql_get_cols */
	int			 get_ncols;	/* then version */
	char			*delete_sql;
	char			*restore_sql;
};

static struct eng_entity	eng_entities[ENG_MAX];
static int			eng_count;

/* A write's state: its SQL text (the batch points at it) and the id. */
struct eng_state {
	char	*sql;
	char	 id[UUID_STRLEN + 1];
};

static void
eng_state_free(void *h)
{
	struct eng_state	*st = h;

	xfree(st->sql);
	xfree(st);
}

static struct eng_state *
eng_state(struct rq *rq, struct buf *sql, const char *id)
{
	struct eng_state	*st;

	st = xcalloc(1, sizeof(*st));
	st->sql = sql->data;
	(void)snprintf(st->id, sizeof(st->id), "%s", id);
	rq->h = st;
	rq->h_free = eng_state_free;
	return (st);
}

static char *
eng_build(const struct ent_desc *d, void (*fn)(const struct ent_desc *,
    struct buf *))
{
	struct buf	b;
	char		*s;

	buf_init(&b, 2048);
	fn(d, &b);
	s = xstrdup(buf_cstr(&b));
	buf_free(&b);
	return (s);
}

static int
eng_ncols(const struct ent_desc *d, const char *const *names)
{
	struct buf	b;
	int		n;

	buf_init(&b, 1024);
	n = ent_sql_cols(d, names, &b);
	buf_free(&b);
	return (n);
}

/*
 * The startup drift check, in the parent before any worker starts: the
 * descriptor against the live table (ent_check_columns).  A mismatch, or a
 * database that cannot be asked, stops the service: serving a schema the
 * code does not know would turn into 500s or, worse, wrong data.
 */
void
eng_parent_check(const struct ent_desc *d)
{
	PGconn		*c;
	PGresult	*res;
	const char	*p[2], **cols, **types;
	char		 schema[64], err[256];
	int		 i, n, rc;

	(void)snprintf(schema, sizeof(schema), "%.*s",
	    (int)strcspn(d->table, "."), d->table);
	p[0] = schema;
	p[1] = strchr(d->table, '.') + 1;
	c = PQconnectdb(crm_conf.database_url);
	res = PQexecParams(c, "SELECT column_name::text, data_type::text FROM "
	    "information_schema.columns WHERE table_schema = $1 AND "
	    "table_name = $2", 2, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		crm_fatal("entity %s: cannot read the schema: %s", d->name,
		    PQerrorMessage(c));
	n = PQntuples(res);
	cols = xcalloc(n + 1, sizeof(*cols));
	types = xcalloc(n + 1, sizeof(*types));
	for (i = 0; i < n; i++) {
		cols[i] = PQgetvalue(res, i, 0);
		types[i] = PQgetvalue(res, i, 1);
	}
	rc = ent_check_columns(d, cols, types, n, err, sizeof(err));
	xfree(cols);
	xfree(types);
	PQclear(res);
	PQfinish(c);
	if (rc == -1)
		crm_fatal("entity %s: the schema has drifted from the code: %s "
		    "(table %s)", d->name, err, d->table);
}

/* Called by modules at worker start; the fixed SQL is built once. */
void
eng_register(const struct ent_desc *d)
{
	struct eng_entity	*e;

	if (eng_count == ENG_MAX)
		crm_fatal("too many entities");
	e = &eng_entities[eng_count++];
	e->desc = d;
	e->get_sql = eng_build(d, ent_sql_get_cols);
	e->get_ncols = eng_ncols(d, NULL);
	e->delete_sql = eng_build(d, ent_sql_delete);
	e->restore_sql = eng_build(d, ent_sql_restore);
}

/* The entity of the route: its second path segment. */
static const struct eng_entity *
eng_entity(struct rq *rq)
{
	const char	*p = rq->route->path + 4;	/* after "/v1/" */
	size_t		 n = strcspn(p, "/");
	int		 i;

	for (i = 0; i < eng_count; i++) {
		if (strlen(eng_entities[i].desc->name) == n &&
		    strncmp(eng_entities[i].desc->name, p, n) == 0)
			return (&eng_entities[i]);
	}
	crm_fatal("route %s has no entity", rq->route->path);
}

/* A registered entity by its route name ("price-books"), or NULL. */
const struct ent_desc *
eng_find(const char *name)
{
	int	i;

	for (i = 0; name != NULL && i < eng_count; i++) {
		if (strcmp(eng_entities[i].desc->name, name) == 0)
			return (eng_entities[i].desc);
	}
	return (NULL);
}

/* Every registered entity, for the OpenAPI document and search. */
const struct ent_desc *
eng_desc_at(int i)
{
	return (i >= 0 && i < eng_count ? eng_entities[i].desc : NULL);
}

/* Drops a handler's state, so that it can run again from its start. */
void
eng_reset(struct rq *rq)
{
	if (rq->h != NULL && rq->h_free != NULL)
		rq->h_free(rq->h);
	rq->h = NULL;
	rq->h_free = NULL;
}

/*
 * A write that crm.custom_apply() refused because the custom field
 * definitions changed after this worker cached them: read them again and
 * run the handler once more, from its start.
 */
static int
eng_custom_stale(struct rq *rq)
{
	struct db_batch	*b = rq->batch;

	if (b == NULL || strcmp(b->sqlstate, "CR4CF") != 0 || rq->cf_loaded)
		return (0);
	eng_reset(rq);
	cfc_drop(rq->who.tenant, eng_desc(rq));
	return (1);
}

/* For modules with routes of their own beside the engine's. */
const struct ent_desc *
eng_desc(struct rq *rq)
{
	return (eng_entity(rq)->desc);
}

static int
eng_not_found(struct rq *rq)
{
	return (reply_problem(rq, PROB_NOT_FOUND, "no such resource"));
}

/* The {id} of the path, normalised; not a UUID is just not found. */
static int
eng_id(struct rq *rq, char out[UUID_STRLEN + 1])
{
	uint8_t		raw[UUID_LEN];
	const char	*id = pipe_param(rq, 0);

	if (id == NULL || uuid7_parse(id, raw) == -1)
		return (0);
	uuid7_fmt(raw, out);
	return (1);
}

/*
 * The record scope of this request's statements: the principal's, or the
 * whole tenant for an entity that is everybody's (ENT_D_SHARED).
 */
const char *
eng_scope(struct rq *rq)
{
	if (eng_entity(rq)->desc->flags & ENT_D_SHARED)
		return (perm_scope_name(PERM_SCOPE_ALL));
	return (perm_scope_name(rq->who.scope));
}

/* The parameters every statement starts with (ent.h). */
static void
eng_params(struct db_batch *b, struct rq *rq, const char *id, int scope)
{
	db_param(b, rq->who.tenant);
	db_param(b, id);
	db_param(b, rq->who.owner);
	if (scope)
		db_param(b, eng_scope(rq));
}

static void
eng_event_id(struct db_batch *b)
{
	char	id[UUID_STRLEN + 1];

	uuid7_new_str(id);
	db_param(b, id);
}

static int
eng_reply_record(struct rq *rq, int status, PGresult *res, int jcol,
    int vcol)
{
	char	etag[32];

	(void)snprintf(etag, sizeof(etag), "\"%s\"", PQgetvalue(res, 0, vcol));
	reply_header(rq, "etag", etag);
	return (reply_raw(rq, status, "application/json; charset=utf-8",
	    PQgetvalue(res, 0, jcol), PQgetlength(res, 0, jcol)));
}

/*
 * A foreign key or check violation names its constraint, which names the
 * column: the reference (same tenant, composite key) does not exist, or
 * the value breaks a rule only the database checks.
 */
/*
 * The field a constraint is about: its name holds the field's name as
 * whole "_"-separated words ("deals_stage_id_fkey"); the longest such
 * field wins, so products_unit_price_check is unit_price, not unit.
 */
static const struct ent_field *
eng_constraint_field(const struct ent_desc *d, const char *con)
{
	const struct ent_field	*f, *best = NULL;
	const char		*p;
	size_t			 n;

	for (f = d->fields; f->name != NULL; f++) {
		n = strlen(f->name);
		for (p = strstr(con, f->name); p != NULL;
		    p = strstr(p + 1, f->name)) {
			if ((p == con || p[-1] == '_') && (p[n] == '\0' ||
			    p[n] == '_') && (best == NULL ||
			    n > strlen(best->name)))
				best = f;
		}
	}
	return (best);
}

static const char *
eng_db_field(const struct ent_desc *d, struct db_batch *b, const char **code)
{
	const struct ent_field	*f;

	*code = "invalid_value";
	if (b == NULL || b->unavailable)
		return (NULL);
	if (strcmp(b->sqlstate, "CR422") == 0 && b->errcolumn != NULL) {
		*code = b->errconstraint ? b->errconstraint : "invalid_value";
		return (b->errcolumn);
	}
	if (b->errconstraint == NULL || (strcmp(b->sqlstate, "23503") != 0 &&
	    strcmp(b->sqlstate, "23514") != 0))
		return (NULL);
	if ((f = eng_constraint_field(d, b->errconstraint)) == NULL)
		return (NULL);
	if (b->sqlstate[4] == '3')
		*code = "not_found";
	return (f->name);
}

/* The failed field under prefix (a batch's "operations[3].data."). */
static int
eng_reply_db_at(struct rq *rq, const char *prefix)
{
	const char	*field, *code;
	char		 name[160];
	json_t		*p;

	if ((field = eng_db_field(eng_entity(rq)->desc, rq->batch,
	    &code)) == NULL)
		return (db_reply_error(rq));
	(void)snprintf(name, sizeof(name), "%s%s", prefix, field);
	p = problem_new(PROB_VALIDATION_FAILED, "1 field is invalid");
	problem_add_field(p, name, code, strcmp(code, "not_found") == 0 ?
	    "no such record" : strcmp(rq->batch->sqlstate, "CR422") == 0 ?
	    rq->batch->errmsg : "this value is not allowed");
	return (reply_problem_json(rq, p));
}

static int
eng_reply_db(struct rq *rq)
{
	return (eng_reply_db_at(rq, ""));
}

/* GET /v1/{entity}/{id} and the end of a restore: one record or 404. */

static int
eng_restore_done(struct rq *rq)
{
	if (!db_ok(rq))
		return (eng_reply_db(rq));
	if (PQntuples(db_res(rq, 0)) != 1)
		return (eng_not_found(rq));
	return (eng_reply_record(rq, 200, db_res(rq, 0), 0, 1));
}

/* A row of a read's result, for ent_render(). */
struct eng_row {
	PGresult	*res;
	int		 row;
};

static const char *
eng_col(void *arg, int col, size_t *len)
{
	struct eng_row	*r = arg;

	if (PQgetisnull(r->res, r->row, col))
		return (NULL);
	*len = (size_t)PQgetlength(r->res, r->row, col);
	return (PQgetvalue(r->res, r->row, col));
}

static void
eng_render(const struct ent_desc *d, const char *const *names,
    PGresult *res, int row, struct buf *out)
{
	struct eng_row	r = { res, row };

	ent_render(d, names, eng_col, &r, out);
}

static int
eng_record_done(struct rq *rq)
{
	const struct eng_entity	*e = eng_entity(rq);
	PGresult		*res;
	struct buf		 out;
	char			 etag[32];

	if (!db_ok(rq))
		return (eng_reply_db(rq));
	res = db_res(rq, 0);
	if (PQntuples(res) != 1)
		return (eng_not_found(rq));
	(void)snprintf(etag, sizeof(etag), "\"%s\"",
	    PQgetvalue(res, 0, e->get_ncols));
	reply_header(rq, "etag", etag);
	buf_init(&out, 1024);
	eng_render(e->desc, NULL, res, 0, &out);
	reply_raw(rq, 200, "application/json; charset=utf-8", out.data,
	    out.len);
	buf_free(&out);
	return (RQ_DONE);
}

static int
eng_get_run(struct rq *rq, const char *id)
{
	struct db_batch	*b;

	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, eng_entity(rq)->get_sql);
	eng_params(b, rq, id, 1);
	return (db_run(rq, b, eng_record_done));
}

int
eng_get(struct rq *rq)
{
	char	id[UUID_STRLEN + 1];

	if (!eng_id(rq, id))
		return (eng_not_found(rq));
	return (eng_get_run(rq, id));
}

/*
 * GET /v1/{entity}: elist.c checks the query and writes the SELECT; the
 * rows come back as record JSON plus their sort keys, and the page is
 * assembled here without parsing a record.
 */
struct eng_list {
	struct elist	 l;
	struct buf	 sql;
	int		 ncols;		/* record columns before the keys */
};

static void
eng_list_free(void *h)
{
	struct eng_list	*st = h;

	elist_free(&st->l);
	buf_free(&st->sql);
	xfree(st);
}

static void
eng_list_cursor(struct eng_list *st, PGresult *res, int row, struct buf *out)
{
	const char	*keys[ELIST_MAXSORT + 1];
	char		*c;
	int		 i;

	for (i = 0; i < st->l.nsort; i++)
		keys[i] = PQgetisnull(res, row, st->ncols + i) ? NULL :
		    PQgetvalue(res, row, st->ncols + i);
	c = elist_cursor(&st->l, keys);
	buf_appendf(out, "\"%s\"", c);
	xfree(c);
}

static int
eng_list_done(struct rq *rq)
{
	struct eng_list	*st = rq->h;
	const struct ent_desc	*d = eng_entity(rq)->desc;
	const char	*names[ELIST_MAXMEMBERS + 1];
	PGresult	*res;
	struct buf	 out;
	int		 i, n;

	if (!db_ok(rq))
		return (eng_reply_db(rq));
	for (i = 0; i < st->l.nfields; i++)
		names[i] = st->l.fields[i];
	names[i] = NULL;
	res = db_res(rq, 0);
	n = PQntuples(res) > st->l.limit ? st->l.limit : PQntuples(res);
	buf_init(&out, 256 + (size_t)n * 512);
	buf_appends(&out, "{\"data\":[");
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_appendc(&out, ',');
		eng_render(d, st->l.nfields > 0 ? names : NULL, res, i, &out);
	}
	buf_appends(&out, "],\"next_cursor\":");
	if (PQntuples(res) > st->l.limit)
		eng_list_cursor(st, res, n - 1, &out);
	else
		buf_appends(&out, "null");
	buf_appendc(&out, '}');
	reply_raw(rq, 200, "application/json; charset=utf-8", out.data,
	    out.len);
	buf_free(&out);
	return (RQ_DONE);
}

static int
eng_list_bad(struct rq *rq, struct elist *l)
{
	json_t	*p;

	p = problem_new(l->err_code, "%s", l->err_detail);
	problem_add_field(p, l->err_param, "invalid", l->err_detail);
	return (reply_problem_json(rq, p));
}

int
eng_list(struct rq *rq)
{
	const struct ent_desc	*d = eng_entity(rq)->desc;
	struct eng_list		*st;
	struct db_batch		*b;
	int			 i;

	const struct ent_cdefs	*cd = NULL;
	const char		*qs = pipe_query(rq);
	int			 rc;

	if (qs != NULL && strstr(qs, "custom.") != NULL &&
	    (rc = cfc_ready(rq, d, 0, &cd)) != PIPE_NEXT)
		return (rc);
	st = xcalloc(1, sizeof(*st));
	rq->h = st;
	rq->h_free = eng_list_free;
	buf_init(&st->sql, 4096);
	if (elist_parse(&st->l, d, cd ? cd->fields : NULL, qs) == -1) {
		if (st->l.err_custom && !rq->cf_loaded) {
			eng_reset(rq);
			return (cfc_ready(rq, d, 1, &cd));
		}
		return (eng_list_bad(rq, &st->l));
	}
	st->ncols = elist_sql_cols(&st->l, d, &st->sql);
	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, buf_cstr(&st->sql));
	db_param(b, rq->who.tenant);
	db_param(b, rq->who.owner);
	db_param(b, eng_scope(rq));
	for (i = 0; i < st->l.nparams; i++)
		db_param(b, st->l.params[i]);
	return (db_run(rq, b, eng_list_done));
}

/* Bound field values, in descriptor order, after the fixed parameters. */
static void
eng_fields(struct db_batch *b, const struct ent_bind *e)
{
	int	i;

	for (i = 0; i < e->nfields; i++) {
		if (e->given[i])
			db_param(b, e->text[i]);
	}
}

/* POST /v1/{entity} */

static int
eng_create_done(struct rq *rq)
{
	PGresult	*res;
	char		 loc[128];

	if (!db_ok(rq) && eng_custom_stale(rq))
		return (rq->route->fn(rq));
	if (!db_ok(rq))
		return (eng_reply_db(rq));
	res = db_res(rq, 0);
	(void)snprintf(loc, sizeof(loc), "/v1/%s/%s",
	    eng_entity(rq)->desc->name, ((struct eng_state *)rq->h)->id);
	reply_header(rq, "location", loc);
	return (eng_reply_record(rq, 201, res, 0, 1));
}

/*
 * Binding with the tenant's custom fields: PIPE_NEXT when bound, RQ_WAIT
 * while definitions load (or reload: a name the cache does not know may
 * be newer than the cache), RQ_DONE after a 4xx.
 */
static int
eng_bind(struct rq *rq, const struct ent_desc *d, int create,
    struct ent_bind *e, const struct ent_cdefs **cd)
{
	struct val	v;
	int		rc;

	*cd = NULL;
	if ((create || json_object_get(rq->body, "custom") != NULL) &&
	    (rc = cfc_ready(rq, d, 0, cd)) != PIPE_NEXT)
		return (rc);
	val_init(&v, rq->body);
	rc = create ? ent_bind_create(d, *cd, rq->body, &v, e) :
	    ent_bind_update(d, *cd, rq->body, &v, e);
	if (rc == 0)
		return (PIPE_NEXT);
	if (e->custom_unknown && !rq->cf_loaded) {
		ent_bind_free(e);
		val_free(&v);
		return (cfc_ready(rq, d, 1, cd));
	}
	ent_bind_free(e);
	return (reply_problem_json(rq, val_problem(&v)));
}

/* The custom fields' version and values: the last two parameters. */
static void
eng_custom_params(struct db_batch *b, const struct ent_cdefs *cd,
    const struct ent_bind *e)
{
	db_paramf(b, "%lld", (long long)cd->version);
	db_param(b, e->custom != NULL ? e->custom : "{}");
}

int
eng_create(struct rq *rq)
{
	const struct ent_desc	*d = eng_entity(rq)->desc;
	const struct ent_cdefs	*cd;
	struct ent_bind		 e;
	struct db_batch		*b;
	struct buf		 sql;
	char			 id[UUID_STRLEN + 1];
	int			 rc;

	if ((rc = eng_bind(rq, d, 1, &e, &cd)) != PIPE_NEXT)
		return (rc);
	buf_init(&sql, 2048);
	ent_sql_create(d, &e, &sql);
	uuid7_new_str(id);
	b = db_batch(rq, DB_TX);
	db_stmt(b, buf_cstr(&sql));
	eng_params(b, rq, id, 0);
	eng_event_id(b);
	eng_fields(b, &e);
	eng_custom_params(b, cd, &e);
	(void)eng_state(rq, &sql, id);
	ent_bind_free(&e);
	return (db_run(rq, b, eng_create_done));
}

/*
 * If-Match: "N", W/"N" or *.  Returns 1 and the version (NULL for * or no
 * header), 0 for anything else (which can match no version of ours).
 */
static int
eng_if_match(struct rq *rq, char *out, size_t len, int *any)
{
	const char	*h = pipe_header(rq, "if-match");
	size_t		 n;

	*any = 1;
	if (h == NULL || strcmp(h, "*") == 0)
		return (1);
	if (strncmp(h, "W/", 2) == 0)
		h += 2;
	n = strlen(h);
	if (n < 3 || n - 2 >= len || h[0] != '"' || h[n - 1] != '"' ||
	    strspn(h + 1, "0123456789") != n - 2)
		return (0);
	memcpy(out, h + 1, n - 2);
	out[n - 2] = '\0';
	*any = 0;
	return (1);
}

/* PATCH /v1/{entity}/{id} */

static int
eng_update_done(struct rq *rq)
{
	PGresult	*res;

	if (!db_ok(rq) && eng_custom_stale(rq))
		return (rq->route->fn(rq));
	if (!db_ok(rq))
		return (eng_reply_db(rq));
	res = db_res(rq, 0);
	if (PQgetisnull(res, 0, 0))
		return (eng_not_found(rq));
	if (PQgetisnull(res, 0, 1))
		return (reply_problem(rq, PROB_PRECONDITION_FAILED,
		    "the record has changed since that ETag"));
	return (eng_reply_record(rq, 200, res, 1, 2));
}

int
eng_update(struct rq *rq)
{
	const struct ent_desc	*d = eng_entity(rq)->desc;
	const struct ent_cdefs	*cd = NULL;
	struct ent_bind		 e;
	struct db_batch		*b;
	struct buf		 sql;
	char			 id[UUID_STRLEN + 1], ver[24];
	int			 any, i, n, rc;

	if (!eng_id(rq, id))
		return (eng_not_found(rq));
	if (!eng_if_match(rq, ver, sizeof(ver), &any))
		return (reply_problem(rq, PROB_PRECONDITION_FAILED,
		    "If-Match names no version of this record"));
	if ((rc = eng_bind(rq, d, 0, &e, &cd)) != PIPE_NEXT)
		return (rc);
	for (n = e.custom_given, i = 0; i < e.nfields; i++)
		n += e.given[i];
	if (n == 0) {			/* merge-patch {}: nothing to change */
		ent_bind_free(&e);
		return (eng_get_run(rq, id));
	}
	buf_init(&sql, 4096);
	ent_sql_update(d, &e, &sql);
	b = db_batch(rq, DB_TX);
	db_stmt(b, buf_cstr(&sql));
	eng_params(b, rq, id, 1);
	eng_event_id(b);
	db_param(b, any ? NULL : ver);
	eng_fields(b, &e);
	if (e.custom_given)
		eng_custom_params(b, cd, &e);
	(void)eng_state(rq, &sql, id);
	ent_bind_free(&e);
	return (db_run(rq, b, eng_update_done));
}

/* DELETE /v1/{entity}/{id} and POST /v1/{entity}/{id}/restore */

static int
eng_delete_done(struct rq *rq)
{
	if (!db_ok(rq))
		return (eng_reply_db(rq));
	if (strcmp(PQgetvalue(db_res(rq, 0), 0, 0), "1") != 0)
		return (eng_not_found(rq));
	return (reply_empty(rq, 204));
}

static int
eng_bin(struct rq *rq, int restore)
{
	const struct eng_entity	*e = eng_entity(rq);
	struct db_batch		*b;
	char			 id[UUID_STRLEN + 1];

	if (!eng_id(rq, id))
		return (eng_not_found(rq));
	b = db_batch(rq, DB_TX);
	db_stmt(b, restore ? e->restore_sql : e->delete_sql);
	eng_params(b, rq, id, 1);
	eng_event_id(b);
	return (db_run(rq, b, restore ? eng_restore_done : eng_delete_done));
}

int
eng_delete(struct rq *rq)
{
	return (eng_bin(rq, 0));
}

int
eng_restore(struct rq *rq)
{
	return (eng_bin(rq, 1));
}

/*
 * POST /v1/{entity}/batch: up to ENG_BATCH_MAX creates, updates and
 * deletes, all or nothing.  Every operation is checked before anything is
 * sent (422 naming operations[i]...); then all run as one pipeline in one
 * transaction, the strict SQL variants turning "not found" and "version
 * mismatch" into errors, so the first failing operation aborts them all
 * and is named in the answer.
 */
#define ENG_BATCH_MAX	100

enum eng_bop { BOP_CREATE, BOP_UPDATE, BOP_DELETE };

static const char *const	eng_bop_names[] = { "create", "update",
				    "delete" };

struct eng_batch {
	int		 n;
	enum eng_bop	 kind[ENG_BATCH_MAX];
	char		 id[ENG_BATCH_MAX][UUID_STRLEN + 1];
	char		*sql[ENG_BATCH_MAX];
};

static void
eng_batch_free(void *h)
{
	struct eng_batch	*st = h;
	int			 i;

	for (i = 0; i < st->n; i++)
		xfree(st->sql[i]);
	xfree(st);
}

/* A sub-problem's errors, moved under "operations[i].". */
static void
eng_batch_errors(json_t *into, json_t *sub, int i, const char *at)
{
	json_t		*e;
	size_t		 k;
	char		 name[192];

	json_array_foreach(json_object_get(sub, "errors"), k, e) {
		(void)snprintf(name, sizeof(name), "operations[%d].%s%s", i, at,
		    json_string_value(json_object_get(e, "field")));
		problem_add_field(into, name,
		    json_string_value(json_object_get(e, "code")),
		    json_string_value(json_object_get(e, "detail")));
	}
}

static void
eng_batch_error(json_t *p, int i, const char *field, const char *code,
    const char *detail)
{
	char	name[96];

	(void)snprintf(name, sizeof(name), "operations[%d]%s%s", i,
	    *field ? "." : "", field);
	problem_add_field(p, name, code, detail);
}

/* The shape of one operation; -1 after an error. */
static int
eng_batch_shape(json_t *op, int i, json_t *p, enum eng_bop *kind, char *id)
{
	static const char *const	 keys[] = { "op", "id", "data",
					    "version", NULL };
	const char			*k, *name;
	json_t				*j, *ver;
	uint8_t				 raw[UUID_LEN];
	int				 n;

	if (!json_is_object(op))
		return (eng_batch_error(p, i, "", "invalid_type",
		    "an operation is an object"), -1);
	json_object_foreach(op, k, j) {
		for (n = 0; keys[n] != NULL && strcmp(keys[n], k) != 0; n++)
			;
		if (keys[n] == NULL)
			return (eng_batch_error(p, i, k, "unknown_field",
			    "not a member of an operation"), -1);
	}
	name = json_string_value(json_object_get(op, "op"));
	for (n = 0; n < 3 && (name == NULL ||
	    strcmp(eng_bop_names[n], name) != 0); n++)
		;
	if (n == 3)
		return (eng_batch_error(p, i, "op", "invalid_value",
		    "create, update or delete"), -1);
	*kind = (enum eng_bop)n;
	if (*kind != BOP_CREATE && (json_string_value(json_object_get(op,
	    "id")) == NULL || uuid7_parse(json_string_value(
	    json_object_get(op, "id")), raw) == -1))
		return (eng_batch_error(p, i, "id", "invalid_format",
		    "the id of an existing record"), -1);
	if (*kind != BOP_CREATE)
		uuid7_fmt(raw, id);
	if ((*kind == BOP_DELETE) != (json_object_get(op, "data") == NULL) ||
	    (*kind != BOP_DELETE && !json_is_object(json_object_get(op,
	    "data"))))
		return (eng_batch_error(p, i, "data", "invalid_type",
		    *kind == BOP_DELETE ? "delete takes no data" :
		    "the record's fields, an object"), -1);
	ver = json_object_get(op, "version");
	if (ver != NULL && (*kind != BOP_UPDATE || !json_is_integer(ver) ||
	    json_integer_value(ver) < 1))
		return (eng_batch_error(p, i, "version", "invalid_value",
		    "an update's expected version, a positive integer"), -1);
	return (0);
}

/*
 * The route asks for <entity>:update; a batch's creates and deletes need
 * their own permission too, checked like the pipeline's permission step.
 */
static int
eng_batch_allowed(struct rq *rq, enum eng_bop kind)
{
	char	perm[64];

	(void)snprintf(perm, sizeof(perm), "%s:%s", eng_entity(rq)->desc->name,
	    eng_bop_names[kind]);
	return (pipe_allows(rq, perm));
}

/* One operation's statement and parameters, appended to b. */
static void
eng_batch_sql(struct rq *rq, struct db_batch *b, struct eng_batch *st,
    const struct ent_cdefs *cd, struct ent_bind *e, json_t *op)
{
	const struct ent_desc	*d = eng_entity(rq)->desc;
	struct buf		 sql;
	int			 i = st->n;
	json_t			*ver = json_object_get(op, "version");

	buf_init(&sql, 2048);
	if (st->kind[i] == BOP_CREATE) {
		uuid7_new_str(st->id[i]);
		ent_sql_create(d, e, &sql);
	} else if (st->kind[i] == BOP_UPDATE) {
		ent_sql_update_strict(d, e, &sql);
	} else {
		ent_sql_delete_strict(d, &sql);
	}
	st->sql[i] = sql.data;
	db_stmt(b, st->sql[i]);
	eng_params(b, rq, st->id[i], st->kind[i] != BOP_CREATE);
	eng_event_id(b);
	if (st->kind[i] == BOP_UPDATE) {
		if (ver != NULL)
			db_paramf(b, "%" JSON_INTEGER_FORMAT,
			    json_integer_value(ver));
		else
			db_param(b, NULL);
	}
	if (st->kind[i] == BOP_DELETE)
		return;
	eng_fields(b, e);
	if (st->kind[i] == BOP_CREATE || e->custom_given)
		eng_custom_params(b, cd, e);
}

/* Binds one operation's data; 1 when the definitions must be reloaded. */
static int
eng_batch_bind(struct rq *rq, const struct ent_cdefs *cd, json_t *op,
    enum eng_bop kind, struct ent_bind *e, json_t *p, int i)
{
	const struct ent_desc	*d = eng_entity(rq)->desc;
	json_t			*data = json_object_get(op, "data");
	struct val		 v;
	int			 k, n, rc;

	memset(e, 0, sizeof(*e));
	if (kind == BOP_DELETE)
		return (0);
	val_init(&v, data);
	rc = kind == BOP_CREATE ? ent_bind_create(d, cd, data, &v, e) :
	    ent_bind_update(d, cd, data, &v, e);
	if (rc == -1 && e->custom_unknown && !rq->cf_loaded) {
		val_free(&v);
		return (1);
	}
	if (rc == -1)
		eng_batch_errors(p, v.problem, i, "data.");
	for (n = e->custom_given, k = 0; rc == 0 && k < e->nfields; k++)
		n += e->given[k];
	if (rc == 0 && kind == BOP_UPDATE && n == 0)
		eng_batch_error(p, i, "data", "required", "nothing to change");
	val_free(&v);
	return (0);
}

static int
eng_batch_failed(struct rq *rq)
{
	struct eng_batch	*st = rq->h;
	struct db_batch		*b = rq->batch;
	json_t			*p;
	char			 at[48];
	int			 k = b != NULL ? b->failed : -1;

	if (b == NULL || b->unavailable || k < 0 || k >= st->n)
		return (db_reply_error(rq));
	if (strcmp(b->sqlstate, "CR404") == 0 ||
	    strcmp(b->sqlstate, "CR412") == 0) {
		p = problem_new(b->sqlstate[4] == '4' ? PROB_VALIDATION_FAILED :
		    PROB_PRECONDITION_FAILED, "operation %d failed: %s", k,
		    b->errmsg);
		eng_batch_error(p, k, b->sqlstate[4] == '4' ? "id" : "version",
		    b->sqlstate[4] == '4' ? "not_found" : "precondition_failed",
		    b->errmsg);
		return (reply_problem_json(rq, p));
	}
	(void)snprintf(at, sizeof(at), "operations[%d].data.", k);
	return (eng_reply_db_at(rq, at));
}

static int
eng_batch_done(struct rq *rq)
{
	struct eng_batch	*st = rq->h;
	PGresult		*res;
	struct buf		 out;
	int			 i, j;

	if (!db_ok(rq) && eng_custom_stale(rq))
		return (rq->route->fn(rq));
	if (!db_ok(rq))
		return (eng_batch_failed(rq));
	buf_init(&out, 1024);
	buf_appends(&out, "{\"results\":[");
	for (i = 0; i < st->n; i++) {
		res = db_res(rq, i);
		buf_appendf(&out, "%s{\"op\":\"%s\",\"id\":\"%s\",\"status\":%d",
		    i ? "," : "", eng_bop_names[st->kind[i]], st->id[i],
		    st->kind[i] == BOP_CREATE ? 201 : st->kind[i] == BOP_UPDATE ?
		    200 : 204);
		if (st->kind[i] != BOP_DELETE) {
			j = st->kind[i] == BOP_CREATE ? 0 : 1;
			buf_appendf(&out, ",\"etag\":\"\\\"%s\\\"\",\"record\":",
			    PQgetvalue(res, 0, j + 1));
			buf_append(&out, PQgetvalue(res, 0, j),
			    PQgetlength(res, 0, j));
		}
		buf_appendc(&out, '}');
	}
	buf_appends(&out, "]}");
	reply_raw(rq, 200, "application/json; charset=utf-8", out.data,
	    out.len);
	buf_free(&out);
	return (RQ_DONE);
}

static json_t *
eng_batch_ops(struct rq *rq, json_t *p)
{
	json_t		*ops = json_object_get(rq->body, "operations");
	const char	*k;
	json_t		*j;

	json_object_foreach(rq->body, k, j) {
		if (strcmp(k, "operations") != 0)
			problem_add_field(p, k, "unknown_field",
			    "a batch has only operations");
	}
	if (!json_is_array(ops) || json_array_size(ops) < 1 ||
	    json_array_size(ops) > ENG_BATCH_MAX) {
		problem_add_field(p, "operations", "invalid_value",
		    "an array of 1 to 100 operations");
		return (NULL);
	}
	return (ops);
}

int
eng_batch(struct rq *rq)
{
	const struct ent_cdefs	*cd;
	struct eng_batch	*st;
	struct ent_bind		 e;
	struct db_batch		*b;
	json_t			*p, *ops, *op;
	size_t			 i;
	int			 rc, errs;

	if ((rc = cfc_ready(rq, eng_entity(rq)->desc, 0, &cd)) != PIPE_NEXT)
		return (rc);
	p = problem_new(PROB_VALIDATION_FAILED, "the batch was not run");
	if ((ops = eng_batch_ops(rq, p)) == NULL)
		return (reply_problem_json(rq, p));
	st = xcalloc(1, sizeof(*st));
	rq->h = st;
	rq->h_free = eng_batch_free;
	b = db_batch(rq, DB_TX);
	json_array_foreach(ops, i, op) {
		errs = (int)json_array_size(json_object_get(p, "errors"));
		if (eng_batch_shape(op, (int)i, p, &st->kind[st->n],
		    st->id[st->n]) == -1)
			continue;
		if (!eng_batch_allowed(rq, st->kind[st->n])) {
			json_decref(p);
			return (reply_problem(rq, PROB_FORBIDDEN,
			    "operation %zu: this credential may not %s %s", i,
			    eng_bop_names[st->kind[st->n]],
			    eng_entity(rq)->desc->name));
		}
		if (eng_batch_bind(rq, cd, op, st->kind[st->n], &e, p,
		    (int)i)) {
			json_decref(p);
			eng_reset(rq);
			return (cfc_ready(rq, eng_entity(rq)->desc, 1, &cd));
		}
		if (json_array_size(json_object_get(p, "errors")) ==
		    (size_t)errs)
			eng_batch_sql(rq, b, st, cd, &e, op);
		st->n += json_array_size(json_object_get(p, "errors")) ==
		    (size_t)errs;
		ent_bind_free(&e);
	}
	if (json_array_size(json_object_get(p, "errors")) > 0)
		return (reply_problem_json(rq, p));
	json_decref(p);
	return (db_run(rq, b, eng_batch_done));
}
