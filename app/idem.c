/*
 * idem.c: Idempotency-Key on POST (API.md "Writes accept Idempotency-Key",
 * SECURITY.md 3.7: Stripe's model).
 *
 * A client that did not hear the answer to a POST (timeout, reset) cannot
 * know whether it took effect; sending it again with the same key must not
 * do it twice.  The pipeline step idem_check() runs after permission (so
 * only a caller allowed to do the request holds a key) and after parse (so
 * the body is known), for every authenticated POST that carries the header:
 *
 *	SET idem:<tenant>:<principal>:<key> "P<fingerprint>" NX EX 60 GET
 *
 * one round trip, atomic: either we now own the key (the handler runs, and
 * reply.c hands us the response through idem_capture()), or we get what is
 * there: a request still in flight (409), a finished one (replay), or one
 * with another fingerprint (422).  The fingerprint is SHA-256 over the
 * method, the path, the query string and the body's SHA-256 (Kore computes
 * that one while it reads the body, spooled or not).
 *
 * What is stored (24 h), by status, is the table idem_release[]: a 5xx,
 * 401, 408 or 429 means the request did not run or we cannot know, so the
 * key is released and the client may try again; every other answer, 4xx
 * validation errors included, is replayed as it was (the key is about the
 * request, not its success).  Routes flagged RT_SECRET show a secret once
 * (an API key, an invitation token): their successful replies are never
 * copied into Redis; a repeat gets 409 naming the first status and its
 * Location instead; so does a repeat of a reply over IDEM_BODY_MAX, which
 * would cost Redis (noeviction: its memory is everybody's) more than a
 * client loses by listing what it created.
 *
 * The in-flight marker lives 60 s, longer than any request may (the request
 * timeout is 10 s), so a marker we still own has not expired under us and
 * the plain SET or DEL that ends it cannot hit another request's marker;
 * and a worker killed mid-request wedges its key for at most 60 s.
 *
 * Limits, said plainly: Redis is not the system of record.  A worker killed
 * after the commit but before the SET, or Redis losing its last second of
 * writes, lets a retry run the handler again after the marker expired.
 * When Redis is down, a request with a key gets 503: we cannot promise
 * what the key asks for.  Requests without a key never touch any of this.
 *
 * The stored entry: one state byte ('P' in flight, 'D' done, 'S' done with
 * a secret, 'L' done but large), 64 hex digits of fingerprint; when done,
 * "\n<status>\n", header lines "name: value\n" (idem_headers[]), an empty
 * line, and the body ('D' only).
 */

#include <openssl/sha.h>

#include <hiredis/hiredis.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv.h"
#include "keys.h"

#define IDEM_KEY_MAX		255
#define IDEM_TTL		"86400"		/* seconds a reply is kept */
#define IDEM_INFLIGHT		"60"		/* seconds a marker lives */
#define IDEM_FPLEN		(SHA256_DIGEST_LENGTH * 2)
#define IDEM_HEADER		"idempotency-key"
#define IDEM_BODY_MAX		(256 * 1024)	/* bytes of reply kept */

enum idem_outcome {
	IDEM_DOWN,		/* Redis down, slow, or a strange reply */
	IDEM_OWNED,		/* the key is ours: run the handler */
	IDEM_BUSY,		/* the same request is still in flight */
	IDEM_REUSED,		/* the key was used for another request */
	IDEM_REPLAY,		/* a stored reply to send again */
	IDEM_UNKEPT		/* done, but its reply was not kept */
};

struct idem_state {
	char			 rkey[sizeof(RK_IDEM) + 2 * UUID_STRLEN +
				    IDEM_KEY_MAX];
	char			 fp[IDEM_FPLEN + 1];
	enum idem_outcome	 outcome;
	int			 owned;		/* we hold the marker */
	char			*entry;		/* the stored entry, a copy */
	size_t			 entrylen;
};

/* Response headers that belong to the reply and so are replayed. */
static const char	*idem_headers[] = {
	"content-location", "etag", "last-modified", "link", "location"
};

