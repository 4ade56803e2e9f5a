/*
 * conf.c: configuration from the environment (12-factor).
 *
 * One table says, for every key, its variable, type, default and bounds;
 * defaults go through the same parser as the environment, so a default
 * that breaks its own bounds fails the first test run.  Loading fills a
 * scratch struct and swaps it in only when every key is good: on failure
 * crm_conf keeps what it had and the message names the first bad variable.
 *
 * Left to others: what the values mean and which are required in which
 * deployment (main.c, crmctl.c, crm_worker.c decide, e.g. an empty
 * CRM_DATABASE_URL).
 */

#include <sys/types.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crm.h"

struct crm_conf		crm_conf;

enum conf_type {
	CONF_STR,		/* char *; choices, if set, restrict it */
	CONF_INT,		/* int in [min, max] */
	CONF_DOUBLE,		/* double in [min, max] */
	CONF_BOOL,		/* int 0 or 1 */
	CONF_ENUM,		/* int: index of the value in choices */
};

struct conf_key {
	const char		*env;
	enum conf_type		 type;
	size_t			 off;
	const char		*def;
	double			 min;
	double			 max;
	const char * const	*choices;	/* NULL-terminated */
};

static const char * const	conf_guc_modes[] = {
	"set_config", "set_local", NULL
};
static const char * const	conf_log_levels[] = {
	"debug", "info", "warn", "error", NULL
};

#define O(f)		offsetof(struct crm_conf, f)
#define STR(e, f, d)	{ e, CONF_STR, O(f), d, 0, 0, NULL }
#define INT(e, f, d, lo, hi) { e, CONF_INT, O(f), d, lo, hi, NULL }

