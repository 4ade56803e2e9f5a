/*
 * sessions.c: sign-up, login, refresh, logout, who am I, and the public
 * keys that verify access tokens.
 *
 * Each flow is a chain of continuations (one per round trip or KDF run);
 * the flow's state lives in rq->h and is freed with the request.  Writes
 * ride in one transaction with their audit row.  Login throttles live in
 * Redis and fail closed; everything else here works without Redis.
 */

#include <openssl/sha.h>

#include <hiredis/hiredis.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "identity.h"
#include "keys.h"

/* Per client IP: quota, window (s), burst. */
#define SESS_SIGNUP_QUOTA	10	/* an hour, 5 at once */
#define SESS_SIGNUP_WINDOW	3600
#define SESS_SIGNUP_BURST	5
#define SESS_LOGIN_QUOTA	30	/* a minute, 10 at once */
#define SESS_LOGIN_WINDOW	60
#define SESS_LOGIN_BURST	10
#define SESS_PW_MAX_BYTES	512
#define SESS_MAX_CANDIDATES	10

/*
 * Consecutive login failures per account (SECURITY.md 3.3, T12): free up
 * to 9, then a delay doubling from 1 s (cap 15 min) after the last
 * failure, locked from 100 until an administrator resets the password.
 * KEYS[1] = the account's key.  Check returns {failures, wait seconds}
 * (-1: locked); fail records one more.
 */
static const char	sess_check_lua[] =
	"local v = redis.call('HMGET', KEYS[1], 'n', 't')\n"
	"local n = tonumber(v[1]) or 0\n"
	"if n < 10 then return {n, 0} end\n"
	"if n >= 100 then return {n, -1} end\n"
	"local now = tonumber(redis.call('TIME')[1])\n"
	"local wait = (tonumber(v[2]) or 0) + math.min(2 ^ (n - 10), 900) - now\n"
	"if wait < 0 then wait = 0 end\n"
	"return {n, math.ceil(wait)}\n";

static const char	sess_fail_lua[] =
	"redis.call('HINCRBY', KEYS[1], 'n', 1)\n"
	"redis.call('HSET', KEYS[1], 't', redis.call('TIME')[1])\n"
	"redis.call('EXPIRE', KEYS[1], 86400)\n"
	"return 1\n";

struct sess_cand {
	char	tenant[UUID_STRLEN + 1];
	char	user[UUID_STRLEN + 1];
	char	slug[64];
	char	role[64];
};

struct sess_state {
	char			*email;
	char			*password;
	char			*name;
	char			*company;
	char			 plan[16];
	char			 slug[64];
	char			 acct_key[96];	/* RK_LOGIN_FAILS */
	char			 refresh[IDN_TOKEN_LEN + 1];
	struct sess_cand	 cand[SESS_MAX_CANDIDATES];
	int			 ncand;
	int			 cur;
	int			 match;		/* index, -1 none */
	int			 nmatch;
	long long		 wait;
	int			 redis_ok;
};

static void
sess_state_free(void *h)
{
	struct sess_state	*st = h;

	if (st->password != NULL) {
		explicit_bzero(st->password, strlen(st->password));
		xfree(st->password);
	}
	xfree(st->email);
	xfree(st->name);
	xfree(st->company);
	explicit_bzero(st->refresh, sizeof(st->refresh));
	xfree(st);
}

static struct sess_state *
sess_state_new(struct rq *rq)
{
	struct sess_state	*st;

	st = xcalloc(1, sizeof(*st));
	st->match = -1;
	rq->h = st;
	rq->h_free = sess_state_free;
	return (st);
}

static void
sess_noop(struct redisReply *r, void *arg)
{
}

/* Sessions: the statements that open one, shared with invitations. */

/*
 * Adds a session and its first refresh token for rq->who.tenant and user
 * to b; sets rq->who.session and writes the refresh token to out.
 */
