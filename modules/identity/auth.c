/*
 * auth.c: from a credential to a principal, and what a principal may do.
 *
 * Fills the pipeline's identity steps (app/pipe.c):
 *
 *	authenticate	Bearer JWT (verified-token cache, else ES256 via
 *			tok_verify) or API key (per-worker cache, else the
 *			auth.api_key_lookup() pre-tenant lookup)
 *	tenant		what the steps after need and the token does not
 *			say: the plan's rate limit (cached per tenant) and a
 *			custom role's grants (read per request: role edits
 *			apply at once)
 *	rate_limit	tenant + user/key subjects, or the client IP on
 *			public routes
 *	permission	the route's "<resource>:<action>" against the role's
 *			grants, and for a key against its scopes as well
 *
 * and the principal check that app/db.c puts in every tenant transaction
 * (crm.check_user / crm.check_key, sql/004_identity.sql), which is what
 * makes revocation take effect on the next request.
 */

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "identity.h"
#include "keys.h"

#define AUTH_TENANT_SLOTS	1024
#define AUTH_TENANT_TTL_MS	30000
#define AUTH_KEY_SLOTS		512
#define AUTH_KEY_TTL_MS		10000
#define AUTH_PUBLIC_PER_MIN	600	/* per IP on public routes */
#define AUTH_MAX_GRANTS		200

/* Plan limits per tenant: changes reach every worker within the TTL. */
struct auth_tenant {
	char		tenant[UUID_STRLEN + 1];
	int		rate;
	uint64_t	at;
};

/* What a key's lookup learned; a principal gets its own copy. */
struct auth_key {
	char		 prefix[AKEY_ID_LEN + 1];
	uint8_t		 hash[AKEY_HASH_LEN];
	char		 tenant[UUID_STRLEN + 1];
	char		 id[UUID_STRLEN + 1];
	char		 creator[UUID_STRLEN + 1];
	char		 role[64];
	json_t		*scopes;	/* array of strings */
	json_t		*grants;	/* creator's role; NULL: built-in */
	int		 scope;
	int		 rate;
	uint64_t	 at;
};

/* Principal storage owned by the request. */
struct auth_owned {
	char		**grants;
	char		**scopes;
};

static struct kr_ring		auth_kring;
static struct auth_tenant	auth_tenants[AUTH_TENANT_SLOTS];
static struct auth_key		auth_keys[AUTH_KEY_SLOTS];

static int	auth_authenticate(struct rq *);
static int	auth_tenant(struct rq *);
static int	auth_ratelimit(struct rq *);
static int	auth_permission(struct rq *);
static void	auth_principal_free(struct principal *);
static int	auth_db_principal(struct rq *, int, int, const char **,
		    char **, char [DB_HOOK_PARAMS][48]);

static int
auth_next(struct rq *rq)
{
	return (PIPE_NEXT);
}

/* The parent, before workers fork: the key ring and the blocklist. */
static void
auth_blocklist_load(void)
{
	Dl_info		 info;
	char		 so[PATH_MAX], path[PATH_MAX + 64];
	const char	*p;

	if ((p = getenv("CRM_PASSWORD_BLOCKLIST")) == NULL) {
		if (dladdr((void *)auth_blocklist_load, &info) == 0 ||
		    info.dli_fname == NULL)
			crm_fatal("cannot locate the module for the blocklist");
		(void)snprintf(so, sizeof(so), "%s", info.dli_fname);
		(void)snprintf(path, sizeof(path),
		    "%s/../app/data/common-passwords.txt", dirname(so));
		p = path;
	}
	if (pw_blocklist_load(p) == -1)
		crm_fatal("cannot load the password blocklist %s", p);
}

void
auth_parent_init(void)
{
	if (kr_init_if_empty(crm_conf.keys_dir) == -1)
		crm_fatal("key ring %s: %s", crm_conf.keys_dir, kr_error());
	auth_blocklist_load();
}

static void
auth_ring_tick(void *arg, u_int64_t now)
{
	if (kr_reload_if_changed(&auth_kring) == -1)
		log_msg(LOG_LVL_ERROR, "keyring", "reload failed: %s",
		    kr_error());
}

