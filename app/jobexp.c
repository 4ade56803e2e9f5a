/*
 * jobexp.c: exports (API.md "Jobs, imports, exports, webhooks"), the
 * Kore-free half: what the request path puts in an export job's payload,
 * and what crm-worker does with it.
 *
 * The entity descriptors live in the Kore modules (modules/crm/), which
 * crm-worker does not link.  So POST /v1/exports checks the request with
 * the descriptor (elist_parse, exactly like a list) and writes into the
 * payload a snapshot of the descriptor and of the tenant's custom fields
 * (jexp_desc_json); the worker rebuilds them (jexp_desc_load), refusing
 * any table or name that is not a plain identifier of the exportable
 * entities, and asks elist.c for the same SELECT a list would run, page by
 * page with its keyset cursors: never the whole table in memory, and the
 * same filter, sort and record scope grammar and semantics as GET /v1/x.
 *
 * The rows go to CRM_EXPORTS_DIR/<tenant>.<job>.<csv|jsonl> (mode 600,
 * written as .part and renamed when complete), which the Kore worker
 * serves to the user who asked (modules/integrations/exports.c) for
 * CRM_EXPORT_TTL_H hours; the scheduled cleanup_exports job removes it.
 * A file, not PostgreSQL large objects: a download is then sendfile from
 * the page cache, not a transaction held open while a slow client reads,
 * and a big export does not bloat the database or its WAL and backups.
 */

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ent.h"
#include "jobdb.h"

#define JEXP_PAGE	1000		/* rows a page (one transaction) */
#define JEXP_FLUSH	65536		/* bytes buffered before write(2) */

/* The entities an export may name; tables are "crm." + the name. */
static const char *const	jexp_entities[] = {
	"accounts", "contacts", "leads", "deals", "products", NULL
};

int
jexp_entity_ok(const char *name)
{
	int	i;

	for (i = 0; name != NULL && jexp_entities[i] != NULL; i++) {
		if (strcmp(jexp_entities[i], name) == 0)
			return (1);
	}
	return (0);
}

/* A plain SQL identifier: [a-z][a-z0-9_]*, at most 63 bytes. */
static int
jexp_ident(const char *s)
{
	size_t	n;

	if (s == NULL || !islower((unsigned char)s[0]))
		return (0);
	n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_");
	return (n == strlen(s) && n < 64);
}

/* RFC 4180: quoted when it holds a comma, quote, CR or LF; "" inside. */
void
jexp_csv_field(struct buf *b, const char *s, size_t len)
{
	size_t	i;

	if (strcspn(s, ",\"\r\n") >= len && memchr(s, '"', len) == NULL) {
		buf_append(b, s, len);
		return;
	}
	buf_appendc(b, '"');
	for (i = 0; i < len; i++) {
		if (s[i] == '"')
			buf_appendc(b, '"');
		buf_appendc(b, s[i]);
	}
	buf_appendc(b, '"');
}

/* One JSON value as a CSV field: null empty, objects as compact JSON. */
static void
jexp_csv_value(struct buf *b, json_t *v)
{
	char	*s;
	size_t	 len;

	if (v == NULL || json_is_null(v))
		return;
	if (json_is_string(v)) {
		jexp_csv_field(b, json_string_value(v), json_string_length(v));
		return;
	}
	s = js_dump(v, &len);
	jexp_csv_field(b, s, len);
	xfree(s);
}

/* A column's value in a record: "custom.x" is custom's member x. */
static json_t *
jexp_member(json_t *rec, const char *col)
{
	if (strncmp(col, "custom.", 7) == 0)
		return (json_object_get(json_object_get(rec, "custom"),
		    col + 7));
	return (json_object_get(rec, col));
}

void
jexp_csv_header(struct buf *b, json_t *cols)
{
	size_t	 i;
	json_t	*c;

	json_array_foreach(cols, i, c) {
		if (i > 0)
			buf_appendc(b, ',');
		jexp_csv_field(b, json_string_value(c), json_string_length(c));
	}
	buf_appends(b, "\r\n");
}

