/*
 * limit.c: rate limits, GCRA in one Redis Lua script.
 *
 * Each request is checked against up to four subjects at once (tenant,
 * API key, user, client IP), atomically, in one EVALSHA: a burst from many
 * connections admits exactly limit + burst.  The script uses Redis TIME, so
 * clock skew between app hosts cannot move the limits.  Limits are given
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
 * burst B, then the cost.  Returns {allowed, wait_us or remaining, reset_us,
 * index of the tightest key}.
 */
static const char	lim_lua[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
	"local cost = tonumber(ARGV[#ARGV])\n"
	"local wait, rem, reset, tight = 0, nil, 0, 1\n"
	"local tats = {}\n"
	"for i, k in ipairs(KEYS) do\n"
	"  local T = tonumber(ARGV[2 * i - 1])\n"
	"  local B = tonumber(ARGV[2 * i])\n"
	"  local tat = tonumber(redis.call('GET', k) or now)\n"
	"  if tat < now then tat = now end\n"
	"  local ntat = tat + T * cost\n"
	"  local allow_at = ntat - T * B\n"
	"  if now < allow_at then\n"
	"    if allow_at - now > wait then wait = allow_at - now; tight = i end\n"
	"  else\n"
	"    local r = math.floor((now - allow_at) / T)\n"
	"    if rem == nil or r < rem then rem = r; reset = ntat - now; tight = i end\n"
	"  end\n"
	"  tats[i] = ntat\n"
	"end\n"
	"if wait > 0 then return {0, wait, wait, tight} end\n"
	"for i, k in ipairs(KEYS) do\n"
	"  redis.call('SET', k, tats[i], 'PX', math.ceil((tats[i] - now) / 1000) + 1)\n"
	"end\n"
	"return {1, rem, reset, tight}\n";

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
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 4)
		return;
	st->allowed = r->element[0]->integer == 1;
	st->wait_us = r->element[1]->integer;
	st->remaining = r->element[1]->integer;
	st->reset_us = r->element[2]->integer;
	st->tight = (int)r->element[3]->integer - 1;
	if (st->tight < 0 || st->tight >= st->nsubj)
		st->tight = 0;
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

static int
lim_done(struct rq *rq)
{
	struct lim_state	*st = rq->lim;
	char			 v[32];

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
	lim_headers(rq);
	if (st->allowed)
		return (st->next(rq));
	(void)snprintf(v, sizeof(v), "%lld", lim_secs(st->wait_us));
	reply_header(rq, "retry-after", v);
	return (reply_problem(rq, PROB_RATE_LIMITED, "rate limit of the %s "
	    "exceeded; retry after %lld s", st->subj[st->tight].name,
	    lim_secs(st->wait_us)));
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
	argv[n++] = "1";
	for (i = 0; i < n; i++)
		lens[i] = strlen(argv[i]);
	return (rds_cmd_rq(rq, lim_parse, lim_done, n, argv, lens));
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
	return (lim_send(rq, 0));
}

int
lim_scale(int n)
{
	double	v = n * crm_conf.rate_limit_multiplier;

	return (v < 1 ? 1 : v > 1e9 ? 1000000000 : (int)v);
}
