/*
 * imports.c: POST /v1/imports (API.md "Jobs, imports, exports, webhooks";
 * the worker's half is app/jobimp.c, the CSV reader app/csv.c, the column
 * names app/impmap.c).
 *
 *	POST /v1/imports?entity=contacts&dedupe=email&on_duplicate=update
 *	    &mapping[Work Mail]=email   (text/csv body, a header row first)
 *	    -> 202 {job}, Location: /v1/jobs/{id}
 *
 * What can be known now is checked now, each 4xx naming the parameter:
 * the entity and the caller's <entity>:create (and :update when
 * duplicates are updated) grant, the dedupe rule for the entity, the
 * media type, the mapping overrides, the header row (present, readable,
 * every required field mapped, the dedupe key mapped).  The body goes
 * from Kore (memory, or its spool file above 1 MiB) to
 * CRM_IMPORTS_DIR/<tenant>.<job>.csv in 64 KiB reads, never whole in
 * memory; the job row commits after the file is complete, so a job never
 * names a partial file.  Rows are checked by the worker, which reports
 * them by row number.
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "identity.h"
#include "job.h"
#include "imp.h"

#define IMP_CHUNK	65536
#define IMP_MAXMAP	100

static const char *const	imp_entities[] = {
	"accounts", "contacts", "leads", "deals", "products", NULL
};
static const char *const	imp_dedupes[] = { "none", "email", "domain",
	NULL };
static const char *const	imp_ondups[] = { "skip", "update", NULL };

static const char	imp_create_sql[] =
	"INSERT INTO crm.jobs (tenant_id, id, type, payload, created_by, "
	"max_attempts) VALUES ($1, $2, 'import', $3::jsonb, $4::uuid, 5) "
	"RETURNING json_build_object('id', id, 'type', type, 'status', status, "
	"'progress', progress, 'errors', '[]'::json, 'result_url', NULL, "
	"'created_at', to_char(created_at AT TIME ZONE 'UTC', "
	"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))::text";

/* The entity's custom fields (definitions and labels), read fresh. */
static const char	imp_defs_sql[] =
	ENTCF_DEFS_SQL("$1", "$2") ", coalesce((SELECT "
	"json_object_agg(name, label) "
	"FROM crm.custom_fields WHERE tenant_id = $1 AND entity = $2), "
	"'{}')";

struct imp_state {
	const struct ent_desc	*d;
	const char		*dedupe;
	const char		*ondup;
	json_t			*mapping;	/* {Column: field} */
	struct ent_cdefs	*cd;
	char			 id[UUID_STRLEN + 1];
	char			 path[1024];
	char			 file[128];
};

static void
imp_state_free(void *h)
{
	struct imp_state	*st = h;

	if (st->path[0] != '\0')
		(void)unlink(st->path);		/* the job never got it */
	json_decref(st->mapping);
	entcf_free(st->cd);
	xfree(st);
}

static int
imp_bad_query(struct rq *rq, const char *param, const char *code,
    const char *detail)
{
	json_t	*p;

	p = problem_new(PROB_INVALID_QUERY, "%s: %s", param, detail);
	problem_add_field(p, param, code, detail);
	return (reply_problem_json(rq, p));
}

static int
imp_invalid(struct rq *rq, const char *field, const char *detail)
{
	json_t	*p;

	p = problem_new(PROB_VALIDATION_FAILED, "%s", detail);
	problem_add_field(p, field, "invalid", detail);
	return (reply_problem_json(rq, p));
}

static const char *
imp_pick(const char *const *list, const char *v)
{
	int	i;

	for (i = 0; v != NULL && list[i] != NULL; i++) {
		if (strcmp(list[i], v) == 0)
			return (list[i]);
	}
	return (NULL);
}

/*
 * One name=value of the query string: PIPE_NEXT, or what replying with
 * the problem returned (RQ_DONE, or RQ_WAIT while the credential is
 * verified before a 4xx is shown).
 */