/*
 * One record (its JSON text, as PostgreSQL rendered it) as one line:
 * CSV with CRLF, or a JSON object of the columns.  -1: not a record.
 */
int
jexp_row(struct buf *b, int jsonl, json_t *cols, const char *text,
    size_t len)
{
	json_t		*rec, *c, *out;
	json_error_t	 e;
	size_t		 i;

	if ((rec = json_loadb(text, len, 0, &e)) == NULL ||
	    !json_is_object(rec)) {
		json_decref(rec);
		return (-1);
	}
	if (jsonl) {
		out = json_object();
		json_array_foreach(cols, i, c)
			json_object_set(out, json_string_value(c),
			    jexp_member(rec, json_string_value(c)) ?
			    jexp_member(rec, json_string_value(c)) :
			    json_null());
		js_dump_buf(out, b);
		json_decref(out);
		buf_appendc(b, '\n');
	} else {
		json_array_foreach(cols, i, c) {
			if (i > 0)
				buf_appendc(b, ',');
			jexp_csv_value(b, jexp_member(rec,
			    json_string_value(c)));
		}
		buf_appends(b, "\r\n");
	}
	json_decref(rec);
	return (0);
}

/* Query-string escaping for elist_parse(), which decodes %XX and '+'. */
static void
jexp_qs_escape(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (isalnum((unsigned char)*s) || strchr("-._~", *s) != NULL)
			buf_appendc(b, *s);
		else
			buf_appendf(b, "%%%02X", (unsigned char)*s);
	}
}

/*
 * {"field": {"op": value}} and "sort" as the list grammar's query string
 * ("filter[f][op]=v&sort=..."), for elist_parse.  Values: strings,
 * numbers, booleans, or for `in` an array of them.  NULL and *why set
 * when the shape is wrong (why names the member).
 */
char *
jexp_qs(json_t *filter, const char *sort, char *why, size_t whylen)
{
	struct buf	 b;
	const char	*field, *op;
	json_t		*ops, *v, *x;
	char		*s, num[64];
	size_t		 i;

	buf_init(&b, 256);
	why[0] = '\0';
	if (filter != NULL && !json_is_object(filter) && !json_is_null(filter))
		(void)snprintf(why, whylen, "filter");
	json_object_foreach(json_is_object(filter) ? filter : NULL, field,
	    ops) {
		if (!json_is_object(ops) || json_object_size(ops) == 0) {
			(void)snprintf(why, whylen, "filter.%s", field);
			break;
		}
		json_object_foreach(ops, op, v) {
			buf_appends(&b, b.len ? "&filter[" : "filter[");
			jexp_qs_escape(&b, field);
			buf_appends(&b, "][");
			jexp_qs_escape(&b, op);
			buf_appends(&b, "]=");
			if (json_is_array(v) && json_array_size(v) > 0) {
				json_array_foreach(v, i, x) {
					if (i > 0)
						buf_appends(&b, "%2C");
					if (json_is_array(x) ||
					    json_is_object(x) || json_is_null(x))
						break;
					s = json_is_string(x) ? NULL :
					    js_dump(x, NULL);
					jexp_qs_escape(&b, s ? s :
					    json_string_value(x));
					xfree(s);
				}
				if (i < json_array_size(v))
					(void)snprintf(why, whylen,
					    "filter.%s.%s", field, op);
			} else if (json_is_string(v)) {
				jexp_qs_escape(&b, json_string_value(v));
			} else if (json_is_number(v) || json_is_boolean(v)) {
				s = js_dump(v, NULL);
				(void)snprintf(num, sizeof(num), "%s", s);
				xfree(s);
				jexp_qs_escape(&b, num);
			} else {
				(void)snprintf(why, whylen, "filter.%s.%s",
				    field, op);
			}
		}
		if (why[0] != '\0')
			break;
	}
	if (why[0] == '\0' && sort != NULL) {
		buf_appends(&b, b.len ? "&sort=" : "sort=");
		jexp_qs_escape(&b, sort);
	}
	s = why[0] == '\0' ? xstrdup(buf_cstr(&b)) : NULL;
	buf_free(&b);
	return (s);
}

