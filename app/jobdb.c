/*
 * jobdb.c: crm-worker's PostgreSQL, synchronous (a worker process does
 * one thing at a time; the request path's async pool is app/db.c).
 *
 * jdb_tx() sends a whole transaction as one libpq pipeline, one round
 * trip: BEGIN, the tenant context, the statements, COMMIT.  The tenant
 * context is set exactly as the request path sets it (CRM_TENANT_GUC_MODE:
 * set_config(..., true), or SET LOCAL with a literal from our own UUID
 * formatter for Citus), so RLS binds every statement of a job to its
 * tenant; with a NULL tenant no context is set and crm_worker sees no
 * tenant rows at all (only the auth.* functions work across tenants).
 *
 * Worker transactions commit with synchronous_commit off: a job runs at
 * least once anyway (a lost claim or finish after a database crash only
 * means the job runs again, and handlers are idempotent), and waiting
 * for the WAL flush twice per job capped the queue at ~50 jobs/s on a
 * busy disk.  The request path's commits, which acknowledge writes, are
 * not affected (SECURITY.md 3.7 "Definition of acknowledged").
 */

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "jobdb.h"

/* Server notices (shutdown warnings ...) as log lines, not raw stderr. */
static void
jdb_notice(void *arg, const char *msg)
{
	char	line[512];

	(void)snprintf(line, sizeof(line), "%s", msg);
	line[strcspn(line, "\n")] = '\0';
	log_msg(LOG_LVL_DEBUG, "worker_pg_notice", "%s", line);
}

PGconn *
jdb_connect(const char *url, char *err, size_t errlen)
{
	PGconn		*c;
	const char	*keys[] = { "dbname", "application_name",
			    "connect_timeout", NULL };
	const char	*vals[] = { url, "crm-worker", "5", NULL };

	c = PQconnectdbParams(keys, vals, 1);
	if (c == NULL || PQstatus(c) != CONNECTION_OK) {
		(void)snprintf(err, errlen, "%s", c != NULL ?
		    PQerrorMessage(c) : "out of memory");
		err[strcspn(err, "\n")] = '\0';
		PQfinish(c);
		return (NULL);
	}
	(void)PQsetNoticeProcessor(c, jdb_notice, NULL);
	return (c);
}

void
jdb_clear(struct jdb_stmt *s, int n)
{
	int		i;

	for (i = 0; i < n; i++) {
		PQclear(s[i].res);
		s[i].res = NULL;
	}
}

static int
jdb_send_tenant(PGconn *c, const char *tenant)
{
	const char	*p[1] = { tenant };
	char		 sql[96];
	uint8_t		 raw[UUID_LEN];
	char		 canon[UUID_STRLEN + 1];

	if (crm_conf.tenant_guc_mode == 0)
		return (PQsendQueryParams(c, "SELECT set_config('app.tenant_id'"
		    ", $1, true)", 1, NULL, p, NULL, NULL, 0));
	/* SET LOCAL takes no parameter: the literal is our own formatting. */
	if (uuid7_parse(tenant, raw) == -1)
		return (0);
	uuid7_fmt(raw, canon);
	(void)snprintf(sql, sizeof(sql), "SET LOCAL app.tenant_id = '%s'",
	    canon);
	return (PQsendQueryParams(c, sql, 0, NULL, NULL, NULL, NULL, 0));
}

/* Reads one query's result (and the NULL after it); NULL when none. */
static PGresult *
jdb_next(PGconn *c)
{
	PGresult	*r, *extra;

	if ((r = PQgetResult(c)) == NULL)
		return (NULL);
	while ((extra = PQgetResult(c)) != NULL)
		PQclear(extra);
	return (r);
}

static void
jdb_err(char *err, size_t len, PGresult *r, PGconn *c)
{
	const char	*m = r != NULL ? PQresultErrorMessage(r) : "";

	if (*m == '\0')
		m = PQerrorMessage(c);
	(void)snprintf(err, len, "%s", *m ? m : "pipeline failed");
	err[strcspn(err, "\n")] = '\0';
}

