/*
 * reset.c: password reset by e-mail (docs/identity.md, SECURITY.md
 * AUTH-16, FLOW-01, ISO-14).
 *
 *	POST /v1/auth/password-reset {email, tenant?}  -> 202, always
 *	POST /v1/auth/password-reset/confirm {token, password}  -> 204
 *
 * The request is throttled per client IP and per e-mail (both fail
 * closed), then finds the e-mail's users through the one narrow
 * pre-tenant lookup (auth.login_candidates, sql/004, as login does); for
 * each, in its own tenant's transaction: a token "<tenant id>.<secret>"
 * (256-bit secret, only its hash stored), earlier live resets of the user
 * ended, the e-mail job with the token sealed (email_seal), an audit row.
 * The answer is the same 202 whether or not the e-mail is known.
 *
 * Confirming checks the password policy first, hashes in a task, then one
 * statement: the reset spent (row-locked, so single use under a race),
 * the password set, every session of the user revoked, the audit row.
 * An unknown, used or expired token is the 401 of any bad credential.
 */

#include <openssl/sha.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "identity.h"
#include "keys.h"
#include "modules/integrations/email.h"

#define RESET_TTL_MIN		30
#define RESET_PER_EMAIL_H	3	/* an hour, all at once */
#define RESET_PER_IP_H		20	/* an hour, 10 at once */
#define RESET_CONFIRM_PER_MIN	30	/* per IP, shared with login */
#define RESET_MAX_CAND		10

struct reset_state {
	char	 email[256];
	char	 slug[64];
	char	 tenant[RESET_MAX_CAND][UUID_STRLEN + 1];
	char	 user[RESET_MAX_CAND][UUID_STRLEN + 1];
	int	 n;
	int	 cur;
	char	 thash[65];		/* confirm: hex of the secret's hash */
	char	*password;
};

static const char	reset_confirm_sql[] =
	"WITH u AS (SELECT crm.password_reset_confirm($1, decode($2, 'hex'), "
	"$3) AS id) INSERT INTO crm.audit_log (tenant_id, id, actor_id, "
	"actor_kind, action, target_type, target_id, ip, user_agent) "
	"SELECT $1, $4, u.id, 'user', 'user.password_reset', 'user', u.id, "
	"$5::inet, left($6, 512) FROM u RETURNING target_id";

static void
reset_state_free(void *h)
{
	struct reset_state	*st = h;

	if (st->password != NULL) {
		explicit_bzero(st->password, strlen(st->password));
		xfree(st->password);
	}
	explicit_bzero(st, sizeof(*st));
	xfree(st);
}

static struct reset_state *
reset_state_new(struct rq *rq)
{
	struct reset_state	*st = xcalloc(1, sizeof(*st));

	rq->h = st;
	rq->h_free = reset_state_free;
	return (st);
}

/* The one answer of a reset request, known e-mail or not. */
static int
reset_accepted(struct rq *rq)
{
	return (reply_json(rq, 202, json_pack("{s:s}", "detail", "if the "
	    "address belongs to an account, a reset link is on its way")));
}

static int	reset_next(struct rq *);

/*
 * A refusal in one tenant (suspended, say) is logged and skipped: the
 * answer must stay the one of an unknown address.  Only an unavailable
 * database is an error, and it is one for known and unknown alike.
 */
static int
reset_sent(struct rq *rq)
{
	struct reset_state	*st = rq->h;
	struct db_batch		*b = rq->batch;

	if (!db_ok(rq)) {
		if (b == NULL || b->unavailable)
			return (db_reply_error(rq));
		log_msg(LOG_LVL_WARN, "reset", "no reset for a user of tenant "
		    "%s: sqlstate %s", st->tenant[st->cur], b->sqlstate);
	}
	st->cur++;
	return (reset_next(rq));
}