/* The descriptor snapshot: [name, type, flags, max, options, ref]. */
static json_t *
jexp_field_json(const struct ent_field *f)
{
	json_t	*o = json_null();
	int	 i;

	if (f->options != NULL) {
		o = json_array();
		for (i = 0; f->options[i] != NULL; i++)
			json_array_append_new(o, json_string(f->options[i]));
	}
	return (json_pack("[s,i,i,i,o,s?]", f->name, (int)f->type, f->flags,
	    f->max, o, f->ref));
}

json_t *
jexp_desc_json(const struct ent_desc *d, const struct ent_field *custom)
{
	const struct ent_field	*f;
	json_t			*fs, *cs;

	fs = json_array();
	for (f = d->fields; f->name != NULL; f++)
		json_array_append_new(fs, jexp_field_json(f));
	cs = json_array();
	for (f = custom; f != NULL && f->name != NULL; f++)
		json_array_append_new(cs, jexp_field_json(f));
	return (json_pack("{s:s,s:s,s:s,s:o,s:o}", "name", d->name,
	    "singular", d->singular, "table", d->table, "fields", fs,
	    "custom", cs));
}

/* The default columns: id, the fields, custom.<each>, the system ones. */
json_t *
jexp_columns(const struct ent_desc *d, const struct ent_field *custom)
{
	static const char *const sys[] = { "owner_id", "created_at",
	    "updated_at", NULL };
	const struct ent_field	*f;
	json_t			*c;
	char			 name[96];
	int			 i;

	c = json_array();
	json_array_append_new(c, json_string("id"));
	for (f = d->fields; f->name != NULL; f++)
		json_array_append_new(c, json_string(f->name));
	for (f = custom; f != NULL && f->name != NULL; f++) {
		(void)snprintf(name, sizeof(name), "custom.%s", f->name);
		json_array_append_new(c, json_string(name));
	}
	for (i = 0; sys[i] != NULL; i++)
		json_array_append_new(c, json_string(sys[i]));
	return (c);
}

/* Worker side: the snapshot back, every name checked. */

static void
jexp_fields_free(struct ent_field *fs)
{
	struct ent_field	*f;
	int			 i;

	for (f = fs; f != NULL && f->name != NULL; f++) {
		xfree((char *)(uintptr_t)f->name);
		xfree((char *)(uintptr_t)f->ref);
		for (i = 0; f->options != NULL && f->options[i] != NULL; i++)
			xfree((char *)(uintptr_t)f->options[i]);
		xfree((void *)(uintptr_t)f->options);
	}
	xfree(fs);
}

