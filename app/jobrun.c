/*
 * jobrun.c: the job runtime of one crm-worker process.
 *
 * jrun_tick() (every CRM_JOB_TICK_MS, and at once when PostgreSQL
 * notifies crm_jobs) moves work from PostgreSQL to Redis: the relay
 * (auth.jobs_relay: due ids, reaped leases), the Redis lease reaper, the
 * recovery of a Redis that lost its data, the scheduled job types, and
 * (process 0) the metrics gauges.  jrun_one() takes one id from Redis,
 * claims the job in PostgreSQL in its tenant's context, runs its handler
 * and records the outcome, fenced by the claim's token.
 *
 * Delivery is at least once: a worker that dies between the handler's
 * effect and the finish leaves a running job whose lease expires, and
 * the job runs again; the handlers are idempotent (a webhook keeps its
 * Crm-Delivery id for the receiver to dedupe, purges delete what is
 * still there).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobdb.h"
#include "keys.h"

#define JRUN_OK		0
#define JRUN_RETRY	1	/* retryable: backoff, then dead */
#define JRUN_FAIL	2	/* permanent: failed */
#define JRUN_DEFER	3	/* not here, not now: queued again, the
				   attempt given back */

#define JRUN_TS(c)							\
	"to_char(" c " AT TIME ZONE 'UTC', "				\
	"'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

struct jrun_job {
	char		 tenant[UUID_STRLEN + 1];
	char		 id[UUID_STRLEN + 1];
	char		 type[64];
	json_t		*payload;
	int		 attempts;
	int		 max;
};

/* What a handler reports, and one statement to commit with the finish. */
struct jrun_out {
	int		 result;
	int		 http;
	char		 error[256];
	struct jdb_stmt	 extra;
	char		 pbuf[8][192];
	char		*heap[2];	/* long parameters, freed after finish */
};

struct jrun_type {
	const char	*name;
	int		 budget;	/* attempts; 0: CRM_WEBHOOK_MAX_ATTEMPTS,
					   -1: CRM_EMAIL_MAX_ATTEMPTS */
	int		 scheduled;	/* made for every tenant by the cron */
	void		(*fn)(struct jrun *, struct jrun_job *,
			    struct jrun_out *);
};

static void	jrun_webhook(struct jrun *, struct jrun_job *,
		    struct jrun_out *);
static void	jrun_purge(struct jrun *, struct jrun_job *,
		    struct jrun_out *);
static void	jrun_sessions(struct jrun *, struct jrun_job *,
		    struct jrun_out *);
static void	jrun_oldjobs(struct jrun *, struct jrun_job *,
		    struct jrun_out *);
static void	jrun_probe(struct jrun *, struct jrun_job *,
		    struct jrun_out *);
static void	jrun_export(struct jrun *, struct jrun_job *,
		    struct jrun_out *);
static void	jrun_exports_gc(struct jrun *, struct jrun_job *,
		    struct jrun_out *);
static void	jrun_email(struct jrun *, struct jrun_job *,
		    struct jrun_out *);
static void	jrun_import(struct jrun *, struct jrun_job *,
		    struct jrun_out *);

/*
 * Every job type.  "probe" does nothing and succeeds: it measures the
 * queue itself (tests/jobs, bench) without a handler's cost.
 */