void
auth_worker_init(void)
{
	if (kr_load(crm_conf.keys_dir, &auth_kring) == -1)
		crm_fatal("key ring %s: %s", crm_conf.keys_dir, kr_error());
	kore_timer_add(auth_ring_tick, 1000, NULL, 0);
	pipe_hooks.authenticate = auth_authenticate;
	pipe_hooks.tenant = auth_tenant;
	pipe_hooks.ratelimit = auth_ratelimit;
	pipe_hooks.permission = auth_permission;
	pipe_hooks.principal_free = auth_principal_free;
	db_hooks.principal = auth_db_principal;
}

const struct kr_ring *
auth_ring(void)
{
	return (&auth_kring);
}

/* Small helpers the handlers share. */

/*
 * A throttle on the client's address (sign-up, login, invitation accept,
 * password reset): quota per window seconds, fails closed.
 */
int
auth_ip_limit(struct rq *rq, const char *name, const char *fmt, int quota,
    int window, int burst, rq_fn next)
{
	struct lim_subject	s;
	char			ip[64];

	memset(&s, 0, sizeof(s));
	if (!auth_client_ip(rq, ip, sizeof(ip)))
		(void)snprintf(ip, sizeof(ip), "unknown");
	s.name = name;
	s.quota = lim_scale(quota);
	s.window = window;
	s.burst = lim_scale(burst);
	(void)snprintf(s.key, sizeof(s.key), fmt, ip);
	return (lim_check(rq, &s, 1, 1, next));
}

/* The password policy runs before any KDF work (SECURITY.md AUTH-13). */
void
auth_password_check(struct val *v, const char *field, const char *pw)
{
	const char	*why;

	if (pw != NULL && pw_policy_check(pw, strlen(pw), &why) != 0)
		val_error(v, field, why, "the password does not meet "
		    "the policy: 15 to 128 characters, not a common one");
}

int
auth_client_ip(struct rq *rq, char *out, size_t len)
{
	struct connection	*c = rq->req->owner;
	const void		*a;

	switch (c->family) {
	case AF_INET:
		a = &c->addr.ipv4.sin_addr;
		break;
	case AF_INET6:
		a = &c->addr.ipv6.sin6_addr;
		break;
	default:
		return (0);
	}
	return (inet_ntop(c->family, a, out, len) != NULL);
}

const char *
auth_user_agent(struct rq *rq)
{
	return (pipe_header(rq, "user-agent"));
}

int
auth_is_owner_role(const char *role)
{
	return (strcmp(role, "owner") == 0);
}

int
auth_reply_invalid(struct rq *rq)
{
	reply_header(rq, "www-authenticate", "Bearer");
	return (reply_problem(rq, PROB_UNAUTHENTICATED,
	    "the credential is not valid"));
}

int
auth_reply_val(struct rq *rq, struct val *v)
{
	return (reply_problem_json(rq, val_problem(v)));
}

/*
 * Opaque tokens (refresh, invitation): "<tenant id>.<43 base64url>".  The
 * tenant part is not secret and saves a pre-tenant lookup; the hash is of
 * the secret part.
 */
int
auth_opaque_new(const char *tenant, char out[IDN_TOKEN_LEN + 1],
    uint8_t hash[32])
{
	char	secret[AKEY_TOKEN_LEN + 1];

	akey_token(secret, hash);
	(void)snprintf(out, IDN_TOKEN_LEN + 1, "%s.%s", tenant, secret);
	explicit_bzero(secret, sizeof(secret));
	return (0);
}

int
auth_opaque_parse(const char *tok, char tenant[UUID_STRLEN + 1],
    uint8_t hash[32])
{
	uint8_t		raw[UUID_LEN];

	if (tok == NULL || strlen(tok) != IDN_TOKEN_LEN ||
	    tok[UUID_STRLEN] != '.')
		return (-1);
	memcpy(tenant, tok, UUID_STRLEN);
	tenant[UUID_STRLEN] = '\0';
	if (uuid7_parse(tenant, raw) == -1)
		return (-1);
	uuid7_fmt(raw, tenant);
	return (akey_token_hash(tok + UUID_STRLEN + 1, hash));
}

/* Principals. */

static void
auth_principal_free(struct principal *p)
{
	struct auth_owned	*o = p->owned;
	size_t			 i;

	if (o == NULL)
		return;
	for (i = 0; o->grants != NULL && o->grants[i] != NULL; i++)
		xfree(o->grants[i]);
	for (i = 0; o->scopes != NULL && o->scopes[i] != NULL; i++)
		xfree(o->scopes[i]);
	xfree(o->grants);
	xfree(o->scopes);
	xfree(o);
	p->owned = NULL;
}