static struct ent_field *
jexp_fields_load(json_t *a)
{
	struct ent_field	*fs, *f;
	const char		*name, *ref;
	json_t			*o, *r, *x;
	size_t			 i, k;
	int			 type, flags, max, bad = 0;
	char			**opts;

	if (!json_is_array(a) || json_array_size(a) > ENT_MAXFIELDS + ENTCF_MAX)
		return (NULL);
	fs = xcalloc(json_array_size(a) + 1, sizeof(*fs));
	json_array_foreach(a, i, x) {
		name = ref = NULL;
		o = r = NULL;
		if (json_unpack(x, "[s,i,i,i,o,o]", &name, &type, &flags,
		    &max, &o, &r) != 0 || (!json_is_null(r) &&
		    (ref = json_string_value(r)) == NULL) ||
		    !jexp_ident(name) || type < 0 ||
		    type >= ENT__TYPES || (ref != NULL && (strncmp(ref,
		    "crm.", 4) != 0 || !jexp_ident(ref + 4))) ||
		    (!json_is_null(o) && !json_is_array(o))) {
			bad = 1;
			break;
		}
		f = &fs[i];
		f->name = xstrdup(name);
		f->type = (enum ent_type)type;
		f->flags = flags;
		f->max = max;
		f->ref = ref != NULL ? xstrdup(ref) : NULL;
		if (json_is_array(o)) {
			opts = xcalloc(json_array_size(o) + 1, sizeof(*opts));
			for (k = 0; k < json_array_size(o); k++)
				opts[k] = xstrdup(json_is_string(json_array_get(
				    o, k)) ? json_string_value(json_array_get(o,
				    k)) : "");
			f->options = (const char *const *)opts;
		}
	}
	if (bad) {
		jexp_fields_free(fs);
		return (NULL);
	}
	return (fs);
}

void
jexp_desc_free(struct jexp_desc *x)
{
	jexp_fields_free(x->fields);
	jexp_fields_free(x->custom);
	memset(x, 0, sizeof(*x));
}

int
jexp_desc_load(json_t *j, struct jexp_desc *x)
{
	const char	*name, *singular, *table;

	memset(x, 0, sizeof(*x));
	if (json_unpack(j, "{s:s,s:s,s:s}", "name", &name, "singular",
	    &singular, "table", &table) != 0 || !jexp_entity_ok(name) ||
	    strncmp(table, "crm.", 4) != 0 || strcmp(table + 4, name) != 0 ||
	    !jexp_ident(singular) || strlen(name) >= sizeof(x->name) ||
	    strlen(singular) >= sizeof(x->singular))
		return (-1);
	(void)snprintf(x->name, sizeof(x->name), "%s", name);
	(void)snprintf(x->singular, sizeof(x->singular), "%s", singular);
	(void)snprintf(x->table, sizeof(x->table), "%s", table);
	x->fields = jexp_fields_load(json_object_get(j, "fields"));
	x->custom = jexp_fields_load(json_object_get(j, "custom"));
	if (x->fields == NULL || x->custom == NULL) {
		jexp_desc_free(x);
		return (-1);
	}
	x->d.name = x->name;
	x->d.singular = x->singular;
	x->d.table = x->table;
	x->d.fields = x->fields;
	x->d.flags = 0;
	return (0);
}

/* The run. */

/*
 * The runtime connected before the claim; a connection lost since is
 * the runtime's to restore (jrun_pg_up), after this job is retried.
 */
static int
jexp_pg_ok(struct jrun *w)
{
	return (w->pg != NULL && PQstatus(w->pg) == CONNECTION_OK);
}

struct jexp_run {
	struct jrun		*w;
	const char		*tenant;
	const char		*job;
	const char		*user;
	const char		*scope;
	const char		*qs;
	int			 jsonl;
	json_t			*cols;
	struct jexp_desc	 x;
	int			 fd;
	struct buf		 out;
	long long		 rows;
	long long		 total;
	long long		 bytes;
	char			*cursor;
	char			 path[1024];
	char			 file[160];
};

static int
jexp_fail(struct jexp_result *r, int retry, const char *fmt, const char *a)
{
	r->retry = retry;
	(void)snprintf(r->error, sizeof(r->error), fmt, a);
	return (-1);
}

static int
jexp_flush(struct jexp_run *e, struct jexp_result *r, int all)
{
	ssize_t	n;
	size_t	off = 0;

	if (!all && e->out.len < JEXP_FLUSH)
		return (0);
	while (off < e->out.len) {
		if ((n = write(e->fd, e->out.data + off, e->out.len - off)) ==
		    -1) {
			if (errno == EINTR)
				continue;
			return (jexp_fail(r, 1, "writing the export file: %s",
			    strerror(errno)));
		}
		off += (size_t)n;
	}
	e->bytes += (long long)e->out.len;
	buf_reset(&e->out);
	return (0);
}

