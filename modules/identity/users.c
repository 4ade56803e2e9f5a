/*
 * users.c: a tenant's users and invitations (docs/identity.md).
 *
 * The rules that must hold under concurrency (seats, the last owner, only
 * an owner may touch or make an owner, killing sessions on a role change
 * or deactivation) live in SQL functions (sql/006_identity_admin.sql) so
 * that each change is one round trip and one transaction with its audit
 * row.  Those functions refuse with class "CR" SQLSTATEs; users_db_error()
 * turns them into problems for this file, roles.c and apikeys.c.
 *
 * Invitation tokens are "<tenant id>.<secret>" (auth_opaque_new()), so
 * accepting one needs no pre-tenant lookup; the session it opens is made
 * by sessions.c's sess_open(), like a login's.  The token reaches the
 * invitee only by e-mail (an "email" job, app/jobmail.c).
 */

#include <stdio.h>
#include <string.h>

#include "identity.h"
#include "keys.h"
#include "modules/integrations/email.h"

#define USERS_ACCEPT_PER_MIN	30	/* per client IP, shared with login */

#define USERS_TS(c)							\
	"to_char(" c " AT TIME ZONE 'UTC', "				\
	"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* A user as the API shows it: u is crm.users, r its crm.roles row. */
#define USERS_JSON							\
	"json_build_object('id', u.id, 'email', u.email, 'name', u.name, " \
	"'role', r.name, 'status', u.status, 'created_at', "		\
	USERS_TS("u.created_at") ", 'last_login_at', "			\
	USERS_TS("u.last_login_at") ")"

#define USERS_FROM							\
	" FROM crm.users u JOIN crm.roles r ON r.tenant_id = u.tenant_id " \
	"AND r.id = u.role_id WHERE u.tenant_id = $1"

static const char	users_list_sql[] =
	"SELECT json_build_object('data', coalesce(json_agg(" USERS_JSON
	" ORDER BY u.created_at, u.id), '[]'))::text" USERS_FROM;

static const char	users_get_sql[] =
	"SELECT " USERS_JSON "::text" USERS_FROM " AND u.id = $2";

struct users_accept {
	char	 tenant[UUID_STRLEN + 1];
	char	 hash[65];
	char	*password;
	char	*name;
	char	 refresh[IDN_TOKEN_LEN + 1];
};

/*
 * A failed batch of an administrative change: the CR codes of
 * sql/006_identity_admin.sql carry client-safe messages, so they become
 * the detail; a CR422 names field.  Anything else, plan limits included,
 * is db_reply_error()'s.
 */
int
users_db_error(struct rq *rq, const char *field)
{
	struct db_batch	*b = rq->batch;
	json_t		*p;

	if (b == NULL || b->unavailable || b->errmsg == NULL)
		return (db_reply_error(rq));
	if (strcmp(b->sqlstate, "CR204") == 0)
		return (reply_empty(rq, 204));
	if (strcmp(b->sqlstate, "CR401") == 0)
		return (auth_reply_invalid(rq));
	if (strcmp(b->sqlstate, "CR403") == 0)
		return (reply_problem(rq, PROB_FORBIDDEN, "%s", b->errmsg));
	if (strcmp(b->sqlstate, "CR4TS") == 0)
		return (reply_problem(rq, PROB_TENANT_SUSPENDED,
		    "the tenant is suspended: reads only"));
	if (strcmp(b->sqlstate, "CR422") == 0 && field != NULL) {
		p = problem_new(PROB_VALIDATION_FAILED, "1 field is invalid");
		problem_add_field(p, field, "invalid_value", b->errmsg);
		return (reply_problem_json(rq, p));
	}
	return (db_reply_error(rq));
}

/*
 * Continuation for batches whose last statement returns one JSON text:
 * 200 with it, 404 when it found no row.  users_reply_201 for creations.
 */
static int
users_reply_status(struct rq *rq, int status, const char *field)
{
	PGresult	*res;

	if (!db_ok(rq))
		return (users_db_error(rq, field));
	res = db_res(rq, rq->batch->nstmts - 1);
	if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0))
		return (reply_problem(rq, PROB_NOT_FOUND, "no such resource"));
	return (reply_raw(rq, status, "application/json; charset=utf-8",
	    PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0)));
}

int
users_reply_200(struct rq *rq)
{
	return (users_reply_status(rq, 200, NULL));
}

int
users_reply_201(struct rq *rq)
{
	return (users_reply_status(rq, 201, NULL));
}