/*
 * Statuses whose reply is not kept: the request did not run (401: the
 * credential failed its check in PostgreSQL; 429: a handler's own limit)
 * or may not have (5xx).  The key is released so a retry runs anew.
 */
static const struct {
	int	lo, hi;
} idem_release[] = {
	{ 401, 401 }, { 408, 408 }, { 429, 429 }, { 500, 599 }
};

void
idem_rq_free(struct rq *rq)
{
	if (rq->idem == NULL)
		return;
	xfree(rq->idem->entry);
	xfree(rq->idem);
	rq->idem = NULL;
}

/* 1..255 printable ASCII; Kore already refused empty values with 400. */
static int
idem_key_ok(const char *k)
{
	size_t	i;

	for (i = 0; k[i] != '\0'; i++) {
		if (i >= IDEM_KEY_MAX || k[i] < 0x20 || k[i] > 0x7e)
			return (0);
	}
	return (i > 0);
}

static void
idem_fingerprint(struct rq *rq, char out[IDEM_FPLEN + 1])
{
	SHA256_CTX	ctx;
	uint8_t		md[SHA256_DIGEST_LENGTH];
	const char	*q = pipe_query(rq);

	SHA256_Init(&ctx);
	SHA256_Update(&ctx, "POST\n", 5);
	SHA256_Update(&ctx, rq->req->path, strlen(rq->req->path));
	SHA256_Update(&ctx, "\n", 1);
	if (q != NULL)
		SHA256_Update(&ctx, q, strlen(q));
	SHA256_Update(&ctx, "\n", 1);
	if (rq->req->http_body_length > 0)
		SHA256_Update(&ctx, rq->req->http_body_digest,
		    sizeof(rq->req->http_body_digest));
	SHA256_Final(md, &ctx);
	crm_hex(md, sizeof(md), out);
}

/* What the SET ... NX GET answered; copies what a replay needs. */
static void
idem_parse(struct rq *rq, struct redisReply *r)
{
	struct idem_state	*st = rq->idem;

	st->outcome = IDEM_DOWN;
	if (r == NULL)
		return;
	if (r->type == REDIS_REPLY_NIL) {
		st->outcome = IDEM_OWNED;
		st->owned = 1;
		return;
	}
	if (r->type != REDIS_REPLY_STRING || r->len < 1 + IDEM_FPLEN ||
	    strchr("PDSL", r->str[0]) == NULL) {
		log_msg(LOG_LVL_ERROR, "idempotency", "unexpected reply "
		    "type %d for an idempotency key", r->type);
		return;
	}
	if (memcmp(r->str + 1, st->fp, IDEM_FPLEN) != 0)
		st->outcome = IDEM_REUSED;
	else if (r->str[0] == 'P')
		st->outcome = IDEM_BUSY;
	else
		st->outcome = r->str[0] == 'D' ? IDEM_REPLAY : IDEM_UNKEPT;
	if (st->outcome == IDEM_REPLAY || st->outcome == IDEM_UNKEPT) {
		st->entry = xmalloc(r->len + 1);
		memcpy(st->entry, r->str, r->len);
		st->entry[r->len] = '\0';
		st->entrylen = r->len;
	}
}

/*
 * Splits a stored entry into status, headers (queued on the reply) and
 * body; returns the status, or -1 when the entry is damaged.
 */
static int
idem_unpack(struct rq *rq, const char **ctype, const char **body,
    size_t *len)
{
	struct idem_state	*st = rq->idem;
	char			*p, *end, *nl, *colon;
	int			 status;

	p = st->entry + 1 + IDEM_FPLEN;
	end = st->entry + st->entrylen;
	*ctype = NULL;
	if (*p++ != '\n' || (status = (int)strtol(p, &p, 10)) < 100 ||
	    status > 599 || *p++ != '\n')
		return (-1);
	while (p < end && *p != '\n') {
		if ((nl = memchr(p, '\n', end - p)) == NULL ||
		    (colon = memchr(p, ':', nl - p)) == NULL || colon[1] != ' ')
			return (-1);
		*nl = *colon = '\0';
		if (strcmp(p, "content-type") == 0)
			*ctype = colon + 2;
		else
			reply_header(rq, p, colon + 2);
		p = nl + 1;
	}
	if (p >= end)
		return (-1);
	*body = p + 1;
	*len = (size_t)(end - p - 1);
	return (status);
}

