/*
 * crm.h: the Kore-free half of the service kernel.
 *
 * Everything declared here builds without Kore and is linked into the Kore
 * module (build/crm.so), the operator tool (crmctl), the job worker
 * (crm-worker) and the unit tests.  The Kore half (request pipeline, async
 * PostgreSQL and Redis) is declared in srv.h.
 *
 * One file per subsystem, one prefix per file:
 *	util.c		x* allocation (dies on failure), buf_ growable buffers
 *	js.c		js_  JSON in and out, on jansson
 *	uuid7.c		uuid7_ UUIDv7 generation, formatting, parsing
 *	b64.c		b64url_ base64url without padding
 *	problem.c	problem_ the one table of error codes (RFC 9457)
 *	conf.c		conf_ configuration from the environment
 *	log.c		log_ JSON log lines
 *	route.c		route_ route patterns and matching
 *	perm.c		perm_ roles, grants, record scopes
 *	valid.c		val_  request body validation into one problem
 *	lease.c		lease_ a worker's rate-limit tokens and refusals
 */

#ifndef CRM_H
#define CRM_H

#include <sys/types.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define CRM_VERSION		"0.1.0"

/* util.c: allocation never returns NULL; callers never check. */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
void	 xfree(void *);
void	 crm_fatal(const char *, ...)
	    __attribute__((noreturn, format(printf, 1, 2)));
uint64_t crm_now_ms(void);
pid_t	 crm_pid(void);
uint64_t crm_now_us(void);
int	 crm_random(void *, size_t);
int	 crm_hexval(char);
void	 crm_hex(const uint8_t *, size_t, char *);
int	 crm_unhex(const char *, uint8_t *, size_t);

struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};

void	 buf_init(struct buf *, size_t);
void	 buf_append(struct buf *, const void *, size_t);
void	 buf_appends(struct buf *, const char *);
void	 buf_appendf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 buf_appendv(struct buf *, const char *, va_list)
	    __attribute__((format(printf, 2, 0)));
void	 buf_appendc(struct buf *, char);
void	 buf_reset(struct buf *);
char	*buf_cstr(struct buf *);	/* NUL-terminated view, still owned */
void	 buf_free(struct buf *);

/*
 * js.c: every JSON byte in or out of the service goes through here.
 *
 * js_parse() accepts one UTF-8 JSON document and rejects: invalid UTF-8,
 * duplicate keys, nesting deeper than JS_MAX_DEPTH, arrays longer than
 * JS_MAX_ARRAY, strings longer than JS_MAX_STRING, integers outside int64,
 * non-finite numbers, trailing garbage.  On failure it returns NULL and
 * fills the error with a client-safe detail and the byte position.
 */
#define JS_MAX_DEPTH		32
#define JS_MAX_ARRAY		1000
#define JS_MAX_STRING		(64 * 1024)

struct js_err {
	char	detail[160];
	size_t	position;
};

json_t	*js_parse(const void *, size_t, struct js_err *);
char	*js_dump(const json_t *, size_t *);	/* compact; free with xfree */
void	 js_dump_buf(const json_t *, struct buf *);
void	 js_escape(struct buf *, const char *, size_t); /* adds "...", quoted */
int	 js_utf8_valid(const void *, size_t);
void	 js_utf8_repair(struct buf *, const void *, size_t); /* bad -> U+FFFD */
const char	*js_get_str(const json_t *, const char *);
int	 js_depth_ok(const json_t *, int);

/* uuid7.c */
#define UUID_LEN		16
#define UUID_STRLEN		36

void	 uuid7_new(uint8_t out[UUID_LEN]);
void	 uuid7_fmt(const uint8_t in[UUID_LEN], char out[UUID_STRLEN + 1]);
int	 uuid7_parse(const char *, uint8_t out[UUID_LEN]);  /* any version */
void	 uuid7_new_str(char out[UUID_STRLEN + 1]);

/* b64.c: base64url (RFC 4648 section 5), no padding on output. */
size_t	 b64url_encode(const void *, size_t, char *, size_t);
ssize_t	 b64url_decode(const char *, size_t, void *, size_t);

/*
 * problem.c: the one table of problem codes (API.md).  Every error reply is
 * built here, from a code, so status, title and type never disagree.
 */
