/*
 * srv.h: the Kore half of the service kernel.
 *
 * A request enters through crm_dispatch() (pipe.c), the one Kore route, and
 * walks a fixed pipeline declared once in pipe.c:
 *
 *	request id -> route match -> parse -> authenticate -> tenant ->
 *	rate limit -> permission -> idempotency -> handler -> reply
 *	(+ log, metrics)
 *
 * Steps that need PostgreSQL or Redis go asynchronous: they park the request
 * (RQ_WAIT) and the completion callback wakes it; Kore then calls
 * crm_dispatch() again and the pipeline resumes where it stopped.  Handlers
 * follow the same rule: they return RQ_DONE after replying, or RQ_WAIT after
 * starting one async operation with a continuation in rq->next.
 *
 *	pipe.c		pipe_  the pipeline, the route table, crm_dispatch
 *	reply.c		reply_ every byte sent back: JSON, problems, headers
 *	db.c		db_    async PostgreSQL: pool, pipelined tenant transactions
 *	rds.c		rds_   async Redis on Kore's event loop
 *	ops.c		ops_   /healthz /readyz /metrics and test-only routes
 *	limit.c		lim_   rate limits (GCRA in Redis)
 *	idem.c		idem_  Idempotency-Key: claim, replay, capture
 *	openapi.c	oapi_  GET /v1/openapi.json, generated at start
 *	kdf.c		kdf_   password hashing in task threads
 *	metrics.c	met_   counters shared by all workers (Prometheus text)
 *	main.c		crm_   Kore hooks: configure, seccomp, teardown
 *	tlsfix.c	tlsfix_ Kore 4.1.0 TLS under OpenSSL 3.0 (workaround)
 */

#ifndef CRM_SRV_H
#define CRM_SRV_H

#include <kore/kore.h>
#include <kore/http.h>

#include <libpq-fe.h>

#include "crm.h"

#define RQ_DONE		0
#define RQ_WAIT		1

#define RQ_MAXPARAMS	4
#define RQ_IDLEN	64

struct rq;
struct db_batch;

typedef int	(*rq_fn)(struct rq *);

/* Who is calling: filled by the authenticate step (identity module). */
#define PRINC_NONE	0
#define PRINC_USER	1
#define PRINC_APIKEY	2

struct principal {
	int		 kind;
	char		 tenant[UUID_STRLEN + 1];	/* "" when none */
	char		 user[UUID_STRLEN + 1];		/* user or key id */
	char		 owner[UUID_STRLEN + 1];	/* user acted for */
	char		 session[UUID_STRLEN + 1];
	int64_t		 session_version;
	char		 role[64];
	int		 scope;				/* PERM_SCOPE_* */
	const char *const *grants;	/* the role's, NULL-terminated */
	const char *const *scopes;	/* an API key's, else NULL */
	int		 rate_per_min;			/* plan limit, 0 unknown */
	void		*owned;		/* identity-owned, freed by hook */
};

/*
 * A route.  The permission is a string literal checked at compile time to
 * be non-empty (ROUTE below): a route with no permission does not build.
 * "public" routes skip authentication; "authenticated" routes need only a
 * valid principal; anything else is "<entity>:<action>".
 */
#define RT_JSON		0x0001	/* body must be application/json, <= 1 MiB */
#define RT_RAW		0x0002	/* body taken as is (CSV import), big allowed */
#define RT_NOLIMIT	0x0004	/* skip the rate limiter (ops routes) */
#define RT_NOLOG	0x0008	/* no access log line (metrics scrapes) */
#define RT_TEST		0x0010	/* exists only when CRM_TEST_ROUTES=1 */
#define RT_WRITE	0x0020	/* changes data: refused for suspended tenants */
#define RT_IDEMPOTENT	0x0040	/* honours Idempotency-Key */
#define RT_SECRET	0x0080	/* reply shows a secret once: never stored
				   for an Idempotency-Key replay (idem.c) */

struct route {
	int		 method;	/* HTTP_METHOD_* */
	const char	*path;		/* "/v1/contacts/{id}" */
	const char	*perm;
	rq_fn		 fn;
	int		 flags;
	const char	*summary;	/* one line, for OpenAPI and docs */
};

