/*
 * db.c: every conversation with PostgreSQL on the request path.
 *
 * We run our own small pool on Kore's event loop instead of Kore's pgsql
 * module, for three measured reasons (see README "Why not Kore's pgsql"):
 *
 *  1. Kore connects with the blocking PQconnectdb(): while PostgreSQL is
 *     down or slow, a whole worker freezes.  We connect with
 *     PQconnectStartParams() and poll from epoll.
 *  2. Kore hands a connection that is still inside a transaction to the next
 *     request, with the previous tenant's app.tenant_id in force (SECURITY.md
 *     finding 2).  Our release guard rolls back or closes such a connection.
 *  3. A tenant transaction is BEGIN, set_config, the work and COMMIT: four
 *     round trips through Kore's one-query-at-a-time API.  We send a whole
 *     batch in one libpq pipeline: one round trip per request.
 *
 * Lifetimes: a batch belongs to its request (rq->batch) and is freed with it
 * or by the next db_batch().  A db_wait is the in-flight operation; if the
 * request goes away first, db_rq_free() detaches it and the results are
 * drained and dropped when they arrive.  A connection is owned by the pool;
 * a request borrows it for one batch, or for a whole DB_TX_OPEN
 * transaction, and gives it back through db_release(), the one place that
 * checks the transaction state.
 */

#include <sys/epoll.h>
#include <sys/queue.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv.h"

#define DB_EVT_TYPE		101
#define DB_QUEUE_MAX		2048
#define DB_CONNECT_MS		3000
#define DB_BACKOFF_MIN_MS	100
#define DB_BACKOFF_MAX_MS	2000
#define DB_TICK_MS		100
#define DB_PREP_MAX		256	/* prepared statements per connection */

/* What each command sent in a pipeline was, to route its result. */
#define DBI_CTX			-1	/* BEGIN, tenant context, principal */
#define DBI_PREPARE		-2	/* Parse of a new prepared statement */
#define DBI_COMMIT		-3

enum dbc_state {
	DBC_CONNECTING,
	DBC_IDLE,
	DBC_BUSY,	/* a batch is in flight */
	DBC_BOUND,	/* idle, but inside a request's open transaction */
	DBC_CLEANING	/* rolling back before it can be reused */
};

/*
 * A statement prepared on one connection.  Statements are prepared the
 * first time a connection sees their text, inside the same pipeline, so
 * preparing costs no round trip; pgbench -M prepared is the baseline we
 * measure against, and planning is most of a short query's cost.
 */
struct db_prep {
	uint64_t		 hash;
	char			*sql;		/* NULL: free slot */
	int			 ready;		/* the server confirmed it */
};

struct db_item {
	int			 kind;		/* statement index or DBI_* */
	int			 slot;		/* db_prep slot for DBI_PREPARE */
};

struct db_conn {
	struct kore_event	 evt;		/* must be first: epoll data */
	PGconn			*pg;
	enum dbc_state		 state;
	int			 fd;
	int			 mask;		/* registered epoll events */
	int			 in_tx;		/* our BEGIN was sent */
	uint64_t		 since;
	struct db_wait		*op;
	struct rq		*owner;		/* DBC_BOUND */
	struct db_prep		 prep[DB_PREP_MAX];
	int			 nprep;
	int			 prep_failed;
	TAILQ_ENTRY(db_conn)	 list;
};

struct db_wait {
	struct rq		*rq;		/* NULL once the request left */
	struct db_batch		*batch;		/* NULL once the request left */
	struct db_conn		*conn;
	rq_fn			 next;
	struct db_item		*items;		/* one per command sent */
	int			 nitems;
	int			 itemcap;
	int			 cur;		/* item being read */
	int			 checked;	/* principal check was sent */
	uint64_t		 deadline;
	TAILQ_ENTRY(db_wait)	 list;
};

TAILQ_HEAD(db_conn_list, db_conn);
TAILQ_HEAD(db_wait_list, db_wait);

static struct db_conn_list	db_conns = TAILQ_HEAD_INITIALIZER(db_conns);
static struct db_wait_list	db_queue = TAILQ_HEAD_INITIALIZER(db_queue);
static int			db_nconns;
static int			db_nqueued;
static int			db_busy;
static uint64_t			db_down_until;
static int			db_backoff = DB_BACKOFF_MIN_MS;
struct db_hooks			db_hooks;
static char			db_options[256];
static char			db_on[] = "on", db_off[] = "off";

static void	db_event(void *, int);
static void	db_conn_close(struct db_conn *, const char *);
static void	db_conn_idle(struct db_conn *);
static void	db_start(struct db_conn *, struct db_wait *);
static void	db_finish(struct db_wait *, int);
static void	db_watch(struct db_conn *, int);
static void	db_tick(void *, u_int64_t);