/* The credential was confirmed in PostgreSQL: send the first reply again. */
static int
idem_replay(struct rq *rq)
{
	const char	*ctype, *body;
	size_t		 len;
	int		 status;

	if (!db_ok(rq))
		return (db_reply_error(rq));
	if ((status = idem_unpack(rq, &ctype, &body, &len)) == -1) {
		log_msg(LOG_LVL_ERROR, "idempotency", "damaged entry");
		return (reply_problem(rq, PROB_INTERNAL, NULL));
	}
	reply_header(rq, "idempotent-replayed", "true");
	return (reply_raw(rq, status, ctype, body, len));
}

/*
 * A replay answers without the handler's transaction, which is where a
 * revoked credential is caught: confirm the principal first, as reply.c
 * does before any 4xx.
 */
static int
idem_replay_check(struct rq *rq)
{
	struct db_batch	*b;

	if (rq->verified)
		return (idem_replay(rq));
	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, "SELECT 1");
	return (db_run(rq, b, idem_replay));
}

/* The reply was not kept: say what happened the first time, and why. */
static int
idem_unkept(struct rq *rq)
{
	int		 large = rq->idem->entry[0] == 'L';
	const char	*ctype, *body;
	size_t		 len;
	int		 status;

	if ((status = idem_unpack(rq, &ctype, &body, &len)) == -1)
		status = 0;
	return (reply_problem(rq, PROB_CONFLICT, "a request with this "
	    "Idempotency-Key was already answered %d; that reply %s and is "
	    "not replayed", status, large ? "was too large to keep" :
	    "showed a secret once"));
}

static int
idem_decided(struct rq *rq)
{
	switch (rq->idem->outcome) {
	case IDEM_OWNED:
		return (PIPE_NEXT);
	case IDEM_BUSY:
		reply_header(rq, "retry-after", "1");
		return (reply_problem(rq, PROB_CONFLICT, "a request with this "
		    "Idempotency-Key is still in progress; retry shortly"));
	case IDEM_REUSED:
		return (reply_problem(rq, PROB_IDEMPOTENCY_KEY_REUSED, "this "
		    "Idempotency-Key was used for a different request (method, "
		    "path or body) within the last 24 hours"));
	case IDEM_REPLAY:
		return (idem_replay_check(rq));
	case IDEM_UNKEPT:
		return (idem_unkept(rq));
	case IDEM_DOWN:
		break;
	}
	reply_header(rq, "retry-after", "1");
	return (reply_problem(rq, PROB_UNAVAILABLE, "idempotency keys are "
	    "unavailable; retry shortly, or send the request without one"));
}

/*
 * The pipeline step.  Only authenticated POSTs honour the header: public
 * POSTs (sign-up, login) have no principal to scope a key to, and other
 * methods are idempotent by HTTP or by If-Match.
 */
int
idem_check(struct rq *rq)
{
	struct idem_state	*st;
	const char		*k, *argv[7];
	char			 val[1 + IDEM_FPLEN + 1];
	int			 i;
	size_t			 lens[7];

	if (rq->req->method != HTTP_METHOD_POST ||
	    strcmp(rq->route->perm, "public") == 0 ||
	    rq->who.kind == PRINC_NONE ||
	    (k = pipe_header(rq, IDEM_HEADER)) == NULL)
		return (PIPE_NEXT);
	if (!idem_key_ok(k))
		return (reply_problem(rq, PROB_BAD_REQUEST, "the "
		    "Idempotency-Key header must be 1 to %d printable ASCII "
		    "characters", IDEM_KEY_MAX));
	st = rq->idem = xcalloc(1, sizeof(*st));
	(void)snprintf(st->rkey, sizeof(st->rkey), RK_IDEM, rq->who.tenant,
	    rq->who.user, k);
	idem_fingerprint(rq, st->fp);
	(void)snprintf(val, sizeof(val), "P%s", st->fp);
	argv[0] = "SET";
	argv[1] = st->rkey;
	argv[2] = val;
	argv[3] = "NX";
	argv[4] = "EX";
	argv[5] = IDEM_INFLIGHT;
	argv[6] = "GET";
	for (i = 0; i < 7; i++)
		lens[i] = strlen(argv[i]);
	return (rds_cmd_rq(rq, idem_parse, idem_decided, 7, argv, lens));
}

