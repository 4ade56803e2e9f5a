/*
 * keys.h: every Redis key name the service uses, in one place.
 *
 * Keys that belong to a tenant carry the tenant id right after the kind,
 * so a tenant's keys can be found (and erased) by pattern and no key of one
 * tenant can collide with another's (SECURITY.md ISO-10).  PostgreSQL is
 * the system of record; apart from idempotency replies (below) nothing
 * here holds customer data.
 */

#ifndef CRM_KEYS_H
#define CRM_KEYS_H

/* Rate limits (limit.c): GCRA theoretical arrival times. */
#define RK_RL_TENANT	"rl:t:%s"		/* tenant */
#define RK_RL_USER	"rl:u:%s:%s"		/* tenant, user */
#define RK_RL_KEY	"rl:k:%s:%s"		/* tenant, api key */
#define RK_RL_IP	"rl:ip:%s"		/* client address (/64 for v6) */

/* Login and sign-up throttles (identity). */
#define RK_LOGIN_ACCT	"login:acct:%s"		/* sha256(lower(email)) */
#define RK_LOGIN_IP	"login:ip:%s"
#define RK_LOGIN_FAILS	"login:fails:%s"	/* consecutive failures */
#define RK_SIGNUP_IP	"signup:ip:%s"
#define RK_RESET_IP	"reset:ip:%s"		/* password reset requests */
#define RK_RESET_EMAIL	"reset:email:%s"	/* sha256(lower(email)) */

/*
 * Idempotency keys (idem.c): tenant, principal (user or API key id), the
 * client's key.  The one exception to "no customer data": a POST's reply
 * is kept here for 24 h so it can be replayed; whatever erases a tenant's
 * data must erase idem:<tenant>:* as well.
 */
#define RK_IDEM		"idem:%s:%s:%s"

/* API key last_used_at write gate: at most one write a minute per key. */
#define RK_KEY_USED	"keyused:%s:%s"		/* tenant, key id */

/*
 * Job dispatch (crm-worker, app/jobq.c): ids only, the jobs live in
 * PostgreSQL.  Literal prefixes: the Lua scripts append the tenant.
 */
#define RK_JOBS_TENANT	"jobs:t:"		/* + tenant: its job ids */
#define RK_JOBS_RING	"jobs:ring"		/* tenants, round robin */
#define RK_JOBS_ACTIVE	"jobs:active"		/* set of the ring's tenants */
#define RK_JOBS_LEASE	"jobs:lease"		/* taken ids -> deadline ms */
#define RK_JOBS_EPOCH	"jobs:epoch"		/* absent: Redis lost the queue */
#define RK_JOBS_SEQ	"jobs:seq"		/* push counter: lost writes */
#define RK_JOBS_CRON	"jobs:cron:%s"		/* scheduled job type */

#endif /* CRM_KEYS_H */