/*
 * Session settings of every pool connection.  DateStyle ISO: reads are
 * rendered from PostgreSQL's text output (ent_render).  Generic plans:
 * every entity table is hash-partitioned by tenant, and under the default
 * plan_cache_mode a generic plan looks 16 partitions expensive, so each
 * execution of a prepared statement was planned anew (measured: a deal
 * get 310 us of PostgreSQL CPU, a 20-row list 445 us); the generic plan
 * prunes at executor start-up to the tenant's partition and the same
 * statements take 175 and 270 us.
 */
void
db_worker_init(void)
{
	(void)snprintf(db_options, sizeof(db_options),
	    "-c statement_timeout=%d -c idle_in_transaction_session_timeout=%d "
	    "-c DateStyle=ISO -c plan_cache_mode=force_generic_plan",
	    crm_conf.db_statement_timeout_ms,
	    crm_conf.request_timeout_ms * 2);
	kore_timer_add(db_tick, DB_TICK_MS, NULL, 0);
	met_set_gauge(MET_G_DB_SIZE, 0);
}

int
db_pool_in_use(void)
{
	return (db_busy);
}

int
db_pool_size(void)
{
	return (db_nconns);
}

int
db_available(void)
{
	return (crm_now_ms() >= db_down_until);
}

/* Batches: statements and their parameters, owned by the request. */

static void
db_batch_free(struct db_batch *b)
{
	int		i;

	if (b == NULL)
		return;
	for (i = 0; i < b->nstmts; i++) {
		if (b->stmts[i].res != NULL)
			PQclear(b->stmts[i].res);
	}
	for (i = 0; i < b->nparams; i++)
		xfree(b->vals[i]);
	xfree(b->stmts);
	xfree(b->vals);
	xfree(b->errmsg);
	xfree(b->errconstraint);
	xfree(b->errcolumn);
	xfree(b);
}

struct db_batch *
db_batch(struct rq *rq, int flags)
{
	struct db_batch		*b;

	db_batch_free(rq->batch);
	b = xcalloc(1, sizeof(*b));
	b->flags = flags;
	b->failed = -1;
	rq->batch = b;
	return (b);
}

int
db_stmt(struct db_batch *b, const char *sql)
{
	if (b->nstmts == b->stmtcap) {
		b->stmtcap = b->stmtcap ? b->stmtcap * 2 : 8;
		b->stmts = xrealloc(b->stmts, b->stmtcap * sizeof(*b->stmts));
	}
	b->stmts[b->nstmts].sql = sql;
	b->stmts[b->nstmts].nparams = 0;
	b->stmts[b->nstmts].first = b->nparams;
	b->stmts[b->nstmts].res = NULL;
	return (b->nstmts++);
}

static void
db_param_push(struct db_batch *b, char *v)
{
	if (b->nstmts == 0)
		crm_fatal("db_param before db_stmt");
	if (b->nparams == b->paramcap) {
		b->paramcap = b->paramcap ? b->paramcap * 2 : 16;
		b->vals = xrealloc(b->vals, b->paramcap * sizeof(*b->vals));
	}
	b->vals[b->nparams++] = v;
	b->stmts[b->nstmts - 1].nparams++;
}

void
db_param(struct db_batch *b, const char *v)
{
	db_param_push(b, v == NULL ? NULL : xstrdup(v));
}

void
db_paramn(struct db_batch *b, const char *v, size_t len)
{
	db_param_push(b, v == NULL ? NULL : xstrndup(v, len));
}

void
db_paramf(struct db_batch *b, const char *fmt, ...)
{
	va_list		ap;
	char		*s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		crm_fatal("vasprintf");
	va_end(ap);
	db_param_push(b, xstrdup(s));
	free(s);
}

PGresult *
db_res(struct rq *rq, int i)
{
	if (rq->batch == NULL || i < 0 || i >= rq->batch->nstmts)
		return (NULL);
	return (rq->batch->stmts[i].res);
}

int
db_ok(struct rq *rq)
{
	return (rq->batch != NULL && rq->batch->failed == -1 &&
	    !rq->batch->unavailable);
}

/* Connections. */

static void
db_watch(struct db_conn *c, int events)
{
	events |= EPOLLIN | EPOLLRDHUP;
	if (c->mask == events)
		return;
	kore_platform_event_schedule(c->fd, events, 0, c);
	c->mask = events;
}

/*
 * libpq closes its socket itself when it sees EOF; a closed fd has already
 * left epoll, and Kore's disable_read() is fatal on it.  So only unregister
 * a socket libpq still holds.
 */
static void
db_unwatch(struct db_conn *c)
{
	if (c->mask != 0 && c->fd != -1 && c->pg != NULL &&
	    PQsocket(c->pg) == c->fd)
		kore_platform_disable_read(c->fd);
	c->mask = 0;
}

