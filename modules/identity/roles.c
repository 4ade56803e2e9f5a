/*
 * roles.c: a tenant's roles and teams (docs/identity.md).
 *
 * Built-in roles are rows (created at sign-up) so users.role_id is one
 * foreign key for both kinds, but their grants live in app/perm.c: the
 * listing shows those, passed in as users_builtin_grants().  Built-in
 * roles are immutable; custom roles hold grants and a record scope, and
 * nobody may write grants they do not hold themselves (else a custom role
 * with roles:manage could make itself admin).  The rules that need the
 * rows (immutable, in use, not found) are in sql/006_identity_admin.sql.
 *
 * Teams are names with members; the record scope "team" reads them.
 */

#include <string.h>

#include "identity.h"

#define ROLES_JSON							\
	"json_build_object('id', r.id, 'name', r.name, 'description', "	\
	"r.description, 'builtin', r.builtin, 'grants', CASE WHEN "	\
	"r.builtin THEN coalesce($2::jsonb -> r.name, '[]') ELSE "	\
	"to_jsonb(r.grants) END, 'scope', r.scope)"

static const char	roles_list_sql[] =
	"SELECT json_build_object('data', coalesce(json_agg(" ROLES_JSON
	" ORDER BY NOT r.builtin, r.name), '[]'))::text FROM crm.roles r "
	"WHERE r.tenant_id = $1";

static const char	roles_get_sql[] =
	"SELECT " ROLES_JSON "::text FROM crm.roles r "
	"WHERE r.tenant_id = $1 AND r.id = $3";

#define TEAMS_JSON							\
	"json_build_object('id', t.id, 'name', t.name, 'members', "	\
	"coalesce((SELECT json_agg(m.user_id ORDER BY m.user_id) FROM "	\
	"crm.team_members m WHERE m.tenant_id = t.tenant_id AND "	\
	"m.team_id = t.id), '[]'))"

static const char	teams_list_sql[] =
	"SELECT json_build_object('data', coalesce(json_agg(" TEAMS_JSON
	" ORDER BY t.name), '[]'))::text FROM crm.teams t "
	"WHERE t.tenant_id = $1";

static const char	teams_get_sql[] =
	"SELECT " TEAMS_JSON "::text FROM crm.teams t "
	"WHERE t.tenant_id = $1 AND t.id = $2";

/* ^[a-z][a-z0-9_]{1,39}$, the CHECK on crm.roles.name. */
static int
roles_name_ok(const char *s)
{
	size_t	n = strlen(s);

	return (n >= 2 && n <= 40 && s[0] >= 'a' && s[0] <= 'z' &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n);
}

/* The fields of a custom role; on POST name and grants are required. */
struct roles_in {
	const char	*name;
	const char	*description;
	const char	*scope;
	char		*grants;	/* JSON array text, owned */
};

static void
roles_parse(struct rq *rq, struct val *v, struct roles_in *in, int create)
{
	static const char *const	 fields[] = { "name", "description",
					    "grants", "scope", NULL };
	static const char *const	 scopes[] = { "own", "team", "all",
					    NULL };
	json_t				*g, *e;
	size_t				 i;

	memset(in, 0, sizeof(*in));
	val_init(v, rq->body);
	val_only(v, fields);
	if ((in->name = val_str(v, "name", create, 2, 40)) != NULL &&
	    !roles_name_ok(in->name))
		val_error(v, "name", "invalid_format",
		    "lower-case letters, digits and _, starting with a letter");
	in->description = val_str(v, "description", 0, 0, 500);
	in->scope = val_enum(v, "scope", 0, scopes);
	if ((g = val_str_array(v, "grants", create, 200, perm_valid)) == NULL)
		return;
	json_array_foreach(g, i, e) {
		if (!perm_allows(rq->who.grants, json_string_value(e))) {
			val_error(v, "grants", "not_held",
			    "you cannot grant a permission you do not hold");
			return;
		}
	}
	in->grants = js_dump(g, NULL);
}