#define ROUTE(method, path, perm, fn, flags, summary)			\
	{ method, path, (perm) + 0 * sizeof(struct {			\
	    _Static_assert(sizeof("" perm) > 1,				\
	    "route " path " has no permission entry");			\
	    int _x; }), fn, flags, summary }

struct crm_module {
	const char		*name;
	const struct route	*routes;
	size_t			 nroutes;
	void			(*worker_init)(void);
	void			(*parent_init)(void);	/* before fork */
};

/*
 * engine.c: one set of handlers for every entity (app/ent.h descriptors);
 * ENTITY_ROUTES declares an entity's routes with their permissions.
 */
struct ent_desc;

void	 eng_register(const struct ent_desc *);
void	 eng_parent_check(const struct ent_desc *);
const struct ent_desc	*eng_desc(struct rq *);
const struct ent_desc	*eng_desc_at(int);
const struct ent_desc	*eng_find(const char *);
const char	*eng_scope(struct rq *);
void	 eng_reset(struct rq *);

/* cfc.c: custom field definitions, cached per worker. */
struct ent_cdefs;
int	 cfc_ready(struct rq *, const struct ent_desc *, int,
	    const struct ent_cdefs **);
void	 cfc_drop(const char *, const struct ent_desc *);
int	 eng_get(struct rq *);
int	 eng_list(struct rq *);
int	 eng_batch(struct rq *);
int	 eng_create(struct rq *);
int	 eng_update(struct rq *);
int	 eng_delete(struct rq *);
int	 eng_restore(struct rq *);
int	 timeline_list(struct rq *);	/* modules/crm/timeline.c */

#define ENTITY_ROUTES(name, one)					\
	ROUTE(HTTP_METHOD_GET, "/v1/" name, name ":read", eng_list, 0,	\
	    "List, filter, sort and search " name),			\
	ROUTE(HTTP_METHOD_POST, "/v1/" name "/batch", name ":update",	\
	    eng_batch, RT_JSON | RT_WRITE,				\
	    "Up to 100 creates, updates and deletes, all or nothing"),	\
	ROUTE(HTTP_METHOD_POST, "/v1/" name, name ":create", eng_create,\
	    RT_JSON | RT_WRITE, "Create " one),				\
	ROUTE(HTTP_METHOD_GET, "/v1/" name "/{id}", name ":read",	\
	    eng_get, 0, "Get " one),					\
	ROUTE(HTTP_METHOD_PATCH, "/v1/" name "/{id}", name ":update",	\
	    eng_update, RT_JSON | RT_WRITE,				\
	    "Change " one " (JSON merge-patch, If-Match)"),		\
	ROUTE(HTTP_METHOD_DELETE, "/v1/" name "/{id}", name ":delete",	\
	    eng_delete, RT_WRITE, "Move " one " to the recycle bin"),	\
	ROUTE(HTTP_METHOD_POST, "/v1/" name "/{id}/restore",		\
	    name ":delete", eng_restore, RT_WRITE,			\
	    "Restore " one " from the recycle bin"),			\
	ROUTE(HTTP_METHOD_GET, "/v1/" name "/{id}/timeline",		\
	    name ":read", timeline_list, 0,				\
	    "Changes and activities of " one ", newest first")

/*
 * modules/crm/dedupe.c: duplicates and merge, for accounts, contacts and
 * leads (sql/019).  The merge route's permission is <entity>:update; the
 * handler also asks for <entity>:delete (merged records go to the bin).
 */
int	 dedupe_list(struct rq *);
int	 dedupe_merge(struct rq *);

#define DEDUPE_ROUTES(name, one)					\
	ROUTE(HTTP_METHOD_GET, "/v1/" name "/{id}/duplicates",		\
	    name ":read", dedupe_list, 0,				\
	    "Likely duplicates of " one ", best first"),		\
	ROUTE(HTTP_METHOD_POST, "/v1/" name "/{id}/merge",		\
	    name ":update", dedupe_merge,				\
	    RT_JSON | RT_WRITE | RT_IDEMPOTENT,				\
	    "Merge records into " one " (from_ids), all or nothing")

/* modules/modules.c lists every module once. */
extern const struct crm_module	*crm_modules[];