/*
 * 0: committed, every s[i].res holds its result (free with jdb_clear);
 * -1: rolled back or not sent, reason in err; *dead set when the
 * connection itself is gone (reconnect).
 */
int
jdb_tx(PGconn *c, const char *tenant, struct jdb_stmt *s, int n, char *err,
    size_t errlen, int *dead)
{
	return (jdb_tx_at(c, tenant, s, n, err, errlen, dead, NULL, NULL));
}

/*
 * jdb_tx, and on failure which statement failed and its SQLSTATE (an
 * import drops the one row whose statement failed and tries again):
 * f->index is -1 when no statement of s[] failed (BEGIN, COMMIT, the
 * connection).  prep[i], when given and not NULL, names the statement
 * prepared on this connection to run for s[i] instead of its text.
 */
int
jdb_tx_at(PGconn *c, const char *tenant, struct jdb_stmt *s, int n,
    char *err, size_t errlen, int *dead, struct jdb_fail *f,
    const char *const *prep)
{
	PGresult	*r;
	const char	*st;
	int		 i, ok = 1, pre = tenant != NULL ? 3 : 2;

	*dead = 0;
	err[0] = '\0';
	if (f != NULL) {
		f->index = -1;
		f->sqlstate[0] = '\0';
	}
	if (PQstatus(c) != CONNECTION_OK || PQenterPipelineMode(c) != 1)
		goto gone;
	ok = PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) &&
	    PQsendQueryParams(c, "SET LOCAL synchronous_commit = off", 0, NULL,
	    NULL, NULL, NULL, 0);
	if (ok && tenant != NULL)
		ok = jdb_send_tenant(c, tenant);
	for (i = 0; ok && i < n; i++)
		ok = prep != NULL && prep[i] != NULL ? PQsendQueryPrepared(c,
		    prep[i], s[i].n, s[i].p, NULL, NULL, 0) :
		    PQsendQueryParams(c, s[i].sql, s[i].n, NULL, s[i].p, NULL,
		    NULL, 0);
	if (ok)
		ok = PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL,
		    0);
	if (!ok || PQpipelineSync(c) != 1) {
		(void)PQexitPipelineMode(c);
		goto gone;
	}
	for (i = 0; i < pre + n + 1; i++) {
		if ((r = jdb_next(c)) == NULL) {
			ok = 0;
			break;
		}
		if (PQresultStatus(r) == PGRES_PIPELINE_ABORTED) {
			PQclear(r);
			continue;
		}
		if (PQresultStatus(r) != PGRES_COMMAND_OK &&
		    PQresultStatus(r) != PGRES_TUPLES_OK) {
			if (ok && f != NULL && i >= pre && i < pre + n) {
				f->index = i - pre;
				st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
				(void)snprintf(f->sqlstate, sizeof(f->sqlstate),
				    "%s", st != NULL ? st : "");
			}
			if (ok)
				jdb_err(err, errlen, r, c);
			ok = 0;
		}
		if (i >= pre && i < pre + n && ok)
			s[i - pre].res = r;
		else
			PQclear(r);
	}
	/* The sync that ends the pipeline. */
	if ((r = PQgetResult(c)) != NULL) {
		if (PQresultStatus(r) != PGRES_PIPELINE_SYNC)
			ok = 0;
		PQclear(r);
	}
	(void)PQexitPipelineMode(c);
	if (PQstatus(c) != CONNECTION_OK)
		goto gone;
	/*
	 * A failed statement makes the server skip the rest up to the sync,
	 * COMMIT included: the transaction block is still open, aborted, and
	 * would refuse every later statement on this connection.
	 */
	if (!ok && PQtransactionStatus(c) != PQTRANS_IDLE)
		PQclear(PQexec(c, "ROLLBACK"));
	if (!ok) {
		if (err[0] == '\0')
			jdb_err(err, errlen, NULL, c);
		jdb_clear(s, n);
		return (-1);
	}
	return (0);
gone:
	jdb_err(err, errlen, NULL, c);
	jdb_clear(s, n);
	*dead = 1;
	return (-1);
}