static int
imp_param(struct rq *rq, struct imp_state *st, char *key, char *val,
    const char **entity)
{
	size_t	n = strlen(key);

	if (strcmp(key, "entity") == 0) {
		*entity = imp_pick(imp_entities, val);
		if (*entity == NULL)
			return (imp_bad_query(rq, "entity", "invalid_value",
			    "one of accounts, contacts, leads, deals, "
			    "products"));
	} else if (strcmp(key, "dedupe") == 0) {
		if ((st->dedupe = imp_pick(imp_dedupes, val)) == NULL)
			return (imp_bad_query(rq, "dedupe", "invalid_value",
			    "one of none, email, domain"));
	} else if (strcmp(key, "on_duplicate") == 0) {
		if ((st->ondup = imp_pick(imp_ondups, val)) == NULL)
			return (imp_bad_query(rq, "on_duplicate",
			    "invalid_value", "one of skip, update"));
	} else if (n > 9 && strncmp(key, "mapping[", 8) == 0 &&
	    key[n - 1] == ']' && json_object_size(st->mapping) <
	    IMP_MAXMAP) {
		key[n - 1] = '\0';
		json_object_set_new(st->mapping, key + 8, json_string(val));
		key[n - 1] = ']';
	} else {
		return (imp_bad_query(rq, key, "unknown_parameter", "not a "
		    "parameter of an import (entity, dedupe, on_duplicate, "
		    "mapping[Column])"));
	}
	return (PIPE_NEXT);
}

static int
imp_query(struct rq *rq, struct imp_state *st, const char **entity)
{
	char	*qs, *tok, *save, *eq;
	int	 rc = PIPE_NEXT;

	*entity = NULL;
	st->dedupe = "none";
	st->ondup = "skip";
	if (pipe_query(rq) == NULL)
		return (PIPE_NEXT);
	qs = xstrdup(pipe_query(rq));
	for (tok = strtok_r(qs, "&", &save); tok != NULL && rc == PIPE_NEXT;
	    tok = strtok_r(NULL, "&", &save)) {
		if ((eq = strchr(tok, '=')) != NULL)
			*eq++ = '\0';
		if (elist_decode(tok) == -1 || (eq != NULL &&
		    elist_decode(eq) == -1) || !js_utf8_valid(tok,
		    strlen(tok)) || (eq != NULL && !js_utf8_valid(eq,
		    strlen(eq))))
			rc = imp_bad_query(rq, "query", "invalid", "the query "
			    "string is not valid percent-encoded UTF-8");
		else
			rc = imp_param(rq, st, tok, eq != NULL ? eq : "",
			    entity);
	}
	xfree(qs);
	return (rc);
}

static int
imp_is_csv(struct rq *rq)
{
	const char	*ct = pipe_header(rq, "content-type");
	size_t		 n;

	if (ct == NULL || strncasecmp(ct, "text/csv", 8) != 0)
		return (0);
	for (ct += 8; *ct == ' '; ct++)
		;
	if (*ct == '\0')
		return (1);
	if (*ct++ != ';')
		return (0);
	ct += strspn(ct, " ");
	n = strlen(ct);
	return (n == 13 && strncasecmp(ct, "charset=utf-8", 13) == 0);
}

/* Kore's body (memory or spool file) to our file, a chunk at a time. */
static int
imp_store(struct rq *rq, struct imp_state *st)
{
	char		*chunk;
	ssize_t		 n, w;
	size_t		 off;
	int		 fd, rc = -1;

	(void)snprintf(st->file, sizeof(st->file), "%s.%s.csv",
	    rq->who.tenant, st->id);
	if ((size_t)snprintf(st->path, sizeof(st->path), "%s/%s",
	    crm_conf.imports_dir, st->file) >= sizeof(st->path))
		return (-1);
	fd = open(st->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1) {
		log_msg(LOG_LVL_ERROR, "import_store", "cannot create %s: %s",
		    st->path, strerror(errno));
		st->path[0] = '\0';
		return (-1);
	}
	chunk = xmalloc(IMP_CHUNK);
	if (http_body_rewind(rq->req) != KORE_RESULT_OK)
		goto out;
	while ((n = http_body_read(rq->req, chunk, IMP_CHUNK)) > 0) {
		for (off = 0; off < (size_t)n; off += (size_t)w) {
			if ((w = write(fd, chunk + off, (size_t)n - off)) ==
			    -1 && errno != EINTR)
				goto out;
			if (w == -1)
				w = 0;
		}
	}
	if (n == 0 && fsync(fd) == 0)
		rc = 0;
out:
	if (rc == -1)
		log_msg(LOG_LVL_ERROR, "import_store", "cannot write %s: %s",
		    st->path, strerror(errno));
	xfree(chunk);
	(void)close(fd);
	return (rc);
}

/*
 * The header row against the entity: the target of every column, or a
 * 422 naming what is wrong.  PIPE_NEXT (cols, unknown filled), or the
 * problem reply's return.
 */
