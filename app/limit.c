/*
 * limit.c: rate limits, GCRA in one Redis Lua script.
 *
 * Each request is checked against up to four subjects at once (tenant,
 * API key, user, client IP), atomically, in one EVALSHA: a burst from many
 * connections admits at most limit + burst.  The script uses Redis TIME, so
 * clock skew between app hosts cannot move the limits.
 *
 * A subject far from its limit is granted up to LIM_LEASE_MAX tokens at
 * once; the worker keeps the spare ones for half a second (lease.c) and
 * admits the subject's next requests without Redis.  At full speed that
 * takes the limiter's round trip, a fifth of a read's cost, off all but
 * one request in 32.  Leased tokens are charged when granted, so leases
 * never admit more than the limit; near the limit grants are one token
 * and the limiter is exact.  A refusal is kept as long as the script said
 * it lasts (half a second at most), so requests over the limit cost Redis
 * little either.  Login
 * and other fail-closed checks never use the lease table.  Limits are given
 * as a quota per window (default: per minute) with a burst (default: a
 * tenth of the quota).
 *
 * When Redis is down or slow the limiter fails open (the request goes on,
 * a metric and a log line say so); callers that must fail closed (login)
 * ask lim_check() with LIM_CLOSED.
 *
 * Key names come from keys.h.  The reply headers follow the IETF
 * RateLimit header fields draft: RateLimit-Policy lists every subject,
 * RateLimit reports the tightest one, Retry-After comes with every 429.
 */

#include <openssl/sha.h>

#include <hiredis/hiredis.h>

#include <stdio.h>
#include <string.h>

#include "srv.h"
#include "keys.h"

/*
 * KEYS: one per subject.  ARGV: per key its emission interval T (us) and
 * burst B, then the most tokens the caller wants.  A token is available
 * while the key's theoretical arrival time stays within B intervals of
 * now.  The script grants one token, or up to an eighth of the tightest
 * key's available tokens when the caller wants more: a grant never
 * exceeds what is available, and near the limit it is one token, so the
 * limiter stays exact where it matters.  Returns {allowed, wait_us or
 * remaining, reset_us or wait_us, index of the tightest key, granted}.
 */
static const char	lim_lua[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
	"local want = tonumber(ARGV[#ARGV])\n"
	"local wait, avail, tight = 0, nil, 1\n"
	"local tats, ts = {}, {}\n"
	"for i, k in ipairs(KEYS) do\n"
	"  local T = tonumber(ARGV[2 * i - 1])\n"
	"  local B = tonumber(ARGV[2 * i])\n"
	"  local tat = tonumber(redis.call('GET', k) or now)\n"
	"  if tat < now then tat = now end\n"
	"  local a = math.floor((now - tat) / T) + B\n"
	"  if a < 1 then\n"
	"    local w = math.ceil(tat + T - T * B - now)\n"
	"    if w > wait then wait = w; tight = i end\n"
	"  elseif wait == 0 and (avail == nil or a < avail) then\n"
	"    avail = a; tight = i\n"
	"  end\n"
	"  tats[i] = tat; ts[i] = T\n"
	"end\n"
	"if wait > 0 then return {0, wait, wait, tight, 0} end\n"
	"local n = math.min(want, math.max(1, math.floor(avail / 8)))\n"
	"local reset = 0\n"
	"for i, k in ipairs(KEYS) do\n"
	"  local ntat = tats[i] + ts[i] * n\n"
	"  redis.call('SET', k, ntat, 'PX', math.ceil((ntat - now) / 1000) + 1)\n"
	"  if i == tight then reset = ntat - now end\n"
	"end\n"
	"return {1, avail - n, reset, tight, n}\n";

/*
 * Most tokens one grant may lease to a worker.  At 32, a subject at full
 * speed costs one Redis round trip per 32 requests; a larger lease saves
 * little more and holds more tokens a quiet subject may never use.
 */
#define LIM_LEASE_MAX	32
#define LIM_STR2(n)	#n
#define LIM_STR(n)	LIM_STR2(n)

static char	lim_sha[41];

struct lim_state {
	int			nsubj;
	struct lim_subject	subj[LIM_MAXSUBJ];
	int			closed;		/* fail closed if unknown */
	int			allowed;	/* 1 yes, 0 no, -1 unknown */
	int			noscript;
	int			retried;
	long long		wait_us;	/* when refused */
	long long		remaining;	/* when allowed */
	long long		reset_us;
	int			tight;		/* tightest subject */
	int			want;		/* tokens asked for */
	int			granted;	/* tokens the script granted */
	char			id[LIM_MAXSUBJ * 161];	/* lease id */
	rq_fn			next;
};

static int	lim_send(struct rq *, int);

/* SHA-1 of the script, so every call can be an EVALSHA. */
void
lim_worker_init(void)
{
	unsigned char	md[SHA_DIGEST_LENGTH];
	int		i;

	SHA1((const unsigned char *)lim_lua, sizeof(lim_lua) - 1, md);
	for (i = 0; i < SHA_DIGEST_LENGTH; i++)
		(void)snprintf(lim_sha + i * 2, 3, "%02x", md[i]);
}

void
lim_rq_free(struct rq *rq)
{
	xfree(rq->lim);
	rq->lim = NULL;
}

static void
lim_parse(struct rq *rq, struct redisReply *r)
{
	struct lim_state	*st = rq->lim;

	st->allowed = -1;
	if (r != NULL && r->type == REDIS_REPLY_ERROR &&
	    strncmp(r->str, "NOSCRIPT", 8) == 0) {
		st->noscript = 1;
		return;
	}
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 5)
		return;
	st->allowed = r->element[0]->integer == 1;
	st->wait_us = r->element[1]->integer;
	st->remaining = r->element[1]->integer;
	st->reset_us = r->element[2]->integer;
	st->tight = (int)r->element[3]->integer - 1;
	if (st->tight < 0 || st->tight >= st->nsubj)
		st->tight = 0;
	st->granted = (int)r->element[4]->integer;
}