static void
db_mark_down(const char *why)
{
	uint64_t	now = crm_now_ms();

	if (now >= db_down_until)
		log_msg(LOG_LVL_WARN, "db_down", "postgresql unavailable: %s",
		    why);
	db_down_until = now + db_backoff + (random() % (db_backoff / 2 + 1));
	db_backoff = MIN(db_backoff * 2, DB_BACKOFF_MAX_MS);
}

static void
db_conn_open(void)
{
	struct db_conn		*c;
	const char		*keys[] = { "dbname", "application_name",
				    "options", NULL };
	const char		*vals[] = { crm_conf.database_url, "crm",
				    db_options, NULL };

	c = xcalloc(1, sizeof(*c));
	c->evt.type = DB_EVT_TYPE;
	c->evt.handle = db_event;
	c->fd = -1;
	c->state = DBC_CONNECTING;
	c->since = crm_now_ms();
	c->pg = PQconnectStartParams(keys, vals, 1);
	TAILQ_INSERT_TAIL(&db_conns, c, list);
	db_nconns++;
	met_set_gauge(MET_G_DB_SIZE, db_nconns);

	if (c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD) {
		db_conn_close(c, "connect failed at start");
		return;
	}
	c->fd = PQsocket(c->pg);
	db_watch(c, EPOLLOUT);
}

/* Server notices (e.g. "terminating connection") go to our log. */
static void
db_notice(void *arg, const char *msg)
{
	log_msg(LOG_LVL_WARN, "db_notice", "%.*s", (int)strcspn(msg, "\n"),
	    msg);
}

/*
 * Drive PQconnectPoll().  libpq may switch sockets while it tries several
 * addresses; a closed fd has already left epoll, so we only re-register.
 */
static void
db_connect_step(struct db_conn *c)
{
	PostgresPollingStatusType	st;
	int				fd;

	st = PQconnectPoll(c->pg);
	fd = PQsocket(c->pg);
	if (fd != c->fd) {
		c->fd = fd;
		c->mask = 0;
	}
	switch (st) {
	case PGRES_POLLING_READING:
		db_watch(c, 0);
		break;
	case PGRES_POLLING_WRITING:
		db_watch(c, EPOLLOUT);
		break;
	case PGRES_POLLING_OK:
		PQsetNoticeProcessor(c->pg, db_notice, NULL);
		if (PQsetnonblocking(c->pg, 1) != 0 ||
		    PQenterPipelineMode(c->pg) != 1) {
			db_conn_close(c, "cannot enter pipeline mode");
			return;
		}
		db_backoff = DB_BACKOFF_MIN_MS;
		db_down_until = 0;
		db_watch(c, 0);
		db_conn_idle(c);
		break;
	default:
		db_conn_close(c, "connect failed");
		break;
	}
}

static void
db_fail_queue(void)
{
	struct db_wait	*w;

	while ((w = TAILQ_FIRST(&db_queue)) != NULL) {
		TAILQ_REMOVE(&db_queue, w, list);
		db_nqueued--;
		if (w->batch != NULL)
			w->batch->unavailable = 1;
		db_finish(w, 0);
	}
}

/*
 * Close a connection and fail whatever it carried.  When no connection is
 * left the queue fails too: nobody would serve it before the backoff ends.
 */
static void
db_conn_close(struct db_conn *c, const char *why)
{
	struct db_wait	*w;
	struct rq	*owner;
	int		 i;

	db_unwatch(c);
	if (c->pg != NULL)
		PQfinish(c->pg);
	c->pg = NULL;
	for (i = 0; i < DB_PREP_MAX; i++)
		xfree(c->prep[i].sql);
	if (c->state == DBC_BUSY || c->state == DBC_CLEANING ||
	    c->state == DBC_BOUND)
		db_busy--;
	if ((owner = c->owner) != NULL)
		owner->conn = NULL;
	TAILQ_REMOVE(&db_conns, c, list);
	met_count(MET_C_DB_CONN_CLOSED);
	db_nconns--;
	met_set_gauge(MET_G_DB_SIZE, db_nconns);
	met_set_gauge(MET_G_DB_IN_USE, db_busy);

	if ((w = c->op) != NULL) {
		w->conn = NULL;
		if (w->batch != NULL)
			w->batch->unavailable = 1;
		db_finish(w, 0);
	}
	if (c->state == DBC_CONNECTING || db_nconns == 0) {
		db_mark_down(why);
		if (db_nconns == 0)
			db_fail_queue();
	} else {
		log_msg(LOG_LVL_WARN, "db_conn_closed", "%s", why);
	}
	xfree(c);
}

/* A connection became free: give it to the oldest waiting batch. */
static void
db_conn_idle(struct db_conn *c)
{
	struct db_wait	*w;

	c->state = DBC_IDLE;
	c->owner = NULL;
	c->op = NULL;
	c->in_tx = 0;
	met_set_gauge(MET_G_DB_IN_USE, db_busy);
	if ((w = TAILQ_FIRST(&db_queue)) != NULL) {
		TAILQ_REMOVE(&db_queue, w, list);
		db_nqueued--;
		db_busy++;
		db_start(c, w);
	}
}