void
sess_open(struct db_batch *b, struct rq *rq, const char *user,
    char out[IDN_TOKEN_LEN + 1])
{
	uint8_t		hash[32];
	char		hex[65], ip[64];

	uuid7_new_str(rq->who.session);
	rq->who.session_version = 1;
	auth_opaque_new(rq->who.tenant, out, hash);
	crm_hex(hash, sizeof(hash), hex);
	db_stmt(b, "INSERT INTO crm.sessions (tenant_id, id, user_id, "
	    "expires_at, ip, user_agent) VALUES ($1, $2, $3, now() + "
	    "make_interval(secs => $4), $5, left($6, 512))");
	db_param(b, rq->who.tenant);
	db_param(b, rq->who.session);
	db_param(b, user);
	db_paramf(b, "%d", IDN_SESSION_TTL);
	db_param(b, auth_client_ip(rq, ip, sizeof(ip)) ? ip : NULL);
	db_param(b, auth_user_agent(rq));
	db_stmt(b, "INSERT INTO crm.refresh_tokens (tenant_id, token_hash, "
	    "session_id, expires_at) VALUES ($1, decode($2, 'hex'), $3, "
	    "now() + make_interval(secs => $4))");
	db_param(b, rq->who.tenant);
	db_param(b, hex);
	db_param(b, rq->who.session);
	db_paramf(b, "%d", IDN_REFRESH_TTL);
}

/* Sign-up. */

/* A slug from a company name: [a-z0-9-], 3..34 chars (room for "-xxxx"). */
static void
sess_slug(const char *name, char out[64])
{
	size_t	n = 0;
	int	dash = 0;

	for (; *name != '\0' && n < 34; name++) {
		if (isalnum((unsigned char)*name) && (*name & 0x80) == 0) {
			if (dash && n > 0)
				out[n++] = '-';
			dash = 0;
			if (n < 34)
				out[n++] = tolower((unsigned char)*name);
		} else {
			dash = 1;
		}
	}
	out[n] = '\0';
	if (n < 3) {
		memmove(out + 8, out, n + 1);
		memcpy(out, "company-", 8);
		if (n == 0)
			out[7] = '\0';
	}
}