static long long
lim_secs(long long us)
{
	return ((us + 999999) / 1000000);
}

static void
lim_headers(struct rq *rq)
{
	struct lim_state	*st = rq->lim;
	struct buf		 b;
	int			 i;

	buf_init(&b, 128);
	for (i = 0; i < st->nsubj; i++) {
		buf_appendf(&b, "%s\"%s\";q=%d;w=%d", i ? ", " : "",
		    st->subj[i].name, st->subj[i].quota, st->subj[i].window);
	}
	reply_header(rq, "ratelimit-policy", buf_cstr(&b));
	buf_reset(&b);
	buf_appendf(&b, "\"%s\";r=%lld;t=%lld", st->subj[st->tight].name,
	    st->allowed ? st->remaining : 0,
	    lim_secs(st->allowed ? st->reset_us : st->wait_us));
	reply_header(rq, "ratelimit", buf_cstr(&b));
	buf_free(&b);
}

/*
 * What Redis said goes to the worker's lease table: the spare tokens of a
 * grant (they count as this subject's remaining ones in the RateLimit
 * header: the script's figure already has them taken), or a refusal and
 * how long it lasts.
 */
static void
lim_keep(struct lim_state *st)
{
	struct lease_view	v;
	uint64_t		now = crm_now_ms();

	if (st->closed)
		return;
	if (!st->allowed) {
		lease_refuse(st->id, now, st->wait_us, st->tight);
		return;
	}
	if (st->want <= 1)
		return;
	v.remaining = st->remaining;
	v.reset_us = st->reset_us;
	v.tight = st->tight;
	lease_put(st->id, now, st->granted > 1 ? st->granted - 1 : 0, &v);
	if (st->granted > 1)
		st->remaining += st->granted - 1;
}

/* The lease table may answer for Redis: 1 admitted, -1 refused, 0 ask. */
static int
lim_leased(struct rq *rq)
{
	struct lim_state	*st = rq->lim;
	struct lease_view	 v;
	int			 r;

	if (st->closed || (r = lease_take(st->id, crm_now_ms(), &v)) == 0)
		return (0);
	st->allowed = r == 1;
	st->remaining = v.remaining;
	st->reset_us = v.reset_us;
	st->wait_us = v.reset_us;
	st->tight = v.tight < st->nsubj ? v.tight : 0;
	return (r);
}

/* Headers, then the next step or the 429. */
static int
lim_answer(struct rq *rq)
{
	struct lim_state	*st = rq->lim;
	char			 v[32];

	lim_headers(rq);
	if (st->allowed)
		return (st->next(rq));
	(void)snprintf(v, sizeof(v), "%lld", lim_secs(st->wait_us));
	reply_header(rq, "retry-after", v);
	return (reply_problem(rq, PROB_RATE_LIMITED, "rate limit of the %s "
	    "exceeded; retry after %lld s", st->subj[st->tight].name,
	    lim_secs(st->wait_us)));
}