static const struct conf_key	conf_keys[] = {
	STR("CRM_DATABASE_URL", database_url, ""),
	STR("CRM_REDIS_URL", redis_url, "redis://127.0.0.1:6379/0"),
	INT("CRM_HTTP_PORT", http_port, "8080", 1, 65535),
	STR("CRM_HTTP_BIND", http_bind, "127.0.0.1"),
	INT("CRM_DB_POOL", db_pool_max, "4", 1, 256),
	INT("CRM_DB_STATEMENT_TIMEOUT_MS", db_statement_timeout_ms, "5000",
	    100, 600000),
	INT("CRM_REQUEST_TIMEOUT_MS", request_timeout_ms, "10000",
	    500, 600000),
	{ "CRM_TENANT_GUC_MODE", CONF_ENUM, O(tenant_guc_mode), "set_config",
	    0, 0, conf_guc_modes },
	{ "CRM_RATE_LIMIT_MULTIPLIER", CONF_DOUBLE, O(rate_limit_multiplier),
	    "1.0", 0.001, 1e6, NULL },
	STR("CRM_WEBHOOK_ALLOWLIST", webhook_allowlist, ""),
	STR("CRM_KEYS_DIR", keys_dir, "var/keys"),
	STR("CRM_JWT_ISSUER", jwt_issuer, "crm"),
	STR("CRM_JWT_AUDIENCE", jwt_audience, "crm-api"),
	STR("CRM_PUBLIC_URL", public_url, ""),
	{ "CRM_LOG_LEVEL", CONF_STR, O(log_level), "info", 0, 0,
	    conf_log_levels },
	{ "CRM_TEST_ROUTES", CONF_BOOL, O(test_routes), "0", 0, 0, NULL },
	/*
	 * crm-worker, which requires CRM_WORKER_DATABASE_URL (the crm_worker
	 * role; CRM_DATABASE_URL is the request path's crm_app).  The
	 * lease must outlast the longest job (a webhook's total timeout);
	 * crm_worker.c refuses to start otherwise.  Defaults follow
	 * SECURITY.md 3.5/3.7: 8 attempts, full jitter from 2 s to 1 h,
	 * disabling after a failure streak of 3 days.
	 */
	STR("CRM_WORKER_DATABASE_URL", worker_database_url, ""),
	INT("CRM_WORKER_PROCESSES", worker_processes, "2", 1, 64),
	STR("CRM_WORKER_METRICS_FILE", worker_metrics_file, ""),
	INT("CRM_JOB_LEASE_S", job_lease_s, "60", 2, 86400),
	INT("CRM_JOB_TICK_MS", job_tick_ms, "250", 10, 60000),
	INT("CRM_JOB_BACKOFF_BASE_MS", job_backoff_base_ms, "2000", 1,
	    3600000),
	INT("CRM_JOB_BACKOFF_CAP_MS", job_backoff_cap_ms, "3600000", 1,
	    86400000),
	INT("CRM_JOB_RELAY_PER_TENANT", job_relay_per_tenant, "100", 1,
	    100000),
	INT("CRM_JOB_STALE_S", job_stale_s, "300", 5, 86400),
	INT("CRM_JOB_CRON_INTERVAL_S", job_cron_interval_s, "3600", 1, 604800),
	INT("CRM_JOB_RETENTION_DAYS", job_retention_days, "30", 1, 3650),
	INT("CRM_RECYCLE_BIN_DAYS", recycle_bin_days, "30", 1, 3650),
	INT("CRM_WEBHOOK_MAX_ATTEMPTS", webhook_max_attempts, "8", 1, 50),
	/* Export files (app/jobexp.c): shared by Kore and crm-worker. */
	STR("CRM_EXPORTS_DIR", exports_dir, "var/exports"),
	INT("CRM_EXPORT_TTL_H", export_ttl_h, "24", 1, 720),
	/* Uploaded import files (app/jobimp.c): shared the same way. */
	STR("CRM_IMPORTS_DIR", imports_dir, "var/imports"),
	INT("CRM_WEBHOOK_TIMEOUT_MS", webhook_timeout_ms, "10000", 100, 60000),
	INT("CRM_WEBHOOK_CONNECT_TIMEOUT_MS", webhook_connect_timeout_ms,
	    "3000", 100, 60000),
	INT("CRM_WEBHOOK_DISABLE_FAILURES", webhook_disable_failures, "50", 1,
	    100000),
	INT("CRM_WEBHOOK_DISABLE_AFTER_S", webhook_disable_after_s, "259200", 0,
	    31536000),
	/*
	 * E-mail (app/jobmail.c, docs/email.md): crm-worker sends, Kore only
	 * enqueues.  The password is read here and handed to libcurl; it is
	 * never logged.  STARTTLS: upgrade smtp:// or fail (smtps:// is TLS
	 * from the start).
	 */
	STR("CRM_SMTP_URL", smtp_url, ""),
	STR("CRM_SMTP_FROM", smtp_from, "no-reply@crm.localdomain"),
	STR("CRM_SMTP_USER", smtp_user, ""),
	STR("CRM_SMTP_PASSWORD", smtp_password, ""),
	{ "CRM_SMTP_STARTTLS", CONF_BOOL, O(smtp_starttls), "0", 0, 0, NULL },
	INT("CRM_SMTP_TIMEOUT_MS", smtp_timeout_ms, "30000", 100, 600000),
	INT("CRM_EMAIL_MAX_ATTEMPTS", email_max_attempts, "10", 1, 100),
};

#define CONF_NKEYS	(sizeof(conf_keys) / sizeof(conf_keys[0]))

/* Strict base 10: optional '-', digits only, no overflow. */
static int
conf_int(const char *s, long *out)
{
	char		*end;

	if (*s != '-' && (*s < '0' || *s > '9'))
		return (-1);
	errno = 0;
	*out = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return (-1);
	return (0);
}

/* Decimal only: no leading space, no hex floats, no inf or nan. */
static int
conf_double(const char *s, double *out)
{
	char		*end;

	if (*s != '-' && *s != '.' && (*s < '0' || *s > '9'))
		return (-1);
	if (strpbrk(s, "xXnN") != NULL)
		return (-1);
	errno = 0;
	*out = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !isfinite(*out))
		return (-1);
	return (0);
}