static void
sess_suffix(char out[5])
{
	static const char	abc[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	uint8_t			r[4];
	int			i;

	(void)crm_random(r, sizeof(r));
	for (i = 0; i < 4; i++)
		out[i] = abc[r[i] % (sizeof(abc) - 1)];
	out[4] = '\0';
}

static void
sess_signup_roles(struct db_batch *b, struct rq *rq, char owner[37])
{
	const struct perm_role	*r;
	struct buf		 ids, names, scopes;
	char			 id[UUID_STRLEN + 1];
	size_t			 i;

	buf_init(&ids, 512);
	buf_init(&names, 128);
	buf_init(&scopes, 64);
	for (i = 0; (r = perm_builtin_at(i)) != NULL; i++) {
		uuid7_new_str(id);
		if (i == 0)
			(void)snprintf(owner, 37, "%s", id);
		buf_appendf(&ids, "%s%s", i ? "," : "{", id);
		buf_appendf(&names, "%s%s", i ? "," : "{", r->name);
		buf_appendf(&scopes, "%s%s", i ? "," : "{",
		    perm_scope_name(r->scope));
	}
	buf_appendc(&ids, '}');
	buf_appendc(&names, '}');
	buf_appendc(&scopes, '}');
	db_stmt(b, "INSERT INTO crm.roles (tenant_id, id, name, builtin, "
	    "scope) SELECT $1, r.id, r.name, true, r.scope FROM "
	    "unnest($2::uuid[], $3::text[], $4::text[]) AS r(id, name, scope)");
	db_param(b, rq->who.tenant);
	db_param(b, buf_cstr(&ids));
	db_param(b, buf_cstr(&names));
	db_param(b, buf_cstr(&scopes));
	buf_free(&ids);
	buf_free(&names);
	buf_free(&scopes);
}

static int
sess_signup_done(struct rq *rq)
{
	struct sess_state	*st = rq->h;
	json_error_t		 e;
	json_t			*tenant, *out;

	if (!db_ok(rq)) {
		if (strcmp(rq->batch->sqlstate, "23505") == 0)
			return (reply_problem(rq, PROB_CONFLICT, "an account "
			    "was created at the same moment; try again"));
		return (db_reply_error(rq));
	}
	tenant = json_loads(PQgetvalue(db_res(rq, rq->batch->nstmts - 1), 0,
	    0), 0, &e);
	out = json_pack("{s:o, s:{s:s, s:s, s:s, s:s}}", "tenant", tenant,
	    "user", "id", rq->who.user, "email", st->email, "name", st->name,
	    "role", "owner");
	return (auth_reply_tokens(rq, 201, st->refresh, out));
}

static int
sess_signup_write(struct rq *rq)
{
	struct sess_state	*st = rq->h;
	struct db_batch		*b;
	char			 owner[37], suffix[5];

	if (kdf_hash_result(rq) == NULL)
		return (reply_problem(rq, PROB_INTERNAL, NULL));
	uuid7_new_str(rq->who.tenant);
	uuid7_new_str(rq->who.user);
	sess_suffix(suffix);
	b = db_batch(rq, DB_TX);
	db_stmt(b, "INSERT INTO crm.tenants (tenant_id, name, slug, plan) "
	    "SELECT $1, $2, CASE WHEN EXISTS (SELECT 1 FROM "
	    "auth.tenant_by_slug($3)) THEN $3 || '-' || $4 ELSE $3 END, $5");
	db_param(b, rq->who.tenant);
	db_param(b, st->company);
	db_param(b, st->slug);
	db_param(b, suffix);
	db_param(b, st->plan);
	sess_signup_roles(b, rq, owner);
	db_stmt(b, "INSERT INTO crm.users (tenant_id, id, email, name, "
	    "password_hash, role_id) VALUES ($1, $2, $3, $4, $5, $6)");
	db_param(b, rq->who.tenant);
	db_param(b, rq->who.user);
	db_param(b, st->email);
	db_param(b, st->name);
	db_param(b, kdf_hash_result(rq));
	db_param(b, owner);
	kdf_release(rq);
	sess_open(b, rq, rq->who.user, st->refresh);
	audit_add(b, rq, "auth.signup", "tenant", rq->who.tenant, NULL);
	db_stmt(b, "SELECT json_build_object('id', tenant_id, 'name', name, "
	    "'slug', slug, 'plan', plan, 'status', status)::text "
	    "FROM crm.tenants WHERE tenant_id = $1");
	db_param(b, rq->who.tenant);
	(void)snprintf(rq->who.role, sizeof(rq->who.role), "owner");
	return (db_run(rq, b, sess_signup_done));
}

static int
sess_signup_hash(struct rq *rq)
{
	struct sess_state	*st = rq->h;

	return (kdf_hash(rq, st->password, strlen(st->password),
	    sess_signup_write));
}

static int
sess_signup(struct rq *rq)
{
	static const char *const	 fields[] = { "company_name", "email",
					    "password", "name", "plan", NULL };
	static const char *const	 plans[] = { "free", "team",
					    "business", NULL };
	struct sess_state		*st;
	struct val			 v;
	const char			*company, *email, *pw, *name, *plan;

	val_init(&v, rq->body);
	val_only(&v, fields);
	company = val_str(&v, "company_name", 1, 1, 200);
	email = val_email(&v, "email", 1);
	pw = val_str(&v, "password", 1, 1, SESS_PW_MAX_BYTES);
	name = val_str(&v, "name", 0, 0, 200);
	plan = val_enum(&v, "plan", 0, plans);
	auth_password_check(&v, "password", pw);
	if (val_failed(&v))
		return (auth_reply_val(rq, &v));
	st = sess_state_new(rq);
	st->company = xstrdup(company);
	st->email = xstrdup(email);
	st->password = xstrdup(pw);
	st->name = xstrdup(name ? name : "");
	(void)snprintf(st->plan, sizeof(st->plan), "%s", plan ? plan : "team");
	sess_slug(company, st->slug);
	return (auth_ip_limit(rq, "signup", RK_SIGNUP_IP, SESS_SIGNUP_QUOTA,
	    SESS_SIGNUP_WINDOW, SESS_SIGNUP_BURST, sess_signup_hash));
}

/* Login. */

static int	sess_login_next(struct rq *);

static void
sess_login_record_fail(struct rq *rq)
{
	struct sess_state	*st = rq->h;
	const char		*argv[] = { "EVAL", sess_fail_lua, "1",
				    st->acct_key };
	size_t			 lens[4];
	int			 i;

	for (i = 0; i < 4; i++)
		lens[i] = strlen(argv[i]);
	(void)rds_cmd(sess_noop, NULL, 4, argv, lens);
}

/* The one 401 for every login failure: same status, body and headers. */
static int
sess_login_denied(struct rq *rq)
{
	reply_header(rq, "www-authenticate", "Bearer");
	return (reply_problem(rq, PROB_UNAUTHENTICATED,
	    "the e-mail or the password is wrong"));
}

static int
sess_login_failed_audited(struct rq *rq)
{
	return (sess_login_denied(rq));
}

/* Record the failure (Redis), audit it where the account exists. */
static int
sess_login_fail(struct rq *rq)
{
	struct sess_state	*st = rq->h;
	struct db_batch		*b;

	kdf_release(rq);
	sess_login_record_fail(rq);
	if (st->ncand == 0)
		return (sess_login_denied(rq));
	(void)snprintf(rq->who.tenant, sizeof(rq->who.tenant), "%s",
	    st->cand[0].tenant);
	b = db_batch(rq, DB_TX);
	audit_add_as(b, rq, st->cand[0].user, "auth.login_failed", "user",
	    st->cand[0].user, NULL);
	return (db_run(rq, b, sess_login_failed_audited));
}

static int
sess_login_done(struct rq *rq)
{
	struct sess_state	*st = rq->h;
	const char		*argv[] = { "DEL", st->acct_key };
	size_t			 lens[] = { 3, strlen(st->acct_key) };

	if (!db_ok(rq))
		return (db_reply_error(rq));
	(void)rds_cmd(sess_noop, NULL, 2, argv, lens);
	return (auth_reply_tokens(rq, 200, st->refresh, NULL));
}

static int
sess_login_success(struct rq *rq)
{
	struct sess_state	*st = rq->h;
	struct sess_cand	*c = &st->cand[st->match];
	struct db_batch		*b;

	(void)snprintf(rq->who.tenant, sizeof(rq->who.tenant), "%s",
	    c->tenant);
	b = db_batch(rq, DB_TX);
	sess_open(b, rq, c->user, st->refresh);
	db_stmt(b, "UPDATE crm.users SET last_login_at = now() "
	    "WHERE tenant_id = $1 AND id = $2");
	db_param(b, c->tenant);
	db_param(b, c->user);
	audit_add_as(b, rq, c->user, "auth.login", "user", c->user, NULL);
	/*
	 * The token's principal, but no principal check in this transaction:
	 * the session it would check is being created by it.
	 */
	auth_set_user(rq, c->tenant, c->user, rq->who.session, 1, c->role);
	rq->who.kind = PRINC_NONE;
	return (db_run(rq, b, sess_login_done));
}

static int
sess_login_verified(struct rq *rq)
{
	struct sess_state	*st = rq->h;

	if (kdf_ok(rq)) {
		st->match = st->cur;
		st->nmatch++;
	}
	kdf_release(rq);
	st->cur++;
	return (sess_login_next(rq));
}

static int
sess_login_hash(struct rq *rq)
{
	struct sess_state	*st = rq->h;
	PGresult		*res;

	if (!db_ok(rq))
		return (db_reply_error(rq));
	res = db_res(rq, 0);
	if (PQntuples(res) != 1) {
		st->cur++;
		return (sess_login_next(rq));
	}
	(void)snprintf(st->cand[st->cur].role, sizeof(st->cand[0].role), "%s",
	    PQgetvalue(res, 0, 1));
	return (kdf_verify(rq, PQgetvalue(res, 0, 0), st->password,
	    strlen(st->password), sess_login_verified));
}

/*
 * Try the candidates one by one (usually one).  Several matches without a
 * tenant slug: the client must say which (only after the password proved
 * right, so this tells nothing to a guesser).
 */
static int
sess_login_next(struct rq *rq)
{
	struct sess_state	*st = rq->h;
	struct db_batch		*b;
	json_t			*p;

	if (st->cur < st->ncand) {
		(void)snprintf(rq->who.tenant, sizeof(rq->who.tenant), "%s",
		    st->cand[st->cur].tenant);
		b = db_batch(rq, DB_TX | DB_READONLY);
		db_stmt(b, "SELECT u.password_hash, r.name FROM crm.users u "
		    "JOIN crm.roles r ON r.tenant_id = u.tenant_id AND "
		    "r.id = u.role_id WHERE u.tenant_id = $1 AND u.id = $2 "
		    "AND u.status = 'active'");
		db_param(b, st->cand[st->cur].tenant);
		db_param(b, st->cand[st->cur].user);
		return (db_run(rq, b, sess_login_hash));
	}
	if (st->nmatch == 0)
		return (sess_login_fail(rq));
	if (st->nmatch > 1) {
		p = problem_new(PROB_VALIDATION_FAILED, "this e-mail has "
		    "accounts in several companies");
		problem_add_field(p, "tenant", "required",
		    "give the company's slug");
		return (reply_problem_json(rq, p));
	}
	return (sess_login_success(rq));
}

static int
sess_login_candidates(struct rq *rq)
{
	struct sess_state	*st = rq->h;
	PGresult		*res;
	int			 i;

	if (!db_ok(rq))
		return (db_reply_error(rq));
	res = db_res(rq, 0);
	for (i = 0; i < PQntuples(res) && st->ncand < SESS_MAX_CANDIDATES;
	    i++) {
		if (st->slug[0] && strcmp(st->slug, PQgetvalue(res, i, 2)))
			continue;
		(void)snprintf(st->cand[st->ncand].tenant, UUID_STRLEN + 1,
		    "%s", PQgetvalue(res, i, 0));
		(void)snprintf(st->cand[st->ncand].user, UUID_STRLEN + 1,
		    "%s", PQgetvalue(res, i, 1));
		(void)snprintf(st->cand[st->ncand++].slug, 64, "%s",
		    PQgetvalue(res, i, 2));
	}
	if (st->ncand == 0)	/* same cost as a wrong password */
		return (kdf_verify(rq, NULL, st->password,
		    strlen(st->password), sess_login_fail));
	return (sess_login_next(rq));
}

static void
sess_login_throttle(struct rq *rq, struct redisReply *r)
{
	struct sess_state	*st = rq->h;

	st->redis_ok = r != NULL && r->type == REDIS_REPLY_ARRAY &&
	    r->elements == 2;
	if (st->redis_ok)
		st->wait = r->element[1]->integer;
}

static int
sess_login_lookup(struct rq *rq)
{
	struct sess_state	*st = rq->h;
	struct db_batch		*b;
	char			 v[32];

	if (!st->redis_ok) {
		reply_header(rq, "retry-after", "1");
		return (reply_problem(rq, PROB_UNAVAILABLE,
		    "login is unavailable for a moment"));
	}
	if (st->wait != 0) {
		(void)snprintf(v, sizeof(v), "%lld",
		    st->wait < 0 ? 3600 : st->wait);
		reply_header(rq, "retry-after", v);
		return (reply_problem(rq, PROB_RATE_LIMITED, st->wait < 0 ?
		    "this account is locked; an administrator must reset its "
		    "password" : "too many failed logins; retry later"));
	}
	b = db_batch(rq, DB_NOTENANT);
	db_stmt(b, "SELECT tenant_id, user_id, slug "
	    "FROM auth.login_candidates($1)");
	db_param(b, st->email);
	return (db_run(rq, b, sess_login_candidates));
}

static int
sess_login_check(struct rq *rq)
{
	struct sess_state	*st = rq->h;
	const char		*argv[] = { "EVAL", sess_check_lua, "1",
				    st->acct_key };
	size_t			 lens[4];
	int			 i;

	for (i = 0; i < 4; i++)
		lens[i] = strlen(argv[i]);
	return (rds_cmd_rq(rq, sess_login_throttle, sess_login_lookup, 4,
	    argv, lens));
}

static void
sess_acct_key(const char *email, char out[96])
{
	unsigned char	md[32];
	char		hex[65], *lc;
	size_t		i;

	lc = xstrdup(email);
	for (i = 0; lc[i] != '\0'; i++)
		lc[i] = tolower((unsigned char)lc[i]);
	SHA256((const unsigned char *)lc, strlen(lc), md);
	xfree(lc);
	crm_hex(md, 16, hex);
	(void)snprintf(out, 96, RK_LOGIN_FAILS, hex);
}

static int
sess_login(struct rq *rq)
{
	static const char *const	 fields[] = { "email", "password",
					    "tenant", NULL };
	struct sess_state		*st;
	struct val			 v;
	const char			*email, *pw, *slug;

	val_init(&v, rq->body);
	val_only(&v, fields);
	email = val_str(&v, "email", 1, 1, 254);
	pw = val_str(&v, "password", 1, 1, SESS_PW_MAX_BYTES);
	slug = val_str(&v, "tenant", 0, 1, 63);
	if (val_failed(&v))
		return (auth_reply_val(rq, &v));
	st = sess_state_new(rq);
	st->email = xstrdup(email);
	st->password = xstrdup(pw);
	if (slug != NULL)
		(void)snprintf(st->slug, sizeof(st->slug), "%s", slug);
	sess_acct_key(email, st->acct_key);
	return (auth_ip_limit(rq, "login", RK_LOGIN_IP, SESS_LOGIN_QUOTA,
	    SESS_LOGIN_WINDOW, SESS_LOGIN_BURST, sess_login_check));
}

/* Refresh. */

static int
sess_refresh_reused(struct rq *rq)
{
	return (auth_reply_invalid(rq));
}

static int
sess_refresh_done(struct rq *rq)
{
	struct sess_state	*st = rq->h;
	struct db_batch		*b;
	PGresult		*res;
	const char		*status;
	char			 user[UUID_STRLEN + 1], sid[UUID_STRLEN + 1];

	if (!db_ok(rq))
		return (db_reply_error(rq));
	res = db_res(rq, 0);
	status = PQgetvalue(res, 0, 0);
	if (strcmp(status, "reused") == 0) {
		/* Copied out first: db_batch() frees these results. */
		(void)snprintf(user, sizeof(user), "%s", PQgetvalue(res, 0, 1));
		(void)snprintf(sid, sizeof(sid), "%s", PQgetvalue(res, 0, 2));
		log_msg(LOG_LVL_WARN, "refresh_reuse", "session %s revoked",
		    sid);
		b = db_batch(rq, DB_TX);
		audit_add_as(b, rq, user, "auth.refresh_reuse", "session", sid,
		    NULL);
		return (db_run(rq, b, sess_refresh_reused));
	}
	if (strcmp(status, "ok") != 0)
		return (auth_reply_invalid(rq));
	auth_set_user(rq, rq->who.tenant, PQgetvalue(res, 0, 1),
	    PQgetvalue(res, 0, 2), strtoll(PQgetvalue(res, 0, 3), NULL, 10),
	    PQgetvalue(res, 0, 4));
	rq->who.kind = PRINC_NONE;	/* no check: the session was just read */
	return (auth_reply_tokens(rq, 200, st->refresh, NULL));
}

static int
sess_refresh(struct rq *rq)
{
	static const char *const	 fields[] = { "refresh_token", NULL };
	struct sess_state		*st;
	struct db_batch			*b;
	struct val			 v;
	const char			*tok;
	uint8_t				 old[32], new[32];
	char				 oldhex[65], newhex[65];

	val_init(&v, rq->body);
	val_only(&v, fields);
	tok = val_str(&v, "refresh_token", 1, 1, 200);
	if (val_failed(&v))
		return (auth_reply_val(rq, &v));
	if (auth_opaque_parse(tok, rq->who.tenant, old) == -1)
		return (auth_reply_invalid(rq));
	st = sess_state_new(rq);
	auth_opaque_new(rq->who.tenant, st->refresh, new);
	crm_hex(old, sizeof(old), oldhex);
	crm_hex(new, sizeof(new), newhex);
	b = db_batch(rq, DB_TX);
	db_stmt(b, "SELECT status, user_id, session_id, version, role "
	    "FROM crm.refresh_rotate($1, decode($2, 'hex'), "
	    "decode($3, 'hex'), $4)");
	db_param(b, rq->who.tenant);
	db_param(b, oldhex);
	db_param(b, newhex);
	db_paramf(b, "%d", IDN_REFRESH_TTL);
	return (db_run(rq, b, sess_refresh_done));
}

/* Logout: the session's tokens die on their next request. */

static int
sess_logout_done(struct rq *rq)
{
	if (!db_ok(rq))
		return (db_reply_error(rq));
	return (reply_empty(rq, 204));
}

static int
sess_logout(struct rq *rq)
{
	struct db_batch	*b;

	if (rq->who.kind != PRINC_USER)
		return (reply_problem(rq, PROB_FORBIDDEN,
		    "logout ends user sessions; revoke API keys instead"));
	b = db_batch(rq, DB_TX);
	db_stmt(b, "UPDATE crm.sessions SET revoked_at = now(), "
	    "revoke_reason = 'logout', version = version + 1 "
	    "WHERE tenant_id = $1 AND id = $2");
	db_param(b, rq->who.tenant);
	db_param(b, rq->who.session);
	db_stmt(b, "UPDATE crm.refresh_tokens SET used_at = now() "
	    "WHERE tenant_id = $1 AND session_id = $2 AND used_at IS NULL");
	db_param(b, rq->who.tenant);
	db_param(b, rq->who.session);
	audit_add(b, rq, "auth.logout", "session", rq->who.session, NULL);
	return (db_run(rq, b, sess_logout_done));
}

/*
 * Password change: the current password first (in a task thread), then
 * the new hash and every session of the user revoked in one transaction:
 * all the user's access tokens die on their next request, this one's too.
 */
static int
sess_password_done(struct rq *rq)
{
	if (!db_ok(rq))
		return (db_reply_error(rq));
	return (reply_empty(rq, 204));
}

static int
sess_password_store(struct rq *rq)
{
	struct db_batch	*b;

	if (kdf_hash_result(rq) == NULL)
		return (reply_problem(rq, PROB_INTERNAL, NULL));
	b = db_batch(rq, DB_TX);
	db_stmt(b, "UPDATE crm.users SET password_hash = $3, "
	    "password_changed_at = now(), updated_at = now() "
	    "WHERE tenant_id = $1 AND id = $2");
	db_param(b, rq->who.tenant);
	db_param(b, rq->who.user);
	db_param(b, kdf_hash_result(rq));
	kdf_release(rq);
	db_stmt(b, "UPDATE crm.sessions SET revoked_at = now(), "
	    "revoke_reason = 'password_changed', version = version + 1 "
	    "WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL");
	db_param(b, rq->who.tenant);
	db_param(b, rq->who.user);
	audit_add(b, rq, "user.password_changed", "user", rq->who.user, NULL);
	return (db_run(rq, b, sess_password_done));
}

static int
sess_password_verified(struct rq *rq)
{
	struct sess_state	*st = rq->h;
	json_t			*p;

	if (!kdf_ok(rq)) {
		kdf_release(rq);
		p = problem_new(PROB_VALIDATION_FAILED, "1 field is invalid");
		problem_add_field(p, "current_password", "invalid_value",
		    "the current password is wrong");
		return (reply_problem_json(rq, p));
	}
	kdf_release(rq);
	return (kdf_hash(rq, st->password, strlen(st->password),
	    sess_password_store));
}

static int
sess_password_current(struct rq *rq)
{
	struct sess_state	*st = rq->h;

	if (!db_ok(rq))
		return (db_reply_error(rq));
	if (PQntuples(db_res(rq, 0)) != 1)
		return (auth_reply_invalid(rq));
	return (kdf_verify(rq, PQgetvalue(db_res(rq, 0), 0, 0), st->email,
	    strlen(st->email), sess_password_verified));
}

static int
sess_password(struct rq *rq)
{
	static const char *const	 fields[] = { "current_password",
					    "new_password", NULL };
	struct sess_state		*st;
	struct db_batch			*b;
	struct val			 v;
	const char			*cur, *pw;

	if (rq->who.kind != PRINC_USER)
		return (reply_problem(rq, PROB_FORBIDDEN,
		    "only users have passwords"));
	val_init(&v, rq->body);
	val_only(&v, fields);
	cur = val_str(&v, "current_password", 1, 1, SESS_PW_MAX_BYTES);
	pw = val_str(&v, "new_password", 1, 1, SESS_PW_MAX_BYTES);
	if (pw != NULL)
		auth_password_check(&v, "new_password", pw);
	if (val_failed(&v))
		return (auth_reply_val(rq, &v));
	st = sess_state_new(rq);
	st->email = xstrdup(cur);	/* the current password, for now */
	st->password = xstrdup(pw);
	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, "SELECT password_hash FROM crm.users "
	    "WHERE tenant_id = $1 AND id = $2");
	db_param(b, rq->who.tenant);
	db_param(b, rq->who.user);
	return (db_run(rq, b, sess_password_current));
}