static int
roles_list(struct rq *rq)
{
	struct db_batch	*b;

	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, roles_list_sql);
	db_param(b, rq->who.tenant);
	db_param(b, users_builtin_grants());
	return (db_run(rq, b, users_reply_200));
}

static int
roles_get(struct rq *rq)
{
	struct db_batch	*b;
	char		 id[UUID_STRLEN + 1];

	if (!users_path_id(rq, 0, id))
		return (reply_problem(rq, PROB_NOT_FOUND, "no such resource"));
	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, roles_get_sql);
	db_param(b, rq->who.tenant);
	db_param(b, users_builtin_grants());
	db_param(b, id);
	return (db_run(rq, b, users_reply_200));
}

/* The role as it is now, the last statement of a write batch. */
static void
roles_reselect(struct db_batch *b, struct rq *rq, const char *id)
{
	db_stmt(b, roles_get_sql);
	db_param(b, rq->who.tenant);
	db_param(b, users_builtin_grants());
	db_param(b, id);
}

static int
roles_create(struct rq *rq)
{
	struct roles_in	 in;
	struct val	 v;
	struct db_batch	*b;
	char		 id[UUID_STRLEN + 1];

	roles_parse(rq, &v, &in, 1);
	if (val_failed(&v)) {
		xfree(in.grants);
		return (auth_reply_val(rq, &v));
	}
	uuid7_new_str(id);
	b = db_batch(rq, DB_TX);
	db_stmt(b, "INSERT INTO crm.roles (tenant_id, id, name, description, "
	    "grants, scope) SELECT $1, $2, $3, coalesce($4, ''), ARRAY("
	    "SELECT jsonb_array_elements_text($5::jsonb)), coalesce($6, "
	    "'all')");
	db_param(b, rq->who.tenant);
	db_param(b, id);
	db_param(b, in.name);
	db_param(b, in.description);
	db_param(b, in.grants);
	db_param(b, in.scope);
	audit_add(b, rq, "role.created", "role", id,
	    json_pack("{s:s}", "name", in.name));
	roles_reselect(b, rq, id);
	xfree(in.grants);
	return (db_run(rq, b, users_reply_201));
}

static int
roles_patch(struct rq *rq)
{
	struct roles_in	 in;
	struct val	 v;
	struct db_batch	*b;
	char		 id[UUID_STRLEN + 1];

	if (!users_path_id(rq, 0, id))
		return (reply_problem(rq, PROB_NOT_FOUND, "no such resource"));
	roles_parse(rq, &v, &in, 0);
	if (val_failed(&v)) {
		xfree(in.grants);
		return (auth_reply_val(rq, &v));
	}
	b = db_batch(rq, DB_TX);
	db_stmt(b, "SELECT crm.role_update($1, $2, $3, $4, $5, $6, CASE WHEN "
	    "$7::jsonb IS NULL THEN NULL ELSE ARRAY(SELECT "
	    "jsonb_array_elements_text($7::jsonb)) END, $8)");
	db_param(b, rq->who.tenant);
	users_actor_params(b, rq);
	db_param(b, id);
	db_param(b, in.name);
	db_param(b, in.description);
	db_param(b, in.grants);
	db_param(b, in.scope);
	audit_add(b, rq, "role.updated", "role", id, NULL);
	roles_reselect(b, rq, id);
	xfree(in.grants);
	return (db_run(rq, b, users_reply_200));
}

/* Continuation of writes that answer 204. */
static int
roles_204(struct rq *rq)
{
	if (!db_ok(rq))
		return (users_db_error(rq, NULL));
	return (reply_empty(rq, 204));
}

