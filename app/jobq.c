/*
 * jobq.c: the Redis half of the job queue (SECURITY.md 3.7): a reliable
 * queue of job ids, fair across tenants.  PostgreSQL is the system of
 * record; everything here can be lost and rebuilt (jq_epoch_ok()).
 *
 *	jobs:t:<tenant>	list of that tenant's job ids, oldest first
 *	jobs:ring	list of tenants with ids waiting, rotated on every take
 *	jobs:active	set of the tenants in jobs:ring (no duplicates)
 *	jobs:lease	zset "<tenant>:<id>" -> lease deadline (ms): taken,
 *			not yet acknowledged; jq_reap() puts expired ones back
 *	jobs:epoch	present while Redis still has what we pushed
 *	jobs:seq	counts pushes; going backwards means Redis lost
 *			writes (a restart from an AOF a second old)
 *
 * Fairness: a take rotates the ring by one tenant and pops that tenant's
 * oldest id, so each tenant with work gets one job per turn however long
 * its own list is: a tenant with 10,000 waiting delays another tenant's
 * job by at most one job per busy worker.  Each operation is one Lua
 * script, so the queue never half-moves an id.
 */

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jobdb.h"
#include "keys.h"

static const char	jq_push_lua[] =
	"for i, it in ipairs(ARGV) do "
	" local c = string.find(it, ':', 1, true) "
	" local t = string.sub(it, 1, c - 1) "
	" redis.call('RPUSH', '" RK_JOBS_TENANT "' .. t, string.sub(it, c + 1)) "
	" if redis.call('SADD', '" RK_JOBS_ACTIVE "', t) == 1 then "
	"  redis.call('RPUSH', '" RK_JOBS_RING "', t) end "
	"end "
	"return redis.call('INCR', '" RK_JOBS_SEQ "')";

static const char	jq_take_lua[] =
	"local now = redis.call('TIME') "
	"local ms = now[1] * 1000 + math.floor(now[2] / 1000) "
	"for i = 1, redis.call('LLEN', '" RK_JOBS_RING "') do "
	" local t = redis.call('LMOVE', '" RK_JOBS_RING "', '" RK_JOBS_RING
	"', 'LEFT', 'RIGHT') "
	" if not t then return false end "
	" local q = '" RK_JOBS_TENANT "' .. t "
	" local id = redis.call('LPOP', q) "
	" if redis.call('LLEN', q) == 0 then "
	"  redis.call('LREM', '" RK_JOBS_RING "', -1, t) "
	"  redis.call('SREM', '" RK_JOBS_ACTIVE "', t) end "
	" if id then "
	"  redis.call('ZADD', '" RK_JOBS_LEASE "', ms + tonumber(ARGV[1]), "
	"   t .. ':' .. id) "
	"  return t .. ':' .. id end "
	"end "
	"return false";

static const char	jq_reap_lua[] =
	"local now = redis.call('TIME') "
	"local ms = now[1] * 1000 + math.floor(now[2] / 1000) "
	"local due = redis.call('ZRANGEBYSCORE', '" RK_JOBS_LEASE "', '-inf', "
	" ms, 'LIMIT', 0, 200) "
	"for i, it in ipairs(due) do "
	" redis.call('ZREM', '" RK_JOBS_LEASE "', it) "
	" local c = string.find(it, ':', 1, true) "
	" local t = string.sub(it, 1, c - 1) "
	" redis.call('RPUSH', '" RK_JOBS_TENANT "' .. t, string.sub(it, c + 1)) "
	" if redis.call('SADD', '" RK_JOBS_ACTIVE "', t) == 1 then "
	"  redis.call('RPUSH', '" RK_JOBS_RING "', t) end "
	"end "
	"return #due";

static const char	jq_depth_lua[] =
	"local n = 0 "
	"for i, t in ipairs(redis.call('LRANGE', '" RK_JOBS_RING "', 0, -1)) "
	"do n = n + redis.call('LLEN', '" RK_JOBS_TENANT "' .. t) end "
	"return n";

