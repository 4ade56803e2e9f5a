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

/*
 * Idempotency keys (idem.c): tenant, principal (user or API key id), the
 * client's key.  The one exception to "no customer data": a POST's reply
 * is kept here for 24 h so it can be replayed; whatever erases a tenant's
 * data must erase idem:<tenant>:* as well.
 */
#define RK_IDEM		"idem:%s:%s:%s"

/* API key last_used_at write gate: at most one write a minute per key. */
#define RK_KEY_USED	"keyused:%s:%s"		/* tenant, key id */

/* Job dispatch (crm-worker): ids only, the jobs live in PostgreSQL. */
#define RK_JOBS_READY	"jobs:ready:%s"		/* job kind */
#define RK_JOBS_TENANTS	"jobs:tenants"		/* tenants with pending jobs */

#endif /* CRM_KEYS_H */