static const struct jrun_type	jrun_types[] = {
	{ "webhook",		0, 0, jrun_webhook },
	{ "purge_recycle_bin",	3, 1, jrun_purge },
	{ "cleanup_sessions",	3, 1, jrun_sessions },
	{ "cleanup_jobs",	3, 1, jrun_oldjobs },
	{ "probe",		3, 0, jrun_probe },
	{ "export",		3, 0, jrun_export },
	{ "cleanup_exports",	3, 1, jrun_exports_gc },
	{ "email",		-1, 0, jrun_email },
	{ "import",		5, 0, jrun_import },
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * The recycle bin: every entity table with deleted_at, one line each.
 * Rows deleted more than CRM_RECYCLE_BIN_DAYS ago go for good.
 */
static const char *const	jrun_purge_tables[] = {
	"crm.activities", "crm.deals", "crm.leads", "crm.contacts",
	"crm.accounts", "crm.price_books", "crm.products", "crm.pipelines",
};

static const struct jrun_type *
jrun_type(const char *name)
{
	size_t		i;

	for (i = 0; i < NELEM(jrun_types); i++) {
		if (strcmp(jrun_types[i].name, name) == 0)
			return (&jrun_types[i]);
	}
	return (NULL);
}

static int
jrun_budget(const struct jrun_type *t)
{
	if (t == NULL)
		return (1);
	if (t->budget == -1)
		return (crm_conf.email_max_attempts);
	return (t->budget != 0 ? t->budget : crm_conf.webhook_max_attempts);
}

/* {"webhook": 8, ...}: every type's budget, for crm.job_claim. */
static void
jrun_budgets(char *out, size_t len)
{
	size_t		i;
	int		n;

	n = snprintf(out, len, "{");
	for (i = 0; i < NELEM(jrun_types) && n > 0 && (size_t)n < len; i++)
		n += snprintf(out + n, len - (size_t)n, "%s\"%s\": %d",
		    i ? ", " : "", jrun_types[i].name,
		    jrun_budget(&jrun_types[i]));
	if (n > 0 && (size_t)n < len)
		(void)snprintf(out + n, len - (size_t)n, "}");
}

/* Connection care: a failed call drops the connection for a reconnect. */

int
jrun_pg_up(struct jrun *w)
{
	char		err[256];
	const char	*url = crm_conf.worker_database_url;

	if (w->pg != NULL && PQstatus(w->pg) == CONNECTION_OK)
		return (1);
	PQfinish(w->pg);
	if ((w->pg = jdb_connect(url, err, sizeof(err))) == NULL) {
		if (!w->pg_down)	/* one line per outage */
			log_msg(LOG_LVL_WARN, "worker_pg_down", "worker %d: "
			    "postgresql down: %s", w->index, err);
		w->pg_down = 1;
		return (0);
	}
	w->pg_down = 0;
	PQclear(PQexec(w->pg, "LISTEN crm_jobs"));
	if (PQsetnonblocking(w->pg, 0) != 0)
		return (0);
	log_msg(LOG_LVL_INFO, "worker_pg_up", "worker %d: postgresql up",
	    w->index);
	return (1);
}

int
jrun_rd_up(struct jrun *w)
{
	char		err[256];

	if (w->rd != NULL && w->rd->err == 0)
		return (1);
	if (w->rd != NULL)
		redisFree(w->rd);
	if ((w->rd = jq_connect(crm_conf.redis_url, err, sizeof(err))) ==
	    NULL) {
		if (!w->rd_down)
			log_msg(LOG_LVL_WARN, "worker_redis_down", "worker %d: "
			    "redis down: %s", w->index, err);
		w->rd_down = 1;
		return (0);
	}
	w->rd_down = 0;
	log_msg(LOG_LVL_INFO, "worker_redis_up", "worker %d: redis up",
	    w->index);
	return (1);
}

void
jrun_close(struct jrun *w)
{
	PQfinish(w->pg);
	w->pg = NULL;
	if (w->rd != NULL)
		redisFree(w->rd);
	w->rd = NULL;
	explicit_bzero(w->key, sizeof(w->key));
}

static int
jrun_tx(struct jrun *w, const char *tenant, struct jdb_stmt *s, int n,
    const char *what)
{
	char		err[512];
	int		dead;

	if (!jrun_pg_up(w))
		return (-1);
	if (jdb_tx(w->pg, tenant, s, n, err, sizeof(err), &dead) == 0)
		return (0);
	log_msg(LOG_LVL_WARN, "job_db_error", "%s: %s", what, err);
	if (dead) {
		PQfinish(w->pg);
		w->pg = NULL;
	}
	return (-1);
}

static void
jrun_redis_lost(struct jrun *w)
{
	if (w->rd != NULL)
		redisFree(w->rd);
	w->rd = NULL;
}

/* The relay: due ids from PostgreSQL into Redis. */
static void
jrun_relay(struct jrun *w)
{
	struct jdb_stmt	 s = { "SELECT tenant_id::text || ':' || id::text "
			    "FROM auth.jobs_relay($1, $2, $3)", 3, { 0 }, NULL };
	const char	**items;
	char		 per[16], max[16], stale[16];
	long long	 seq = 0;
	int		 i, n;

	(void)snprintf(per, sizeof(per), "%d", crm_conf.job_relay_per_tenant);
	(void)snprintf(max, sizeof(max), "%d", 2000);
	(void)snprintf(stale, sizeof(stale), "%d", crm_conf.job_stale_s);
	s.p[0] = per;
	s.p[1] = max;
	s.p[2] = stale;
	if (jrun_tx(w, NULL, &s, 1, "relay") == -1)
		return;
	n = PQntuples(s.res);
	items = xcalloc((size_t)n + 1, sizeof(*items));
	for (i = 0; i < n; i++)
		items[i] = PQgetvalue(s.res, i, 0);
	if (n > 0 && (seq = jq_push(w->rd, items, n)) == -1) {
		/* Marked pushed but not in Redis: republish on reconnect. */
		log_msg(LOG_LVL_WARN, "job_relay_failed", "redis push of %d "
		    "ids failed; republishing after reconnect", n);
		w->repush = 1;
		jrun_redis_lost(w);
	} else {
		if (seq > w->pushseq)
			w->pushseq = seq;
		__atomic_add_fetch(&w->stats->relayed, (uint64_t)n,
		    __ATOMIC_RELAXED);
	}
	xfree(items);
	jdb_clear(&s, 1);
}

/*
 * Has Redis lost what we pushed?  Yes when our epoch key is gone (a
 * restart without its data, a flush), when the push counter went back
 * below the value our own last push returned (a restart from an AOF a
 * second old: kill -9 loses up to appendfsync's second), or when one of
 * our pushes failed.  Then every queued job is marked for pushing again;
 * duplicates are harmless (the claim drops them).
 */
static void
jrun_recover(struct jrun *w)
{
	struct jdb_stmt	s = { "SELECT auth.jobs_redispatch()", 0, { 0 }, NULL };
	long long	seq;
	int		epoch;

	if ((epoch = jq_epoch_ok(w->rd)) == -1 || (seq = jq_seq(w->rd)) == -1) {
		jrun_redis_lost(w);
		return;
	}
	if (epoch == 1 && !w->repush && seq >= w->pushseq)
		return;
	if (jrun_tx(w, NULL, &s, 1, "redispatch") == -1)
		return;
	log_msg(LOG_LVL_INFO, "job_redispatch", "redis lost queue state "
	    "(%s): %s queued jobs marked for republishing", epoch == 0 ?
	    "no epoch" : w->repush ? "failed push" : "push counter went back",
	    PQgetvalue(s.res, 0, 0));
	jdb_clear(&s, 1);
	if (epoch == 1 || jq_epoch_set(w->rd) == 0) {
		w->repush = 0;
		w->pushseq = 0;
	}
}

static void
jrun_cron(struct jrun *w)
{
	struct jdb_stmt	 s = { "SELECT auth.jobs_schedule($1)", 1, { 0 },
			    NULL };
	char		 key[128];
	size_t		 i;

	for (i = 0; i < NELEM(jrun_types); i++) {
		if (!jrun_types[i].scheduled)
			continue;
		(void)snprintf(key, sizeof(key), RK_JOBS_CRON,
		    jrun_types[i].name);
		if (jq_once(w->rd, key, crm_conf.job_cron_interval_s) != 1)
			continue;
		s.p[0] = jrun_types[i].name;
		if (jrun_tx(w, NULL, &s, 1, "schedule") == 0) {
			log_msg(LOG_LVL_INFO, "job_scheduled", "%s: %s jobs",
			    jrun_types[i].name, PQgetvalue(s.res, 0, 0));
			jdb_clear(&s, 1);
		}
	}
}

static void
jrun_gauges(struct jrun *w)
{
	struct jdb_stmt	s = { "SELECT queued, running, oldest_s "
			    "FROM auth.jobs_stats()", 0, { 0 }, NULL };

	if (jrun_tx(w, NULL, &s, 1, "stats") == 0) {
		w->stats->queued = atoll(PQgetvalue(s.res, 0, 0));
		w->stats->running = atoll(PQgetvalue(s.res, 0, 1));
		w->stats->oldest_s = atof(PQgetvalue(s.res, 0, 2));
		jdb_clear(&s, 1);
	}
	if (w->rd != NULL)
		w->stats->redis_depth = jq_depth(w->rd);
}

/* 0 done (or nothing due yet), -1 a store is down. */
int
jrun_tick(struct jrun *w)
{
	uint64_t	now = crm_now_ms();

	if (!jrun_pg_up(w) || !jrun_rd_up(w))
		return (-1);
	if (w->index == 0 && now >= w->next_stats_ms) {
		w->next_stats_ms = now + 1000;
		jrun_gauges(w);
	}
	jrun_recover(w);
	if (w->rd != NULL)
		jrun_relay(w);
	if (w->rd != NULL && jq_reap(w->rd) == -1)
		jrun_redis_lost(w);
	if (w->rd != NULL)
		jrun_cron(w);
	w->next_tick_ms = now + (uint64_t)crm_conf.job_tick_ms;
	return (w->rd != NULL && w->pg != NULL ? 0 : -1);
}

/* Claim, run, finish. */

static int
jrun_claim(struct jrun *w, struct jrun_job *j)
{
	struct jdb_stmt		 s = { "SELECT type, payload::text, attempts, "
				    "max_attempts FROM crm.job_claim($1, $2, $3, "
				    "$4, $5::jsonb)", 5, { 0 }, NULL };
	char			 lease[16], max[512];
	uint8_t			 rnd[16];
	json_error_t		 e;
	int			 n;

	(void)crm_random(rnd, sizeof(rnd));
	crm_hex(rnd, sizeof(rnd), w->token);
	(void)snprintf(lease, sizeof(lease), "%d", crm_conf.job_lease_s);
	s.p[0] = j->tenant;
	s.p[1] = j->id;
	s.p[2] = lease;
	s.p[3] = w->token;
	s.p[4] = max;
	jrun_budgets(max, sizeof(max));
	if (jrun_tx(w, j->tenant, &s, 1, "claim") == -1)
		return (-1);
	if ((n = PQntuples(s.res)) == 1) {
		(void)snprintf(j->type, sizeof(j->type), "%s",
		    PQgetvalue(s.res, 0, 0));
		j->payload = json_loads(PQgetvalue(s.res, 0, 1), 0, &e);
		j->attempts = atoi(PQgetvalue(s.res, 0, 2));
		j->max = atoi(PQgetvalue(s.res, 0, 3));
	}
	jdb_clear(&s, 1);
	return (n == 1 ? 1 : 0);
}

static void
jrun_finish(struct jrun *w, struct jrun_job *j, struct jrun_out *o)
{
	struct jdb_stmt	 s[3];
	const char	*status;
	char		 http[16], delay[24];
	uint64_t	 rnd = 0, ms = 0;
	int		 n = 0;

	memset(s, 0, sizeof(s));
	if (o->result == JRUN_OK) {
		status = "succeeded";
		__atomic_add_fetch(&w->stats->succeeded, 1, __ATOMIC_RELAXED);
	} else if (o->result == JRUN_FAIL) {
		status = "failed";
		__atomic_add_fetch(&w->stats->failed, 1, __ATOMIC_RELAXED);
	} else if (o->result == JRUN_DEFER) {
		status = "queued";
		(void)crm_random(&rnd, sizeof(rnd));
		ms = 1000 + rnd % 1000;
		s[n].sql = "UPDATE crm.jobs SET attempts = attempts - 1 "
		    "WHERE tenant_id = $1 AND id = $2 AND attempts > 0";
		s[n].n = 2;
		s[n].p[0] = j->tenant;
		s[n++].p[1] = j->id;
	} else if (j->attempts >= j->max) {
		status = "dead";
		__atomic_add_fetch(&w->stats->dead, 1, __ATOMIC_RELAXED);
	} else {
		status = "queued";
		(void)crm_random(&rnd, sizeof(rnd));
		ms = jspec_backoff_ms(j->attempts,
		    (uint64_t)crm_conf.job_backoff_base_ms,
		    (uint64_t)crm_conf.job_backoff_cap_ms, rnd);
		__atomic_add_fetch(&w->stats->retried, 1, __ATOMIC_RELAXED);
	}
	(void)snprintf(http, sizeof(http), "%d", o->http);
	(void)snprintf(delay, sizeof(delay), "%llu", (unsigned long long)ms);
	if (o->extra.sql != NULL)
		s[n++] = o->extra;
	s[n].sql = "SELECT crm.job_finish($1, $2, $3, $4, $5, $6::int, "
	    "$7::bigint)";
	s[n].n = 7;
	s[n].p[0] = j->tenant;
	s[n].p[1] = j->id;
	s[n].p[2] = w->token;
	s[n].p[3] = status;
	s[n].p[4] = o->error[0] ? o->error : NULL;
	s[n].p[5] = o->http ? http : NULL;
	s[n++].p[6] = delay;
	if (jrun_tx(w, j->tenant, s, n, "finish") == 0)
		jdb_clear(s, n);
	log_msg(o->result == JRUN_OK ? LOG_LVL_DEBUG : LOG_LVL_INFO,
	    "job_done", "job %s (%s, tenant %s) attempt %d/%d: %s%s%s",
	    j->id, j->type, j->tenant, j->attempts, j->max, status,
	    o->error[0] ? ": " : "", o->error);
}

/* 1 ran (or dropped) a job, 0 the queue was empty, -1 Redis failed. */
int
jrun_one(struct jrun *w)
{
	struct jrun_job		 j;
	struct jrun_out		 o;
	const struct jrun_type	*t;
	char			 item[JQ_ITEM_LEN + 1];
	int			 rc;

	/* Take nothing that could not be claimed: it would sit leased. */
	if ((w->rd == NULL && !jrun_rd_up(w)) || !jrun_pg_up(w))
		return (-1);
	rc = jq_take(w->rd, crm_conf.job_lease_s * 1000, item);
	if (rc <= 0) {
		if (rc == -1)
			jrun_redis_lost(w);
		return (rc);
	}
	memset(&j, 0, sizeof(j));
	memcpy(j.tenant, item, UUID_STRLEN);
	memcpy(j.id, item + UUID_STRLEN + 1, UUID_STRLEN);
	if ((rc = jrun_claim(w, &j)) == -1) {
		/* PostgreSQL failed: give the id back now, not at lease end. */
		if (w->rd != NULL && jq_release(w->rd, item) == -1)
			jrun_redis_lost(w);
		return (-1);
	}
	if (rc == 1) {
		memset(&o, 0, sizeof(o));
		if ((t = jrun_type(j.type)) == NULL) {
			o.result = JRUN_FAIL;
			(void)snprintf(o.error, sizeof(o.error),
			    "unknown job type");
		} else if (j.payload == NULL) {
			o.result = JRUN_FAIL;
			(void)snprintf(o.error, sizeof(o.error), "bad payload");
		} else {
			t->fn(w, &j, &o);
		}
		jrun_finish(w, &j, &o);
		xfree(o.heap[0]);
		xfree(o.heap[1]);
		json_decref(j.payload);
	}
	if (w->rd != NULL && jq_ack(w->rd, item) == -1)
		jrun_redis_lost(w);
	return (1);
}

/* Handlers. */

static void
jrun_probe(struct jrun *w, struct jrun_job *j, struct jrun_out *o)
{
	o->result = JRUN_OK;
}

/*
 * A clean-up that removed n things: succeeded, with progress n of n,
 * written by the finish's transaction.
 */
static void
jrun_done_count(struct jrun_job *j, struct jrun_out *o, long n)
{
	o->result = JRUN_OK;
	(void)snprintf(o->pbuf[0], sizeof(o->pbuf[0]), "%ld", n);
	o->extra.sql = "UPDATE crm.jobs SET progress = jsonb_build_object("
	    "'done', $3::int, 'total', $3::int) WHERE tenant_id = $1 "
	    "AND id = $2";
	o->extra.n = 3;
	o->extra.p[0] = j->tenant;
	o->extra.p[1] = j->id;
	o->extra.p[2] = o->pbuf[0];
}

static void
jrun_purge(struct jrun *w, struct jrun_job *j, struct jrun_out *o)
{
	struct jdb_stmt	 s[NELEM(jrun_purge_tables)];
	char		 days[16];
	size_t		 i;
	long		 n = 0;

	(void)snprintf(days, sizeof(days), "%d", crm_conf.recycle_bin_days);
	memset(s, 0, sizeof(s));
	for (i = 0; i < NELEM(jrun_purge_tables); i++) {
		s[i].sql = "SELECT crm.purge_deleted($1, $2::regclass, "
		    "$3::int, 5000)";
		s[i].n = 3;
		s[i].p[0] = j->tenant;
		s[i].p[1] = jrun_purge_tables[i];
		s[i].p[2] = days;
	}
	if (jrun_tx(w, j->tenant, s, (int)NELEM(s), "purge") == -1) {
		o->result = JRUN_RETRY;
		(void)snprintf(o->error, sizeof(o->error), "database error");
		return;
	}
	for (i = 0; i < NELEM(s); i++)
		n += atol(PQgetvalue(s[i].res, 0, 0));
	jdb_clear(s, (int)NELEM(s));
	jrun_done_count(j, o, n);
}

static void
jrun_sql_job(struct jrun *w, struct jrun_job *j, struct jrun_out *o,
    const char *const *sql, int n, const char *arg)
{
	struct jdb_stmt	 s[4];
	int		 i;

	memset(s, 0, sizeof(s));
	for (i = 0; i < n; i++) {
		s[i].sql = sql[i];
		s[i].n = arg != NULL ? 2 : 1;
		s[i].p[0] = j->tenant;
		s[i].p[1] = arg;
	}
	if (jrun_tx(w, j->tenant, s, n, j->type) == -1) {
		o->result = JRUN_RETRY;
		(void)snprintf(o->error, sizeof(o->error), "database error");
		return;
	}
	jdb_clear(s, n);
	o->result = JRUN_OK;
}

/*
 * Sessions (and their refresh tokens, by cascade) and password resets a
 * day past their end.
 */
static void
jrun_sessions(struct jrun *w, struct jrun_job *j, struct jrun_out *o)
{
	static const char *const sql[] = {
		"DELETE FROM crm.refresh_tokens WHERE tenant_id = $1 "
		"AND expires_at < now() - interval '1 day'",
		"DELETE FROM crm.sessions WHERE tenant_id = $1 "
		"AND (expires_at < now() - interval '1 day' "
		"OR revoked_at < now() - interval '1 day')",
		"DELETE FROM crm.password_resets WHERE tenant_id = $1 "
		"AND (expires_at < now() - interval '1 day' "
		"OR used_at < now() - interval '1 day')",
	};

	jrun_sql_job(w, j, o, sql, 3, NULL);
}

/* Finished jobs (and so webhook deliveries) past the retention. */
static void
jrun_oldjobs(struct jrun *w, struct jrun_job *j, struct jrun_out *o)
{
	static const char *const sql[] = {
		"DELETE FROM crm.jobs WHERE tenant_id = $1 AND finished_at < "
		"now() - make_interval(days => $2::int)",
	};
	char	days[16];

	(void)snprintf(days, sizeof(days), "%d", crm_conf.job_retention_days);
	jrun_sql_job(w, j, o, sql, 1, days);
}

/* Webhook delivery. */

static const char	jrun_hook_sql[] =
	"SELECT w.url, w.enabled, encode(w.secret_enc, 'hex'), e.type, "
	JRUN_TS("e.created_at") ", e.payload::text "
	"FROM crm.webhooks w JOIN crm.events e ON e.tenant_id = w.tenant_id "
	"AND e.id = $3::uuid WHERE w.tenant_id = $1 AND w.id = $2::uuid";

struct jrun_hook {
	char		*url;
	char		*type;
	struct buf	 body;
	char		 secret[JSEAL_SECRET_LEN + 16];
};

static int
jrun_hook_load(struct jrun *w, struct jrun_job *j, struct jrun_hook *h,
    const char *hook, const char *event, struct jrun_out *o)
{
	struct jdb_stmt	 s = { jrun_hook_sql, 3, { 0 }, NULL };
	uint8_t		 sealed[256];
	const char	*hex;
	size_t		 len;

	s.p[0] = j->tenant;
	s.p[1] = hook;
	s.p[2] = event;
	if (jrun_tx(w, j->tenant, &s, 1, "webhook load") == -1) {
		o->result = JRUN_RETRY;
		(void)snprintf(o->error, sizeof(o->error), "database error");
		return (-1);
	}
	o->result = JRUN_FAIL;
	if (PQntuples(s.res) != 1)
		(void)snprintf(o->error, sizeof(o->error), "the webhook or "
		    "its event no longer exists");
	else if (strcmp(PQgetvalue(s.res, 0, 1), "t") != 0)
		(void)snprintf(o->error, sizeof(o->error), "the webhook is "
		    "disabled");
	else if ((len = strlen(hex = PQgetvalue(s.res, 0, 2)) / 2) >
	    sizeof(sealed) || crm_unhex(hex, sealed, len) != 0 ||
	    jseal_open(w->key, sealed, len, h->secret, sizeof(h->secret)) != 0)
		(void)snprintf(o->error, sizeof(o->error), "the signing "
		    "secret cannot be opened (key file changed?)");
	else
		o->result = JRUN_OK;
	if (o->result == JRUN_OK) {
		h->url = xstrdup(PQgetvalue(s.res, 0, 0));
		h->type = xstrdup(PQgetvalue(s.res, 0, 3));
		buf_appends(&h->body, "{\"id\":\"");
		buf_appends(&h->body, event);
		buf_appends(&h->body, "\",\"type\":");
		js_escape(&h->body, h->type, strlen(h->type));
		buf_appends(&h->body, ",\"created_at\":\"");
		buf_appends(&h->body, PQgetvalue(s.res, 0, 4));
		buf_appends(&h->body, "\",\"data\":");
		buf_appends(&h->body, PQgetvalue(s.res, 0, 5));
		buf_appendc(&h->body, '}');
	}
	jdb_clear(&s, 1);
	return (o->result == JRUN_OK ? 0 : -1);
}

static void
jrun_hook_send(struct jrun *w, struct jrun_job *j, struct jrun_hook *h,
    struct jrun_out *o)
{
	struct jhook_result	 r;
	char			 ts[24], sig[65], hdr[5][160];
	const char		*hdrs[7];

	(void)snprintf(ts, sizeof(ts), "%llu",
	    (unsigned long long)(crm_now_ms() / 1000));
	jseal_sign(h->secret, ts, h->body.data, h->body.len, sig);
	explicit_bzero(h->secret, sizeof(h->secret));
	(void)snprintf(hdr[0], sizeof(hdr[0]), "Crm-Event: %s", h->type);
	(void)snprintf(hdr[1], sizeof(hdr[1]), "Crm-Delivery: %s", j->id);
	(void)snprintf(hdr[2], sizeof(hdr[2]), "Crm-Timestamp: %s", ts);
	(void)snprintf(hdr[3], sizeof(hdr[3]), "Crm-Signature: v1=%s", sig);
	(void)snprintf(hdr[4], sizeof(hdr[4]), "Crm-Attempt: %d",
	    j->attempts);
	hdrs[0] = "Content-Type: application/json";
	hdrs[1] = hdr[0];
	hdrs[2] = hdr[1];
	hdrs[3] = hdr[2];
	hdrs[4] = hdr[3];
	hdrs[5] = hdr[4];
	hdrs[6] = NULL;
	jhook_post(h->url, hdrs, h->body.data, h->body.len, &w->allow, &r);
	o->http = r.status;
	if (r.error[0] == '\0') {
		o->result = JRUN_OK;
		return;
	}
	o->result = r.refused ? JRUN_FAIL : JRUN_RETRY;
	(void)snprintf(o->error, sizeof(o->error), "%s", r.error);
}

/*
 * The delivery's outcome on its subscription commits with the finish
 * (crm.webhook_outcome: failure streak, automatic disabling + audit).
 */
static void
jrun_hook_outcome(struct jrun_job *j, const char *hook, struct jrun_out *o)
{
	char	audit[UUID_STRLEN + 1];

	uuid7_new_str(audit);
	(void)snprintf(o->pbuf[0], sizeof(o->pbuf[0]), "%s", hook);
	(void)snprintf(o->pbuf[1], sizeof(o->pbuf[1]), "%d",
	    crm_conf.webhook_disable_failures);
	(void)snprintf(o->pbuf[2], sizeof(o->pbuf[2]), "%d",
	    crm_conf.webhook_disable_after_s);
	(void)snprintf(o->pbuf[3], sizeof(o->pbuf[3]), "%s", audit);
	o->extra.sql = "SELECT crm.webhook_outcome($1, $2::uuid, $3::boolean, "
	    "$4::int, $5::int, $6::uuid)";
	o->extra.n = 6;
	o->extra.p[0] = j->tenant;
	o->extra.p[1] = o->pbuf[0];
	o->extra.p[2] = o->result == JRUN_OK ? "true" : "false";
	o->extra.p[3] = o->pbuf[1];
	o->extra.p[4] = o->pbuf[2];
	o->extra.p[5] = o->pbuf[3];
}

static void
jrun_webhook(struct jrun *w, struct jrun_job *j, struct jrun_out *o)
{
	struct jrun_hook	 h;
	const char		*hook, *event;
	uint8_t			 raw[UUID_LEN];

	hook = js_get_str(j->payload, "webhook_id");
	event = js_get_str(j->payload, "event_id");
	if (hook == NULL || event == NULL || uuid7_parse(hook, raw) == -1 ||
	    uuid7_parse(event, raw) == -1) {
		o->result = JRUN_FAIL;
		(void)snprintf(o->error, sizeof(o->error), "bad payload");
		return;
	}
	memset(&h, 0, sizeof(h));
	buf_init(&h.body, 1024);
	if (jrun_hook_load(w, j, &h, hook, event, o) == 0) {
		jrun_hook_send(w, j, &h, o);
		jrun_hook_outcome(j, hook, o);
	}
	explicit_bzero(h.secret, sizeof(h.secret));
	xfree(h.url);
	xfree(h.type);
	buf_free(&h.body);
}

/*
 * Exports (app/jobexp.c writes the file).  The result, its audit entry
 * (who, entity, how many rows) and the final progress commit with the
 * finish; the file is already complete and renamed by then, so a result
 * never names a partial file.
 */
static const char	jrun_export_sql[] =
	"WITH a AS (INSERT INTO crm.audit_log (tenant_id, id, actor_id, "
	"actor_kind, action, target_type, target_id, detail) SELECT $1, "
	"$3::uuid, (j.payload->>'actor')::uuid, j.payload->>'actor_kind', "
	"'export.completed', 'job', j.id, jsonb_build_object('entity', "
	"j.payload->>'entity', 'format', j.payload->>'format', 'count', "
	"$4::bigint) FROM crm.jobs j WHERE j.tenant_id = $1 AND j.id = $2) "
	"UPDATE crm.jobs SET result = jsonb_build_object('file', $5::text, "
	"'rows', $4::bigint, 'bytes', $6::bigint, 'format', "
	"payload->>'format', 'expires_at', to_char((now() + make_interval("
	"hours => $7::int)) AT TIME ZONE 'UTC', "
	"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')), progress = "
	"jsonb_build_object('done', $4::bigint, 'total', $4::bigint) "
	"WHERE tenant_id = $1 AND id = $2";

static void
jrun_export(struct jrun *w, struct jrun_job *j, struct jrun_out *o)
{
	struct jexp_result	r;

	if (jexp_run(w, j->tenant, j->id, j->payload, &r) == -1) {
		o->result = r.retry ? JRUN_RETRY : JRUN_FAIL;
		(void)snprintf(o->error, sizeof(o->error), "%s", r.error);
		return;
	}
	o->result = JRUN_OK;
	uuid7_new_str(o->pbuf[0]);
	(void)snprintf(o->pbuf[1], sizeof(o->pbuf[1]), "%lld", r.rows);
	(void)snprintf(o->pbuf[2], sizeof(o->pbuf[2]), "%s", r.file);
	(void)snprintf(o->pbuf[3], sizeof(o->pbuf[3]), "%lld", r.bytes);
	(void)snprintf(o->pbuf[4], sizeof(o->pbuf[4]), "%d",
	    crm_conf.export_ttl_h);
	o->extra.sql = jrun_export_sql;
	o->extra.n = 7;
	o->extra.p[0] = j->tenant;
	o->extra.p[1] = j->id;
	o->extra.p[2] = o->pbuf[0];
	o->extra.p[3] = o->pbuf[1];
	o->extra.p[4] = o->pbuf[2];
	o->extra.p[5] = o->pbuf[3];
	o->extra.p[6] = o->pbuf[4];
	log_msg(LOG_LVL_INFO, "export_done", "export %s (tenant %s): %lld "
	    "rows, %lld bytes", j->id, j->tenant, r.rows, r.bytes);
}

/* Scheduled: export files past CRM_EXPORT_TTL_H go. */
static void
jrun_exports_gc(struct jrun *w, struct jrun_job *j, struct jrun_out *o)
{
	char	err[256];
	long	n;

	if (jexp_cleanup(w, j->tenant, err, sizeof(err), &n) == -1) {
		log_msg(LOG_LVL_WARN, "job_db_error", "cleanup_exports: %s",
		    err);
		o->result = JRUN_RETRY;
		(void)snprintf(o->error, sizeof(o->error), "database error");
		return;
	}
	jrun_done_count(j, o, n);
}

/*
 * E-mail (app/jobmail.c).  A contact e-mail's activity gets the rendered
 * subject and text and "sent", or "failed" once no attempt is left, in
 * the finish's transaction.  Counted for crm_worker_emails_total.
 */
static void
jrun_email_stats(struct jrun *w, const struct jmail_result *r, int sent,
    int failed)
{
	int	i;

	if (failed)
		__atomic_add_fetch(&w->stats->email_failed, 1,
		    __ATOMIC_RELAXED);
	if (!sent)
		return;
	__atomic_add_fetch(&w->stats->email_sent, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&w->stats->email_ms_sum, r->ms, __ATOMIC_RELAXED);
	for (i = 0; i < JMAIL_BUCKETS; i++) {
		if (r->ms <= (uint64_t)jmail_bucket_ms[i])
			__atomic_add_fetch(&w->stats->email_ms_le[i], 1,
			    __ATOMIC_RELAXED);
	}
}

static void
jrun_email(struct jrun *w, struct jrun_job *j, struct jrun_out *o)
{
	struct jmail_result	 r;
	const char		*act, *status = NULL;

	if (jmail_run(w, j->id, j->payload, &r) == 0) {
		o->result = JRUN_OK;
		status = "sent";
	} else {
		o->result = r.retry ? JRUN_RETRY : JRUN_FAIL;
		(void)snprintf(o->error, sizeof(o->error), "%s", r.error);
		if (!r.retry || j->attempts >= j->max)
			status = "failed";
	}
	o->http = r.smtp;
	jrun_email_stats(w, &r, o->result == JRUN_OK, status != NULL &&
	    o->result != JRUN_OK);
	if ((act = js_get_str(j->payload, "activity_id")) != NULL &&
	    status != NULL) {
		(void)snprintf(o->pbuf[0], sizeof(o->pbuf[0]), "%s", act);
		o->heap[0] = r.subject;
		o->heap[1] = r.text;
		r.subject = r.text = NULL;
		o->extra.sql = "UPDATE crm.activities SET status = $3, "
		    "subject = coalesce(left($4, 300), subject), body = "
		    "coalesce($5, body), updated_at = now(), updated_by = "
		    "NULL, version = version + 1 WHERE tenant_id = $1 AND "
		    "id = $2::uuid";
		o->extra.n = 5;
		o->extra.p[0] = j->tenant;
		o->extra.p[1] = o->pbuf[0];
		o->extra.p[2] = status;
		o->extra.p[3] = o->heap[0];
		o->extra.p[4] = o->heap[1];
	}
	jmail_result_free(&r);
}

/*
 * Imports (app/jobimp.c).  Fairness: an import holds its worker process
 * for as long as the file takes, so with more than one process, process 0
 * never runs one (it gives the job back, attempt returned, to be taken
 * again a second or two later by another process) and always stays free
 * for every tenant's webhooks and other short jobs.
 */
static const char	jrun_import_sql[] =
	"WITH a AS (INSERT INTO crm.audit_log (tenant_id, id, actor_id, "
	"actor_kind, action, target_type, target_id, detail) SELECT $1, "
	"$3::uuid, (j.payload->>'actor')::uuid, j.payload->>'actor_kind', "
	"'import.completed', 'job', j.id, jsonb_build_object('entity', "
	"j.payload->>'entity', 'rows', $4::bigint, 'created', $5::bigint, "
	"'updated', $6::bigint, 'failed', $7::bigint) FROM crm.jobs j WHERE "
	"j.tenant_id = $1 AND j.id = $2) "
	"UPDATE crm.jobs SET result = coalesce(result, '{}') - 'checkpoint', "
	"progress = jsonb_build_object('done', $4::bigint, 'total', "
	"$4::bigint) WHERE tenant_id = $1 AND id = $2";

/* A file that is not CSV: the job fails with one error, its position. */
static const char	jrun_import_bad_sql[] =
	"UPDATE crm.jobs SET result = jsonb_build_object('rows', 0, "
	"'created', 0, 'updated', 0, 'skipped', 0, 'failed', 0, "
	"'errors_total', 1, 'errors', jsonb_build_array(jsonb_build_object("
	"'row', $3::bigint, 'field', NULL, 'code', 'malformed_csv', 'detail', "
	"$4::text))) WHERE tenant_id = $1 AND id = $2";

static void
jrun_import(struct jrun *w, struct jrun_job *j, struct jrun_out *o)
{
	struct jimp_result	r;

	if (w->index == 0 && crm_conf.worker_processes > 1) {
		o->result = JRUN_DEFER;
		return;
	}
	o->extra.p[0] = j->tenant;
	o->extra.p[1] = j->id;
	if (jimp_run(w, j->tenant, j->id, j->payload, &r) == -1) {
		o->result = r.retry ? JRUN_RETRY : JRUN_FAIL;
		(void)snprintf(o->error, sizeof(o->error), "%s", r.error);
		if ((!r.retry || j->attempts >= j->max) && r.path[0] != '\0')
			(void)unlink(r.path);
		if (r.malformed) {
			(void)snprintf(o->pbuf[0], sizeof(o->pbuf[0]), "%lld",
			    r.row);
			(void)snprintf(o->pbuf[1], sizeof(o->pbuf[1]), "%s",
			    r.detail);
			o->extra.sql = jrun_import_bad_sql;
			o->extra.n = 4;
			o->extra.p[2] = o->pbuf[0];
			o->extra.p[3] = o->pbuf[1];
		}
		return;
	}
	/* Every row is committed (the checkpoint says so): the file goes. */
	(void)unlink(r.path);
	o->result = JRUN_OK;
	uuid7_new_str(o->pbuf[0]);
	(void)snprintf(o->pbuf[1], sizeof(o->pbuf[1]), "%lld", r.rows);
	(void)snprintf(o->pbuf[2], sizeof(o->pbuf[2]), "%lld", r.created);
	(void)snprintf(o->pbuf[3], sizeof(o->pbuf[3]), "%lld", r.updated);
	(void)snprintf(o->pbuf[4], sizeof(o->pbuf[4]), "%lld", r.failed);
	o->extra.sql = jrun_import_sql;
	o->extra.n = 7;
	o->extra.p[2] = o->pbuf[0];
	o->extra.p[3] = o->pbuf[1];
	o->extra.p[4] = o->pbuf[2];
	o->extra.p[5] = o->pbuf[3];
	o->extra.p[6] = o->pbuf[4];
	log_msg(LOG_LVL_INFO, "import_done", "import %s (tenant %s): %lld "
	    "rows, %lld created, %lld updated, %lld skipped, %lld failed", j->id,
	    j->tenant, r.rows, r.created, r.updated, r.skipped, r.failed);
}