static struct auth_owned *
auth_owned(struct principal *p)
{
	if (p->owned == NULL)
		p->owned = xcalloc(1, sizeof(struct auth_owned));
	return (p->owned);
}

/* A NULL-terminated copy of a JSON array of strings. */
static char **
auth_strv(const json_t *a)
{
	char	**v;
	json_t	 *e;
	size_t	  i, n = json_array_size(a);

	v = xcalloc(n + 1, sizeof(*v));
	json_array_foreach(a, i, e)
		v[i] = xstrdup(json_is_string(e) ? json_string_value(e) : "");
	return (v);
}

/* The role's grants: built-in from the table, custom ones read later. */
static void
auth_set_role(struct principal *p, const char *role)
{
	const struct perm_role	*r;

	(void)snprintf(p->role, sizeof(p->role), "%s", role);
	if ((r = perm_builtin(role)) != NULL) {
		p->grants = r->grants;
		p->scope = r->scope;
	} else {
		p->grants = NULL;
		p->scope = PERM_SCOPE_OWN;
	}
}

/* Callers may pass the principal's own fields back in. */
static void
auth_copy(char *dst, const char *src, size_t len)
{
	if (dst != src)
		(void)snprintf(dst, len, "%s", src);
}

void
auth_set_user(struct rq *rq, const char *tenant, const char *user,
    const char *session, int64_t version, const char *role)
{
	struct principal	*p = &rq->who;

	p->kind = PRINC_USER;
	auth_copy(p->tenant, tenant, sizeof(p->tenant));
	auth_copy(p->user, user, sizeof(p->user));
	auth_copy(p->owner, user, sizeof(p->owner));
	auth_copy(p->session, session, sizeof(p->session));
	p->session_version = version;
	auth_set_role(p, role);
}

/* The token pair for the user principal set with auth_set_user(). */
json_t *
auth_tokens(struct rq *rq, const char *refresh)
{
	struct tok_claims	 c;
	char			*tok;
	json_t			*out;

	memset(&c, 0, sizeof(c));
	(void)snprintf(c.iss, sizeof(c.iss), "%s", crm_conf.jwt_issuer);
	(void)snprintf(c.aud, sizeof(c.aud), "%s", crm_conf.jwt_audience);
	(void)snprintf(c.sub, sizeof(c.sub), "%s", rq->who.user);
	(void)snprintf(c.tid, sizeof(c.tid), "%s", rq->who.tenant);
	(void)snprintf(c.sid, sizeof(c.sid), "%s", rq->who.session);
	(void)snprintf(c.role, sizeof(c.role), "%s", rq->who.role);
	c.sv = rq->who.session_version;
	if (tok_sign(&auth_kring, &c, &tok) != 0) {
		log_msg(LOG_LVL_ERROR, "token_sign", "cannot sign: %s",
		    kr_error());
		return (NULL);
	}
	out = json_pack("{s:s, s:s, s:s, s:i}", "access_token", tok,
	    "refresh_token", refresh, "token_type", "Bearer", "expires_in",
	    TOK_LIFETIME);
	xfree(tok);
	return (out);
}

/* Reply with the token pair plus the members of extra (stolen). */
int
auth_reply_tokens(struct rq *rq, int status, const char *refresh,
    json_t *extra)
{
	json_t	*out;

	if ((out = auth_tokens(rq, refresh)) == NULL) {
		if (extra != NULL)
			json_decref(extra);
		return (reply_problem(rq, PROB_INTERNAL, NULL));
	}
	if (extra != NULL) {
		json_object_update(out, extra);
		json_decref(extra);
	}
	return (reply_json(rq, status, out));
}

/* Step: authenticate. */

static int
auth_jwt(struct rq *rq, const char *token)
{
	struct tok_claims	c;
	int64_t			now = (int64_t)(crm_now_ms() / 1000);
	int			rc;

	if (tok_cache_get(&auth_kring, token, now, &c) != 0) {
		if ((rc = tok_verify(&auth_kring, token, now,
		    crm_conf.jwt_issuer, crm_conf.jwt_audience, &c)) != 0) {
			log_msg(LOG_LVL_INFO, "auth_rejected", "token: %s",
			    tok_strerr(rc));
			return (auth_reply_invalid(rq));
		}
		tok_cache_put(token, &c);
	}
	auth_set_user(rq, c.tid, c.sub, c.sid, c.sv, c.role);
	return (PIPE_NEXT);
}