/*
 * The release guard.  A connection returns to the pool only when the
 * server says it is outside any transaction; otherwise we roll back first
 * (asynchronously, in the pipeline) and close it if even that fails.
 */
static void
db_release(struct db_conn *c)
{
	PGTransactionStatusType	ts;

	ts = PQtransactionStatus(c->pg);
	if (ts == PQTRANS_IDLE) {
		db_busy--;
		db_conn_idle(c);
		return;
	}
	if (ts == PQTRANS_UNKNOWN || ts == PQTRANS_ACTIVE) {
		db_conn_close(c, "released in an unknown state");
		return;
	}
	met_count(MET_C_DB_GUARD_ROLLBACK);
	c->state = DBC_CLEANING;
	c->owner = NULL;
	c->op = NULL;
	if (PQsendQueryParams(c->pg, "ROLLBACK", 0, NULL, NULL, NULL, NULL,
	    0) != 1 || PQpipelineSync(c->pg) != 1) {
		db_conn_close(c, "rollback send failed");
		return;
	}
	if (PQflush(c->pg) == 1)
		db_watch(c, EPOLLOUT);
}

/* Prepared statements, by text. */

static uint64_t
db_hash(const char *s)
{
	uint64_t	h = 1469598103934665603ULL;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return (h);
}

/* The slot of sql, or of the free slot where it would go; -1 when full. */
static int
db_prep_slot(struct db_conn *c, const char *sql, uint64_t h)
{
	int	i, n;

	for (n = 0, i = h % DB_PREP_MAX; n < DB_PREP_MAX;
	    n++, i = (i + 1) % DB_PREP_MAX) {
		if (c->prep[i].sql == NULL)
			return (i);
		if (c->prep[i].hash == h && strcmp(c->prep[i].sql, sql) == 0)
			return (i);
	}
	return (-1);
}

static void
db_item(struct db_wait *w, int kind, int slot)
{
	if (w->nitems == w->itemcap) {
		w->itemcap = w->itemcap ? w->itemcap * 2 : 16;
		w->items = xrealloc(w->items, w->itemcap * sizeof(*w->items));
	}
	w->items[w->nitems].kind = kind;
	w->items[w->nitems++].slot = slot;
}

/*
 * Send one statement, prepared when the connection has room for it.  The
 * statement name is its slot: "s<slot>" exists on this connection exactly
 * while prep[slot].sql is set.
 */
static int
db_send(struct db_conn *c, struct db_wait *w, int kind, const char *sql,
    int n, char **vals)
{
	const char *const	*v = (const char *const *)vals;
	uint64_t		 h = db_hash(sql);
	char			 name[16];
	int			 slot;

	if (c->nprep >= DB_PREP_MAX * 3 / 4 ||
	    (slot = db_prep_slot(c, sql, h)) == -1) {
		db_item(w, kind, -1);
		return (PQsendQueryParams(c->pg, sql, n, NULL, v, NULL, NULL,
		    0) == 1);
	}
	(void)snprintf(name, sizeof(name), "s%d", slot);
	if (c->prep[slot].sql == NULL) {
		c->prep[slot].sql = xstrdup(sql);
		c->prep[slot].hash = h;
		c->prep[slot].ready = 0;
		c->nprep++;
		if (PQsendPrepare(c->pg, name, sql, n, NULL) != 1)
			return (0);
		db_item(w, DBI_PREPARE, slot);
	}
	db_item(w, kind, -1);
	return (PQsendQueryPrepared(c->pg, name, n, v, NULL, NULL, 0) == 1);
}

/*
 * The tenant context statement.  With set_config() the tenant travels as
 * a bind parameter.  On Citus set_config() does not reach the shards, so
 * the SET LOCAL form is used there; SET LOCAL takes no parameter, so the
 * literal is our own re-formatting of a parsed UUID, never request text
 * (and it is not prepared: its text differs per tenant).
 */
static int
db_send_context(struct db_conn *c, struct db_wait *w, int readonly)
{
	struct rq	*rq = w->rq;
	uint8_t		 raw[UUID_LEN];
	char		 uuid[UUID_STRLEN + 1], sql[96];
	char		*vals[3];

	if (uuid7_parse(rq->who.tenant, raw) == -1)
		return (0);
	uuid7_fmt(raw, uuid);
	if (crm_conf.tenant_guc_mode == 1) {
		(void)snprintf(sql, sizeof(sql),
		    "SET LOCAL app.tenant_id = '%s'", uuid);
		db_item(w, DBI_CTX, -1);
		return (PQsendQueryParams(c->pg, sql, 0, NULL, NULL, NULL,
		    NULL, 0) == 1);
	}
	vals[0] = uuid;
	vals[1] = rq->who.user[0] ? rq->who.user : NULL;
	vals[2] = readonly ? db_on : db_off;
	return (db_send(c, w, DBI_CTX, "SELECT set_config('app.tenant_id', "
	    "$1, true), set_config('app.user_id', coalesce($2, ''), true), "
	    "set_config('transaction_read_only', $3, true)", 3, vals));
}