/*
 * {"owner": ["*:*"], ...}: the built-in roles' grants, which live in
 * app/perm.c, not in their rows.  Made once per worker.
 */
const char *
users_builtin_grants(void)
{
	static char		*cache;
	const struct perm_role	*r;
	json_t			*o, *a;
	size_t			 i, j;

	if (cache != NULL)
		return (cache);
	o = json_object();
	for (i = 0; (r = perm_builtin_at(i)) != NULL; i++) {
		a = json_array();
		for (j = 0; r->grants[j] != NULL; j++)
			json_array_append_new(a, json_string(r->grants[j]));
		json_object_set_new(o, r->name, a);
	}
	cache = js_dump(o, NULL);
	json_decref(o);
	return (cache);
}

/*
 * Two parameters for the SQL rules that compare roles with the caller's
 * own grants (crm.role_within()): the caller's grants as a JSON array,
 * then users_builtin_grants().
 */
void
users_actor_params(struct db_batch *b, struct rq *rq)
{
	json_t	*a;
	char	*s;
	size_t	 i;

	a = json_array();
	for (i = 0; rq->who.grants != NULL && rq->who.grants[i] != NULL; i++)
		json_array_append_new(a, json_string(rq->who.grants[i]));
	s = js_dump(a, NULL);
	json_decref(a);
	db_param(b, s);
	xfree(s);
	db_param(b, users_builtin_grants());
}

/* A {id} path parameter in canonical form; 0 when it is not a UUID. */
int
users_path_id(struct rq *rq, int i, char out[UUID_STRLEN + 1])
{
	uint8_t		raw[UUID_LEN];
	const char	*s = pipe_param(rq, i);

	if (s == NULL || uuid7_parse(s, raw) == -1)
		return (0);
	uuid7_fmt(raw, out);
	return (1);
}

static int
users_list(struct rq *rq)
{
	struct db_batch	*b;

	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, users_list_sql);
	db_param(b, rq->who.tenant);
	return (db_run(rq, b, users_reply_200));
}

static int
users_get(struct rq *rq)
{
	struct db_batch	*b;
	char		 id[UUID_STRLEN + 1];

	if (!users_path_id(rq, 0, id))
		return (reply_problem(rq, PROB_NOT_FOUND, "no such resource"));
	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, users_get_sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
	return (db_run(rq, b, users_reply_200));
}

/* Invitations. */

/*
 * The invitation's token travels only by e-mail: sealed into the job's
 * payload here (email_seal), opened by crm-worker to build the link.  The
 * 201 names the e-mail job so the inviter can follow its delivery.
 */
static int
users_invite_done(struct rq *rq)
{
	struct buf	 out;
	PGresult	*res;

	if (!db_ok(rq))
		return (users_db_error(rq, "role"));
	res = db_res(rq, rq->batch->nstmts - 1);
	buf_init(&out, 512);
	buf_appends(&out, "{\"invitation\":");
	buf_append(&out, PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0));
	buf_appends(&out, ",\"email_job_id\":\"");
	buf_appends(&out, rq->h);
	buf_appends(&out, "\"}");
	reply_raw(rq, 201, "application/json; charset=utf-8", out.data,
	    out.len);
	buf_free(&out);
	return (RQ_DONE);
}

/* rq->h keeps the e-mail job's id for the reply; -1: no seal key. */
static int
users_invite_batch(struct rq *rq, struct db_batch *b, const char *id,
    const char *email, const char *name, const char *role)
{
	uint8_t		hash[32];
	char		hex[65], tok[IDN_TOKEN_LEN + 1];
	char		sealed[EMAIL_SEALED_HEX];
	int		rc;

	auth_opaque_new(rq->who.tenant, tok, hash);
	rc = email_seal(tok, sealed);
	explicit_bzero(tok, sizeof(tok));
	if (rc == -1)
		return (-1);
	crm_hex(hash, sizeof(hash), hex);
	rq->h = xmalloc(UUID_STRLEN + 1);
	rq->h_free = xfree;
	uuid7_new_str(rq->h);
	db_stmt(b, "SELECT crm.user_invite($1, $2, $3, $4, $5, $6, $7, $8, "
	    "decode($9, 'hex'), $10)");
	db_param(b, rq->who.tenant);
	db_param(b, rq->who.user);
	users_actor_params(b, rq);
	db_param(b, id);
	db_param(b, email);
	db_param(b, name);
	db_param(b, role);
	db_param(b, hex);
	db_paramf(b, "%d", IDN_INVITE_TTL);
	db_stmt(b, "SELECT crm.invitation_email($1, $2, $3, $4, $5)");
	db_param(b, rq->who.tenant);
	db_param(b, id);
	db_param(b, rq->h);
	db_paramf(b, "%d", crm_conf.email_max_attempts);
	db_param(b, sealed);
	return (0);
}