static unsigned int
auth_slot(const char *s, unsigned int n)
{
	unsigned int	h = 2166136261u;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return (h % n);
}

/* Give the request its own copy of what the key cache knows. */
static int
auth_key_principal(struct rq *rq, const struct auth_key *k)
{
	struct principal	*p = &rq->who;
	struct auth_owned	*o = auth_owned(p);

	p->kind = PRINC_APIKEY;
	(void)snprintf(p->tenant, sizeof(p->tenant), "%s", k->tenant);
	(void)snprintf(p->user, sizeof(p->user), "%s", k->id);
	(void)snprintf(p->owner, sizeof(p->owner), "%s", k->creator);
	p->rate_per_min = k->rate;
	auth_set_role(p, k->role);
	o->scopes = auth_strv(k->scopes);
	p->scopes = (const char *const *)o->scopes;
	if (k->grants != NULL) {
		o->grants = auth_strv(k->grants);
		p->grants = (const char *const *)o->grants;
		p->scope = k->scope;
	}
	return (PIPE_NEXT);
}

struct auth_keyq {
	char	prefix[AKEY_ID_LEN + 1];
	uint8_t	hash[AKEY_HASH_LEN];
};

static void
auth_keyq_free(void *h)
{
	explicit_bzero(h, sizeof(struct auth_keyq));
	xfree(h);
}

static const char	auth_key_facts_sql[] =
	"SELECT to_json(k.scopes)::text, r.name, CASE WHEN r.builtin THEN NULL "
	"ELSE to_json(r.grants)::text END, r.scope, p.api_per_min, "
	"k.created_by "
	"FROM crm.api_keys k "
	"JOIN crm.users u ON u.tenant_id = k.tenant_id AND u.id = k.created_by "
	"JOIN crm.roles r ON r.tenant_id = u.tenant_id AND r.id = u.role_id "
	"JOIN crm.tenants t ON t.tenant_id = k.tenant_id "
	"JOIN crm.plans p ON p.code = t.plan "
	"WHERE k.tenant_id = $1 AND k.id = $2";

/* Second round trip of a cache miss: the key's scopes and its creator. */
static int
auth_key_facts(struct rq *rq)
{
	struct auth_keyq	*q = rq->h;
	struct auth_key		*k;
	PGresult		*res;
	json_error_t		 e;

	if (!db_ok(rq))
		return (db_reply_error(rq));
	res = db_res(rq, 0);
	if (PQntuples(res) != 1)
		return (auth_reply_invalid(rq));
	k = &auth_keys[auth_slot(q->prefix, AUTH_KEY_SLOTS)];
	if (k->scopes != NULL)
		json_decref(k->scopes);
	if (k->grants != NULL)
		json_decref(k->grants);
	memset(k, 0, sizeof(*k));
	memcpy(k->prefix, q->prefix, sizeof(k->prefix));
	memcpy(k->hash, q->hash, sizeof(k->hash));
	(void)snprintf(k->tenant, sizeof(k->tenant), "%s", rq->who.tenant);
	(void)snprintf(k->id, sizeof(k->id), "%s", rq->who.user);
	(void)snprintf(k->role, sizeof(k->role), "%s", PQgetvalue(res, 0, 1));
	k->scopes = json_loads(PQgetvalue(res, 0, 0), 0, &e);
	if (!PQgetisnull(res, 0, 2))
		k->grants = json_loads(PQgetvalue(res, 0, 2), 0, &e);
	k->scope = perm_scope_parse(PQgetvalue(res, 0, 3));
	k->rate = atoi(PQgetvalue(res, 0, 4));
	(void)snprintf(k->creator, sizeof(k->creator), "%s",
	    PQgetvalue(res, 0, 5));
	k->at = crm_now_ms();
	rq->h_free(rq->h);
	rq->h = NULL;
	rq->h_free = NULL;
	return (auth_key_principal(rq, k));
}