/* One candidate's reset, in its tenant's transaction. */
static int
reset_next(struct rq *rq)
{
	struct reset_state	*st = rq->h;
	struct db_batch		*b;
	char			 tok[IDN_TOKEN_LEN + 1], sealed[EMAIL_SEALED_HEX];
	char			 id[UUID_STRLEN + 1], job[UUID_STRLEN + 1];
	char			 hex[65];
	uint8_t			 hash[32];
	int			 i = st->cur;

	if (i >= st->n)
		return (reset_accepted(rq));
	(void)snprintf(rq->who.tenant, sizeof(rq->who.tenant), "%s",
	    st->tenant[i]);
	auth_opaque_new(st->tenant[i], tok, hash);
	if (email_seal(tok, sealed) == -1) {
		explicit_bzero(tok, sizeof(tok));
		log_msg(LOG_LVL_ERROR, "reset", "the seal key is missing: "
		    "no reset e-mail for a user of tenant %s", st->tenant[i]);
		return (reply_problem(rq, PROB_INTERNAL, NULL));
	}
	explicit_bzero(tok, sizeof(tok));
	crm_hex(hash, sizeof(hash), hex);
	uuid7_new_str(id);
	uuid7_new_str(job);
	b = db_batch(rq, DB_TX);
	db_stmt(b, "SELECT crm.password_reset_request($1, $2, $3, "
	    "decode($4, 'hex'), $5, $6, $7, $8)");
	db_param(b, st->tenant[i]);
	db_param(b, st->user[i]);
	db_param(b, id);
	db_param(b, hex);
	db_paramf(b, "%d", RESET_TTL_MIN);
	db_param(b, job);
	db_paramf(b, "%d", crm_conf.email_max_attempts);
	db_param(b, sealed);
	audit_add_as(b, rq, st->user[i], "user.password_reset_requested",
	    "user", st->user[i], NULL);
	return (db_run(rq, b, reset_sent));
}

static int
reset_candidates(struct rq *rq)
{
	struct reset_state	*st = rq->h;
	PGresult		*res;
	int			 i;

	if (!db_ok(rq))
		return (db_reply_error(rq));
	res = db_res(rq, 0);
	for (i = 0; i < PQntuples(res) && st->n < RESET_MAX_CAND; i++) {
		if (st->slug[0] && strcmp(st->slug, PQgetvalue(res, i, 2)))
			continue;
		(void)snprintf(st->tenant[st->n], UUID_STRLEN + 1, "%s",
		    PQgetvalue(res, i, 0));
		(void)snprintf(st->user[st->n++], UUID_STRLEN + 1, "%s",
		    PQgetvalue(res, i, 1));
	}
	return (reset_next(rq));
}

static int
reset_lookup(struct rq *rq)
{
	struct reset_state	*st = rq->h;
	struct db_batch		*b;

	b = db_batch(rq, DB_NOTENANT);
	db_stmt(b, "SELECT tenant_id, user_id, slug "
	    "FROM auth.login_candidates($1)");
	db_param(b, st->email);
	return (db_run(rq, b, reset_candidates));
}

/* Per IP and per e-mail (its SHA-256: no address in Redis). */
static int
reset_limit(struct rq *rq, const char *email)
{
	struct lim_subject	s[2];
	unsigned char		md[32];
	char			ip[64], hex[33], *lc;
	size_t			i;

	memset(s, 0, sizeof(s));
	if (!auth_client_ip(rq, ip, sizeof(ip)))
		(void)snprintf(ip, sizeof(ip), "unknown");
	lc = xstrdup(email);
	for (i = 0; lc[i] != '\0'; i++)
		lc[i] = (char)tolower((unsigned char)lc[i]);
	SHA256((const unsigned char *)lc, strlen(lc), md);
	xfree(lc);
	crm_hex(md, 16, hex);
	s[0].name = "ip";
	s[0].quota = lim_scale(RESET_PER_IP_H);
	s[0].window = 3600;
	s[0].burst = lim_scale(10);
	(void)snprintf(s[0].key, sizeof(s[0].key), RK_RESET_IP, ip);
	s[1].name = "email";
	s[1].quota = lim_scale(RESET_PER_EMAIL_H);
	s[1].window = 3600;
	s[1].burst = lim_scale(RESET_PER_EMAIL_H);
	(void)snprintf(s[1].key, sizeof(s[1].key), RK_RESET_EMAIL, hex);
	return (lim_check(rq, s, 2, 1, reset_lookup));
}