/* Who am I. */

static json_t *
sess_strv(const char *const *v)
{
	json_t	*a = json_array();
	size_t	 i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		json_array_append_new(a, json_string(v[i]));
	return (a);
}

/*
 * What a key may really do: each of its scopes that its creator's role
 * still allows ("write" counts as allowed when the role may create).
 */
static json_t *
sess_key_perms(const struct principal *p)
{
	json_t	*a = json_array();
	char	 want[64];
	size_t	 i, n;

	for (i = 0; p->scopes != NULL && p->scopes[i] != NULL; i++) {
		(void)snprintf(want, sizeof(want), "%s", p->scopes[i]);
		n = strcspn(want, ":");
		if (strcmp(want + n, ":write") == 0 || strcmp(want + n, ":*") == 0)
			(void)snprintf(want + n, sizeof(want) - n, ":create");
		if (perm_allows(p->grants, want))
			json_array_append_new(a, json_string(p->scopes[i]));
	}
	return (a);
}

static int
sess_me_done(struct rq *rq)
{
	struct principal	*p = &rq->who;
	json_error_t		 e;
	json_t			*out;
	PGresult		*res;

	if (!db_ok(rq))
		return (db_reply_error(rq));
	res = db_res(rq, 0);
	if (PQntuples(res) != 1)
		return (auth_reply_invalid(rq));
	out = json_pack("{s:s, s:o, s:s, s:s, s:o}", "kind",
	    p->kind == PRINC_APIKEY ? "api_key" : "user",
	    "tenant", json_loads(PQgetvalue(res, 0, 0), 0, &e),
	    "role", p->role, "scope", perm_scope_name(p->scope),
	    "permissions", p->kind == PRINC_APIKEY ? sess_key_perms(p) :
	    sess_strv(p->grants));
	json_object_set_new(out, p->kind == PRINC_APIKEY ? "api_key" : "user",
	    json_loads(PQgetvalue(res, 0, 1), 0, &e));
	if (p->kind == PRINC_APIKEY)
		json_object_set_new(out, "scopes", sess_strv(p->scopes));
	return (reply_json(rq, 200, out));
}

