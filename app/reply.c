/*
 * reply.c: every response the service sends, and nothing else.
 *
 * JSON goes out through js.c (Kore 4.1.0's JSON writer does not escape
 * strings); errors go out as RFC 9457 problems built from problem.c's one
 * table, stamped with the request id.  Handlers queue extra headers with
 * reply_header(); they are written when the reply is sent, after the
 * headers every response carries (a handler's Cache-Control replaces the
 * default no-store).  Every reply passes reply_raw(), which is where a
 * request holding an Idempotency-Key hands its reply to idem.c.
 */

#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "srv.h"

#define CT_JSON		"application/json; charset=utf-8"
#define CT_PROBLEM	"application/problem+json; charset=utf-8"

/* Pending headers are stored as "name\0value\0" pairs in rq->hdrs. */
void
reply_header(struct rq *rq, const char *name, const char *value)
{
	buf_append(&rq->hdrs, name, strlen(name) + 1);
	buf_append(&rq->hdrs, value, strlen(value) + 1);
}

static void
reply_headers(struct rq *rq, const char *ctype)
{
	size_t		 off = 0;
	const char	*name, *value;

	http_response_header(rq->req, "x-request-id", rq->id);
	if (ctype != NULL)
		http_response_header(rq->req, "content-type", ctype);
	if (!reply_has_header(rq, "cache-control"))
		http_response_header(rq->req, "cache-control", "no-store");
	http_response_header(rq->req, "x-content-type-options", "nosniff");
	while (off < rq->hdrs.len) {
		name = rq->hdrs.data + off;
		off += strlen(name) + 1;
		value = rq->hdrs.data + off;
		off += strlen(value) + 1;
		http_response_header(rq->req, name, value);
	}
}

int
reply_raw(struct rq *rq, int status, const char *ctype, const void *data,
    size_t len)
{
	if (rq->done)
		crm_fatal("second reply to request %s", rq->id);
	reply_headers(rq, ctype);
	http_response(rq->req, status, data, len);
	idem_capture(rq, status, ctype, data, len);
	rq->status = status;
	rq->done = 1;
	return (RQ_DONE);
}

/*
 * A file, sent by Kore from its file reference (sendfile, or a mapping
 * under TLS): never read into the worker's memory, however big.  -1 (and
 * nothing sent) when the file cannot be opened.  Never idempotent-captured:
 * only GETs send files.
 */
int
reply_file(struct rq *rq, int status, const char *ctype, const char *path)
{
	struct kore_server	*srv = rq->req->owner->owner->server;
	struct kore_fileref	*ref;
	struct stat		 st;
	int			 fd;

	if (rq->done)
		crm_fatal("second reply to request %s", rq->id);
	if ((ref = kore_fileref_get(path, srv->tls)) == NULL) {
		if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
			return (-1);
		if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
		    (ref = kore_fileref_create(srv, path, fd, st.st_size,
		    &st.st_mtim)) == NULL) {
			(void)close(fd);
			return (-1);
		}
	}
	reply_headers(rq, ctype);
	http_response_fileref(rq->req, status, ref);
	rq->status = status;
	rq->done = 1;
	return (RQ_DONE);
}

int
reply_json(struct rq *rq, int status, json_t *body)
{
	struct buf	out;

	if (body == NULL) {	/* a builder failed; it logged why */
		return (reply_problem(rq, PROB_INTERNAL, NULL));
	}
	buf_init(&out, 512);
	js_dump_buf(body, &out);
	json_decref(body);
	reply_raw(rq, status, CT_JSON, out.data, out.len);
	buf_free(&out);
	return (RQ_DONE);
}

int
reply_empty(struct rq *rq, int status)
{
	return (reply_raw(rq, status, NULL, NULL, 0));
}

/*
 * Every error of every layer ends here.  Headers the status requires by
 * RFC (WWW-Authenticate on 401, Retry-After on 429/503) are added when the
 * caller did not set a more precise one.
 */
/*
 * A 4xx for an authenticated request whose credential PostgreSQL has not
 * yet confirmed (it was answered before any transaction: permission,
 * validation, rate limit) waits for that confirmation first, so a revoked
 * credential always gets 401, never a 403 or 422 that would tell it more.
 */
static int
reply_parked(struct rq *rq)
{
	json_t	*p = rq->parked;

	rq->parked = NULL;
	if (!db_ok(rq)) {
		json_decref(p);
		return (db_reply_error(rq));
	}
	rq->verified = 1;
	return (reply_problem_json(rq, p));
}

static int
reply_park(struct rq *rq, json_t *p)
{
	struct db_batch	*b;

	rq->parked = p;
	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, "SELECT 1");
	return (db_run(rq, b, reply_parked));
}

int
reply_problem_json(struct rq *rq, json_t *p)
{
	struct buf	out;
	int		status;

	status = problem_status(p);
	if (rq->who.kind != PRINC_NONE && !rq->verified && status >= 400 &&
	    status < 500 && status != 401 && rq->who.tenant[0] != '\0')
		return (reply_park(rq, p));
	problem_set_request_id(p, rq->id);
	if (status == 401 && !reply_has_header(rq, "www-authenticate"))
		reply_header(rq, "www-authenticate", "Bearer");
	if ((status == 503 || status == 429) &&
	    !reply_has_header(rq, "retry-after"))
		reply_header(rq, "retry-after", "1");
	buf_init(&out, 256);
	js_dump_buf(p, &out);
	json_decref(p);
	reply_raw(rq, status, CT_PROBLEM, out.data, out.len);
	buf_free(&out);
	return (RQ_DONE);
}

int
reply_problem(struct rq *rq, enum problem_code code, const char *fmt, ...)
{
	va_list		 ap;
	char		 detail[512];
	json_t		*p;

	if (fmt == NULL)
		return (reply_problem_json(rq, problem_new(code, NULL)));
	va_start(ap, fmt);
	(void)vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	p = problem_new(code, "%s", detail);
	return (reply_problem_json(rq, p));
}

int
reply_has_header(struct rq *rq, const char *name)
{
	size_t		 off = 0;
	const char	*n;

	while (off < rq->hdrs.len) {
		n = rq->hdrs.data + off;
		if (strcasecmp(n, name) == 0)
			return (1);
		off += strlen(n) + 1;
		off += strlen(rq->hdrs.data + off) + 1;
	}
	return (0);
}