static int
lim_done(struct rq *rq)
{
	struct lim_state	*st = rq->lim;

	if (st->noscript && !st->retried)
		return (lim_send(rq, 1));
	if (st->allowed == -1) {
		met_count(MET_C_LIMITER_FAILOPEN);
		log_msg(LOG_LVL_WARN, "ratelimit", "limiter unavailable, "
		    "failing %s", st->closed ? "closed" : "open");
		if (st->closed) {
			reply_header(rq, "retry-after", "1");
			return (reply_problem(rq, PROB_UNAVAILABLE,
			    "try again shortly"));
		}
		return (st->next(rq));
	}
	lim_keep(st);
	return (lim_answer(rq));
}

/*
 * Build EVALSHA (or EVAL once, after a Redis restart lost the script):
 * per subject its key, then per subject the emission interval in
 * microseconds and the burst, then the cost.
 */
static int
lim_send(struct rq *rq, int eval)
{
	struct lim_state	*st = rq->lim;
	const char		*argv[3 + LIM_MAXSUBJ * 3 + 1];
	size_t			 lens[3 + LIM_MAXSUBJ * 3 + 1];
	char			 num[LIM_MAXSUBJ * 2 + 1][24];
	int			 i, n = 0, k = 0;

	st->retried = eval;
	st->noscript = 0;
	argv[n++] = eval ? "EVAL" : "EVALSHA";
	argv[n++] = eval ? lim_lua : lim_sha;
	(void)snprintf(num[k], sizeof(num[k]), "%d", st->nsubj);
	argv[n++] = num[k++];
	for (i = 0; i < st->nsubj; i++)
		argv[n++] = st->subj[i].key;
	for (i = 0; i < st->nsubj; i++) {
		(void)snprintf(num[k], sizeof(num[k]), "%lld",
		    st->subj[i].window * 1000000LL / st->subj[i].quota);
		argv[n++] = num[k++];
		(void)snprintf(num[k], sizeof(num[k]), "%d", st->subj[i].burst);
		argv[n++] = num[k++];
	}
	argv[n++] = st->want > 1 ? LIM_STR(LIM_LEASE_MAX) : "1";
	for (i = 0; i < n; i++)
		lens[i] = strlen(argv[i]);
	return (rds_cmd_rq(rq, lim_parse, lim_done, n, argv, lens));
}

/* A lease belongs to one set of keys, in order. */
static void
lim_id(struct lim_state *st)
{
	size_t	off = 0;
	int	i;

	st->id[0] = '\0';
	for (i = 0; i < st->nsubj && off < sizeof(st->id); i++)
		off += snprintf(st->id + off, sizeof(st->id) - off, "%s%s",
		    i ? "\n" : "", st->subj[i].key);
}

/*
 * Check the subjects; on success run next(rq), on refusal reply 429.
 * Quotas are already multiplied by the operator's
 * CRM_RATE_LIMIT_MULTIPLIER by the caller (lim_scale()).
 */
int
lim_check(struct rq *rq, const struct lim_subject *subj, int n, int closed,
    rq_fn next)
{
	struct lim_state	*st;
	int			 i;

	if (n <= 0 || n > LIM_MAXSUBJ)
		crm_fatal("lim_check: %d subjects", n);
	if (rq->lim == NULL)
		rq->lim = xcalloc(1, sizeof(*st));
	st = rq->lim;
	memset(st, 0, sizeof(*st));
	memcpy(st->subj, subj, n * sizeof(*subj));
	for (i = 0; i < n; i++) {
		if (st->subj[i].window <= 0)
			st->subj[i].window = 60;
		if (st->subj[i].quota <= 0)
			st->subj[i].quota = 1;
		if (st->subj[i].burst <= 0)
			st->subj[i].burst = MAX(st->subj[i].quota / 10, 1);
	}
	st->nsubj = n;
	st->closed = closed;
	st->next = next;
	lim_id(st);
	if (lim_leased(rq) != 0)
		return (lim_answer(rq));
	st->want = !closed && lease_ask(st->id, crm_now_ms()) ?
	    LIM_LEASE_MAX : 1;
	return (lim_send(rq, 0));
}

int
lim_scale(int n)
{
	double	v = n * crm_conf.rate_limit_multiplier;

	return (v < 1 ? 1 : v > 1e9 ? 1000000000 : (int)v);
}