/*
 * One transaction: the job's progress with its lease extended, fenced by
 * the claim's token, then the page's SELECT (elist_sql, with its cursor).
 * A long export outlives CRM_JOB_LEASE_S: each page renews the lease, and
 * since the UPDATE comes first its row lock keeps the reaper off the job
 * while the page is read, however slow; a worker that lost its job stops
 * instead of writing on.
 */
static int
jexp_page(struct jexp_run *e, struct jexp_result *r, int count)
{
	struct elist	 l;
	struct jdb_stmt	 s[2];
	struct buf	 sql, qs;
	char		 done[24], total[24], lease[16], err[512];
	const char	*keys[ELIST_MAXSORT + 1];
	PGresult	*res;
	int		 i, n, k, dead, rc = 0;

	buf_init(&qs, 256);
	buf_appends(&qs, e->qs);
	if (e->cursor != NULL)
		buf_appendf(&qs, "%scursor=%s", qs.len ? "&" : "", e->cursor);
	if (elist_parse(&l, &e->x.d, e->x.custom, buf_cstr(&qs)) == -1) {
		buf_free(&qs);
		rc = jexp_fail(r, 0, "the export's query no longer applies: "
		    "%.120s", l.err_detail);
		elist_free(&l);
		return (rc);
	}
	buf_free(&qs);
	l.limit = count ? 2000000000 : JEXP_PAGE;
	buf_init(&sql, 4096);
	if (count)
		buf_appends(&sql, "SELECT count(*) FROM (");
	elist_sql(&l, &e->x.d, &sql);
	if (count)
		buf_appends(&sql, ") s");
	memset(s, 0, sizeof(s));
	s[1].sql = buf_cstr(&sql);
	s[1].n = ELIST_FIXED + l.nparams;
	s[1].p[0] = e->tenant;
	s[1].p[1] = e->user;
	s[1].p[2] = e->scope;
	for (i = 0; i < l.nparams; i++)
		s[1].p[ELIST_FIXED + i] = l.params[i];
	(void)snprintf(done, sizeof(done), "%lld", e->rows);
	(void)snprintf(total, sizeof(total), "%lld", e->total);
	(void)snprintf(lease, sizeof(lease), "%d", crm_conf.job_lease_s);
	s[0].sql = "UPDATE crm.jobs SET progress = jsonb_build_object('done', "
	    "$3::bigint, 'total', $4::bigint), updated_at = now(), "
	    "locked_until = now() + make_interval(secs => $6::int) "
	    "WHERE tenant_id = $1 AND id = $2 AND status = 'running' "
	    "AND locked_by = $5";
	s[0].n = 6;
	s[0].p[0] = e->tenant;
	s[0].p[1] = e->job;
	s[0].p[2] = done;
	s[0].p[3] = total;
	s[0].p[4] = e->w->token;
	s[0].p[5] = lease;
	if (!jexp_pg_ok(e->w) || jdb_tx(e->w->pg, e->tenant, s, 2, err,
	    sizeof(err), &dead) == -1) {
		if (e->w->pg != NULL && (dead || PQstatus(e->w->pg) !=
		    CONNECTION_OK)) {
			PQfinish(e->w->pg);
			e->w->pg = NULL;
		}
		log_msg(LOG_LVL_WARN, "export_db_error", "export %s: %s",
		    e->job, err);
		rc = jexp_fail(r, 1, "%s", "database error");
		goto out;
	}
	if (strcmp(PQcmdTuples(s[0].res), "1") != 0) {
		rc = jexp_fail(r, 1, "%s", "the job's lease was lost");
		goto out;
	}
	res = s[1].res;
	if (count) {
		e->total = atoll(PQgetvalue(res, 0, 0));
		goto out;
	}
	n = PQntuples(res) > l.limit ? l.limit : PQntuples(res);
	for (i = 0; i < n && rc == 0; i++) {
		if (jexp_row(&e->out, e->jsonl, e->cols, PQgetvalue(res, i, 0),
		    (size_t)PQgetlength(res, i, 0)) == -1)
			rc = jexp_fail(r, 0, "%s", "a record did not render");
		else
			rc = jexp_flush(e, r, 0);
		e->rows++;
	}
	xfree(e->cursor);
	e->cursor = NULL;
	if (rc == 0 && PQntuples(res) > l.limit) {
		for (k = 0; k < l.nsort; k++)
			keys[k] = PQgetisnull(res, n - 1, k + 1) ? NULL :
			    PQgetvalue(res, n - 1, k + 1);
		e->cursor = elist_cursor(&l, keys);
	}
out:
	jdb_clear(s, 2);
	buf_free(&sql);
	elist_free(&l);
	return (rc);
}

