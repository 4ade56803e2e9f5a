/*
 * jobimp.c: CSV imports, crm-worker's half (the request's half is
 * modules/integrations/imports.c; the reader app/csv.c, the column names
 * app/impmap.c).
 *
 * Pass 1 reads the whole file once (CSV syntax, UTF-8, field caps) and
 * counts its rows, so progress.total is known and a malformed file fails
 * the job with its row, line and byte before a single record is written.
 *
 * Pass 2 imports batches of JIMP_BATCH rows, each in one transaction (one
 * pipelined round trip, app/jobdb.c) that also renews the job's lease and
 * writes its checkpoint: the counts so far, the row errors of the batch,
 * and the byte offset and row number where the next batch starts.  A
 * worker that dies mid-import thus leaves a job that resumes exactly after
 * its last committed batch (csv_seek), and a worker that lost its lease
 * cannot commit a batch at all (the checkpoint's UPDATE must find the row
 * still claimed by our token, crm.batch_row raises otherwise).
 *
 * Records are written with the engine's own statements (ent_sql_create,
 * ent_sql_update_strict) after the engine's own binding (ent_bind_*), so
 * an imported record is validated, defaulted, owned, timed-lined and
 * announced (one <entity>.created / .updated event per record, hence its
 * webhooks) exactly like one written through the API.  A row the binder
 * refuses is reported, not sent; a row PostgreSQL refuses (a trigger's
 * CR422, a foreign key) aborts the batch's transaction, is reported, and
 * the batch is sent again without it.
 *
 * Dedupe (email: contacts, leads; domain: accounts) looks for the key among
 * the records the importing user can see, and among the earlier rows of
 * the file itself (rows of past batches are committed, so the lookup finds
 * them; rows of the current batch are matched in memory).
 */

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imp.h"
#include "jobdb.h"

#define JIMP_BATCH	500		/* rows a transaction */
#define JIMP_PREPARED	32		/* statements kept prepared a job */
#define JIMP_MAXERR	1000		/* row errors kept in the result */
#define JIMP_RENEW_MS	2000		/* lease renewal during pass 1 */

enum jimp_act { JIMP_CREATE, JIMP_UPDATE, JIMP_SKIP, JIMP_FAIL };

struct jimp_row {
	long long	 row;
	json_t		*body;
	char		*ref[4];	/* @owner @account @pipeline @stage */
	char		*key;			/* dedupe key, lower case */
	enum jimp_act	 act;
	int		 failed;		/* refused: stays refused */
	json_t		*errs;
	char		 id[UUID_STRLEN + 1];
	char		 event[UUID_STRLEN + 1];
	const char	*owner;
	struct ent_bind	 e;
	struct buf	 sql;
};

static const char *const	jimp_refs[4] = {
	"@owner", "@account", "@pipeline", "@stage"
};
static const char *const	jimp_ref_fields[4] = {
	"owner_id", "account_id", "pipeline_id", "stage_id"
};

struct jimp_run {
	struct jrun		*w;
	const char		*tenant;
	const char		*job;
	const char		*user;
	const char		*scope;
	const char		*dedupe;
	int			 update;
	json_t			*cols;		/* target per column, or null */
	json_t			*unknown;
	json_t			*head;		/* the header's names */
	struct jexp_desc	 x;
	struct ent_cdefs	*cd;
	json_t			*users;		/* e-mail or name -> id */
	json_t			*pipes;		/* name -> {id, default,
						   stages} */
	json_t			*accounts;	/* the batch's: name or
						   domain -> id */
	json_t			*dups;		/* this batch: key -> id */
	int			 fd;
	struct csv		 c;
	long long		 total, done, created, updated, skipped;
	long long		 failed, errtotal, errstored;
	off_t			 offset;	/* checkpoint: next record */
	long long		 row, line;
	int			 complete;
	struct jimp_row		 rows[JIMP_BATCH];
	int			 n;
	/*
	 * A row's statement depends only on which fields it gives, so a
	 * file has few distinct ones: each is prepared once on the
	 * connection (planning the engine's INSERT was most of a row's
	 * cost), and dropped when the job ends or the connection changes.
	 */
	PGconn			*prep_conn;
	char			*prep_sql[JIMP_PREPARED];
	int			 nprep;
	struct jimp_result	*res;
};

static int
jimp_fail(struct jimp_run *r, int retry, const char *fmt, const char *a)
{
	r->res->retry = retry;
	(void)snprintf(r->res->error, sizeof(r->res->error), fmt, a);
	return (-1);
}

static void
jimp_unprepare(struct jimp_run *r)
{
	int	i;

	if (r->nprep > 0 && r->w->pg == r->prep_conn && r->w->pg != NULL)
		PQclear(PQexec(r->w->pg, "DEALLOCATE ALL"));
	for (i = 0; i < r->nprep; i++)
		xfree(r->prep_sql[i]);
	r->nprep = 0;
	r->prep_conn = r->w->pg;
}