enum problem_code {
	PROB_BAD_REQUEST = 0,
	PROB_INVALID_JSON,
	PROB_INVALID_QUERY,
	PROB_INVALID_FILTER,
	PROB_INVALID_CURSOR,
	PROB_UNAUTHENTICATED,
	PROB_FORBIDDEN,
	PROB_TENANT_SUSPENDED,
	PROB_PLAN_LIMIT,
	PROB_NOT_FOUND,
	PROB_METHOD_NOT_ALLOWED,
	PROB_CONFLICT,
	PROB_PRECONDITION_FAILED,
	PROB_PAYLOAD_TOO_LARGE,
	PROB_UNSUPPORTED_MEDIA_TYPE,
	PROB_VALIDATION_FAILED,
	PROB_IDEMPOTENCY_KEY_REUSED,
	PROB_PRECONDITION_REQUIRED,
	PROB_RATE_LIMITED,
	PROB_INTERNAL,
	PROB_UNAVAILABLE,
	PROB__COUNT
};

struct problem_def {
	enum problem_code	 code;
	int			 status;
	const char		*name;		/* stable machine code */
	const char		*title;
	const char		*doc;		/* when it happens, for OpenAPI */
};

const struct problem_def	*problem_def(enum problem_code);
const struct problem_def	*problem_table(size_t *);
json_t	*problem_new(enum problem_code, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 problem_add_field(json_t *, const char *, const char *, const char *);
void	 problem_set_request_id(json_t *, const char *);
int	 problem_status(const json_t *);

/*
 * conf.c: configuration comes from the environment (12-factor).  Each key
 * has a type, a default and bounds in one table; conf_load() validates all
 * of them and reports the first bad one by name.
 */
struct crm_conf {
	char		*database_url;		/* CRM_DATABASE_URL */
	char		*redis_url;		/* CRM_REDIS_URL */
	int		 http_port;		/* CRM_HTTP_PORT */
	char		*http_bind;		/* CRM_HTTP_BIND */
	int		 db_pool_max;		/* CRM_DB_POOL (per worker) */
	int		 db_statement_timeout_ms;
	int		 request_timeout_ms;	/* CRM_REQUEST_TIMEOUT_MS */
	int		 tenant_guc_mode;	/* 0 set_config, 1 SET LOCAL */
	double		 rate_limit_multiplier;	/* CRM_RATE_LIMIT_MULTIPLIER */
	char		*webhook_allowlist;	/* CRM_WEBHOOK_ALLOWLIST */
	char		*keys_dir;		/* CRM_KEYS_DIR */
	char		*jwt_issuer;		/* CRM_JWT_ISSUER */
	char		*jwt_audience;		/* CRM_JWT_AUDIENCE */
	char		*public_url;		/* CRM_PUBLIC_URL */
	char		*log_level;		/* CRM_LOG_LEVEL */
	int		 test_routes;		/* CRM_TEST_ROUTES: fault hooks */

	/* crm-worker and the job runtime (app/job*.c, sql/019_jobs.sql) */
	char		*worker_database_url;	/* CRM_WORKER_DATABASE_URL */
	int		 worker_processes;	/* CRM_WORKER_PROCESSES */
	char		*worker_metrics_file;	/* CRM_WORKER_METRICS_FILE */
	int		 job_lease_s;		/* CRM_JOB_LEASE_S */
	int		 job_tick_ms;		/* CRM_JOB_TICK_MS */
	int		 job_backoff_base_ms;	/* CRM_JOB_BACKOFF_BASE_MS */
	int		 job_backoff_cap_ms;	/* CRM_JOB_BACKOFF_CAP_MS */
	int		 job_relay_per_tenant;	/* CRM_JOB_RELAY_PER_TENANT */
	int		 job_stale_s;		/* CRM_JOB_STALE_S */
	int		 job_cron_interval_s;	/* CRM_JOB_CRON_INTERVAL_S */
	int		 job_retention_days;	/* CRM_JOB_RETENTION_DAYS */
	int		 recycle_bin_days;	/* CRM_RECYCLE_BIN_DAYS */
	int		 webhook_max_attempts;	/* CRM_WEBHOOK_MAX_ATTEMPTS */
	int		 webhook_timeout_ms;	/* CRM_WEBHOOK_TIMEOUT_MS */
	int		 webhook_connect_timeout_ms;
	int		 webhook_disable_failures; /* CRM_WEBHOOK_DISABLE_FAILURES */
	int		 webhook_disable_after_s; /* CRM_WEBHOOK_DISABLE_AFTER_S */
	char		*exports_dir;		/* CRM_EXPORTS_DIR */
	int		 export_ttl_h;		/* CRM_EXPORT_TTL_H */

	/* e-mail (app/jobmail.c) */
	char		*smtp_url;		/* CRM_SMTP_URL */
	char		*smtp_from;		/* CRM_SMTP_FROM */
	char		*smtp_user;		/* CRM_SMTP_USER */
	char		*smtp_password;		/* CRM_SMTP_PASSWORD */
	int		 smtp_starttls;		/* CRM_SMTP_STARTTLS */
	int		 smtp_timeout_ms;	/* CRM_SMTP_TIMEOUT_MS */
	int		 email_max_attempts;	/* CRM_EMAIL_MAX_ATTEMPTS */
	char		*imports_dir;		/* CRM_IMPORTS_DIR */
};

extern struct crm_conf	crm_conf;

int	 conf_load(char *, size_t);	/* 0 ok, -1 with message */
int	 conf_load_from(const char *(*)(const char *), char *, size_t);
void	 conf_free(void);

/* log.c: one JSON object per line on stdout, never a secret or a body. */
#define LOG_LVL_DEBUG	0
#define LOG_LVL_INFO	1
#define LOG_LVL_WARN	2
#define LOG_LVL_ERROR	3

void	 log_set_level(const char *);
void	 log_msg(int, const char *, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
void	 log_line(struct buf *);	/* writes buf + '\n' atomically */
void	 log_ts(struct buf *);		/* appends "ts":"...Z" */

/* route.c: "/v1/contacts/{id}" patterns; methods are opaque bit masks. */
#define ROUTE_MAXSEGS		8
#define ROUTE_SEGLEN		128
#define ROUTE_MAXPARAMS		4

struct route_pat {
	int	 method;
	int	 nsegs;
	char	*segs[ROUTE_MAXSEGS];		/* NULL: a {parameter} */
};

struct route_match {
	int	 allowed;			/* methods matching the path */
	int	 nparams;
	char	 params[ROUTE_MAXPARAMS][ROUTE_SEGLEN];
};

int	 route_split(const char *, char [ROUTE_MAXSEGS][ROUTE_SEGLEN]);
int	 route_compile(struct route_pat *, const char *, int);
void	 route_free(struct route_pat *);
int	 route_match(const struct route_pat *, int, int, const char *,
	    struct route_match *);

/* perm.c: grants are "<resource>:<action>", either side may be "*". */
#define PERM_SCOPE_OWN		1
#define PERM_SCOPE_TEAM		2
#define PERM_SCOPE_ALL		3

struct perm_role {
	const char		*name;
	int			 scope;
	const char *const	*grants;	/* NULL-terminated */
};

const struct perm_role	*perm_builtin(const char *);
const struct perm_role	*perm_builtin_at(size_t);
int	 perm_valid(const char *);
int	 perm_allows(const char *const *, const char *);
int	 perm_key_scope_valid(const char *);
int	 perm_key_allows(const char *const *, const char *);
int	 perm_scope_parse(const char *);
const char	*perm_scope_name(int);

/* valid.c: collect every field error; val_problem() builds the reply. */
struct val {
	json_t	*body;		/* borrowed */
	json_t	*problem;
	int	 nerr;
	int	 unknown;
};

void	 val_init(struct val *, json_t *);
void	 val_error(struct val *, const char *, const char *, const char *);
void	 val_only(struct val *, const char *const *);
const char	*val_str(struct val *, const char *, int, size_t, size_t);
const char	*val_email(struct val *, const char *, int);
int	 val_email_ok(const char *);
const char	*val_enum(struct val *, const char *, int, const char *const *);
int	 val_uuid(struct val *, const char *, int, char [37]);
json_t	*val_str_array(struct val *, const char *, int, size_t,
	    int (*)(const char *));
int	 val_failed(struct val *);
json_t	*val_problem(struct val *);
void	 val_free(struct val *);

/*
 * lease.c: spare rate-limit tokens per subject set, per worker process.
 * The view is what the RateLimit header reports for an admitted request.
 */
#define LEASE_TTL_MS	500

struct lease_view {
	long long	remaining;
	long long	reset_us;
	int		tight;		/* index of the tightest subject */
};

int	 lease_take(const char *, uint64_t, struct lease_view *);
int	 lease_ask(const char *, uint64_t);
void	 lease_put(const char *, uint64_t, uint32_t,
	    const struct lease_view *);
void	 lease_refuse(const char *, uint64_t, long long, int);
void	 lease_clear(void);

#endif /* CRM_H */