/* After the reply: a failed SET or DEL leaves the marker to its TTL. */
static void
idem_stored(struct redisReply *r, void *arg)
{
	if (r == NULL || r->type == REDIS_REPLY_ERROR)
		log_msg(LOG_LVL_WARN, "idempotency", "could not %s a key: %s",
		    arg != NULL ? "store" : "release",
		    r == NULL ? "redis down" : "error reply");
}

static int
idem_keep(int status)
{
	size_t	i;

	for (i = 0; i < sizeof(idem_release) / sizeof(idem_release[0]); i++) {
		if (status >= idem_release[i].lo && status <= idem_release[i].hi)
			return (0);
	}
	return (1);
}

/* Is this queued header part of the stored reply?  Unkept: Location only. */
static int
idem_kept_header(const char *name, int unkept)
{
	size_t	i;

	if (unkept)
		return (strcasecmp(name, "location") == 0);
	for (i = 0; i < sizeof(idem_headers) / sizeof(idem_headers[0]); i++) {
		if (strcasecmp(name, idem_headers[i]) == 0)
			return (1);
	}
	return (0);
}

static void
idem_pack(struct rq *rq, struct buf *e, int status, const char *ctype,
    const void *data, size_t len)
{
	size_t		 off = 0;
	const char	*name, *value;
	char		 state = 'D';

	/* Only a success shows the secret; errors are replayed as usual. */
	if ((rq->route->flags & RT_SECRET) && status < 300)
		state = 'S';
	else if (len > IDEM_BODY_MAX)
		state = 'L';
	buf_appendf(e, "%c%s\n%d\n", state, rq->idem->fp, status);
	if (ctype != NULL && state == 'D')
		buf_appendf(e, "content-type: %s\n", ctype);
	while (off < rq->hdrs.len) {
		name = rq->hdrs.data + off;
		off += strlen(name) + 1;
		value = rq->hdrs.data + off;
		off += strlen(value) + 1;
		if (idem_kept_header(name, state != 'D'))
			buf_appendf(e, "%s: %s\n", name, value);
	}
	buf_appendc(e, '\n');
	if (state == 'D' && len > 0)
		buf_append(e, data, len);
}

/*
 * reply.c calls this for every reply, once, as it is sent: a request that
 * owns a key stores its reply under it (or releases the key).  Fire and
 * forget: the request is ending, and hiredis copied the command.
 */
void
idem_capture(struct rq *rq, int status, const char *ctype, const void *data,
    size_t len)
{
	struct idem_state	*st = rq->idem;
	struct buf		 e;
	const char		*argv[5];
	size_t			 lens[5];

	if (st == NULL || !st->owned)
		return;
	st->owned = 0;
	argv[1] = st->rkey;
	lens[1] = strlen(st->rkey);
	if (!idem_keep(status)) {
		argv[0] = "DEL";
		lens[0] = 3;
		(void)rds_cmd(idem_stored, NULL, 2, argv, lens);
		return;
	}
	buf_init(&e, 128 + len);
	idem_pack(rq, &e, status, ctype, data, len);
	argv[0] = "SET";
	argv[2] = e.data;
	argv[3] = "EX";
	argv[4] = IDEM_TTL;
	lens[0] = 3;
	lens[2] = e.len;
	lens[3] = 2;
	lens[4] = strlen(IDEM_TTL);
	(void)rds_cmd(idem_stored, "store", 5, argv, lens);
	buf_free(&e);
}