/* The name of s's statement prepared on this connection, or NULL. */
static const char *
jimp_prepared(struct jimp_run *r, const char *sql)
{
	static char	 names[JIMP_PREPARED][16];
	PGresult	*res;
	int		 i, ok;

	if (r->w->pg == NULL)
		return (NULL);
	if (r->prep_conn != r->w->pg) {
		for (i = 0; i < r->nprep; i++)
			xfree(r->prep_sql[i]);
		r->nprep = 0;
		r->prep_conn = r->w->pg;
	}
	for (i = 0; i < r->nprep; i++) {
		if (strcmp(r->prep_sql[i], sql) == 0)
			return (names[i]);
	}
	if (r->nprep == JIMP_PREPARED)
		return (NULL);
	(void)snprintf(names[i], sizeof(names[i]), "jimp_%d", i);
	res = PQprepare(r->w->pg, names[i], sql, 0, NULL);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	if (!ok)
		return (NULL);
	r->prep_sql[r->nprep++] = xstrdup(sql);
	return (names[i]);
}

/* A refusal PostgreSQL gave for one row: the row's, or the job's? */
static int
jimp_row_refusal(const char *state)
{
	return (strncmp(state, "23", 2) == 0 || strncmp(state, "22", 2) == 0 ||
	    strncmp(state, "CR", 2) == 0);
}

static int
jimp_tx_prep(struct jimp_run *r, struct jdb_stmt *s, int n,
    struct jdb_fail *f, const char *const *prep)
{
	char	err[512];
	int	dead;

	if (r->w->pg == NULL || PQstatus(r->w->pg) != CONNECTION_OK)
		return (-1);
	if (jdb_tx_at(r->w->pg, r->tenant, s, n, err, sizeof(err), &dead,
	    f, prep) == 0)
		return (0);
	if (f == NULL || f->index <= 0 || !jimp_row_refusal(f->sqlstate))
		log_msg(LOG_LVL_WARN, "import_db_error", "import %s: %s",
		    r->job, err);
	if (dead) {
		PQfinish(r->w->pg);
		r->w->pg = NULL;
	}
	return (-1);
}

static int
jimp_tx(struct jimp_run *r, struct jdb_stmt *s, int n, struct jdb_fail *f)
{
	return (jimp_tx_prep(r, s, n, f, NULL));
}

/* A file name the request made: <this tenant>.<uuid>.csv. */
int
jimp_file_ok(const char *tenant, const char *f)
{
	uint8_t	raw[UUID_LEN];
	char	u[UUID_STRLEN + 1];

	if (f == NULL || strlen(f) != UUID_STRLEN * 2 + 5 ||
	    strncmp(f, tenant, UUID_STRLEN) != 0 || f[UUID_STRLEN] != '.' ||
	    strcmp(f + UUID_STRLEN * 2 + 1, ".csv") != 0)
		return (0);
	memcpy(u, f + UUID_STRLEN + 1, UUID_STRLEN);
	u[UUID_STRLEN] = '\0';
	return (uuid7_parse(u, raw) == 0);
}

static int
jimp_prepare(struct jimp_run *r, json_t *p)
{
	const char	*file, *ondup;
	uint8_t		 raw[UUID_LEN];

	if (json_unpack(p, "{s:s,s:s,s:s,s:s,s:s,s:o,s:o}", "user", &r->user,
	    "scope", &r->scope, "dedupe", &r->dedupe, "on_duplicate", &ondup,
	    "file", &file, "columns", &r->cols, "unknown", &r->unknown) != 0 ||
	    uuid7_parse(r->user, raw) == -1 ||
	    perm_scope_parse(r->scope) == -1 || !json_is_array(r->cols) ||
	    !jimp_file_ok(r->tenant, file) ||
	    jexp_desc_load(json_object_get(p, "desc"), &r->x) == -1 ||
	    !imap_dedupe_ok(r->x.name, r->dedupe))
		return (jimp_fail(r, 0, "%s", "bad payload"));
	r->update = strcmp(ondup, "update") == 0;
	(void)snprintf(r->res->path, sizeof(r->res->path), "%s/%s",
	    crm_conf.imports_dir, file);
	return (0);
}

/* The tenant's custom fields, users, pipelines and the job's checkpoint. */
static const char	jimp_load_sql[] =
	ENTCF_DEFS_SQL("$1", "$3") ", "
	"(SELECT coalesce(jsonb_object_agg(k, id), '{}') FROM (SELECT "
	"lower(name) AS k, id FROM crm.users WHERE tenant_id = $1 AND status = "
	"'active' AND name <> '' UNION ALL SELECT email_lc, id FROM crm.users "
	"WHERE tenant_id = $1 AND status = 'active') u), "
	"(SELECT coalesce(jsonb_object_agg(lower(p.name), jsonb_build_object("
	"'id', p.id, 'default', p.is_default, 'stages', (SELECT coalesce("
	"jsonb_object_agg(lower(s.name), s.id), '{}') FROM crm.stages s WHERE "
	"s.tenant_id = $1 AND s.pipeline_id = p.id))), '{}') FROM "
	"crm.pipelines p WHERE p.tenant_id = $1 AND p.deleted_at IS NULL), "
	"(SELECT coalesce(result, '{}') FROM crm.jobs WHERE tenant_id = $1 "
	"AND id = $2)";