static const char	sess_me_user_sql[] =
	"SELECT json_build_object('id', t.tenant_id, 'name', t.name, "
	"'slug', t.slug, 'plan', t.plan, 'status', t.status)::text, "
	"json_build_object('id', u.id, 'email', u.email, 'name', u.name, "
	"'role', r.name, 'status', u.status)::text "
	"FROM crm.users u JOIN crm.tenants t ON t.tenant_id = u.tenant_id "
	"JOIN crm.roles r ON r.tenant_id = u.tenant_id AND r.id = u.role_id "
	"WHERE u.tenant_id = $1 AND u.id = $2";

static const char	sess_me_key_sql[] =
	"SELECT json_build_object('id', t.tenant_id, 'name', t.name, "
	"'slug', t.slug, 'plan', t.plan, 'status', t.status)::text, "
	"json_build_object('id', k.id, 'name', k.name, 'prefix', k.prefix, "
	"'created_by', k.created_by)::text "
	"FROM crm.api_keys k JOIN crm.tenants t ON t.tenant_id = k.tenant_id "
	"WHERE k.tenant_id = $1 AND k.id = $2";

static int
sess_me(struct rq *rq)
{
	struct db_batch	*b;

	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, rq->who.kind == PRINC_APIKEY ? sess_me_key_sql :
	    sess_me_user_sql);
	db_param(b, rq->who.tenant);
	db_param(b, rq->who.user);
	return (db_run(rq, b, sess_me_done));
}