/* %xx in a URL's user or password. */
static int
jq_pct(char *out, size_t outsz, const char *p, const char *end)
{
	size_t		n = 0;
	int		hi, lo;

	for (; p < end; p++) {
		if (n + 1 >= outsz)
			return (-1);
		if (*p == '%') {
			if (end - p < 3 || (hi = crm_hexval(p[1])) < 0 ||
			    (lo = crm_hexval(p[2])) < 0)
				return (-1);
			out[n++] = (char)(hi << 4 | lo);
			p += 2;
		} else {
			out[n++] = *p;
		}
	}
	out[n] = '\0';
	return (0);
}

struct jq_url {
	char	user[128];
	char	pass[256];
	char	host[256];
	int	port;
	int	db;
};

/* redis://[user:password@ | :password@]host[:port][/db] */
static int
jq_url_parse(const char *url, struct jq_url *u)
{
	const char	*p, *end, *at, *colon, *hend;

	memset(u, 0, sizeof(*u));
	u->port = 6379;
	if (strncasecmp(url, "redis://", 8) != 0)
		return (-1);
	p = url + 8;
	end = p + strcspn(p, "/?#");
	if ((at = memrchr(p, '@', (size_t)(end - p))) != NULL) {
		if ((colon = memchr(p, ':', (size_t)(at - p))) == NULL ||
		    jq_pct(u->user, sizeof(u->user), p, colon) == -1 ||
		    jq_pct(u->pass, sizeof(u->pass), colon + 1, at) == -1)
			return (-1);
		p = at + 1;
	}
	if ((hend = memchr(p, ':', (size_t)(end - p))) == NULL)
		hend = end;
	if (hend == p || (size_t)(hend - p) >= sizeof(u->host))
		return (-1);
	memcpy(u->host, p, (size_t)(hend - p));
	if (hend < end && (u->port = atoi(hend + 1)) <= 0)
		return (-1);
	if (end[0] == '/' && end[1] != '\0')
		u->db = atoi(end + 1);
	return (0);
}

static int
jq_ok(redisReply *r)
{
	int	ok = r != NULL && r->type != REDIS_REPLY_ERROR;

	freeReplyObject(r);
	return (ok);
}

redisContext *
jq_connect(const char *url, char *err, size_t errlen)
{
	struct jq_url	 u;
	struct timeval	 tv = { 2, 0 };
	redisContext	*c;
	int		 ok = 1;

	if (jq_url_parse(url, &u) == -1) {
		(void)snprintf(err, errlen, "CRM_REDIS_URL: not a redis:// URL");
		return (NULL);
	}
	if ((c = redisConnectWithTimeout(u.host, u.port, tv)) == NULL ||
	    c->err) {
		(void)snprintf(err, errlen, "%s", c ? c->errstr : "no memory");
		redisFree(c);
		explicit_bzero(&u, sizeof(u));
		return (NULL);
	}
	(void)redisSetTimeout(c, tv);
	if (u.pass[0] != '\0')
		ok = u.user[0] != '\0' ? jq_ok(redisCommand(c, "AUTH %s %s",
		    u.user, u.pass)) : jq_ok(redisCommand(c, "AUTH %s", u.pass));
	if (ok && u.db != 0)
		ok = jq_ok(redisCommand(c, "SELECT %d", u.db));
	explicit_bzero(&u, sizeof(u));
	if (!ok) {
		(void)snprintf(err, errlen, "redis: AUTH or SELECT refused");
		redisFree(c);
		return (NULL);
	}
	return (c);
}