static json_t *
jimp_json(PGresult *res, int col)
{
	struct js_err	e;

	return (js_parse(PQgetvalue(res, 0, col), (size_t)PQgetlength(res, 0,
	    col), &e));
}

static int
jimp_load(struct jimp_run *r)
{
	struct jdb_stmt	 s = { jimp_load_sql, 3, { 0 }, NULL };
	json_t		*done, *cp;

	s.p[0] = r->tenant;
	s.p[1] = r->job;
	s.p[2] = r->x.name;
	if (jimp_tx(r, &s, 1, NULL) == -1)
		return (jimp_fail(r, 1, "%s", "database error"));
	r->cd = entcf_parse(PQgetvalue(s.res, 0, 1), strtoll(PQgetvalue(s.res,
	    0, 0), NULL, 10));
	r->users = jimp_json(s.res, 2);
	r->pipes = jimp_json(s.res, 3);
	done = jimp_json(s.res, 4);
	jdb_clear(&s, 1);
	if (r->cd == NULL || r->users == NULL || r->pipes == NULL ||
	    done == NULL) {
		json_decref(done);
		return (jimp_fail(r, 0, "%s", "unreadable definitions"));
	}
	/* A resumed job: its counts and where its next batch starts. */
	if ((cp = json_object_get(done, "checkpoint")) != NULL) {
		r->offset = (off_t)json_integer_value(json_object_get(cp,
		    "offset"));
		r->row = json_integer_value(json_object_get(cp, "row"));
		r->line = json_integer_value(json_object_get(cp, "line"));
		r->complete = json_is_true(json_object_get(cp, "complete"));
		r->done = json_integer_value(json_object_get(done, "rows"));
		r->created = json_integer_value(json_object_get(done,
		    "created"));
		r->updated = json_integer_value(json_object_get(done,
		    "updated"));
		r->skipped = json_integer_value(json_object_get(done,
		    "skipped"));
		r->failed = json_integer_value(json_object_get(done, "failed"));
		r->errtotal = json_integer_value(json_object_get(done,
		    "errors_total"));
		r->errstored = (long long)json_array_size(json_object_get(done,
		    "errors"));
	}
	json_decref(done);
	return (0);
}

/*
 * The checkpoint: counts, errors to append, where the next batch starts,
 * the lease renewed.  Fenced by the claim's token: crm.batch_row raises
 * when the job is no longer ours, so a batch never commits without it.
 */
static const char	jimp_checkpoint_sql[] =
	"WITH u AS (UPDATE crm.jobs SET progress = jsonb_build_object('done', "
	"$3::bigint, 'total', $4::bigint), result = $7::jsonb || "
	"jsonb_build_object('errors', coalesce(result->'errors', '[]'::jsonb) "
	"|| $8::jsonb), updated_at = now(), locked_until = now() + "
	"make_interval(secs => $6::int) WHERE tenant_id = $1 AND id = $2 AND "
	"status = 'running' AND locked_by = $5 RETURNING 1) "
	"SELECT crm.batch_row((SELECT count(*) FROM u), (SELECT count(*) "
	"FROM u))";

struct jimp_cp {
	char	 done[24], total[24], lease[16];
	char	*result, *errs;
};

/* d[]: this batch's rows, created, updated, skipped, failed, errors. */
static void
jimp_checkpoint(struct jimp_run *r, struct jdb_stmt *s, struct jimp_cp *cp,
    json_t *errs, const long long d[6], off_t off, long long row,
    long long line, int complete)
{
	json_t	*res;

	(void)snprintf(cp->done, sizeof(cp->done), "%lld", r->done + d[0]);
	(void)snprintf(cp->total, sizeof(cp->total), "%lld", r->total);
	(void)snprintf(cp->lease, sizeof(cp->lease), "%d",
	    crm_conf.job_lease_s);
	res = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:O,s:{s:I,s:I,s:I,s:b}}",
	    "rows", (json_int_t)(r->done + d[0]), "created",
	    (json_int_t)(r->created + d[1]), "updated",
	    (json_int_t)(r->updated + d[2]), "skipped",
	    (json_int_t)(r->skipped + d[3]), "failed",
	    (json_int_t)(r->failed + d[4]), "errors_total",
	    (json_int_t)(r->errtotal + d[5]), "unknown_columns", r->unknown,
	    "checkpoint", "offset", (json_int_t)off, "row", (json_int_t)row,
	    "line", (json_int_t)line, "complete", complete);
	cp->result = js_dump(res, NULL);
	json_decref(res);
	cp->errs = js_dump(errs, NULL);
	memset(s, 0, sizeof(*s));
	s->sql = jimp_checkpoint_sql;
	s->n = 8;
	s->p[0] = r->tenant;
	s->p[1] = r->job;
	s->p[2] = cp->done;
	s->p[3] = cp->total;
	s->p[4] = r->w->token;
	s->p[5] = cp->lease;
	s->p[6] = cp->result;
	s->p[7] = cp->errs;
}

