/*
 * conf_test.c: unit tests for conf.c with an injected environment:
 * defaults, every key's parsing and bounds, and messages that name the
 * variable.
 */

#include <string.h>

#include "crm.h"
#include "ut.h"

/* The fake environment: pairs of name, value; NULL-terminated. */
static const char	*env[16];

static const char *
fake_getenv(const char *name)
{
	int		i;

	for (i = 0; env[i] != NULL; i += 2) {
		if (strcmp(env[i], name) == 0)
			return (env[i + 1]);
	}
	return (NULL);
}

static void
env_set(const char *name, const char *value)
{
	env[0] = name;
	env[1] = value;
	env[2] = NULL;
}

/* Loads with only name=value set; returns conf_load_from's result. */
static int
load1(const char *name, const char *value, char *msg, size_t len)
{
	env_set(name, value);
	return (conf_load_from(fake_getenv, msg, len));
}

static void
test_defaults(void)
{
	char		msg[128] = "x";

	env[0] = NULL;
	UT_EQ_INT(conf_load_from(fake_getenv, msg, sizeof(msg)), 0);
	UT_EQ_STR(msg, "");
	UT_EQ_STR(crm_conf.database_url, "");
	UT_EQ_STR(crm_conf.redis_url, "redis://127.0.0.1:6379/0");
	UT_EQ_INT(crm_conf.http_port, 8080);
	UT_EQ_STR(crm_conf.http_bind, "127.0.0.1");
	UT_EQ_INT(crm_conf.db_pool_max, 4);
	UT_EQ_INT(crm_conf.db_statement_timeout_ms, 5000);
	UT_EQ_INT(crm_conf.request_timeout_ms, 10000);
	UT_EQ_INT(crm_conf.tenant_guc_mode, 0);
	UT_CHECK(crm_conf.rate_limit_multiplier == 1.0);
	UT_EQ_STR(crm_conf.webhook_allowlist, "");
	UT_EQ_STR(crm_conf.keys_dir, "var/keys");
	UT_EQ_STR(crm_conf.jwt_issuer, "crm");
	UT_EQ_STR(crm_conf.jwt_audience, "crm-api");
	UT_EQ_STR(crm_conf.public_url, "");
	UT_EQ_STR(crm_conf.log_level, "info");
	UT_EQ_INT(crm_conf.test_routes, 0);
}

static void
test_values(void)
{
	char		msg[128];

	env[0] = "CRM_DATABASE_URL";
	env[1] = "postgresql://crm@/crm";
	env[2] = "CRM_HTTP_PORT";
	env[3] = "65535";
	env[4] = "CRM_TENANT_GUC_MODE";
	env[5] = "set_local";
	env[6] = "CRM_RATE_LIMIT_MULTIPLIER";
	env[7] = "0.5";
	env[8] = "CRM_TEST_ROUTES";
	env[9] = "yes";
	env[10] = "CRM_LOG_LEVEL";
	env[11] = "debug";
	env[12] = "CRM_DB_POOL";
	env[13] = "1";
	env[14] = NULL;
	UT_EQ_INT(conf_load_from(fake_getenv, msg, sizeof(msg)), 0);
	UT_EQ_STR(crm_conf.database_url, "postgresql://crm@/crm");
	UT_EQ_INT(crm_conf.http_port, 65535);
	UT_EQ_INT(crm_conf.tenant_guc_mode, 1);
	UT_CHECK(crm_conf.rate_limit_multiplier == 0.5);
	UT_EQ_INT(crm_conf.test_routes, 1);
	UT_EQ_STR(crm_conf.log_level, "debug");
	UT_EQ_INT(crm_conf.db_pool_max, 1);
	UT_EQ_STR(crm_conf.redis_url, "redis://127.0.0.1:6379/0");

	UT_EQ_INT(load1("CRM_TEST_ROUTES", "TRUE", msg, sizeof(msg)), 0);
	UT_EQ_INT(crm_conf.test_routes, 1);
	UT_EQ_INT(load1("CRM_TEST_ROUTES", "no", msg, sizeof(msg)), 0);
	UT_EQ_INT(crm_conf.test_routes, 0);
	UT_EQ_INT(load1("CRM_RATE_LIMIT_MULTIPLIER", "1e6", msg,
	    sizeof(msg)), 0);
	UT_CHECK(crm_conf.rate_limit_multiplier == 1e6);
	UT_EQ_INT(load1("CRM_RATE_LIMIT_MULTIPLIER", "0.001", msg,
	    sizeof(msg)), 0);
	UT_EQ_INT(load1("CRM_WEBHOOK_ALLOWLIST", "", msg, sizeof(msg)), 0);
	UT_EQ_STR(crm_conf.webhook_allowlist, "");
}