/* First round trip of a cache miss: which tenant's key is this? */
static int
auth_key_found(struct rq *rq)
{
	struct auth_keyq	*q = rq->h;
	struct db_batch		*b;
	PGresult		*res;
	uint8_t			 h[AKEY_HASH_LEN];
	int			 i;

	if (!db_ok(rq))
		return (db_reply_error(rq));
	res = db_res(rq, 0);
	for (i = 0; i < PQntuples(res); i++) {
		if (crm_unhex(PQgetvalue(res, i, 2), h, sizeof(h)) == -1)
			continue;
		if (akey_hash_eq(h, q->hash))
			break;
	}
	if (i == PQntuples(res))
		return (auth_reply_invalid(rq));
	rq->who.kind = PRINC_APIKEY;
	(void)snprintf(rq->who.tenant, sizeof(rq->who.tenant), "%s",
	    PQgetvalue(res, i, 0));
	(void)snprintf(rq->who.user, sizeof(rq->who.user), "%s",
	    PQgetvalue(res, i, 1));
	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, auth_key_facts_sql);
	db_param(b, rq->who.tenant);
	db_param(b, rq->who.user);
	return (db_run(rq, b, auth_key_facts));
}

static int
auth_key(struct rq *rq, const char *token)
{
	struct auth_keyq	*q;
	struct auth_key		*k;
	struct db_batch		*b;

	q = xcalloc(1, sizeof(*q));
	if (akey_parse(token, q->prefix, q->hash) == -1) {
		auth_keyq_free(q);
		return (auth_reply_invalid(rq));
	}
	k = &auth_keys[auth_slot(q->prefix, AUTH_KEY_SLOTS)];
	if (k->scopes != NULL && strcmp(k->prefix, q->prefix) == 0 &&
	    akey_hash_eq(k->hash, q->hash) &&
	    crm_now_ms() - k->at < AUTH_KEY_TTL_MS) {
		auth_keyq_free(q);
		return (auth_key_principal(rq, k));
	}
	rq->h = q;
	rq->h_free = auth_keyq_free;
	b = db_batch(rq, DB_NOTENANT);
	db_stmt(b, "SELECT tenant_id, key_id, encode(key_hash, 'hex') "
	    "FROM auth.api_key_lookup($1)");
	db_param(b, q->prefix);
	return (db_run(rq, b, auth_key_found));
}

/*
 * Public routes ignore credentials (sign-up, login); the others need one.
 * Credentials in the query string are never looked at (AUTH-17).
 */
static int
auth_authenticate(struct rq *rq)
{
	const char	*h;

	if (strcmp(rq->route->perm, "public") == 0)
		return (PIPE_NEXT);
	h = pipe_header(rq, "authorization");
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return (auth_reply_invalid(rq));
	for (h += 7; *h == ' '; h++)
		;
	if (*h == '\0' || strlen(h) > TOK_MAX_LEN)
		return (auth_reply_invalid(rq));
	if (akey_is_key(h))
		return (auth_key(rq, h));
	return (auth_jwt(rq, h));
}

/* Step: tenant facts the token does not carry. */

static struct auth_tenant *
auth_tenant_slot(const char *tenant)
{
	return (&auth_tenants[auth_slot(tenant, AUTH_TENANT_SLOTS)]);
}

static int
auth_tenant_have(struct rq *rq)
{
	struct principal	*p = &rq->who;
	struct auth_tenant	*t;
	struct auth_owned	*o;
	PGresult		*res;
	json_error_t		 e;
	json_t			*g;
	int			 i = 0;

	if (!db_ok(rq))
		return (db_reply_error(rq));
	if (p->rate_per_min == 0) {
		res = db_res(rq, i++);
		if (PQntuples(res) != 1)
			return (auth_reply_invalid(rq));
		p->rate_per_min = atoi(PQgetvalue(res, 0, 0));
		t = auth_tenant_slot(p->tenant);
		(void)snprintf(t->tenant, sizeof(t->tenant), "%s", p->tenant);
		t->rate = p->rate_per_min;
		t->at = crm_now_ms();
	}
	if (p->grants == NULL) {
		res = db_res(rq, i);
		if (PQntuples(res) != 1)
			return (auth_reply_invalid(rq));
		g = json_loads(PQgetvalue(res, 0, 0), 0, &e);
		o = auth_owned(p);
		o->grants = auth_strv(g);
		json_decref(g);
		p->grants = (const char *const *)o->grants;
		p->scope = perm_scope_parse(PQgetvalue(res, 0, 1));
	}
	return (PIPE_NEXT);
}