static int
sess_jwks(struct rq *rq)
{
	reply_header(rq, "cache-control", "public, max-age=300");
	return (reply_json(rq, 200, kr_jwks(auth_ring(),
	    (int64_t)(crm_now_ms() / 1000))));
}

static const struct route sessions_routes[] = {
	ROUTE(HTTP_METHOD_POST, "/v1/signup", "public", sess_signup,
	    RT_JSON | RT_NOLIMIT, "Create a company, its owner and a session"),
	ROUTE(HTTP_METHOD_POST, "/v1/auth/login", "public", sess_login,
	    RT_JSON | RT_NOLIMIT, "Log in with e-mail and password"),
	ROUTE(HTTP_METHOD_POST, "/v1/auth/refresh", "public", sess_refresh,
	    RT_JSON, "Trade a refresh token for a new token pair"),
	ROUTE(HTTP_METHOD_POST, "/v1/auth/logout", "authenticated",
	    sess_logout, 0, "End this session"),
	ROUTE(HTTP_METHOD_GET, "/v1/me", "authenticated", sess_me, 0,
	    "The calling user or API key, its tenant and permissions"),
	ROUTE(HTTP_METHOD_POST, "/v1/me/password", "authenticated",
	    sess_password, RT_JSON,
	    "Change the password; every session of the user ends"),
	ROUTE(HTTP_METHOD_GET, "/.well-known/jwks.json", "public", sess_jwks,
	    RT_NOLIMIT, "Public keys that verify access tokens"),
};

const struct crm_module sessions_module = {
	"sessions", sessions_routes,
	sizeof(sessions_routes) / sizeof(sessions_routes[0]),
	auth_worker_init, auth_parent_init
};