static int
users_invite(struct rq *rq)
{
	static const char *const	 fields[] = { "email", "role", "name",
					    NULL };
	struct db_batch			*b;
	struct val			 v;
	const char			*email, *role, *name;
	char				 id[UUID_STRLEN + 1];

	val_init(&v, rq->body);
	val_only(&v, fields);
	email = val_email(&v, "email", 1);
	role = val_str(&v, "role", 1, 1, 40);
	name = val_str(&v, "name", 0, 0, 200);
	if (val_failed(&v))
		return (auth_reply_val(rq, &v));
	uuid7_new_str(id);
	b = db_batch(rq, DB_TX);
	if (users_invite_batch(rq, b, id, email, name, role) == -1) {
		log_msg(LOG_LVL_ERROR, "users", "the seal key is missing: "
		    "invitations cannot be mailed");
		return (reply_problem(rq, PROB_INTERNAL, NULL));
	}
	audit_add(b, rq, "user.invited", "invitation", id,
	    json_pack("{s:s}", "role", role));
	db_stmt(b, "SELECT json_build_object('id', i.id, 'email', i.email, "
	    "'role', r.name, 'expires_at', " USERS_TS("i.expires_at") ")::text "
	    "FROM crm.invitations i JOIN crm.roles r ON r.tenant_id = "
	    "i.tenant_id AND r.id = i.role_id WHERE i.tenant_id = $1 "
	    "AND i.id = $2");
	db_param(b, rq->who.tenant);
	db_param(b, id);
	return (db_run(rq, b, users_invite_done));
}

/* Changes. */

static int
users_patch_done(struct rq *rq)
{
	return (users_reply_status(rq, 200, "role"));
}