static void
jimp_cp_free(struct jimp_cp *cp)
{
	xfree(cp->result);
	xfree(cp->errs);
	cp->result = cp->errs = NULL;
}

/* Pass 1: the whole file's syntax, and its row count. */

static int
jimp_renew(struct jimp_run *r)
{
	struct jdb_stmt	 s;
	struct jimp_cp	 cp;
	json_t		*none = json_array();
	const long long	 zero[6] = { 0, 0, 0, 0, 0, 0 };
	int		 rc;

	jimp_checkpoint(r, &s, &cp, none, zero, r->offset, r->row, r->line,
	    0);
	/* Pass 1 must not move a resumed job's checkpoint: same values. */
	rc = jimp_tx(r, &s, 1, NULL);
	if (rc == 0)
		jdb_clear(&s, 1);
	jimp_cp_free(&cp);
	json_decref(none);
	return (rc == 0 ? 0 : jimp_fail(r, 1, "%s", "the job's lease was "
	    "lost or the database failed"));
}

static int
jimp_scan(struct jimp_run *r)
{
	uint64_t	next = crm_now_ms() + JIMP_RENEW_MS;
	long long	rows = 0;
	int		rc;
	size_t		i;

	csv_init(&r->c, r->fd, 0);
	while ((rc = csv_next(&r->c)) == 1 && r->c.blank)
		;
	if (rc == 1) {
		r->head = json_array();
		for (i = 0; i < (size_t)r->c.nf; i++)
			json_array_append_new(r->head, json_string(csv_field(
			    &r->c, (int)i)));
		if (r->offset == 0) {		/* a fresh start */
			r->offset = csv_offset(&r->c);
			r->row = r->c.row;
			r->line = r->c.next_line;
		}
		while ((rc = csv_next(&r->c)) == 1) {
			rows += !r->c.blank;
			if ((rows & 4095) == 0 && crm_now_ms() >= next) {
				if (jimp_renew(r) == -1)
					return (-1);
				next = crm_now_ms() + JIMP_RENEW_MS;
			}
		}
	}
	if (rc == -1) {
		r->res->malformed = 1;
		r->res->row = r->c.row;
		(void)snprintf(r->res->detail, sizeof(r->res->detail), "%s",
		    r->c.err);
		return (jimp_fail(r, 0, "the file is not valid CSV: %s",
		    r->c.err));
	}
	if (r->head == NULL)
		return (jimp_fail(r, 0, "%s", "the file has no header row"));
	r->total = rows;
	return (0);
}

/* Pass 2: one batch. */

static void
jimp_row_free(struct jimp_row *w)
{
	int	i;

	json_decref(w->body);
	json_decref(w->errs);
	for (i = 0; i < 4; i++)
		xfree(w->ref[i]);
	xfree(w->key);
	ent_bind_free(&w->e);
	buf_free(&w->sql);
	memset(w, 0, sizeof(*w));
}

/* One row error; `target` is the column's target when not the field. */
static void
jimp_error_at(struct jimp_run *r, struct jimp_row *w, const char *field,
    const char *target, const char *code, const char *detail)
{
	json_t		*e, *t;
	size_t		 i;

	if (target == NULL)
		target = field;

	e = json_pack("{s:I,s:s?,s:s,s:s}", "row", (json_int_t)w->row, "field",
	    field, "code", code, "detail", detail);
	/* The CSV column it came from, when one maps to the field. */
	json_array_foreach(r->cols, i, t) {
		if (target != NULL && json_is_string(t) &&
		    (strcmp(json_string_value(t), target) == 0 ||
		    (strncmp(json_string_value(t), target, strlen(target)) ==
		    0 && json_string_value(t)[strlen(target)] == '.'))) {
			json_object_set(e, "column", json_array_get(r->head,
			    i));
			break;
		}
	}
	if (w->errs == NULL)
		w->errs = json_array();
	json_array_append_new(w->errs, e);
	w->failed = 1;
}

static void
jimp_error(struct jimp_run *r, struct jimp_row *w, const char *field,
    const char *code, const char *detail)
{
	jimp_error_at(r, w, field, NULL, code, detail);
}

static void
jimp_error_ref(struct jimp_run *r, struct jimp_row *w, int k,
    const char *what)
{
	char	detail[200];

	(void)snprintf(detail, sizeof(detail), "no %s %.120s", what,
	    w->ref[k]);
	jimp_error_at(r, w, jimp_ref_fields[k], jimp_refs[k], "not_found",
	    detail);
}

