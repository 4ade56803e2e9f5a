/*
 * customfields.c: /v1/custom-fields, a tenant's own fields on an entity
 * (API.md "custom-fields"; sql/011_custom_fields.sql).
 *
 * A definition names its entity, a name (the key under `custom` in every
 * record), a label and a type; enum types carry options, a ref names the
 * entity it points at.  Name, entity and type are fixed once created:
 * changing them would reinterpret stored values.  Deleting a definition
 * removes its values from the records too, in the same transaction.
 * Values are checked by the engine (app/entcf.c) from the definitions.
 */

#include <string.h>

#include "identity.h"
#include "ent.h"

#define CF_JSON								\
	"json_build_object('id', c.id, 'entity', c.entity, 'name', c.name, "\
	"'label', c.label, 'type', c.type, 'required', c.required, "	\
	"'options', c.options, 'ref_entity', c.ref_entity, 'description', "\
	"c.description, 'position', c.position, 'created_at', "		\
	"to_char(c.created_at AT TIME ZONE 'UTC', "			\
	"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'updated_at', "		\
	"to_char(c.updated_at AT TIME ZONE 'UTC', "			\
	"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))"

static const char	cf_list_sql[] =
	"SELECT json_build_object('data', coalesce(json_agg(" CF_JSON
	" ORDER BY c.entity, c.position, c.name), '[]'), 'next_cursor', "
	"NULL)::text FROM crm.custom_fields c WHERE c.tenant_id = $1 AND "
	"($2::text IS NULL OR c.entity = $2)";

static const char	cf_get_sql[] =
	"SELECT " CF_JSON "::text FROM crm.custom_fields c "
	"WHERE c.tenant_id = $1 AND c.id = $2";

/* At most ENTCF_MAX per entity: the insert finds no row beyond it. */
static const char	cf_create_sql[] =
	"WITH i AS (INSERT INTO crm.custom_fields (tenant_id, id, entity, "
	"name, label, "
	"type, required, options, ref_entity, description, position, "
	"created_by, updated_by) SELECT $1, $2, $3, $4, $5, $6, "
	"coalesce($7::boolean, false), $8::text[], $9, $10, "
	"coalesce($11::integer, 0), $12, $12 WHERE (SELECT count(*) FROM "
	"crm.custom_fields WHERE tenant_id = $1 AND entity = $3) < $13 "
	"RETURNING id) SELECT crm.require_rows(count(*), 'CR422', 'this "
	"entity has the most custom fields allowed', 'entity') FROM i";

static const char	cf_patch_sql[] =
	"WITH u AS (UPDATE crm.custom_fields SET label = coalesce($3, label), "
	"required = coalesce($4::boolean, required), options = "
	"coalesce($5::text[], options), description = CASE WHEN $6::boolean "
	"THEN $7 ELSE description END, position = coalesce($8::integer, "
	"position), updated_at = now(), updated_by = $9, version = version + 1 "
	"WHERE tenant_id = $1 AND id = $2 AND ($5::text[] IS NULL OR "
	"type IN ('enum', 'multi_enum')) RETURNING id) SELECT "
	"crm.require_rows(count(*), 'CR404', 'no such resource', NULL) FROM u";

static const char	cf_delete_sql[] =
	"DELETE FROM crm.custom_fields WHERE tenant_id = $1 AND id = $2 "
	"RETURNING entity, name";

/* ^[a-z][a-z0-9_]{0,39}$, the CHECK on crm.custom_fields.name. */
static int
cf_name_ok(const char *s)
{
	size_t	n = strlen(s);

	return (n >= 1 && n <= 40 && s[0] >= 'a' && s[0] <= 'z' &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n);
}

/* An option: 1..100 characters, no comma (lists filter with `in=a,b`). */
static int
cf_option_ok(const char *s)
{
	return (*s != '\0' && strlen(s) <= 100 && strchr(s, ',') == NULL);
}