/* Pushes the items; returns the push counter after them, or -1. */
long long
jq_push(redisContext *c, const char *const *items, int n)
{
	redisReply	 *r;
	const char	**argv;
	size_t		 *lens;
	long long	  seq = -1;
	int		  i;

	argv = xcalloc((size_t)n + 3, sizeof(*argv));
	lens = xcalloc((size_t)n + 3, sizeof(*lens));
	argv[0] = "EVAL";
	argv[1] = jq_push_lua;
	argv[2] = "0";
	for (i = 0; i < n; i++)
		argv[i + 3] = items[i];
	for (i = 0; i < n + 3; i++)
		lens[i] = strlen(argv[i]);
	r = redisCommandArgv(c, n + 3, argv, lens);
	if (r != NULL && r->type == REDIS_REPLY_INTEGER)
		seq = r->integer;
	freeReplyObject(r);
	xfree(argv);
	xfree(lens);
	return (seq);
}

/* The push counter now: 0 when Redis has none, -1 on failure. */
long long
jq_seq(redisContext *c)
{
	redisReply	*r;
	long long	 seq = -1;

	r = redisCommand(c, "GET " RK_JOBS_SEQ);
	if (r != NULL && r->type == REDIS_REPLY_NIL)
		seq = 0;
	else if (r != NULL && r->type == REDIS_REPLY_STRING)
		seq = strtoll(r->str, NULL, 10);
	freeReplyObject(r);
	return (seq);
}

int
jq_take(redisContext *c, int lease_ms, char out[JQ_ITEM_LEN + 1])
{
	redisReply	*r;
	int		 got = 0;

	r = redisCommand(c, "EVAL %s 0 %d", jq_take_lua, lease_ms);
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		freeReplyObject(r);
		return (-1);
	}
	if (r->type == REDIS_REPLY_STRING && r->len == JQ_ITEM_LEN) {
		memcpy(out, r->str, JQ_ITEM_LEN);
		out[JQ_ITEM_LEN] = '\0';
		got = 1;
	}
	freeReplyObject(r);
	return (got);
}

int
jq_ack(redisContext *c, const char *item)
{
	return (jq_ok(redisCommand(c, "ZREM " RK_JOBS_LEASE " %s", item)) ?
	    0 : -1);
}

/*
 * Gives a taken id back at once (its claim could not be tried): off the
 * lease set, back at the end of its tenant's list.
 */
int
jq_release(redisContext *c, const char *item)
{
	const char	*items[1] = { item };

	if (jq_ack(c, item) == -1)
		return (-1);
	return (jq_push(c, items, 1) == -1 ? -1 : 0);
}

int
jq_reap(redisContext *c)
{
	return (jq_ok(redisCommand(c, "EVAL %s 0", jq_reap_lua)) ? 0 : -1);
}

long long
jq_depth(redisContext *c)
{
	redisReply	*r;
	long long	 n = -1;

	r = redisCommand(c, "EVAL %s 0", jq_depth_lua);
	if (r != NULL && r->type == REDIS_REPLY_INTEGER)
		n = r->integer;
	freeReplyObject(r);
	return (n);
}

int
jq_epoch_ok(redisContext *c)
{
	redisReply	*r;
	int		 rc = -1;

	r = redisCommand(c, "EXISTS " RK_JOBS_EPOCH);
	if (r != NULL && r->type == REDIS_REPLY_INTEGER)
		rc = r->integer == 1;
	freeReplyObject(r);
	return (rc);
}

int
jq_epoch_set(redisContext *c)
{
	return (jq_ok(redisCommand(c, "SET " RK_JOBS_EPOCH " %llu",
	    (unsigned long long)crm_now_ms())) ? 0 : -1);
}

/* 1 when this caller won the slot named key for secs seconds. */
int
jq_once(redisContext *c, const char *key, int secs)
{
	redisReply	*r;
	int		 rc = -1;

	r = redisCommand(c, "SET %s 1 NX EX %d", key, secs);
	if (r != NULL && r->type == REDIS_REPLY_STATUS)
		rc = 1;
	else if (r != NULL && r->type == REDIS_REPLY_NIL)
		rc = 0;
	freeReplyObject(r);
	return (rc);
}