/*
 * The principal check (identity module): one more statement in the same
 * round trip that verifies the session or API key is still valid, so a
 * revocation takes effect on the very next request.  With ctx set, the
 * statement also sets the tenant context and read-only mode itself.
 */
static int
db_send_principal(struct db_conn *c, struct db_wait *w, int ctx)
{
	const char	*sql;
	char		*vals[DB_HOOK_PARAMS];
	char		 store[DB_HOOK_PARAMS][48];
	int		 n;

	if (db_hooks.principal == NULL)
		return (ctx ? -1 : 1);
	n = db_hooks.principal(w->rq, w->batch->flags, ctx, &sql, vals, store);
	if (n < 0)
		return (ctx ? -1 : 1);
	w->checked = 1;
	return (db_send(c, w, DBI_CTX, sql, n, vals));
}

/*
 * A single batch in set_config mode needs no BEGIN or COMMIT: up to its
 * Sync a pipeline is one implicit transaction, committed at the Sync or
 * rolled back on any error, and set_config(..., true) lasts exactly that
 * long (measured: the next pipeline sees no tenant).  That saves two of the
 * five statements of a typical request; the principal statement saves a
 * third by setting the context itself (sql/007_request_begin.sql).
 */
static int
db_send_implicit(struct db_conn *c, struct db_wait *w)
{
	struct db_batch	*b = w->batch;
	int		 ro = (b->flags & DB_READONLY) != 0, rc;

	if (PQtransactionStatus(c->pg) != PQTRANS_IDLE)
		return (0);
	if (b->flags & DB_NOTENANT) {
		if (!ro)
			return (1);
		return (db_send(c, w, DBI_CTX, "SELECT set_config("
		    "'transaction_read_only', 'on', true)", 0, NULL));
	}
	if (w->rq->who.tenant[0] == '\0')
		return (0);
	if ((rc = db_send_principal(c, w, 1)) != -1)
		return (rc);
	return (db_send_context(c, w, ro));
}

/* Explicit transactions: DB_TX_OPEN (several round trips) and Citus. */
static int
db_send_explicit(struct db_conn *c, struct db_wait *w)
{
	struct db_batch	*b = w->batch;

	if (c->in_tx)
		return (1);
	if (PQtransactionStatus(c->pg) != PQTRANS_IDLE)
		return (0);
	/*
	 * Reads run READ ONLY, except for API keys: their principal check
	 * records the key's last use.
	 */
	if (!db_send(c, w, DBI_CTX, (b->flags & DB_READONLY) &&
	    w->rq->who.kind != PRINC_APIKEY ? "BEGIN READ ONLY" : "BEGIN",
	    0, NULL))
		return (0);
	c->in_tx = 1;
	if (b->flags & DB_NOTENANT)
		return (1);
	if (w->rq->who.tenant[0] == '\0')
		return (0);
	return (db_send_context(c, w, 0) && db_send_principal(c, w, 0));
}

static int
db_implicit(const struct db_conn *c, const struct db_batch *b)
{
	return ((b->flags & DB_TX) && !(b->flags & DB_TX_OPEN) && !c->in_tx &&
	    crm_conf.tenant_guc_mode == 0);
}

static int
db_send_all(struct db_conn *c, struct db_wait *w)
{
	struct db_batch	*b = w->batch;
	struct db_stmt	*s;
	int		 i, implicit = db_implicit(c, b);

	if (implicit && !db_send_implicit(c, w))
		return (0);
	if (!implicit && (b->flags & (DB_TX | DB_TX_OPEN)) &&
	    !db_send_explicit(c, w))
		return (0);
	for (i = 0; i < b->nstmts; i++) {
		s = &b->stmts[i];
		if (!db_send(c, w, i, s->sql, s->nparams, b->vals + s->first))
			return (0);
	}
	if (!implicit && (b->flags & DB_TX) &&
	    !db_send(c, w, DBI_COMMIT, "COMMIT", 0, NULL))
		return (0);
	return (PQpipelineSync(c->pg) == 1);
}