/* Options as a PostgreSQL array literal, each quoted and escaped. */
static char *
cf_options(json_t *a)
{
	struct buf	 b;
	const char	*p;
	json_t		*e;
	size_t		 i;
	char		*s;

	buf_init(&b, 128);
	buf_appendc(&b, '{');
	json_array_foreach(a, i, e) {
		buf_appends(&b, i > 0 ? ",\"" : "\"");
		for (p = json_string_value(e); *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				buf_appendc(&b, '\\');
			buf_appendc(&b, *p);
		}
		buf_appendc(&b, '"');
	}
	buf_appendc(&b, '}');
	s = xstrdup(buf_cstr(&b));
	buf_free(&b);
	return (s);
}

struct cf_in {
	const char	*entity;
	const char	*name;
	const char	*label;
	const char	*type;
	const char	*ref;
	const char	*description;
	int		 has_description;
	int		 required;	/* -1: not given */
	int		 position;	/* -1: not given */
	char		*options;	/* owned, or NULL */
};

static int
cf_bool(struct val *v, const char *field)
{
	json_t	*j = json_object_get(v->body, field);

	if (j == NULL)
		return (-1);
	if (!json_is_boolean(j)) {
		val_error(v, field, "invalid_type", "true or false");
		return (-1);
	}
	return (json_is_true(j));
}

static int
cf_position(struct val *v)
{
	json_t	*j = json_object_get(v->body, "position");

	if (j == NULL)
		return (-1);
	if (!json_is_integer(j) || json_integer_value(j) < 0 ||
	    json_integer_value(j) > 10000) {
		val_error(v, "position", "out_of_range", "0 to 10000");
		return (-1);
	}
	return ((int)json_integer_value(j));
}

static int
cf_option_unique(const char *s)
{
	return (cf_option_ok(s));
}

static void
cf_parse_options(struct val *v, struct cf_in *in, int needed)
{
	json_t	*a;

	if (json_object_get(v->body, "options") == NULL && !needed)
		return;
	a = val_str_array(v, "options", needed, 200, cf_option_unique);
	if (a != NULL && json_array_size(a) == 0)
		val_error(v, "options", "required", "at least one option");
	else if (a != NULL)
		in->options = cf_options(a);
}

/* Fields common to create and patch. */
static void
cf_parse_common(struct val *v, struct cf_in *in, int create)
{
	in->label = val_str(v, "label", create, 1, 100);
	in->has_description = json_object_get(v->body, "description") != NULL;
	in->description = val_str(v, "description", 0, 0, 500);
	in->required = cf_bool(v, "required");
	in->position = cf_position(v);
}

static void
cf_parse_create(struct rq *rq, struct val *v, struct cf_in *in)
{
	static const char *const	 fields[] = { "entity", "name",
					    "label", "type", "required",
					    "options", "ref_entity",
					    "description", "position", NULL };
	enum ent_type			 t;

	memset(in, 0, sizeof(*in));
	val_init(v, rq->body);
	val_only(v, fields);
	in->entity = val_str(v, "entity", 1, 1, 40);
	if (in->entity != NULL && eng_find(in->entity) == NULL)
		val_error(v, "entity", "invalid_value", "no such entity");
	in->name = val_str(v, "name", 1, 1, 40);
	if (in->name != NULL && !cf_name_ok(in->name))
		val_error(v, "name", "invalid_format",
		    "lower-case letters, digits and _, starting with a letter");
	in->type = val_str(v, "type", 1, 1, 20);
	if (in->type != NULL && entcf_type(in->type, &t) == -1)
		val_error(v, "type", "invalid_value", "not a custom field type");
	cf_parse_common(v, in, 1);
	cf_parse_options(v, in, in->type != NULL &&
	    (t == ENT_ENUM || t == ENT_MULTI_ENUM));
	in->ref = val_str(v, "ref_entity", in->type != NULL && t == ENT_REF,
	    1, 40);
	if (in->ref != NULL && eng_find(in->ref) == NULL)
		val_error(v, "ref_entity", "invalid_value", "no such entity");
	if (in->type != NULL && ((in->options != NULL) !=
	    (t == ENT_ENUM || t == ENT_MULTI_ENUM) ||
	    (in->ref != NULL) != (t == ENT_REF)))
		val_error(v, in->options != NULL ? "options" : "ref_entity",
		    "not_allowed", "this type takes no such member");
}