static int
imp_header(struct rq *rq, struct imp_state *st, json_t *labels,
    json_t *cols, json_t *unknown)
{
	struct csv	 c;
	char		 t[IMAP_TARGET], why[256];
	const char	*name;
	size_t		 k;
	int		 fd, i, m, rc;

	if ((fd = open(st->path, O_RDONLY | O_CLOEXEC)) == -1)
		return (reply_problem(rq, PROB_INTERNAL, NULL));
	csv_init(&c, fd, 0);
	while ((rc = csv_next(&c)) == 1 && c.blank)
		;
	if (rc != 1) {
		(void)snprintf(why, sizeof(why), "%s", rc == 0 ? "the file is "
		    "empty: a header row naming the columns comes first" :
		    c.err);
		csv_free(&c);
		(void)close(fd);
		return (imp_invalid(rq, "body", why));
	}
	for (i = 0, rc = PIPE_NEXT; i < c.nf && rc == PIPE_NEXT; i++) {
		name = csv_field(&c, i);
		if ((m = imap_target(st->d, st->cd, labels, st->mapping, name,
		    t, sizeof(t))) != 1) {
			json_array_append_new(cols, json_null());
			if (*name != '\0' && m == 0)	/* not -1: told to */
				json_array_append_new(unknown,
				    json_string(name));
			continue;
		}
		for (k = 0; k < json_array_size(cols); k++) {
			if (json_is_string(json_array_get(cols, k)) &&
			    strcmp(json_string_value(json_array_get(cols, k)),
			    t) == 0)
				break;
		}
		if (k < json_array_size(cols)) {
			(void)snprintf(why, sizeof(why), "columns %s and %s "
			    "both map to %s: map one of them elsewhere or to "
			    "nothing with mapping[Column]=", csv_field(&c,
			    (int)k), name, t);
			rc = imp_invalid(rq, "body", why);
		}
		json_array_append_new(cols, json_string(t));
	}
	csv_free(&c);
	(void)close(fd);
	if (rc != PIPE_NEXT)
		return (rc);
	if (imap_required(st->d, cols, why, sizeof(why)) == -1)
		return (imp_invalid(rq, "body", why));
	if (strcmp(st->dedupe, "none") != 0) {
		if (!imap_mapped(cols, strcmp(st->dedupe, "email") == 0 ?
		    "email" : "domain"))
			return (imp_invalid(rq, "dedupe", "no column maps to "
			    "the field this rule compares"));
	}
	return (PIPE_NEXT);
}

static int
imp_create_done(struct rq *rq)
{
	struct imp_state	*st = rq->h;
	PGresult		*res;
	char			 loc[80];

	if (!db_ok(rq))
		return (users_db_error(rq, NULL));
	st->path[0] = '\0';			/* the job owns the file now */
	res = db_res(rq, 0);
	(void)snprintf(loc, sizeof(loc), "/v1/jobs/%s", st->id);
	reply_header(rq, "location", loc);
	return (reply_raw(rq, 202, "application/json; charset=utf-8",
	    PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0)));
}

static int
imp_enqueue(struct rq *rq, struct imp_state *st, json_t *cols,
    json_t *unknown)
{
	struct db_batch	*b;
	json_t		*p;
	char		*pj;

	p = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o}",
	    "entity", st->d->name, "dedupe", st->dedupe, "on_duplicate",
	    st->ondup, "file", st->file, "scope", (st->d->flags &
	    ENT_D_SHARED) ? "all" : perm_scope_name(rq->who.scope), "user",
	    rq->who.owner, "actor", rq->who.user, "actor_kind",
	    rq->who.kind == PRINC_APIKEY ? "api_key" : "user", "columns",
	    cols, "unknown", unknown, "desc", jexp_desc_json(st->d, NULL));
	pj = js_dump(p, NULL);
	json_decref(p);
	b = db_batch(rq, DB_TX);
	db_stmt(b, imp_create_sql);
	db_param(b, rq->who.tenant);
	db_param(b, st->id);
	db_param(b, pj);
	db_param(b, rq->who.owner);
	xfree(pj);
	audit_add(b, rq, "import.requested", "job", st->id, json_pack(
	    "{s:s,s:s,s:s}", "entity", st->d->name, "dedupe", st->dedupe,
	    "on_duplicate", st->ondup));
	return (db_run(rq, b, imp_create_done));
}