/* The per-request context: owned by the request, freed in one place. */
struct rq {
	struct http_request	*req;
	const struct route	*route;
	int			 route_idx;
	char			 id[RQ_IDLEN + 1];
	char			*params[RQ_MAXPARAMS];
	int			 nparams;
	json_t			*body;
	struct principal	 who;
	int			 step;		/* pipeline position */
	rq_fn			 next;		/* handler continuation */
	int			 status;	/* sent status */
	int			 done;
	int			 verified;	/* principal checked in PG */
	int			 cf_loaded;	/* custom fields read fresh */
	json_t			*parked;	/* a 4xx awaiting that check */
	uint64_t		 start_us;
	uint64_t		 deadline_ms;

	struct db_batch		*batch;		/* last db_run, results */
	struct db_conn		*conn;		/* bound while a tx is open */
	struct db_wait		*dbw;		/* pending db operation */
	struct rds_wait		*rdw;		/* pending redis command */
	struct lim_state	*lim;		/* rate limiter state */
	struct kdf_job		*kdf;		/* password hash in a task */
	struct idem_state	*idem;		/* Idempotency-Key state */

	void			*h;		/* handler state */
	void			(*h_free)(void *);
	struct buf		 hdrs;		/* pending response headers */
};

/*
 * pipe.c.  Steps return PIPE_NEXT to continue, RQ_DONE once replied, or
 * RQ_WAIT when parked.  The identity module fills pipe_hooks at start.
 */
#define PIPE_NEXT	2

struct pipe_hooks {
	rq_fn	authenticate;
	rq_fn	tenant;
	rq_fn	ratelimit;
	rq_fn	permission;
	void	(*principal_free)(struct principal *);
};

extern struct pipe_hooks	pipe_hooks;

int	 crm_dispatch(struct http_request *);
void	 pipe_finish(struct rq *);
void	 pipe_wake(struct rq *);
const char	*pipe_param(struct rq *, int);
const char	*pipe_header(struct rq *, const char *);
const char	*pipe_query(struct rq *);
int	 pipe_allows(struct rq *, const char *);
const struct route	*pipe_route_at(int, const struct crm_module **);
int	 pipe_route_count(void);
void	 pipe_worker_init(void);