static void
cf_param_int(struct db_batch *b, int n)
{
	if (n < 0)
		db_param(b, NULL);
	else
		db_paramf(b, "%d", n);
}

static int
cf_list(struct rq *rq)
{
	struct db_batch	*b;
	const char	*qs = pipe_query(rq);
	char		 entity[48] = "";

	if (qs != NULL && (strncmp(qs, "entity=", 7) != 0 ||
	    strlen(qs + 7) >= sizeof(entity) || eng_find(qs + 7) == NULL))
		return (reply_problem(rq, PROB_INVALID_QUERY,
		    "supported: entity=<an entity name>"));
	if (qs != NULL)
		(void)snprintf(entity, sizeof(entity), "%s", qs + 7);
	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, cf_list_sql);
	db_param(b, rq->who.tenant);
	db_param(b, entity[0] ? entity : NULL);
	return (db_run(rq, b, users_reply_200));
}

static int
cf_get(struct rq *rq)
{
	struct db_batch	*b;
	char		 id[UUID_STRLEN + 1];

	if (!users_path_id(rq, 0, id))
		return (reply_problem(rq, PROB_NOT_FOUND, "no such resource"));
	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, cf_get_sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
	return (db_run(rq, b, users_reply_200));
}

/* A write's last statement reads the definition back. */
static int
cf_written(struct rq *rq, int status)
{
	PGresult	*res;

	if (!db_ok(rq))
		return (users_db_error(rq, NULL));
	res = db_res(rq, rq->batch->nstmts - 1);
	return (reply_raw(rq, status, "application/json; charset=utf-8",
	    PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0)));
}

static int
cf_created(struct rq *rq)
{
	return (cf_written(rq, 201));
}

static int
cf_patched(struct rq *rq)
{
	return (cf_written(rq, 200));
}