static int
jexp_open(struct jexp_run *e, struct jexp_result *r)
{
	(void)snprintf(e->file, sizeof(e->file), "%s.%s.%s", e->tenant, e->job,
	    e->jsonl ? "jsonl" : "csv");
	if ((size_t)snprintf(e->path, sizeof(e->path), "%s/%s.part",
	    crm_conf.exports_dir, e->file) >= sizeof(e->path))
		return (jexp_fail(r, 0, "%s", "CRM_EXPORTS_DIR is too long"));
	(void)mkdir(crm_conf.exports_dir, 0700);
	/* A retry starts again from the first row: truncate. */
	e->fd = open(e->path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (e->fd == -1)
		return (jexp_fail(r, 1, "cannot create the export file: %s",
		    strerror(errno)));
	return (0);
}

static int
jexp_close(struct jexp_run *e, struct jexp_result *r)
{
	char	final[1024];

	if (fsync(e->fd) == -1 || close(e->fd) == -1) {
		e->fd = -1;
		return (jexp_fail(r, 1, "writing the export file: %s",
		    strerror(errno)));
	}
	e->fd = -1;
	(void)snprintf(final, sizeof(final), "%s/%s", crm_conf.exports_dir,
	    e->file);
	if (rename(e->path, final) == -1)
		return (jexp_fail(r, 1, "cannot publish the export file: %s",
		    strerror(errno)));
	e->path[0] = '\0';
	return (0);
}

static int
jexp_prepare(struct jexp_run *e, json_t *p, struct jexp_result *r)
{
	const char	*format;
	uint8_t		 raw[UUID_LEN];

	if (json_unpack(p, "{s:s,s:s,s:s,s:s,s:o}", "user", &e->user,
	    "scope", &e->scope, "qs", &e->qs, "format", &format, "columns",
	    &e->cols) != 0 || uuid7_parse(e->user, raw) == -1 ||
	    perm_scope_parse(e->scope) == -1 || !json_is_array(e->cols) ||
	    json_array_size(e->cols) == 0 ||
	    (strcmp(format, "csv") != 0 && strcmp(format, "jsonl") != 0) ||
	    jexp_desc_load(json_object_get(p, "desc"), &e->x) == -1)
		return (jexp_fail(r, 0, "%s", "bad payload"));
	e->jsonl = strcmp(format, "jsonl") == 0;
	return (0);
}

/*
 * The export of one job: 0 done (r->rows, r->bytes, r->file set), -1
 * failed (r->error; r->retry when trying again may help).
 */
int
jexp_run(struct jrun *w, const char *tenant, const char *job, json_t *p,
    struct jexp_result *r)
{
	struct jexp_run	 e;
	int		 rc;

	memset(r, 0, sizeof(*r));
	memset(&e, 0, sizeof(e));
	e.w = w;
	e.tenant = tenant;
	e.job = job;
	e.fd = -1;
	buf_init(&e.out, JEXP_FLUSH + 4096);
	if ((rc = jexp_prepare(&e, p, r)) == 0 && (rc = jexp_open(&e, r)) == 0
	    && (rc = jexp_page(&e, r, 1)) == 0) {
		if (!e.jsonl)
			jexp_csv_header(&e.out, e.cols);
		do {
			rc = jexp_page(&e, r, 0);
		} while (rc == 0 && e.cursor != NULL);
	}
	if (rc == 0 && (rc = jexp_flush(&e, r, 1)) == 0)
		rc = jexp_close(&e, r);
	if (e.fd != -1)
		(void)close(e.fd);
	if (rc == -1 && e.path[0] != '\0')
		(void)unlink(e.path);
	r->rows = e.rows;
	r->bytes = e.bytes;
	(void)snprintf(r->file, sizeof(r->file), "%s", e.file);
	xfree(e.cursor);
	buf_free(&e.out);
	jexp_desc_free(&e.x);
	return (rc);
}

/* A file name this code made: <uuid>.<uuid>.(csv|jsonl), nothing else. */
int
jexp_file_ok(const char *f)
{
	uint8_t		 raw[UUID_LEN];
	char		 u[UUID_STRLEN + 1];
	const char	*ext;

	if (f == NULL || strlen(f) < UUID_STRLEN * 2 + 5 ||
	    f[UUID_STRLEN] != '.' || f[UUID_STRLEN * 2 + 1] != '.')
		return (0);
	ext = f + UUID_STRLEN * 2 + 2;
	if (strcmp(ext, "csv") != 0 && strcmp(ext, "jsonl") != 0)
		return (0);
	memcpy(u, f, UUID_STRLEN);
	u[UUID_STRLEN] = '\0';
	if (uuid7_parse(u, raw) == -1)
		return (0);
	memcpy(u, f + UUID_STRLEN + 1, UUID_STRLEN);
	return (uuid7_parse(u, raw) == 0);
}

/* The cleanup: expired files of the tenant, then the rows marked. */
int
jexp_cleanup(struct jrun *w, const char *tenant, char *err, size_t errlen,
    long *removed)
{
	struct jdb_stmt	 s = { "SELECT id::text, result->>'file' FROM crm.jobs "
			    "WHERE tenant_id = $1 AND type = 'export' AND "
			    "result ? 'file' AND NOT result ? 'removed_at' AND "
			    "(result->>'expires_at')::timestamptz < now() "
			    "LIMIT 1000", 1, { tenant }, NULL };
	struct jdb_stmt	 u = { "UPDATE crm.jobs SET result = result || "
			    "jsonb_build_object('removed_at', now()) WHERE "
			    "tenant_id = $1 AND id = ANY($2::uuid[])", 2,
			    { tenant }, NULL };
	struct buf	 ids;
	char		 path[1024];
	const char	*f;
	int		 i, dead;

	*removed = 0;
	if (!jexp_pg_ok(w) || jdb_tx(w->pg, tenant, &s, 1, err, errlen,
	    &dead) == -1)
		return (-1);
	buf_init(&ids, 256);
	buf_appendc(&ids, '{');
	for (i = 0; i < PQntuples(s.res); i++) {
		f = PQgetvalue(s.res, i, 1);
		if (jexp_file_ok(f) && strncmp(f, tenant, UUID_STRLEN) == 0) {
			(void)snprintf(path, sizeof(path), "%s/%s",
			    crm_conf.exports_dir, f);
			if (unlink(path) == 0)
				(*removed)++;
		}
		buf_appendf(&ids, "%s%s", i ? "," : "", PQgetvalue(s.res, i,
		    0));
	}
	buf_appendc(&ids, '}');
	jdb_clear(&s, 1);
	u.p[1] = buf_cstr(&ids);
	i = jdb_tx(w->pg, tenant, &u, 1, err, errlen, &dead);
	jdb_clear(&u, 1);
	buf_free(&ids);
	return (i);
}