static int
auth_tenant(struct rq *rq)
{
	struct principal	*p = &rq->who;
	struct auth_tenant	*t;
	struct db_batch		*b;

	t = auth_tenant_slot(p->tenant);
	if (p->rate_per_min == 0 && strcmp(t->tenant, p->tenant) == 0 &&
	    crm_now_ms() - t->at < AUTH_TENANT_TTL_MS)
		p->rate_per_min = t->rate;
	if (p->rate_per_min != 0 && p->grants != NULL)
		return (PIPE_NEXT);
	b = db_batch(rq, DB_TX | DB_READONLY);
	if (p->rate_per_min == 0) {
		db_stmt(b, "SELECT p.api_per_min FROM crm.tenants t "
		    "JOIN crm.plans p ON p.code = t.plan WHERE t.tenant_id = $1");
		db_param(b, p->tenant);
	}
	if (p->grants == NULL) {
		db_stmt(b, "SELECT to_json(grants)::text, scope FROM crm.roles "
		    "WHERE tenant_id = $1 AND name = $2");
		db_param(b, p->tenant);
		db_param(b, p->role);
	}
	return (db_run(rq, b, auth_tenant_have));
}

/* Step: rate limits. */

static int
auth_ratelimit(struct rq *rq)
{
	struct lim_subject	 s[2];
	struct principal	*p = &rq->who;
	char			 ip[64];
	int			 n = 0;

	memset(s, 0, sizeof(s));
	if (p->kind == PRINC_NONE) {
		if (!auth_client_ip(rq, ip, sizeof(ip)))
			return (PIPE_NEXT);
		s[n].name = "ip";
		s[n].quota = lim_scale(AUTH_PUBLIC_PER_MIN);
		(void)snprintf(s[n++].key, sizeof(s[0].key), RK_RL_IP, ip);
		return (lim_check(rq, s, n, 0, auth_next));
	}
	s[n].name = "tenant";
	s[n].quota = lim_scale(p->rate_per_min);
	(void)snprintf(s[n++].key, sizeof(s[0].key), RK_RL_TENANT, p->tenant);
	s[n].name = p->kind == PRINC_APIKEY ? "key" : "user";
	s[n].quota = lim_scale(p->rate_per_min);
	(void)snprintf(s[n++].key, sizeof(s[0].key),
	    p->kind == PRINC_APIKEY ? RK_RL_KEY : RK_RL_USER, p->tenant,
	    p->user);
	return (lim_check(rq, s, n, 0, auth_next));
}

/* Step: permission. */

static int
auth_permission(struct rq *rq)
{
	const char		*perm = rq->route->perm;

	if (strcmp(perm, "authenticated") == 0)
		return (PIPE_NEXT);
	if (!pipe_allows(rq, perm))
		return (reply_problem(rq, PROB_FORBIDDEN,
		    "this credential lacks %s", perm));
	return (PIPE_NEXT);
}

/*
 * The first statement of a user's implicit transaction: tenant context,
 * then the session and its tenant, then read-only mode or the refusal
 * (sql/026_principal_check.sql says why it is a plain statement and why
 * the set_config() calls must come first in the target list).  Same
 * outcomes as crm.check_user(): CR401 for a session that is revoked,
 * expired, of another version or of a closed tenant; CR4TS for a write
 * in a suspended tenant.
 */
/*
 * The end of both statements below: given the tenant's status from the
 * lookup before it ('trial' reads as 'active'; NULL when the credential
 * is dead), read-only mode for a read, or the refusal.  w: the write flag.
 */
#define AUTH_GATE(w)							\
	"WHEN 'active' THEN pg_catalog.set_config('transaction_read_only', "	\
	"CASE WHEN " w "::boolean THEN 'off' ELSE 'on' END, true) "	\
	"WHEN 'suspended' THEN CASE WHEN " w "::boolean THEN "		\
	"crm.principal_fail('CR4TS') ELSE pg_catalog.set_config("	\
	"'transaction_read_only', 'on', true) END "			\
	"ELSE crm.principal_fail('CR401') END"