static void
cf_reselect(struct db_batch *b, struct rq *rq, const char *id)
{
	db_stmt(b, cf_get_sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
}

static int
cf_create(struct rq *rq)
{
	struct cf_in	 in;
	struct val	 v;
	struct db_batch	*b;
	char		 id[UUID_STRLEN + 1];

	cf_parse_create(rq, &v, &in);
	if (val_failed(&v)) {
		xfree(in.options);
		return (auth_reply_val(rq, &v));
	}
	uuid7_new_str(id);
	b = db_batch(rq, DB_TX);
	db_stmt(b, cf_create_sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
	db_param(b, in.entity);
	db_param(b, in.name);
	db_param(b, in.label);
	db_param(b, in.type);
	db_param(b, in.required < 0 ? NULL : in.required ? "true" : "false");
	db_param(b, in.options);
	db_param(b, in.ref);
	db_param(b, in.description);
	cf_param_int(b, in.position);
	db_param(b, rq->who.owner);
	db_paramf(b, "%d", ENTCF_MAX);
	audit_add(b, rq, "custom_field.created", "custom_field", id,
	    json_pack("{s:s,s:s}", "entity", in.entity, "name", in.name));
	cf_reselect(b, rq, id);
	cfc_drop(rq->who.tenant, eng_find(in.entity));
	xfree(in.options);
	return (db_run(rq, b, cf_created));
}

static int
cf_patch(struct rq *rq)
{
	static const char *const	 fields[] = { "label", "required",
					    "options", "description",
					    "position", NULL };
	struct cf_in			 in;
	struct val			 v;
	struct db_batch			*b;
	char				 id[UUID_STRLEN + 1];

	if (!users_path_id(rq, 0, id))
		return (reply_problem(rq, PROB_NOT_FOUND, "no such resource"));
	memset(&in, 0, sizeof(in));
	val_init(&v, rq->body);
	val_only(&v, fields);
	cf_parse_common(&v, &in, 0);
	cf_parse_options(&v, &in, 0);
	if (val_failed(&v)) {
		xfree(in.options);
		return (auth_reply_val(rq, &v));
	}
	b = db_batch(rq, DB_TX);
	db_stmt(b, cf_patch_sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
	db_param(b, in.label);
	db_param(b, in.required < 0 ? NULL : in.required ? "true" : "false");
	db_param(b, in.options);
	db_param(b, in.has_description ? "true" : "false");
	db_param(b, in.description);
	cf_param_int(b, in.position);
	db_param(b, rq->who.owner);
	audit_add(b, rq, "custom_field.updated", "custom_field", id, NULL);
	cf_reselect(b, rq, id);
	xfree(in.options);
	return (db_run(rq, b, cf_patched));
}

/*
 * DELETE: the definition goes, then its values leave the entity's table
 * (a second round, since the table comes from the row).  One transaction.
 */
static int
cf_delete_done(struct rq *rq)
{
	if (!db_ok(rq))
		return (db_reply_error(rq));
	return (reply_empty(rq, 204));
}

static int
cf_delete_values(struct rq *rq)
{
	const struct ent_desc	*d;
	struct db_batch		*b;
	PGresult		*res;
	struct buf		 sql;
	char			 name[48];

	if (!db_ok(rq))
		return (db_reply_error(rq));
	res = db_res(rq, 0);
	if (PQntuples(res) != 1 || (d = eng_find(PQgetvalue(res, 0, 0))) ==
	    NULL)			/* the open tx rolls back */
		return (reply_problem(rq, PROB_NOT_FOUND, "no such resource"));
	(void)snprintf(name, sizeof(name), "%s", PQgetvalue(res, 0, 1));
	cfc_drop(rq->who.tenant, d);
	buf_init(&sql, 128);		/* the batch borrows it: rq owns it */
	buf_appendf(&sql, "UPDATE %s SET custom = custom - $2 WHERE "
	    "tenant_id = $1 AND custom ? $2", d->table);
	rq->h = sql.data;
	rq->h_free = xfree;
	b = db_batch(rq, DB_TX);
	db_stmt(b, rq->h);
	db_param(b, rq->who.tenant);
	db_param(b, name);
	return (db_run(rq, b, cf_delete_done));
}

static int
cf_delete(struct rq *rq)
{
	struct db_batch	*b;
	char		 id[UUID_STRLEN + 1];

	if (!users_path_id(rq, 0, id))
		return (reply_problem(rq, PROB_NOT_FOUND, "no such resource"));
	b = db_batch(rq, DB_TX_OPEN);
	db_stmt(b, cf_delete_sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
	audit_add(b, rq, "custom_field.deleted", "custom_field", id, NULL);
	return (db_run(rq, b, cf_delete_values));
}

static const struct route	cf_routes[] = {
	ROUTE(HTTP_METHOD_GET, "/v1/custom-fields", "custom-fields:read",
	    cf_list, 0, "The tenant's custom fields (?entity=)"),
	ROUTE(HTTP_METHOD_POST, "/v1/custom-fields", "custom-fields:create",
	    cf_create, RT_JSON | RT_WRITE, "Define a custom field"),
	ROUTE(HTTP_METHOD_GET, "/v1/custom-fields/{id}", "custom-fields:read",
	    cf_get, 0, "Get a custom field"),
	ROUTE(HTTP_METHOD_PATCH, "/v1/custom-fields/{id}",
	    "custom-fields:update", cf_patch, RT_JSON | RT_WRITE,
	    "Change a custom field's label, options, required flag"),
	ROUTE(HTTP_METHOD_DELETE, "/v1/custom-fields/{id}",
	    "custom-fields:delete", cf_delete, RT_WRITE,
	    "Delete a custom field and its values"),
};

const struct crm_module customfields_module = {
	"custom-fields", cf_routes, sizeof(cf_routes) / sizeof(cf_routes[0]),
	NULL, NULL
};