/* reply.c: each returns RQ_DONE so a handler can `return (reply_...(...));` */
void	 reply_header(struct rq *, const char *, const char *);
int	 reply_json(struct rq *, int, json_t *);	/* steals the json */
int	 reply_raw(struct rq *, int, const char *, const void *, size_t);
int	 reply_empty(struct rq *, int);
int	 reply_problem(struct rq *, enum problem_code, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
int	 reply_problem_json(struct rq *, json_t *);	/* steals */
int	 reply_has_header(struct rq *, const char *);
int	 reply_file(struct rq *, int, const char *, const char *); /* -1 */

/*
 * db.c: the only code that talks to PostgreSQL on the request path.
 *
 * A batch is a list of statements sent in one libpq pipeline: one network
 * round trip whatever its length.  With DB_TX the batch is wrapped in
 * BEGIN / tenant context / ... / COMMIT; with DB_TX_OPEN the transaction is
 * left open on a connection bound to the request so the handler can look
 * at results and send more; the last batch of such a transaction uses
 * DB_TX to commit.  A connection never goes back to the pool inside a
 * transaction: the release guard rolls it back (or closes it).
 */
#define DB_TX		0x01	/* BEGIN .. COMMIT around the batch */
#define DB_TX_OPEN	0x02	/* BEGIN (once) and keep the tx open */
#define DB_READONLY	0x04	/* BEGIN READ ONLY */
#define DB_NOTENANT	0x08	/* no tenant context (public lookups) */

struct db_stmt {
	const char	*sql;
	int		 nparams;
	int		 first;			/* index into batch params */
	PGresult	*res;
};

struct db_batch {
	int		 flags;
	int		 nstmts;
	int		 stmtcap;
	struct db_stmt	*stmts;
	int		 nparams;
	int		 paramcap;
	char		**vals;			/* owned copies, NUL-terminated */
	int		 failed;		/* failed statement, -1 none */
	char		 sqlstate[6];
	char		*errmsg;		/* log only, never to clients */
	char		*errconstraint;
	char		*errcolumn;		/* CR422: the field named */
	int		 unavailable;		/* connection-level failure */
};

/*
 * The identity module's principal check: given the request, the batch
 * flags and whether the statement must also set the tenant context (and
 * read-only mode), it names one statement (and fills its parameters, using
 * store for their text) that verifies the credential inside the
 * transaction; it returns the parameter count, or -1 for none.
 */
#define DB_HOOK_PARAMS	6

struct db_hooks {
	int	(*principal)(struct rq *, int, int, const char **, char **,
		    char [DB_HOOK_PARAMS][48]);
};

extern struct db_hooks	db_hooks;

struct db_batch	*db_batch(struct rq *, int);
int	 db_stmt(struct db_batch *, const char *);
void	 db_param(struct db_batch *, const char *);	/* NULL: SQL NULL */
void	 db_paramn(struct db_batch *, const char *, size_t);
void	 db_paramf(struct db_batch *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 db_run(struct rq *, struct db_batch *, rq_fn);
PGresult	*db_res(struct rq *, int);
int	 db_ok(struct rq *);
int	 db_reply_error(struct rq *);
void	 db_rq_free(struct rq *);
void	 db_worker_init(void);
int	 db_pool_in_use(void);
int	 db_pool_size(void);
int	 db_available(void);

/*
 * rds.c: one async hiredis connection per worker, driven by Kore's epoll
 * loop.  Callbacks get a NULL reply when Redis is down or too slow; callers
 * decide whether that fails open (rate limits) or closed (login).
 */
struct redisReply;
typedef void	(*rds_cb)(struct redisReply *, void *);

int	 rds_cmd(rds_cb, void *, int, const char **, const size_t *);
int	 rds_cmd_rq(struct rq *, void (*)(struct rq *, struct redisReply *),
	    rq_fn, int, const char **, const size_t *);
int	 rds_up(void);
void	 rds_worker_init(void);
void	 rds_worker_teardown(void);
void	 rds_rq_free(struct rq *);
int	 rds_url_check(const char *, char *, size_t);	/* 0 ok, -1 + why */

/*
 * limit.c: GCRA rate limits in one Lua script; lim_check() runs next(rq)
 * when allowed and replies 429 when not.
 */
#define LIM_MAXSUBJ	4

struct lim_subject {
	const char	*name;		/* "tenant", "user", "key", "ip" */
	char		 key[160];	/* from keys.h */
	int		 quota;		/* requests per window */
	int		 window;	/* seconds; 0 means 60 */
	int		 burst;		/* 0 means a tenth of the quota */
};

void	 lim_worker_init(void);
int	 lim_check(struct rq *, const struct lim_subject *, int, int, rq_fn);
int	 lim_scale(int);
void	 lim_rq_free(struct rq *);

/*
 * idem.c: Idempotency-Key on authenticated POSTs.  idem_check() is the
 * pipeline step after permission; reply.c calls idem_capture() with every
 * reply it sends.
 */
int	 idem_check(struct rq *);
void	 idem_capture(struct rq *, int, const char *, const void *, size_t);
void	 idem_rq_free(struct rq *);

/* openapi.c: the document, built after every module's worker_init. */
void	 oapi_worker_init(void);

/*
 * kdf.c: argon2id in Kore task threads.  Each returns RQ_WAIT (or replies
 * 503 when too many are queued); next runs when the result is in.
 */
int	 kdf_hash(struct rq *, const char *, size_t, rq_fn);
int	 kdf_verify(struct rq *, const char *, const char *, size_t, rq_fn);
int	 kdf_ok(struct rq *);
const char	*kdf_hash_result(struct rq *);
void	 kdf_release(struct rq *);
void	 kdf_rq_free(struct rq *);

/* metrics.c */
void	 met_parent_init(void);
void	 met_worker_start(void);
void	 met_request(int, int, uint64_t);
void	 met_render(struct buf *);
void	 met_set_gauge(int, int64_t);

#define MET_C_DB_GUARD_ROLLBACK	0	/* release guard rolled back */
#define MET_C_DB_CONN_CLOSED	1	/* connections lost or closed */
#define MET_C_LIMITER_FAILOPEN	2	/* rate limiter unavailable */
#define MET_C__COUNT		3

void	 met_count(int);

#define MET_G_DB_IN_USE		0
#define MET_G_DB_SIZE		1
#define MET_G_REDIS_UP		2
#define MET_G__COUNT		3

/*
 * tlsfix.c: makes Kore 4.1.0's TLS sign handshakes under OpenSSL 3.0 (see
 * the file).  Call once per worker; without TLS it does nothing.
 */
void	 tlsfix_worker_init(void);

#endif /* CRM_SRV_H */