/* A cell without its surrounding blanks; NULL when nothing is left. */
char *
jimp_trimmed(const char *cell)
{
	size_t	n;

	cell += strspn(cell, " \t");
	for (n = strlen(cell); n > 0 && (cell[n - 1] == ' ' ||
	    cell[n - 1] == '\t'); n--)
		;
	return (n > 0 ? xstrndup(cell, n) : NULL);
}

/* One cell into the row's body. */
static void
jimp_cell(struct jimp_run *r, struct jimp_row *w, const char *t,
    const char *cell)
{
	const struct ent_field	*f;
	json_t			*v, *obj, *custom;
	char			 name[64], *s;
	const char		*dot;
	int			 k;

	for (k = 0; k < 4; k++) {
		if (strcmp(t, jimp_refs[k]) == 0) {
			if ((s = jimp_trimmed(cell)) != NULL) {
				xfree(w->ref[k]);
				w->ref[k] = s;
			}
			return;
		}
	}
	if (strncmp(t, "custom.", 7) == 0) {
		if ((f = entcf_field(r->cd, t + 7)) == NULL ||
		    (v = imap_value(f, cell)) == NULL)
			return;
		if ((custom = json_object_get(w->body, "custom")) == NULL) {
			custom = json_object();
			json_object_set_new(w->body, "custom", custom);
		}
		json_object_set_new(custom, t + 7, v);
		return;
	}
	if ((dot = strchr(t, '.')) != NULL) {
		(void)snprintf(name, sizeof(name), "%.*s", (int)(dot - t), t);
		if ((s = jimp_trimmed(cell)) == NULL)
			return;
		if ((obj = json_object_get(w->body, name)) == NULL) {
			obj = json_object();
			json_object_set_new(w->body, name, obj);
		}
		json_object_set_new(obj, dot + 1, json_string(s));
		xfree(s);
		return;
	}
	if ((f = ent_field(&r->x.d, t)) != NULL && (v = imap_value(f, cell))
	    != NULL)
		json_object_set_new(w->body, t, v);
}

static void
jimp_build(struct jimp_run *r, struct jimp_row *w)
{
	const char	*t, *cell;
	json_t		*key;
	char		 detail[128];
	int		 i, ncols = (int)json_array_size(r->cols);

	w->row = r->c.row;
	w->body = json_object();
	buf_init(&w->sql, 1024);
	for (i = ncols; i < r->c.nf; i++) {
		if (*csv_field(&r->c, i) != '\0') {
			(void)snprintf(detail, sizeof(detail), "the row has "
			    "%d fields, the header %d", r->c.nf, ncols);
			jimp_error(r, w, NULL, "ragged_row", detail);
			return;
		}
	}
	for (i = 0; i < ncols && i < r->c.nf; i++) {
		if ((t = json_string_value(json_array_get(r->cols, i))) ==
		    NULL)
			continue;
		cell = csv_field(&r->c, i);
		jimp_cell(r, w, t, cell);
	}
	if (strcmp(r->dedupe, "none") != 0) {
		key = json_object_get(w->body, strcmp(r->dedupe, "email") == 0 ?
		    "email" : "domain");
		if (json_is_string(key)) {
			w->key = xstrdup(json_string_value(key));
			for (i = 0; w->key[i] != '\0'; i++)
				w->key[i] = (char)tolower((unsigned char)
				    w->key[i]);
		}
	}
}