static int
users_patch(struct rq *rq)
{
	static const char *const	 fields[] = { "name", "role", NULL };
	struct db_batch			*b;
	struct val			 v;
	const char			*name, *role;
	char				 id[UUID_STRLEN + 1];

	if (!users_path_id(rq, 0, id))
		return (reply_problem(rq, PROB_NOT_FOUND, "no such resource"));
	val_init(&v, rq->body);
	val_only(&v, fields);
	name = val_str(&v, "name", 0, 0, 200);
	role = val_str(&v, "role", 0, 1, 40);
	if (val_failed(&v))
		return (auth_reply_val(rq, &v));
	if (name == NULL && role == NULL)
		return (users_get(rq));
	b = db_batch(rq, DB_TX);
	db_stmt(b, "SELECT crm.user_update($1, $2, $3, $4, $5, $6, $7)");
	db_param(b, rq->who.tenant);
	db_param(b, rq->who.user);
	users_actor_params(b, rq);
	db_param(b, id);
	db_param(b, name);
	db_param(b, role);
	audit_add(b, rq, "user.updated", "user", id, json_pack("{s:b, s:s?}",
	    "name_changed", name != NULL, "role", role));
	db_stmt(b, users_get_sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
	return (db_run(rq, b, users_patch_done));
}

static int
users_delete_done(struct rq *rq)
{
	if (!db_ok(rq))
		return (users_db_error(rq, NULL));
	return (reply_empty(rq, 204));
}

static int
users_delete(struct rq *rq)
{
	struct db_batch	*b;
	char		 id[UUID_STRLEN + 1];

	if (!users_path_id(rq, 0, id))
		return (reply_problem(rq, PROB_NOT_FOUND, "no such resource"));
	b = db_batch(rq, DB_TX);
	db_stmt(b, "SELECT crm.user_deactivate($1, $2, $3, $4, $5)");
	db_param(b, rq->who.tenant);
	db_param(b, rq->who.user);
	users_actor_params(b, rq);
	db_param(b, id);
	audit_add(b, rq, "user.deactivated", "user", id, NULL);
	return (db_run(rq, b, users_delete_done));
}

/*
 * POST /v1/invitations/accept: validate, throttle per IP (fails closed,
 * like login), hash the password in a task, then one transaction: the
 * user, the invitation spent, the session, the audit row.
 */
static void
users_accept_free(void *h)
{
	struct users_accept	*st = h;

	explicit_bzero(st->password, strlen(st->password));
	xfree(st->password);
	xfree(st->name);
	explicit_bzero(st, sizeof(*st));
	xfree(st);
}

static int
users_accept_done(struct rq *rq)
{
	struct users_accept	*st = rq->h;
	char			 session[UUID_STRLEN + 1];
	char			 user[UUID_STRLEN + 1];

	if (!db_ok(rq))
		return (users_db_error(rq, NULL));
	(void)snprintf(session, sizeof(session), "%s", rq->who.session);
	(void)snprintf(user, sizeof(user), "%s", rq->who.user);
	auth_set_user(rq, st->tenant, user, session, 1,
	    PQgetvalue(db_res(rq, 0), 0, 0));
	return (reply_json(rq, 201, auth_tokens(rq, st->refresh)));
}

static int
users_accept_write(struct rq *rq)
{
	struct users_accept	*st = rq->h;
	struct db_batch		*b;

	if (kdf_hash_result(rq) == NULL)
		return (reply_problem(rq, PROB_INTERNAL, NULL));
	(void)snprintf(rq->who.tenant, sizeof(rq->who.tenant), "%s",
	    st->tenant);
	uuid7_new_str(rq->who.user);
	b = db_batch(rq, DB_TX);
	db_stmt(b, "SELECT crm.invitation_accept($1, decode($2, 'hex'), $3, "
	    "$4, $5)");
	db_param(b, st->tenant);
	db_param(b, st->hash);
	db_param(b, rq->who.user);
	db_param(b, kdf_hash_result(rq));
	db_param(b, st->name);
	kdf_release(rq);
	sess_open(b, rq, rq->who.user, st->refresh);
	audit_add(b, rq, "user.joined", "user", rq->who.user, NULL);
	return (db_run(rq, b, users_accept_done));
}

static int
users_accept_hash(struct rq *rq)
{
	struct users_accept	*st = rq->h;

	return (kdf_hash(rq, st->password, strlen(st->password),
	    users_accept_write));
}

static int
users_accept_limit(struct rq *rq)
{
	return (auth_ip_limit(rq, "ip", RK_LOGIN_IP, USERS_ACCEPT_PER_MIN, 60,
	    10, users_accept_hash));
}

static int
users_accept(struct rq *rq)
{
	static const char *const	 fields[] = { "token", "password",
					    "name", NULL };
	struct users_accept		*st;
	struct val			 v;
	const char			*tok, *pw, *name;
	uint8_t				 hash[32];

	val_init(&v, rq->body);
	val_only(&v, fields);
	tok = val_str(&v, "token", 1, 1, 256);
	pw = val_str(&v, "password", 1, 1, PW_MAX_BYTES);
	name = val_str(&v, "name", 1, 1, 200);
	auth_password_check(&v, "password", pw);
	if (val_failed(&v))
		return (auth_reply_val(rq, &v));
	st = xcalloc(1, sizeof(*st));
	st->password = xstrdup(pw);
	st->name = xstrdup(name);
	rq->h = st;
	rq->h_free = users_accept_free;
	if (auth_opaque_parse(tok, st->tenant, hash) == -1)
		return (auth_reply_invalid(rq));
	crm_hex(hash, sizeof(hash), st->hash);
	return (users_accept_limit(rq));
}

static const struct route users_routes[] = {
	ROUTE(HTTP_METHOD_GET, "/v1/users", "users:read", users_list, 0,
	    "List the tenant's users"),
	ROUTE(HTTP_METHOD_GET, "/v1/users/{id}", "users:read", users_get, 0,
	    "One user"),
	ROUTE(HTTP_METHOD_POST, "/v1/users", "users:manage", users_invite,
	    RT_JSON | RT_WRITE | RT_SECRET,
	    "Invite a user by e-mail with a role"),
	ROUTE(HTTP_METHOD_PATCH, "/v1/users/{id}", "users:manage", users_patch,
	    RT_JSON | RT_WRITE, "Rename a user or change their role"),
	ROUTE(HTTP_METHOD_DELETE, "/v1/users/{id}", "users:manage",
	    users_delete, RT_WRITE, "Deactivate a user and end their sessions"),
	ROUTE(HTTP_METHOD_POST, "/v1/invitations/accept", "public",
	    users_accept, RT_JSON | RT_NOLIMIT | RT_WRITE,
	    "Accept an invitation: set a password, get a session"),
};

const struct crm_module users_module = {
	"users", users_routes, sizeof(users_routes) / sizeof(users_routes[0]),
	NULL, NULL
};