static void
db_start(struct db_conn *c, struct db_wait *w)
{
	c->state = DBC_BUSY;
	c->op = w;
	c->since = crm_now_ms();
	w->conn = c;
	met_set_gauge(MET_G_DB_IN_USE, db_busy);
	if (w->batch == NULL || w->rq == NULL) {
		c->op = NULL;
		db_finish(w, 0);
		db_release(c);
		return;
	}
	if (!db_send_all(c, w)) {
		log_msg(LOG_LVL_ERROR, "db_send", "%s", PQerrorMessage(c->pg));
		db_conn_close(c, "send failed");
		return;
	}
	if (PQflush(c->pg) == 1)
		db_watch(c, EPOLLOUT);
}

/*
 * Queue a batch.  Returns RQ_WAIT with the request asleep, or, when no
 * connection can be had now, marks the batch unavailable and runs the
 * continuation at once so callers have a single code path.
 */
int
db_run(struct rq *rq, struct db_batch *b, rq_fn next)
{
	struct db_wait	*w;
	struct db_conn	*c;

	w = xcalloc(1, sizeof(*w));
	w->rq = rq;
	w->batch = b;
	w->next = next;
	w->deadline = rq->deadline_ms;
	rq->dbw = w;
	rq->next = next;
	http_request_sleep(rq->req);

	if ((c = rq->conn) != NULL) {		/* inside an open tx */
		c->state = DBC_BUSY;
		db_start(c, w);
		return (RQ_WAIT);
	}
	TAILQ_FOREACH(c, &db_conns, list) {
		if (c->state == DBC_IDLE)
			break;
	}
	if (c != NULL) {
		db_busy++;
		db_start(c, w);
		return (RQ_WAIT);
	}
	if (!db_available() || db_nqueued >= DB_QUEUE_MAX) {
		b->unavailable = 1;
		rq->dbw = NULL;
		rq->next = NULL;
		xfree(w);
		http_request_wakeup(rq->req);
		return (next(rq));
	}
	TAILQ_INSERT_TAIL(&db_queue, w, list);
	db_nqueued++;
	if (db_nconns < crm_conf.db_pool_max)
		db_conn_open();
	return (RQ_WAIT);
}

/* Receiving. */

static void
db_record_error(struct db_wait *w, PGresult *res, int idx)
{
	struct db_batch	*b = w->batch;
	const char	*st, *msg, *con, *col;

	if (b == NULL || b->failed != -1)
		return;
	st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	con = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
	col = PQresultErrorField(res, PG_DIAG_COLUMN_NAME);
	b->failed = idx >= 0 ? idx : b->nstmts;
	(void)snprintf(b->sqlstate, sizeof(b->sqlstate), "%s",
	    st ? st : "XX000");
	b->errmsg = xstrdup(msg ? msg : "unknown error");
	if (con != NULL)
		b->errconstraint = xstrdup(con);
	if (col != NULL)
		b->errcolumn = xstrdup(col);
}

/*
 * An earlier statement of the pipeline failed, so the server skipped this
 * Parse: the statement does not exist there and must not be used by name.
 * The emptied slot may sit inside another statement's probe chain; that
 * statement is then simply prepared again in a free slot.
 */
static void
db_prep_forget(struct db_conn *c, int slot)
{
	xfree(c->prep[slot].sql);
	c->prep[slot].sql = NULL;
	c->prep[slot].ready = 0;
	c->nprep--;
}