static void
jimp_lower(const char *s, char *out, size_t len)
{
	size_t	i;

	for (i = 0; s[i] != '\0' && i + 1 < len; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[i] = '\0';
}

/* Adds s to a PostgreSQL text[] literal begun with "{" (close it). */
void
jimp_array_add(struct buf *b, const char *s)
{
	if (b->len > 1)
		buf_appendc(b, ',');
	buf_appendc(b, '"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			buf_appendc(b, '\\');
		buf_appendc(b, *s);
	}
	buf_appendc(b, '"');
}

/*
 * The batch's lookups in one read: accounts by name or domain (for
 * @account), and existing records by the dedupe key, among those the
 * importing user can see.  Both as {key: id}, oldest record winning.
 */
static int
jimp_lookup(struct jimp_run *r)
{
	struct jdb_stmt	 s[2];
	struct buf	 acc, keys, sql;
	const char	*col;
	int		 i, n = 0;
	char		 lc[256];

	buf_init(&acc, 1024);
	buf_init(&keys, 1024);
	buf_init(&sql, 512);
	buf_appendc(&acc, '{');
	buf_appendc(&keys, '{');
	for (i = 0; i < r->n; i++) {
		if (r->rows[i].ref[1] != NULL) {
			jimp_lower(r->rows[i].ref[1], lc, sizeof(lc));
			jimp_array_add(&acc, lc);
		}
		if (r->rows[i].key != NULL && !r->rows[i].failed)
			jimp_array_add(&keys, r->rows[i].key);
	}
	buf_appendc(&acc, '}');
	buf_appendc(&keys, '}');
	memset(s, 0, sizeof(s));
	s[n].sql = "SELECT coalesce(jsonb_object_agg(k, id), '{}') FROM "
	    "(SELECT k, id FROM (SELECT name_lc AS k, id FROM crm.accounts "
	    "WHERE tenant_id = $1 AND name_lc = ANY($2::text[]) AND "
	    "deleted_at IS NULL UNION ALL SELECT domain_lc, id FROM "
	    "crm.accounts WHERE tenant_id = $1 AND domain_lc = "
	    "ANY($2::text[]) AND deleted_at IS NULL) a ORDER BY id DESC) o";
	s[n].n = 2;
	s[n].p[0] = r->tenant;
	s[n++].p[1] = buf_cstr(&acc);
	col = strcmp(r->dedupe, "email") == 0 ? "email_lc" : "domain_lc";
	buf_appendf(&sql, "SELECT coalesce(jsonb_object_agg(k, id), '{}') "
	    "FROM (SELECT %s AS k, id FROM %s WHERE tenant_id = $1 AND %s = "
	    "ANY($2::text[]) AND deleted_at IS NULL AND "
	    ENT_SCOPE_SQL("$1", "owner_id", "$3::uuid", "$4")
	    " ORDER BY id DESC) o", col, r->x.table, col);
	if (strcmp(r->dedupe, "none") != 0) {
		s[n].sql = buf_cstr(&sql);
		s[n].n = 4;
		s[n].p[0] = r->tenant;
		s[n].p[1] = buf_cstr(&keys);
		s[n].p[2] = r->user;
		s[n++].p[3] = r->scope;
	}
	i = jimp_tx(r, s, n, NULL);
	if (i == 0) {
		r->accounts = jimp_json(s[0].res, 0);
		r->dups = n > 1 ? jimp_json(s[1].res, 0) : json_object();
		jdb_clear(s, n);
	}
	buf_free(&acc);
	buf_free(&keys);
	buf_free(&sql);
	if (i == -1 || r->accounts == NULL || r->dups == NULL)
		return (jimp_fail(r, 1, "%s", "database error"));
	return (0);
}

static const char *
jimp_get_id(json_t *map, const char *name)
{
	char	lc[256];

	jimp_lower(name, lc, sizeof(lc));
	return (json_string_value(json_object_get(map, lc)));
}

/* @owner, @account, @pipeline, @stage into the body (or row errors). */
static void
jimp_resolve(struct jimp_run *r, struct jimp_row *w)
{
	const char	*id, *sid = NULL;
	json_t		*pipe = NULL, *p;
	const char	*name;
	char		 lc[256];

	w->owner = NULL;
	if (w->ref[0] != NULL && (w->owner = jimp_get_id(r->users,
	    w->ref[0])) == NULL)
		jimp_error_ref(r, w, 0, "active user with the e-mail or name");
	if (w->ref[1] != NULL) {
		if ((id = jimp_get_id(r->accounts, w->ref[1])) == NULL)
			jimp_error_ref(r, w, 1, "account with the name or "
			    "domain");
		else
			json_object_set_new(w->body, "account_id",
			    json_string(id));
	}
	if (w->ref[2] != NULL) {
		jimp_lower(w->ref[2], lc, sizeof(lc));
		if ((pipe = json_object_get(r->pipes, lc)) == NULL)
			jimp_error_ref(r, w, 2, "pipeline named");
	} else if (w->ref[3] != NULL) {
		json_object_foreach(r->pipes, name, p) {
			if (pipe == NULL || json_is_true(json_object_get(p,
			    "default")))
				pipe = p;
		}
	}
	if (pipe != NULL)
		json_object_set(w->body, "pipeline_id", json_object_get(pipe,
		    "id"));
	if (w->ref[3] != NULL && (pipe == NULL || (sid = jimp_get_id(
	    json_object_get(pipe, "stages"), w->ref[3])) == NULL) &&
	    !w->failed)
		jimp_error_ref(r, w, 3, "stage in that pipeline named");
	if (sid != NULL)
		json_object_set_new(w->body, "stage_id", json_string(sid));
}

static void
jimp_val_errors(struct jimp_run *r, struct jimp_row *w, struct val *v)
{
	json_t	*e;
	size_t	 i;

	json_array_foreach(json_object_get(v->problem, "errors"), i, e)
		jimp_error(r, w, js_get_str(e, "field"), js_get_str(e, "code") ?
		    js_get_str(e, "code") : "invalid", js_get_str(e, "detail") ?
		    js_get_str(e, "detail") : "invalid");
	if (!w->failed)
		jimp_error(r, w, NULL, "invalid", "the row was refused");
}

/* What each row does, bound and with its SQL; dups matched in-batch too. */
static void
jimp_decide(struct jimp_run *r, struct jimp_row *w, json_t *seen)
{
	struct val	 v;
	const char	*id = NULL;
	int		 rc;

	ent_bind_free(&w->e);
	buf_reset(&w->sql);
	if (w->failed) {
		w->act = JIMP_FAIL;
		return;
	}
	if (w->key != NULL && ((id = json_string_value(json_object_get(seen,
	    w->key))) != NULL || (id = json_string_value(json_object_get(
	    r->dups, w->key))) != NULL)) {
		if (!r->update) {
			w->act = JIMP_SKIP;
			return;
		}
		w->act = JIMP_UPDATE;
		(void)snprintf(w->id, sizeof(w->id), "%s", id);
	} else {
		w->act = JIMP_CREATE;
		uuid7_new_str(w->id);
		if (w->key != NULL)
			json_object_set_new(seen, w->key, json_string(w->id));
	}
	uuid7_new_str(w->event);
	val_init(&v, w->body);
	rc = w->act == JIMP_CREATE ? ent_bind_create(&r->x.d, r->cd, w->body,
	    &v, &w->e) : ent_bind_update(&r->x.d, r->cd, w->body, &v, &w->e);
	if (rc == -1) {
		jimp_val_errors(r, w, &v);
		w->act = JIMP_FAIL;
		if (id == NULL && w->key != NULL)
			json_object_del(seen, w->key);
	} else if (w->act == JIMP_CREATE)
		ent_sql_create_owned(&r->x.d, &w->e, &w->sql);
	else
		ent_sql_update_strict(&r->x.d, &w->e, &w->sql);
	val_free(&v);
}

/* The row's statement: parameters as ent.h lays them out. */
static void
jimp_stmt(struct jimp_run *r, struct jimp_row *w, struct jdb_stmt *s,
    char *ver)
{
	int	i, n = 0;

	memset(s, 0, sizeof(*s));
	s->sql = buf_cstr(&w->sql);
	s->p[n++] = r->tenant;
	s->p[n++] = w->id;
	s->p[n++] = r->user;
	if (w->act == JIMP_UPDATE) {
		s->p[n++] = r->scope;
		s->p[n++] = w->event;
		s->p[n++] = NULL;		/* no If-Match */
	} else
		s->p[n++] = w->event;
	for (i = 0; i < w->e.nfields; i++) {
		if (w->e.given[i])
			s->p[n++] = w->e.text[i];
	}
	(void)snprintf(ver, 24, "%lld", (long long)r->cd->version);
	if (w->act == JIMP_CREATE || w->e.custom_given) {
		s->p[n++] = ver;
		s->p[n++] = w->e.custom != NULL ? w->e.custom : "{}";
	}
	if (w->act == JIMP_CREATE)
		s->p[n++] = w->owner;
	s->n = n;
}

static const char *
jimp_state_detail(const char *state)
{
	if (strcmp(state, "23503") == 0)
		return ("refers to a record that does not exist");
	if (strcmp(state, "23505") == 0)
		return ("duplicates a record that exists");
	if (strcmp(state, "CR404") == 0)
		return ("the duplicate it would update is gone");
	return ("was refused by a rule of the record");
}

/*
 * Send the batch: checkpoint + one statement per written row.  A row
 * PostgreSQL refuses is marked and the batch goes again without it.
 */
/*
 * The plan's record limit (sql/030) ends the import for good: the chunks
 * already committed stay, and the error says how far the file got.
 */
static void
jimp_plan_full(struct jimp_run *r)
{
	char	msg[160];

	(void)snprintf(msg, sizeof(msg), "the plan's record limit is reached "
	    "after %lld rows; the rest of the file was not imported", r->done);
	(void)jimp_fail(r, 0, "%s", msg);
}

static int
jimp_commit(struct jimp_run *r, off_t off, long long row, long long line,
    int complete)
{
	struct jdb_stmt	*s;
	struct jdb_fail	 f;
	struct jimp_cp	 cp;
	json_t		*errs, *seen, *e;
	long long	 d[6];
	char		 (*ver)[24];
	const char	**prep;
	int		 i, n, map[JIMP_BATCH + 1], rc = -1;
	size_t		 j;

	s = xcalloc(JIMP_BATCH + 1, sizeof(*s));
	prep = xcalloc(JIMP_BATCH + 1, sizeof(*prep));
	ver = xcalloc(JIMP_BATCH, sizeof(*ver));
	for (;;) {
		seen = json_object();
		memset(d, 0, sizeof(d));
		errs = json_array();
		for (i = n = 0; i < r->n; i++) {
			jimp_decide(r, &r->rows[i], seen);
			d[0]++;
			d[1] += r->rows[i].act == JIMP_CREATE;
			d[2] += r->rows[i].act == JIMP_UPDATE;
			d[3] += r->rows[i].act == JIMP_SKIP;
			if (r->rows[i].act == JIMP_FAIL) {
				d[4]++;
				d[5] += (long long)json_array_size(
				    r->rows[i].errs);
				json_array_foreach(r->rows[i].errs, j, e) {
					if (r->errstored + (long long)
					    json_array_size(errs) < JIMP_MAXERR)
						json_array_append(errs, e);
				}
			}
			if (r->rows[i].act == JIMP_CREATE ||
			    r->rows[i].act == JIMP_UPDATE) {
				jimp_stmt(r, &r->rows[i], &s[++n], ver[i]);
				prep[n] = jimp_prepared(r, s[n].sql);
				map[n] = i;
			}
		}
		json_decref(seen);
		jimp_checkpoint(r, &s[0], &cp, errs, d, off, row, line,
		    complete);
		if (jimp_tx_prep(r, s, n + 1, &f, prep) == 0) {
			jdb_clear(s, n + 1);
			r->done += d[0];
			r->created += d[1];
			r->updated += d[2];
			r->skipped += d[3];
			r->failed += d[4];
			r->errtotal += d[5];
			r->errstored += (long long)json_array_size(errs);
			rc = 0;
		} else if (strcmp(f.sqlstate, "CRPLR") == 0) {
			jimp_plan_full(r);
		} else if (f.index >= 1 && jimp_row_refusal(f.sqlstate)) {
			jimp_error(r, &r->rows[map[f.index]], NULL,
			    strncmp(f.sqlstate, "CR", 2) == 0 ? "invalid" :
			    strcmp(f.sqlstate, "23503") == 0 ? "not_found" :
			    "invalid", jimp_state_detail(f.sqlstate));
			jimp_cp_free(&cp);
			json_decref(errs);
			continue;
		} else {
			(void)jimp_fail(r, 1, "%s", f.index == 0 ? "the job's "
			    "lease was lost" : "database error");
		}
		jimp_cp_free(&cp);
		json_decref(errs);
		break;
	}
	xfree(s);
	xfree(prep);
	xfree(ver);
	return (rc);
}

/* Reads up to JIMP_BATCH rows; 1 more to come, 0 the file ended, -1. */
static int
jimp_batch(struct jimp_run *r)
{
	int	rc = 1, i;

	r->n = 0;
	while (r->n < JIMP_BATCH && (rc = csv_next(&r->c)) == 1) {
		if (r->c.blank)
			continue;
		jimp_build(r, &r->rows[r->n++]);
	}
	if (rc == -1)
		return (jimp_fail(r, 0, "the file changed while importing: %s",
		    r->c.err));
	if (jimp_lookup(r) == 0) {
		for (i = 0; i < r->n; i++) {
			if (!r->rows[i].failed)
				jimp_resolve(r, &r->rows[i]);
		}
		rc = jimp_commit(r, csv_offset(&r->c), r->c.row,
		    r->c.next_line, rc == 0) == 0 ? rc : -1;
	} else
		rc = -1;
	for (i = 0; i < r->n; i++)
		jimp_row_free(&r->rows[i]);
	json_decref(r->accounts);
	json_decref(r->dups);
	r->accounts = r->dups = NULL;
	return (rc);
}

static int
jimp_import(struct jimp_run *r)
{
	int	rc;

	if (csv_seek(&r->c, r->offset, r->row, r->line) == -1)
		return (jimp_fail(r, 1, "%s", "cannot read the file"));
	while ((rc = jimp_batch(r)) == 1)
		;
	return (rc);
}

/*
 * One import job: 0 done (r->counts), -1 failed (error, retry).  The file
 * stays for a retry; the caller removes it when the job is over.
 */
int
jimp_run(struct jrun *w, const char *tenant, const char *job, json_t *p,
    struct jimp_result *res)
{
	struct jimp_run	*r;
	int		 rc;

	memset(res, 0, sizeof(*res));
	r = xcalloc(1, sizeof(*r));
	r->w = w;
	r->tenant = tenant;
	r->job = job;
	r->fd = -1;
	r->res = res;
	if ((rc = jimp_prepare(r, p)) == 0 && (rc = jimp_load(r)) == 0 &&
	    !r->complete) {
		if ((r->fd = open(res->path, O_RDONLY | O_CLOEXEC)) == -1)
			rc = jimp_fail(r, errno == ENOENT ? 0 : 1, "the "
			    "uploaded file is gone: %s", strerror(errno));
		else if ((rc = jimp_scan(r)) == 0)
			rc = jimp_import(r);
	}
	res->rows = r->done;
	res->created = r->created;
	res->updated = r->updated;
	res->skipped = r->skipped;
	res->failed = r->failed;
	res->total = r->total;
	jimp_unprepare(r);
	if (r->fd != -1)
		(void)close(r->fd);
	if (r->c.data != NULL)
		csv_free(&r->c);
	json_decref(r->head);
	json_decref(r->users);
	json_decref(r->pipes);
	entcf_free(r->cd);
	jexp_desc_free(&r->x);
	xfree(r);
	return (rc);
}