static int
reset_request(struct rq *rq)
{
	static const char *const	 fields[] = { "email", "tenant", NULL };
	struct reset_state		*st;
	struct val			 v;
	const char			*email, *slug;

	val_init(&v, rq->body);
	val_only(&v, fields);
	email = val_email(&v, "email", 1);
	slug = val_str(&v, "tenant", 0, 1, 63);
	if (val_failed(&v))
		return (auth_reply_val(rq, &v));
	st = reset_state_new(rq);
	(void)snprintf(st->email, sizeof(st->email), "%s", email);
	if (slug != NULL)
		(void)snprintf(st->slug, sizeof(st->slug), "%s", slug);
	val_free(&v);
	return (reset_limit(rq, st->email));
}

/* Confirm. */

static int
reset_confirm_done(struct rq *rq)
{
	if (!db_ok(rq))
		return (users_db_error(rq, NULL));
	return (reply_empty(rq, 204));
}

static int
reset_confirm_write(struct rq *rq)
{
	struct reset_state	*st = rq->h;
	struct db_batch		*b;
	char			 id[UUID_STRLEN + 1], ip[64];

	if (kdf_hash_result(rq) == NULL)
		return (reply_problem(rq, PROB_INTERNAL, NULL));
	uuid7_new_str(id);
	b = db_batch(rq, DB_TX);
	db_stmt(b, reset_confirm_sql);
	db_param(b, rq->who.tenant);
	db_param(b, st->thash);
	db_param(b, kdf_hash_result(rq));
	kdf_release(rq);
	db_param(b, id);
	db_param(b, auth_client_ip(rq, ip, sizeof(ip)) ? ip : NULL);
	db_param(b, auth_user_agent(rq));
	return (db_run(rq, b, reset_confirm_done));
}

static int
reset_confirm_hash(struct rq *rq)
{
	struct reset_state	*st = rq->h;

	return (kdf_hash(rq, st->password, strlen(st->password),
	    reset_confirm_write));
}

static int
reset_confirm(struct rq *rq)
{
	static const char *const	 fields[] = { "token", "password",
					    NULL };
	struct reset_state		*st;
	struct val			 v;
	const char			*tok, *pw;
	uint8_t				 hash[32];

	val_init(&v, rq->body);
	val_only(&v, fields);
	tok = val_str(&v, "token", 1, 1, 256);
	pw = val_str(&v, "password", 1, 1, PW_MAX_BYTES);
	auth_password_check(&v, "password", pw);
	if (val_failed(&v))
		return (auth_reply_val(rq, &v));
	st = reset_state_new(rq);
	st->password = xstrdup(pw);
	if (auth_opaque_parse(tok, rq->who.tenant, hash) == -1) {
		val_free(&v);
		return (auth_reply_invalid(rq));
	}
	crm_hex(hash, sizeof(hash), st->thash);
	val_free(&v);
	return (auth_ip_limit(rq, "ip", RK_LOGIN_IP, RESET_CONFIRM_PER_MIN, 60,
	    10, reset_confirm_hash));
}

static const struct route reset_routes[] = {
	ROUTE(HTTP_METHOD_POST, "/v1/auth/password-reset", "public",
	    reset_request, RT_JSON | RT_NOLIMIT,
	    "Ask for a password reset link by e-mail (always 202)"),
	ROUTE(HTTP_METHOD_POST, "/v1/auth/password-reset/confirm", "public",
	    reset_confirm, RT_JSON | RT_NOLIMIT | RT_WRITE,
	    "Set a new password with a reset token; every session ends"),
};

const struct crm_module reset_module = {
	"reset", reset_routes, sizeof(reset_routes) / sizeof(reset_routes[0]),
	NULL, NULL
};