static const char	auth_begin_user[] =
	"SELECT pg_catalog.set_config('app.tenant_id', $1::uuid::text, true), "
	"pg_catalog.set_config('app.user_id', $2::uuid::text, true), "
	"CASE (SELECT CASE t.status WHEN 'trial' THEN 'active' "
	"ELSE t.status END FROM crm.sessions s JOIN crm.tenants t "
	"ON t.tenant_id = s.tenant_id WHERE s.tenant_id = $1::uuid "
	"AND s.id = $3::uuid AND s.user_id = $2::uuid "
	"AND s.version = $4::bigint AND s.revoked_at IS NULL "
	"AND s.expires_at > pg_catalog.now()) "
	AUTH_GATE("$5");

/*
 * The same for an API key: the key live and unexpired, its creator
 * active, its tenant not closed.  crm.begin_key() (sql/007) does this and
 * also records the key's last use, at most once a minute, which needs a
 * write; so a worker sends crm.begin_key() for a key's first request of
 * each minute (auth_key_due) and this read-only-capable statement for the
 * others.  pgbench, the check alone in a pipeline: see the README.
 */
static const char	auth_begin_key[] =
	"SELECT pg_catalog.set_config('app.tenant_id', $1::uuid::text, true), "
	"pg_catalog.set_config('app.user_id', '', true), "
	"CASE (SELECT CASE t.status WHEN 'trial' THEN 'active' "
	"ELSE t.status END FROM crm.api_keys k JOIN crm.users u "
	"ON u.tenant_id = k.tenant_id AND u.id = k.created_by "
	"JOIN crm.tenants t ON t.tenant_id = k.tenant_id "
	"WHERE k.tenant_id = $1::uuid AND k.id = $2::uuid "
	"AND k.revoked_at IS NULL AND (k.expires_at IS NULL "
	"OR k.expires_at > pg_catalog.now()) AND u.status = 'active') "
	AUTH_GATE("$3");

#define AUTH_USED_SLOTS		256
#define AUTH_USED_MS		(60 * 1000)

/* When this worker last sent crm.begin_key() for a key (direct-mapped). */
static struct {
	char		id[UUID_STRLEN + 1];
	uint64_t	at;
} auth_used[AUTH_USED_SLOTS];

/*
 * Is the key's last use due to be recorded?  Yes once a minute per key
 * and worker; the answer is taken as done, so a failed transaction leaves
 * last_used_at up to a minute older, never a request unchecked.
 */
static int
auth_key_due(const char *key)
{
	unsigned int	i = auth_slot(key, AUTH_USED_SLOTS);
	uint64_t	now = crm_now_ms();

	if (strcmp(auth_used[i].id, key) == 0 &&
	    now - auth_used[i].at < AUTH_USED_MS)
		return (0);
	(void)snprintf(auth_used[i].id, sizeof(auth_used[i].id), "%s", key);
	auth_used[i].at = now;
	return (1);
}

/*
 * The principal check in every tenant transaction.  With ctx the
 * statement opens the transaction too (tenant context, read-only mode;
 * sql/007_request_begin.sql), else app/db.c has set the context already.
 * Returns the parameter count, or -1 when the request has no principal
 * (sign-up, refresh).
 */
static int
auth_db_principal(struct rq *rq, int flags, int ctx, const char **sql,
    char **vals, char store[DB_HOOK_PARAMS][48])
{
	static char	 yes[] = "true", no[] = "false";
	char		*write = (flags & DB_READONLY) ? no : yes;

	switch (rq->who.kind) {
	case PRINC_USER:
		*sql = ctx ? auth_begin_user :
		    "SELECT crm.check_user($1, $2, $3, $4, $5)";
		vals[0] = rq->who.tenant;
		vals[1] = rq->who.user;
		vals[2] = rq->who.session;
		(void)snprintf(store[0], sizeof(store[0]), "%lld",
		    (long long)rq->who.session_version);
		vals[3] = store[0];
		vals[4] = write;
		return (5);
	case PRINC_APIKEY:
		vals[0] = rq->who.tenant;
		vals[1] = rq->who.user;
		vals[2] = write;
		if (ctx && !auth_key_due(rq->who.user)) {
			*sql = auth_begin_key;
			return (3);
		}
		*sql = ctx ? "SELECT crm.begin_key($1, $2, $3, $4)" :
		    "SELECT crm.check_key($1, $2, $3, $4)";
		vals[3] = auth_client_ip(rq, store[1], sizeof(store[1])) ?
		    store[1] : NULL;
		return (4);
	default:
		return (-1);
	}
}