static void
test_int_bounds(void)
{
	static const struct {
		const char	*env, *lo, *hi, *below, *above;
	} k[] = {
		{ "CRM_HTTP_PORT", "1", "65535", "0", "65536" },
		{ "CRM_DB_POOL", "1", "256", "0", "257" },
		{ "CRM_DB_STATEMENT_TIMEOUT_MS", "100", "600000", "99",
		    "600001" },
		{ "CRM_REQUEST_TIMEOUT_MS", "500", "600000", "499", "600001" },
	};
	char		msg[128], want[128];
	size_t		i;

	for (i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
		snprintf(want, sizeof(want), "%s: must be an integer between "
		    "%s and %s", k[i].env, k[i].lo, k[i].hi);
		UT_EQ_INT(load1(k[i].env, k[i].lo, msg, sizeof(msg)), 0);
		UT_EQ_INT(load1(k[i].env, k[i].hi, msg, sizeof(msg)), 0);
		UT_EQ_INT(load1(k[i].env, k[i].below, msg, sizeof(msg)), -1);
		UT_EQ_STR(msg, want);
		UT_EQ_INT(load1(k[i].env, k[i].above, msg, sizeof(msg)), -1);
		UT_EQ_STR(msg, want);
	}
}

static void
test_bad_values(void)
{
	static const char *const	bad[][2] = {
		{ "CRM_HTTP_PORT", "" },
		{ "CRM_HTTP_PORT", "80x" },
		{ "CRM_HTTP_PORT", " 80" },
		{ "CRM_HTTP_PORT", "+80" },
		{ "CRM_HTTP_PORT", "0x50" },
		{ "CRM_HTTP_PORT", "8080.0" },
		{ "CRM_HTTP_PORT", "-1" },
		{ "CRM_HTTP_PORT", "99999999999999999999999" },
		{ "CRM_HTTP_PORT", "4294975376" },	/* 8080 + 2^32 */
		{ "CRM_DB_POOL", "eight" },
		{ "CRM_TENANT_GUC_MODE", "SET LOCAL" },
		{ "CRM_TENANT_GUC_MODE", "" },
		{ "CRM_RATE_LIMIT_MULTIPLIER", "0" },
		{ "CRM_RATE_LIMIT_MULTIPLIER", "1e7" },
		{ "CRM_RATE_LIMIT_MULTIPLIER", "nan" },
		{ "CRM_RATE_LIMIT_MULTIPLIER", "inf" },
		{ "CRM_RATE_LIMIT_MULTIPLIER", "0x1p0" },
		{ "CRM_RATE_LIMIT_MULTIPLIER", "1.0x" },
		{ "CRM_RATE_LIMIT_MULTIPLIER", "1e999" },
		{ "CRM_LOG_LEVEL", "verbose" },
		{ "CRM_LOG_LEVEL", "INFO" },
		{ "CRM_TEST_ROUTES", "2" },
		{ "CRM_TEST_ROUTES", "" },
		{ "CRM_TEST_ROUTES", "on" },
	};
	char				msg[128];
	size_t				i, n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msg[0] = '\0';
		if (load1(bad[i][0], bad[i][1], msg, sizeof(msg)) != -1)
			fprintf(stderr, "     accepted %s=\"%s\"\n", bad[i][0],
			    bad[i][1]);
		n = strlen(bad[i][0]);
		UT_CHECK(strncmp(msg, bad[i][0], n) == 0 &&
		    strncmp(msg + n, ": must be ", 10) == 0);
	}

	UT_EQ_INT(load1("CRM_TENANT_GUC_MODE", "x", msg, sizeof(msg)), -1);
	UT_EQ_STR(msg, "CRM_TENANT_GUC_MODE: must be one of set_config, "
	    "set_local");
	UT_EQ_INT(load1("CRM_LOG_LEVEL", "x", msg, sizeof(msg)), -1);
	UT_EQ_STR(msg, "CRM_LOG_LEVEL: must be one of debug, info, warn, "
	    "error");
	UT_EQ_INT(load1("CRM_RATE_LIMIT_MULTIPLIER", "x", msg, sizeof(msg)),
	    -1);
	UT_EQ_STR(msg, "CRM_RATE_LIMIT_MULTIPLIER: must be a number between "
	    "0.001 and 1e+06");
	UT_EQ_INT(load1("CRM_TEST_ROUTES", "x", msg, sizeof(msg)), -1);
	UT_EQ_STR(msg, "CRM_TEST_ROUTES: must be one of 0, 1, true, false, "
	    "yes, no");

	/* A short message buffer truncates, never overflows. */
	UT_EQ_INT(load1("CRM_HTTP_PORT", "x", msg, 8), -1);
	UT_EQ_STR(msg, "CRM_HTT");
	UT_EQ_INT(load1("CRM_LOG_LEVEL", "x", msg, 20), -1);
	UT_EQ_INT(strlen(msg), 19);
}

/* A failed load leaves the previous configuration in place. */
static void
test_failed_keeps_old(void)
{
	char		msg[128];

	UT_EQ_INT(load1("CRM_HTTP_PORT", "9000", msg, sizeof(msg)), 0);
	UT_EQ_INT(crm_conf.http_port, 9000);
	UT_EQ_INT(load1("CRM_HTTP_PORT", "0", msg, sizeof(msg)), -1);
	UT_EQ_INT(crm_conf.http_port, 9000);
	UT_EQ_STR(crm_conf.jwt_issuer, "crm");
	conf_free();
	UT_CHECK(crm_conf.jwt_issuer == NULL);
	conf_free();
}

int
main(void)
{
	UT_TEST(test_defaults);
	UT_TEST(test_values);
	UT_TEST(test_int_bounds);
	UT_TEST(test_bad_values);
	UT_TEST(test_failed_keeps_old);
	return (ut_summary());
}