/* Route one result by what its command was. */
static void
db_store(struct db_conn *c, struct db_wait *w, PGresult *res)
{
	ExecStatusType	 st = PQresultStatus(res);
	struct db_item	 it = { DBI_CTX, -1 };
	int		 ok;

	if (w->cur < w->nitems)
		it = w->items[w->cur];
	ok = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
	if (it.kind == DBI_PREPARE) {
		if (ok)
			c->prep[it.slot].ready = 1;
		else if (st != PGRES_PIPELINE_ABORTED)
			c->prep_failed = 1;
		else
			db_prep_forget(c, it.slot);
		if (!ok && st != PGRES_PIPELINE_ABORTED)
			log_msg(LOG_LVL_ERROR, "db_prepare", "%s: %s",
			    PQresultErrorField(res, PG_DIAG_SQLSTATE),
			    PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
	}
	if (!ok && st != PGRES_PIPELINE_ABORTED)
		db_record_error(w, res, it.kind);
	if (ok && it.kind >= 0 && w->batch != NULL &&
	    it.kind < w->batch->nstmts && w->batch->stmts[it.kind].res == NULL) {
		w->batch->stmts[it.kind].res = res;
		return;
	}
	PQclear(res);
}

/* The batch is complete (ok) or dead; wake its request. */
static void
db_finish(struct db_wait *w, int ok)
{
	struct rq	*rq = w->rq;

	if (rq != NULL && ok && w->checked && w->batch != NULL &&
	    w->batch->failed == -1 && !w->batch->unavailable)
		rq->verified = 1;
	if (rq != NULL) {
		rq->dbw = NULL;
		rq->next = w->next;
		pipe_wake(rq);
	}
	xfree(w->items);
	xfree(w);
}

static void
db_op_complete(struct db_conn *c)
{
	struct db_wait	*w = c->op;
	struct db_batch	*b = w->batch;
	struct rq	*rq = w->rq;
	int		 keep;

	c->op = NULL;
	keep = rq != NULL && b != NULL && (b->flags & DB_TX_OPEN) &&
	    !(b->flags & DB_TX) && b->failed == -1;
	if (keep) {
		c->state = DBC_BOUND;
		c->owner = rq;
		rq->conn = c;
		db_finish(w, 1);
		return;
	}
	if (rq != NULL)
		rq->conn = NULL;
	c->in_tx = 0;
	db_finish(w, 1);
	/*
	 * A failed Parse left our statement cache ahead of the server's; such
	 * failures are bugs, not traffic, so the connection simply goes.
	 */
	if (c->prep_failed)
		db_conn_close(c, "a statement failed to prepare");
	else
		db_release(c);
}

static int
db_cleaning_done(struct db_conn *c)
{
	if (PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
		db_conn_close(c, "rollback did not end the transaction");
		return (0);
	}
	db_busy--;
	db_conn_idle(c);
	return (1);
}

/*
 * Read what arrived.  Each statement's results end with one NULL from
 * PQgetResult(); two NULLs in a row mean nothing more is readable now (on a
 * broken connection libpq keeps answering NULL, so the second one must stop
 * the loop).  Returns 0 when the connection was closed (and freed).
 */
static int
db_read(struct db_conn *c)
{
	PGresult	*res;
	int		 nulls = 0;

	if (!PQconsumeInput(c->pg)) {
		db_conn_close(c, "connection lost");
		return (0);
	}
	while (!PQisBusy(c->pg)) {
		if (PQstatus(c->pg) == CONNECTION_BAD) {
			db_conn_close(c, "connection broken");
			return (0);
		}
		if ((res = PQgetResult(c->pg)) == NULL) {
			if (++nulls > 1)
				break;
			if (c->op != NULL)
				c->op->cur++;
			continue;
		}
		nulls = 0;
		if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			if (c->state == DBC_CLEANING)
				return (db_cleaning_done(c));
			if (c->op != NULL)
				db_op_complete(c);
			return (1);
		}
		if (c->op != NULL)
			db_store(c, c->op, res);
		else
			PQclear(res);
	}
	return (1);
}

static void
db_event(void *arg, int err)
{
	struct db_conn	*c = arg;

	c->evt.flags &= ~(KORE_EVENT_READ | KORE_EVENT_WRITE);
	if (c->state == DBC_CONNECTING) {
		db_connect_step(c);
		return;
	}
	switch (PQflush(c->pg)) {
	case -1:
		db_conn_close(c, "flush failed");
		return;
	case 1:
		db_watch(c, EPOLLOUT);
		break;
	default:
		db_watch(c, 0);
		break;
	}
	/* Read what is there first: the server's last words explain a hangup. */
	if (db_read(c) && err)
		db_conn_close(c, "connection closed by the server");
}

/*
 * The request went away (client closed, timeout).  Detach everything so no
 * callback touches the freed request; the connection finishes its pipeline
 * and goes back through the release guard.
 */
void
db_rq_free(struct rq *rq)
{
	struct db_conn	*c;

	if (rq->dbw != NULL) {
		rq->dbw->rq = NULL;
		rq->dbw->batch = NULL;
		rq->dbw = NULL;
	}
	if ((c = rq->conn) != NULL) {
		rq->conn = NULL;
		c->owner = NULL;
		if (c->state == DBC_BOUND) {
			c->state = DBC_BUSY;
			db_release(c);
		}
	}
	db_batch_free(rq->batch);
	rq->batch = NULL;
}

/*
 * Every DB_TICK_MS: fail batches past their request deadline, close
 * connections stuck connecting, and let queued requests time out.  A stuck
 * connection is closed rather than cancelled: PQcancel() blocks.
 */
static void
db_tick(void *arg, u_int64_t now)
{
	struct db_conn	*c, *cn;
	struct db_wait	*w, *wn;

	now = crm_now_ms();
	for (c = TAILQ_FIRST(&db_conns); c != NULL; c = cn) {
		cn = TAILQ_NEXT(c, list);
		if (c->state == DBC_CONNECTING && now - c->since > DB_CONNECT_MS)
			db_conn_close(c, "connect timeout");
		else if (c->state == DBC_BUSY && c->op != NULL &&
		    now > c->op->deadline)
			db_conn_close(c, "request deadline passed");
		else if (c->state == DBC_CLEANING &&
		    now - c->since > DB_CONNECT_MS)
			db_conn_close(c, "rollback timeout");
	}
	for (w = TAILQ_FIRST(&db_queue); w != NULL; w = wn) {
		wn = TAILQ_NEXT(w, list);
		if (now > w->deadline || w->rq == NULL) {
			TAILQ_REMOVE(&db_queue, w, list);
			db_nqueued--;
			if (w->batch != NULL)
				w->batch->unavailable = 1;
			db_finish(w, 0);
		}
	}
}