static int
imp_create_defs(struct rq *rq)
{
	struct imp_state	*st = rq->h;
	const char		*col;
	json_t			*labels, *cols, *unknown, *v;
	struct js_err		 e;
	PGresult		*res;
	char			 param[160];
	int			 rc;

	if (!db_ok(rq))
		return (db_reply_error(rq));
	res = db_res(rq, 0);
	st->cd = entcf_parse(PQgetvalue(res, 0, 1), strtoll(PQgetvalue(res,
	    0, 0), NULL, 10));
	labels = js_parse(PQgetvalue(res, 0, 2), (size_t)PQgetlength(res, 0,
	    2), &e);
	if (st->cd == NULL || labels == NULL) {
		json_decref(labels);
		return (reply_problem(rq, PROB_INTERNAL, NULL));
	}
	json_object_foreach(st->mapping, col, v) {
		if (*json_string_value(v) == '\0' ||
		    imap_target_ok(st->d, st->cd, json_string_value(v)))
			continue;
		json_decref(labels);
		(void)snprintf(param, sizeof(param), "mapping[%.100s]", col);
		return (imp_bad_query(rq, param, "unknown_field", "not a "
		    "field an import of this entity can write (a field, "
		    "custom.<name>, address.<part>, @owner, @account, "
		    "@pipeline, @stage, or empty to ignore the column)"));
	}
	uuid7_new_str(st->id);
	if (imp_store(rq, st) == -1) {
		json_decref(labels);
		return (reply_problem(rq, PROB_UNAVAILABLE, "the file could "
		    "not be stored; try again"));
	}
	cols = json_array();
	unknown = json_array();
	if ((rc = imp_header(rq, st, labels, cols, unknown)) != PIPE_NEXT) {
		json_decref(labels);
		json_decref(cols);
		json_decref(unknown);
		return (rc);
	}
	json_decref(labels);
	return (imp_enqueue(rq, st, cols, unknown));
}

static int
imp_create(struct rq *rq)
{
	struct imp_state	*st;
	struct db_batch		*b;
	const char		*entity;
	char			 perm[64];
	int			 rc;

	st = xcalloc(1, sizeof(*st));
	st->mapping = json_object();
	rq->h = st;
	rq->h_free = imp_state_free;
	if ((rc = imp_query(rq, st, &entity)) != PIPE_NEXT)
		return (rc);
	if (entity == NULL)
		return (imp_bad_query(rq, "entity", "required", "one of "
		    "accounts, contacts, leads, deals, products"));
	if (!imap_dedupe_ok(entity, st->dedupe))
		return (imp_bad_query(rq, "dedupe", "invalid_value", "email "
		    "applies to contacts and leads, domain to accounts"));
	if ((st->d = eng_find(entity)) == NULL)
		return (reply_problem(rq, PROB_NOT_FOUND, "no such entity"));
	(void)snprintf(perm, sizeof(perm), "%s:create", entity);
	if (!pipe_allows(rq, perm))
		return (reply_problem(rq, PROB_FORBIDDEN, "importing %s needs "
		    "the %s permission", entity, perm));
	(void)snprintf(perm, sizeof(perm), "%s:update", entity);
	if (strcmp(st->ondup, "update") == 0 && strcmp(st->dedupe, "none") !=
	    0 && !pipe_allows(rq, perm))
		return (reply_problem(rq, PROB_FORBIDDEN, "updating duplicates "
		    "needs the %s permission", perm));
	if (!imp_is_csv(rq))
		return (reply_problem(rq, PROB_UNSUPPORTED_MEDIA_TYPE, "send "
		    "text/csv (UTF-8, a header row first)"));
	if (rq->req->http_body_length == 0)
		return (imp_invalid(rq, "body", "the file is empty: a header "
		    "row naming the columns comes first"));
	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, imp_defs_sql);
	db_param(b, rq->who.tenant);
	db_param(b, st->d->name);
	return (db_run(rq, b, imp_create_defs));
}

/* Before the workers' sandbox: it allows no mkdir. */
static void
imp_parent_init(void)
{
	if (mkdir(crm_conf.imports_dir, 0700) == -1 && errno != EEXIST)
		crm_fatal("CRM_IMPORTS_DIR %s: %s", crm_conf.imports_dir,
		    strerror(errno));
}

static const struct route imp_routes[] = {
	ROUTE(HTTP_METHOD_POST, "/v1/imports", "imports:create", imp_create,
	    RT_RAW | RT_WRITE,
	    "Import records from a CSV file (text/csv body): a job"),
};

const struct crm_module imports_module = {
	"imports", imp_routes, sizeof(imp_routes) / sizeof(imp_routes[0]),
	NULL, imp_parent_init
};