static int
roles_delete(struct rq *rq)
{
	struct db_batch	*b;
	char		 id[UUID_STRLEN + 1];

	if (!users_path_id(rq, 0, id))
		return (reply_problem(rq, PROB_NOT_FOUND, "no such resource"));
	b = db_batch(rq, DB_TX);
	db_stmt(b, "SELECT crm.role_delete($1, $2, $3, $4)");
	db_param(b, rq->who.tenant);
	users_actor_params(b, rq);
	db_param(b, id);
	audit_add(b, rq, "role.deleted", "role", id, NULL);
	return (db_run(rq, b, roles_204));
}

/* Teams. */

static int
teams_list(struct rq *rq)
{
	struct db_batch	*b;

	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, teams_list_sql);
	db_param(b, rq->who.tenant);
	return (db_run(rq, b, users_reply_200));
}

/* Ends a batch with the team as it now is, and runs it. */
static int
teams_read_back(struct rq *rq, struct db_batch *b, const char *id, rq_fn next)
{
	db_stmt(b, teams_get_sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
	return (db_run(rq, b, next));
}

static int
teams_get(struct rq *rq)
{
	struct db_batch	*b;
	char		 id[UUID_STRLEN + 1];

	if (!users_path_id(rq, 0, id))
		return (reply_problem(rq, PROB_NOT_FOUND, "no such resource"));
	b = db_batch(rq, DB_TX | DB_READONLY);
	return (teams_read_back(rq, b, id, users_reply_200));
}

static const char *
teams_name(struct rq *rq, struct val *v)
{
	static const char *const	 fields[] = { "name", NULL };
	const char			*name;

	val_init(v, rq->body);
	val_only(v, fields);
	name = val_str(v, "name", 1, 1, 100);
	if (name != NULL && strspn(name, " \t\r\n") == strlen(name))
		val_error(v, "name", "too_short", "must not be blank");
	return (name);
}

static int
teams_create(struct rq *rq)
{
	struct db_batch	*b;
	struct val	 v;
	const char	*name;
	char		 id[UUID_STRLEN + 1];

	name = teams_name(rq, &v);
	if (val_failed(&v))
		return (auth_reply_val(rq, &v));
	uuid7_new_str(id);
	b = db_batch(rq, DB_TX);
	db_stmt(b, "INSERT INTO crm.teams (tenant_id, id, name) "
	    "VALUES ($1, $2, $3)");
	db_param(b, rq->who.tenant);
	db_param(b, id);
	db_param(b, name);
	audit_add(b, rq, "team.created", "team", id,
	    json_pack("{s:s}", "name", name));
	return (teams_read_back(rq, b, id, users_reply_201));
}

static int
teams_patch(struct rq *rq)
{
	struct db_batch	*b;
	struct val	 v;
	const char	*name;
	char		 id[UUID_STRLEN + 1];

	if (!users_path_id(rq, 0, id))
		return (reply_problem(rq, PROB_NOT_FOUND, "no such resource"));
	name = teams_name(rq, &v);
	if (val_failed(&v))
		return (auth_reply_val(rq, &v));
	b = db_batch(rq, DB_TX);
	db_stmt(b, "SELECT crm.team_update($1, $2, $3)");
	db_param(b, rq->who.tenant);
	db_param(b, id);
	db_param(b, name);
	audit_add(b, rq, "team.updated", "team", id,
	    json_pack("{s:s}", "name", name));
	return (teams_read_back(rq, b, id, users_reply_200));
}

static int
teams_delete(struct rq *rq)
{
	struct db_batch	*b;
	char		 id[UUID_STRLEN + 1];

	if (!users_path_id(rq, 0, id))
		return (reply_problem(rq, PROB_NOT_FOUND, "no such resource"));
	b = db_batch(rq, DB_TX);
	db_stmt(b, "SELECT crm.team_delete($1, $2)");
	db_param(b, rq->who.tenant);
	db_param(b, id);
	audit_add(b, rq, "team.deleted", "team", id, NULL);
	return (db_run(rq, b, roles_204));
}

static int
teams_member_done(struct rq *rq)
{
	if (!db_ok(rq))
		return (users_db_error(rq, "user_id"));
	return (reply_empty(rq, 204));
}

static int
teams_member_add(struct rq *rq)
{
	static const char *const	 fields[] = { "user_id", NULL };
	struct db_batch			*b;
	struct val			 v;
	char				 id[UUID_STRLEN + 1];
	char				 user[UUID_STRLEN + 1];

	if (!users_path_id(rq, 0, id))
		return (reply_problem(rq, PROB_NOT_FOUND, "no such resource"));
	val_init(&v, rq->body);
	val_only(&v, fields);
	(void)val_uuid(&v, "user_id", 1, user);
	if (val_failed(&v))
		return (auth_reply_val(rq, &v));
	b = db_batch(rq, DB_TX);
	db_stmt(b, "SELECT crm.team_member_add($1, $2, $3)");
	db_param(b, rq->who.tenant);
	db_param(b, id);
	db_param(b, user);
	audit_add(b, rq, "team.updated", "team", id,
	    json_pack("{s:s}", "member_added", user));
	return (db_run(rq, b, teams_member_done));
}

static int
teams_member_remove(struct rq *rq)
{
	struct db_batch	*b;
	char		 id[UUID_STRLEN + 1];
	char		 user[UUID_STRLEN + 1];

	if (!users_path_id(rq, 0, id) || !users_path_id(rq, 1, user))
		return (reply_problem(rq, PROB_NOT_FOUND, "no such resource"));
	b = db_batch(rq, DB_TX);
	db_stmt(b, "SELECT crm.team_member_remove($1, $2, $3)");
	db_param(b, rq->who.tenant);
	db_param(b, id);
	db_param(b, user);
	audit_add(b, rq, "team.updated", "team", id,
	    json_pack("{s:s}", "member_removed", user));
	return (db_run(rq, b, roles_204));
}

static const struct route roles_routes[] = {
	ROUTE(HTTP_METHOD_GET, "/v1/roles", "roles:read", roles_list, 0,
	    "List the built-in and custom roles"),
	ROUTE(HTTP_METHOD_POST, "/v1/roles", "roles:manage", roles_create,
	    RT_JSON | RT_WRITE, "Create a custom role"),
	ROUTE(HTTP_METHOD_GET, "/v1/roles/{id}", "roles:read", roles_get, 0,
	    "One role"),
	ROUTE(HTTP_METHOD_PATCH, "/v1/roles/{id}", "roles:manage", roles_patch,
	    RT_JSON | RT_WRITE, "Change a custom role"),
	ROUTE(HTTP_METHOD_DELETE, "/v1/roles/{id}", "roles:manage",
	    roles_delete, RT_WRITE, "Delete a custom role nobody holds"),
	ROUTE(HTTP_METHOD_GET, "/v1/teams", "teams:read", teams_list, 0,
	    "List the teams and their members"),
	ROUTE(HTTP_METHOD_POST, "/v1/teams", "teams:manage", teams_create,
	    RT_JSON | RT_WRITE, "Create a team"),
	ROUTE(HTTP_METHOD_GET, "/v1/teams/{id}", "teams:read", teams_get, 0,
	    "One team"),
	ROUTE(HTTP_METHOD_PATCH, "/v1/teams/{id}", "teams:manage", teams_patch,
	    RT_JSON | RT_WRITE, "Rename a team"),
	ROUTE(HTTP_METHOD_DELETE, "/v1/teams/{id}", "teams:manage",
	    teams_delete, RT_WRITE, "Delete a team"),
	ROUTE(HTTP_METHOD_POST, "/v1/teams/{id}/members", "teams:manage",
	    teams_member_add, RT_JSON | RT_WRITE, "Add a user to a team"),
	ROUTE(HTTP_METHOD_DELETE, "/v1/teams/{id}/members/{user_id}",
	    "teams:manage", teams_member_remove, RT_WRITE,
	    "Remove a user from a team"),
};

const struct crm_module roles_module = {
	"roles", roles_routes, sizeof(roles_routes) / sizeof(roles_routes[0]),
	NULL, NULL
};