/*
 * SQLSTATE -> problem.  Our own SQL functions raise class "CR" codes
 * (CR401, CR403, CR404, CR409, CR422) so that authorization decisions made
 * in SQL reach the client with the right status.
 */
static const struct {
	const char		*state;		/* prefix match */
	enum problem_code	 code;
	const char		*detail;
} db_errmap[] = {
	{ "CR401", PROB_UNAUTHENTICATED, "the credential is not valid" },
	{ "CR4TS", PROB_TENANT_SUSPENDED, "this company is suspended: "
	    "reading works, changes do not" },
	{ "CR403", PROB_FORBIDDEN, "not allowed" },
	{ "CR404", PROB_NOT_FOUND, "no such resource" },
	{ "CR409", PROB_CONFLICT, NULL },
	{ "CR422", PROB_VALIDATION_FAILED, NULL },
	{ "23505", PROB_CONFLICT, "a record with this value already exists" },
	{ "23503", PROB_VALIDATION_FAILED, "a referenced record does not exist" },
	{ "23502", PROB_VALIDATION_FAILED, "a required value is missing" },
	{ "23514", PROB_VALIDATION_FAILED, "a value is out of range" },
	{ "22", PROB_BAD_REQUEST, "a value has the wrong format" },
	{ "42501", PROB_NOT_FOUND, "no such resource" },
	{ "40", PROB_UNAVAILABLE, "concurrent update, please retry" },
	{ "57014", PROB_UNAVAILABLE, "the query took too long" },
	{ "08", PROB_UNAVAILABLE, "the database is unavailable" },
	{ "57P", PROB_UNAVAILABLE, "the database is unavailable" },
	{ "53", PROB_UNAVAILABLE, "the database is overloaded" },
};

/*
 * A CR422 raised with USING COLUMN names the field (and CONSTRAINT its
 * error code): rules checked in SQL reach the client like the engine's
 * own validation errors, field by field.
 */
static int
db_reply_field(struct rq *rq, struct db_batch *b)
{
	json_t	*p;

	p = problem_new(PROB_VALIDATION_FAILED, "1 field is invalid");
	problem_add_field(p, b->errcolumn, b->errconstraint != NULL ?
	    b->errconstraint : "invalid_value", b->errmsg);
	return (reply_problem_json(rq, p));
}

/*
 * A plan limit (CRPL + what: S seats, K API keys, R records) names what is
 * used up: the COLUMN of its RAISE, else the one its code stands for.
 */
static int
db_reply_plan(struct rq *rq, struct db_batch *b)
{
	const char	*field = b->errcolumn;
	json_t		*p;

	if (field == NULL)
		field = b->sqlstate[4] == 'S' ? "seats" :
		    b->sqlstate[4] == 'K' ? "api_keys" : "records";
	p = problem_new(PROB_PLAN_LIMIT, "%s", b->errmsg != NULL ?
	    b->errmsg : "the plan's limit is reached");
	problem_add_field(p, field, "plan_limit",
	    "the plan's limit is reached");
	return (reply_problem_json(rq, p));
}

int
db_reply_error(struct rq *rq)
{
	struct db_batch	*b = rq->batch;
	size_t		 i;
	const char	*detail;

	if (b == NULL || b->unavailable) {
		reply_header(rq, "retry-after", "1");
		return (reply_problem(rq, PROB_UNAVAILABLE,
		    "the database is unavailable"));
	}
	if (strcmp(b->sqlstate, "CR422") == 0 && b->errcolumn != NULL)
		return (db_reply_field(rq, b));
	if (strncmp(b->sqlstate, "CRPL", 4) == 0)
		return (db_reply_plan(rq, b));
	for (i = 0; i < sizeof(db_errmap) / sizeof(db_errmap[0]); i++) {
		if (strncmp(b->sqlstate, db_errmap[i].state,
		    strlen(db_errmap[i].state)) != 0)
			continue;
		detail = db_errmap[i].detail ? db_errmap[i].detail : b->errmsg;
		if (db_errmap[i].code == PROB_UNAVAILABLE)
			reply_header(rq, "retry-after", "1");
		if (db_errmap[i].code == PROB_NOT_FOUND && b->sqlstate[0] == '4')
			log_msg(LOG_LVL_ERROR, "db_rls", "%s", b->errmsg);
		return (reply_problem(rq, db_errmap[i].code, "%s", detail));
	}
	log_msg(LOG_LVL_ERROR, "db_error", "sqlstate %s: %s", b->sqlstate,
	    b->errmsg);
	return (reply_problem(rq, PROB_INTERNAL, NULL));
}