static int
conf_bool(const char *s)
{
	static const char *const	yes[] = { "1", "true", "yes" };
	static const char *const	no[] = { "0", "false", "no" };
	size_t				i;

	for (i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return (1);
		if (strcasecmp(s, no[i]) == 0)
			return (0);
	}
	return (-1);
}

static int
conf_choice(const char * const *choices, const char *s)
{
	int		i;

	for (i = 0; choices[i] != NULL; i++) {
		if (strcmp(choices[i], s) == 0)
			return (i);
	}
	return (-1);
}

static void
conf_choices_msg(const struct conf_key *k, char *msg, size_t len)
{
	size_t		i;
	int		n;

	n = snprintf(msg, len, "%s: must be one of ", k->env);
	for (i = 0; k->choices[i] != NULL && n >= 0 && (size_t)n < len; i++) {
		n += snprintf(msg + n, len - (size_t)n, "%s%s",
		    i == 0 ? "" : ", ", k->choices[i]);
	}
}

/* Parses s for key k into c; on a bad value writes msg and returns -1. */
static int
conf_set(struct crm_conf *c, const struct conf_key *k, const char *s,
    char *msg, size_t len)
{
	char		*field = (char *)c + k->off;
	long		 l;
	double		 d;
	int		 v;

	switch (k->type) {
	case CONF_STR:
		if (k->choices != NULL && conf_choice(k->choices, s) == -1)
			goto bad_choice;
		*(char **)(void *)field = xstrdup(s);
		return (0);
	case CONF_INT:
		if (conf_int(s, &l) == -1 || l < k->min || l > k->max) {
			snprintf(msg, len, "%s: must be an integer between "
			    "%.0f and %.0f", k->env, k->min, k->max);
			return (-1);
		}
		*(int *)(void *)field = (int)l;
		return (0);
	case CONF_DOUBLE:
		if (conf_double(s, &d) == -1 || d < k->min || d > k->max) {
			snprintf(msg, len, "%s: must be a number between "
			    "%g and %g", k->env, k->min, k->max);
			return (-1);
		}
		*(double *)(void *)field = d;
		return (0);
	case CONF_BOOL:
		if ((v = conf_bool(s)) == -1) {
			snprintf(msg, len, "%s: must be one of 0, 1, true, "
			    "false, yes, no", k->env);
			return (-1);
		}
		*(int *)(void *)field = v;
		return (0);
	case CONF_ENUM:
		if ((v = conf_choice(k->choices, s)) == -1)
			goto bad_choice;
		*(int *)(void *)field = v;
		return (0);
	}
	snprintf(msg, len, "%s: unknown type", k->env);
	return (-1);

bad_choice:
	conf_choices_msg(k, msg, len);
	return (-1);
}

static void
conf_free_strings(struct crm_conf *c)
{
	size_t		i;
	char		**p;

	for (i = 0; i < CONF_NKEYS; i++) {
		if (conf_keys[i].type != CONF_STR)
			continue;
		p = (char **)(void *)((char *)c + conf_keys[i].off);
		xfree(*p);
		*p = NULL;
	}
}

/*
 * Loads every key from get (a getenv); an unset variable takes its
 * default, an empty one is a value (CRM_HTTP_PORT= is an error).
 */
int
conf_load_from(const char *(*get)(const char *), char *msg, size_t len)
{
	struct crm_conf	 c;
	const char	*s;
	size_t		 i;

	memset(&c, 0, sizeof(c));
	for (i = 0; i < CONF_NKEYS; i++) {
		if ((s = get(conf_keys[i].env)) == NULL)
			s = conf_keys[i].def;
		if (conf_set(&c, &conf_keys[i], s, msg, len) == -1) {
			conf_free_strings(&c);
			return (-1);
		}
	}
	conf_free();
	crm_conf = c;
	if (len > 0)
		msg[0] = '\0';
	return (0);
}

static const char *
conf_getenv(const char *name)
{
	return (getenv(name));
}

int
conf_load(char *msg, size_t len)
{
	return (conf_load_from(conf_getenv, msg, len));
}

void
conf_free(void)
{
	conf_free_strings(&crm_conf);
	memset(&crm_conf, 0, sizeof(crm_conf));
}
