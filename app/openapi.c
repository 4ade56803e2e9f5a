/*
 * openapi.c: GET /v1/openapi.json, an OpenAPI 3.1 document generated at
 * worker start from what the service really serves (ARCHITECTURE.md: "the
 * OpenAPI document is generated from the descriptors, so docs never
 * drift"), never written by hand:
 *
 *	paths		the live route table (pipe_route_at): method, path and
 *			its {parameters}, permission, summary, flags;
 *	schemas		one <Entity> record per registered descriptor
 *			(eng_desc_at) with <Entity>Create, <Entity>Patch and
 *			<Entity>List, field types mapped by oapi_types[];
 *	errors		the problem table (problem.c): a Problem schema, the
 *			x-problem-codes list and one response per status,
 *			attached to each operation by oapi_errors[].
 *
 * Which routes are the engine's is known from their handlers (oapi_eng[]);
 * a list route is GET /v1/<entity>.  Everything else gets its summary, its
 * permission (x-permission) and the generic responses.
 *
 * The document is built once with jansson, dumped once, and served as
 * bytes with a strong ETag (If-None-Match gives 304).  It lives as long as
 * the worker; oapi_worker_init() runs after every module's worker_init
 * (main.c), so every entity has registered.
 */

#include <openssl/sha.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "srv.h"
#include "ent.h"

#define OAPI_CTYPE	"application/json; charset=utf-8"
#define OAPI_CACHE	"public, max-age=300"
#define OAPI_REF	"#/components/schemas/"

static char	*oapi_doc;
static size_t	 oapi_len;
static char	 oapi_etag[2 + 32 + 1];

/*
 * Field types as JSON Schema, one row per enum ent_type.  Lengths are the
 * type defaults of ent.c's table (a field's own max wins); ent.h does not
 * export them, so they are repeated here and ent_test's type table check
 * and the accounts schema test keep the two honest.
 */
static const struct {
	enum ent_type	 type;
	const char	*json;		/* JSON Schema "type" */
	const char	*format;
	const char	*pattern;
	int		 max;		/* maxLength default, 0 none */
} oapi_types[] = {
	{ ENT_TEXT,	  "string",  NULL,	  NULL,	200 },
	{ ENT_LONGTEXT,	  "string",  NULL,	  NULL,	20000 },
	{ ENT_INT,	  "integer", "int64",	  NULL,	0 },
	{ ENT_NUMBER,	  "number",  NULL,	  NULL,	0 },
	{ ENT_MONEY,	  "string",  "decimal",
	    "^-?[0-9]{1,13}(\\.[0-9]{1,2})?$", 0 },
	{ ENT_CURRENCY,	  "string",  NULL,	  "^[A-Z]{3}$", 3 },
	{ ENT_DATE,	  "string",  "date",	  NULL,	0 },
	{ ENT_DATETIME,	  "string",  "date-time", NULL,	0 },
	{ ENT_BOOL,	  "boolean", NULL,	  NULL,	0 },
	{ ENT_ENUM,	  "string",  NULL,	  NULL,	0 },
	{ ENT_MULTI_ENUM, "array",   NULL,	  NULL,	0 },
	{ ENT_EMAIL,	  "string",  "email",	  NULL,	254 },
	{ ENT_PHONE,	  "string",  NULL,	  NULL,	40 },
	{ ENT_URL,	  "string",  "uri",	  NULL,	2000 },
	{ ENT_REF,	  "string",  "uuid",	  NULL,	0 },
	{ ENT_OBJECT,	  "object",  NULL,	  NULL,	0 },
	{ ENT_ARRAY,	  "array",   NULL,	  NULL,	0 },
};

_Static_assert(sizeof(oapi_types) / sizeof(oapi_types[0]) == ENT__TYPES,
    "oapi_types needs one row per enum ent_type");

/* The system fields of every record (ent.h), all read-only. */
static const struct {
	const char	*name;
	const char	*type;
	const char	*format;
} oapi_system[] = {
	{ "id", "string", "uuid" },
	{ "custom", "object", NULL },
	{ "owner_id", "string", "uuid" },
	{ "created_at", "string", "date-time" },
	{ "updated_at", "string", "date-time" },
	{ "created_by", "string", "uuid" },
	{ "updated_by", "string", "uuid" },
};

/* The engine's handlers: what each answers and with which schemas. */
#define OAPI_S_RECORD	0x01	/* the reply is the record */
#define OAPI_S_CREATE	0x02	/* the body is <Entity>Create */
#define OAPI_S_PATCH	0x04	/* the body is <Entity>Patch */
#define OAPI_S_ETAG	0x08	/* ETag on the reply */
#define OAPI_S_LOCATION	0x10	/* Location on the reply */

static const struct {
	rq_fn		 fn;
	int		 status;
	int		 what;
} oapi_eng[] = {
	{ eng_create, 201, OAPI_S_RECORD | OAPI_S_CREATE | OAPI_S_ETAG |
	    OAPI_S_LOCATION },
	{ eng_get, 200, OAPI_S_RECORD | OAPI_S_ETAG },
	{ eng_update, 200, OAPI_S_RECORD | OAPI_S_PATCH | OAPI_S_ETAG },
	{ eng_delete, 204, 0 },
	{ eng_restore, 200, OAPI_S_RECORD | OAPI_S_ETAG },
};

/* Which error responses an operation lists, by what the route is. */
#define OAPI_E_ALL	0x01
#define OAPI_E_AUTH	0x02	/* not public */
#define OAPI_E_PARAM	0x04	/* has a {parameter} */
#define OAPI_E_BODY	0x08	/* takes a body */
#define OAPI_E_IDEM	0x10	/* authenticated POST: Idempotency-Key */
#define OAPI_E_PATCH	0x20	/* PATCH: If-Match */
#define OAPI_E_LIMIT	0x40	/* rate limited */

static const struct {
	int	status;
	int	when;
} oapi_errors[] = {
	{ 400, OAPI_E_ALL },
	{ 401, OAPI_E_AUTH },
	{ 403, OAPI_E_AUTH },
	{ 404, OAPI_E_PARAM },
	{ 409, OAPI_E_IDEM | OAPI_E_BODY },
	{ 412, OAPI_E_PATCH },
	{ 413, OAPI_E_BODY },
	{ 415, OAPI_E_BODY },
	{ 422, OAPI_E_BODY | OAPI_E_IDEM },
	{ 429, OAPI_E_LIMIT },
	{ 500, OAPI_E_ALL },
	{ 503, OAPI_E_ALL },
};

/* jansson returns -1 or NULL only when out of memory: at start, fatal. */
static void
oapi_set(json_t *o, const char *key, json_t *v)
{
	if (v == NULL || json_object_set_new(o, key, v) == -1)
		crm_fatal("openapi: cannot set \"%s\"", key);
}

static void
oapi_push(json_t *a, json_t *v)
{
	if (v == NULL || json_array_append_new(a, v) == -1)
		crm_fatal("openapi: cannot append");
}

static json_t *
oapi_obj(json_t *o, const char *key)
{
	json_t	*v;

	if ((v = json_object_get(o, key)) == NULL) {
		v = json_object();
		oapi_set(o, key, v);
	}
	return (v);
}

static json_t *
oapi_ref(const char *where, const char *name)
{
	char	ref[160];

	(void)snprintf(ref, sizeof(ref), "#/components/%s/%s", where, name);
	return (json_pack("{s:s}", "$ref", ref));
}

/* "price-books" / "price_book" -> "PriceBook": schema names. */
static void
oapi_camel(const char *s, const char *suffix, char *out, size_t len)
{
	size_t	n = 0;
	int	up = 1;

	for (; *s != '\0' && n + 1 < len; s++) {
		if (*s == '-' || *s == '_' || *s == ' ') {
			up = 1;
			continue;
		}
		out[n++] = up ? (char)toupper((unsigned char)*s) : *s;
		up = 0;
	}
	out[n] = '\0';
	(void)snprintf(out + n, len - n, "%s", suffix);
}

/* Non-required values may be null: 3.1 says so with a type list. */
static void
oapi_nullable(json_t *s)
{
	json_t	*t = json_object_get(s, "type"), *e;

	if (json_is_string(t))
		oapi_set(s, "type", json_pack("[s,s]", json_string_value(t),
		    "null"));
	if ((e = json_object_get(s, "enum")) != NULL)
		oapi_push(e, json_null());
}

static json_t *
oapi_options(const char *const *o)
{
	json_t	*a = json_array();

	for (; o != NULL && *o != NULL; o++)
		oapi_push(a, json_string(*o));
	return (a);
}

static json_t *
oapi_field(const struct ent_field *f)
{
	json_t	*s;
	int	 t = f->type, max;

	s = json_pack("{s:s}", "type", oapi_types[t].json);
	if (oapi_types[t].format != NULL)
		oapi_set(s, "format", json_string(oapi_types[t].format));
	if (oapi_types[t].pattern != NULL)
		oapi_set(s, "pattern", json_string(
		    t == ENT_MONEY && (f->flags & ENT_F_NONNEG) ?
		    "^[0-9]{1,13}(\\.[0-9]{1,2})?$" : oapi_types[t].pattern));
	max = f->max > 0 ? f->max : oapi_types[t].max;
	if (max > 0 && strcmp(oapi_types[t].json, "string") == 0)
		oapi_set(s, "maxLength", json_integer(max));
	if ((t == ENT_INT || t == ENT_NUMBER) && (f->flags & ENT_F_NONNEG))
		oapi_set(s, "minimum", json_integer(0));
	if (t == ENT_ENUM)
		oapi_set(s, "enum", oapi_options(f->options));
	if (t == ENT_MULTI_ENUM)
		oapi_set(s, "items", json_pack("{s:s, s:o}", "type", "string",
		    "enum", oapi_options(f->options)));
	if (t == ENT_REF && f->ref != NULL)
		oapi_set(s, "x-references", json_string(f->ref));
	if (f->flags & ENT_F_READONLY)
		oapi_set(s, "readOnly", json_true());
	if (!(f->flags & ENT_F_REQUIRED))
		oapi_nullable(s);
	return (s);
}

/* The field names with a flag, for x-sortable and friends. */
static json_t *
oapi_flagged(const struct ent_desc *d, int flag)
{
	const struct ent_field	*f;
	json_t			*a = json_array();

	for (f = d->fields; f->name != NULL; f++) {
		if (f->flags & flag)
			oapi_push(a, json_string(f->name));
	}
	return (a);
}

/* <Entity>: the record as every read and write returns it. */
static json_t *
oapi_record(const struct ent_desc *d)
{
	const struct ent_field	*f;
	json_t			*props, *req, *s;
	size_t			 i;

	props = json_object();
	req = json_array();
	for (i = 0; i < sizeof(oapi_system) / sizeof(oapi_system[0]); i++) {
		s = json_pack("{s:s, s:b}", "type", oapi_system[i].type,
		    "readOnly", 1);
		if (oapi_system[i].format != NULL)
			oapi_set(s, "format",
			    json_string(oapi_system[i].format));
		if (strcmp(oapi_system[i].name, "owner_id") == 0 ||
		    strcmp(oapi_system[i].name, "updated_by") == 0 ||
		    strcmp(oapi_system[i].name, "created_by") == 0)
			oapi_nullable(s);
		oapi_set(props, oapi_system[i].name, s);
		oapi_push(req, json_string(oapi_system[i].name));
	}
	for (f = d->fields; f->name != NULL; f++) {
		oapi_set(props, f->name, oapi_field(f));
		if (f->flags & ENT_F_REQUIRED)
			oapi_push(req, json_string(f->name));
	}
	return (json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "type",
	    "object", "description", d->singular, "properties", props,
	    "required", req, "x-sortable", oapi_flagged(d, ENT_F_SORT),
	    "x-filterable", oapi_flagged(d, ENT_F_FILTER), "x-searchable",
	    oapi_flagged(d, ENT_F_SEARCH)));
}

/* <Entity>Create and <Entity>Patch: the writable fields only. */
static json_t *
oapi_write(const struct ent_desc *d, int create)
{
	const struct ent_field	*f;
	json_t			*props, *req, *s;

	props = json_object();
	req = json_array();
	for (f = d->fields; f->name != NULL; f++) {
		if (f->flags & ENT_F_READONLY)
			continue;
		oapi_set(props, f->name, oapi_field(f));
		if (create && (f->flags & ENT_F_REQUIRED))
			oapi_push(req, json_string(f->name));
	}
	s = json_pack("{s:s, s:o, s:b}", "type", "object", "properties", props,
	    "additionalProperties", 0);
	if (create && json_array_size(req) > 0)
		oapi_set(s, "required", req);
	else
		json_decref(req);
	if (!create)
		oapi_set(s, "description", json_string("JSON merge-patch "
		    "(RFC 7396): given fields change, null clears"));
	return (s);
}

static void
oapi_entity_schemas(json_t *schemas, const struct ent_desc *d)
{
	char	name[96], ref[128];

	oapi_camel(d->singular, "", name, sizeof(name));
	oapi_set(schemas, name, oapi_record(d));
	(void)snprintf(ref, sizeof(ref), OAPI_REF "%s", name);
	oapi_camel(d->singular, "Create", name, sizeof(name));
	oapi_set(schemas, name, oapi_write(d, 1));
	oapi_camel(d->singular, "Patch", name, sizeof(name));
	oapi_set(schemas, name, oapi_write(d, 0));
	oapi_camel(d->singular, "List", name, sizeof(name));
	oapi_set(schemas, name, json_pack("{s:s, s:[s,s], s:{s:{s:s, s:{s:s}}, "
	    "s:{s:[s,s], s:s}}}", "type", "object", "required", "data",
	    "next_cursor", "properties", "data", "type", "array", "items",
	    "$ref", ref, "next_cursor", "type", "string", "null",
	    "description", "pass as cursor for the next page; null at the end"));
}

/* The problem table: the Problem schema, its codes, one response each. */
static json_t *
oapi_string(void)
{
	return (json_pack("{s:s}", "type", "string"));
}

static json_t *
oapi_problem_schema(void)
{
	const struct problem_def	*t;
	json_t				*codes, *props;
	size_t				 i, n;

	t = problem_table(&n);
	codes = json_array();
	for (i = 0; i < n; i++)
		oapi_push(codes, json_string(t[i].name));
	props = json_object();
	oapi_set(props, "type", json_pack("{s:s, s:s}", "type", "string",
	    "format", "uri"));
	oapi_set(props, "title", oapi_string());
	oapi_set(props, "status", json_pack("{s:s}", "type", "integer"));
	oapi_set(props, "code", json_pack("{s:s, s:o}", "type", "string",
	    "enum", codes));
	oapi_set(props, "detail", oapi_string());
	oapi_set(props, "request_id", oapi_string());
	oapi_set(props, "errors", json_pack("{s:s, s:{s:s, s:{s:o, s:o, "
	    "s:o}}}", "type", "array", "items", "type", "object",
	    "properties", "field", oapi_string(), "code", oapi_string(),
	    "detail", oapi_string()));
	return (json_pack("{s:s, s:s, s:[s,s,s,s,s], s:o}", "type", "object",
	    "description", "RFC 9457 problem details; clients switch on code",
	    "required", "type", "title", "status", "code", "request_id",
	    "properties", props));
}

static json_t *
oapi_problem_codes(void)
{
	const struct problem_def	*t;
	json_t				*a;
	size_t				 i, n;

	t = problem_table(&n);
	a = json_array();
	for (i = 0; i < n; i++)
		oapi_push(a, json_pack("{s:s, s:i, s:s, s:s}", "code",
		    t[i].name, "status", t[i].status, "title", t[i].title,
		    "description", t[i].doc));
	return (a);
}

/* One response per status of the table, naming its codes. */
static json_t *
oapi_problem_response(int status)
{
	const struct problem_def	*t;
	struct buf			 b;
	json_t				*r;
	size_t				 i, n;

	t = problem_table(&n);
	buf_init(&b, 128);
	for (i = 0; i < n; i++) {
		if (t[i].status == status)
			buf_appendf(&b, "%s%s (%s)", b.len ? "; " : "",
			    t[i].name, t[i].doc);
	}
	r = json_pack("{s:s, s:{s:{s:o}}}", "description", buf_cstr(&b),
	    "content", "application/problem+json", "schema",
	    oapi_ref("schemas", "Problem"));
	buf_free(&b);
	if (status == 401)
		oapi_set(oapi_obj(r, "headers"), "WWW-Authenticate",
		    json_pack("{s:{s:s}}", "schema", "type", "string"));
	if (status == 429 || status == 503)
		oapi_set(oapi_obj(r, "headers"), "Retry-After",
		    json_pack("{s:s, s:{s:s}}", "description", "seconds",
		    "schema", "type", "integer"));
	return (r);
}

static void
oapi_problem_responses(json_t *responses)
{
	char	name[16];
	size_t	i;

	for (i = 0; i < sizeof(oapi_errors) / sizeof(oapi_errors[0]); i++) {
		(void)snprintf(name, sizeof(name), "%d", oapi_errors[i].status);
		oapi_set(responses, name,
		    oapi_problem_response(oapi_errors[i].status));
	}
}

/* Shared parameters. */
static void
oapi_parameters(json_t *params)
{
	oapi_set(params, "IdempotencyKey", json_pack("{s:s, s:s, s:b, s:s, "
	    "s:{s:s, s:i, s:i, s:s}}", "name", "Idempotency-Key", "in",
	    "header", "required", 0, "description", "Replays the first "
	    "response to the same request (method, path, query, body) by the "
	    "same principal for 24 h; another request with the key is 422 "
	    "idempotency_key_reused, one still in flight 409",
	    "schema", "type", "string", "minLength", 1, "maxLength", 255,
	    "pattern", "^[ -~]+$"));
	oapi_set(params, "IfMatch", json_pack("{s:s, s:s, s:b, s:s, s:{s:s}}",
	    "name", "If-Match", "in", "header", "required", 0, "description",
	    "the ETag the change is based on; 412 when it is not current",
	    "schema", "type", "string"));
}

/* List query parameters, naming what this entity allows. */
static void
oapi_list_params(json_t *params, const struct ent_desc *d)
{
	json_t	*sortable = oapi_flagged(d, ENT_F_SORT);
	json_t	*filterable = oapi_flagged(d, ENT_F_FILTER);

	oapi_push(params, json_pack("{s:s, s:s, s:{s:s, s:i, s:i, s:i}}",
	    "name", "limit", "in", "query", "schema", "type", "integer",
	    "minimum", 1, "maximum", 200, "default", 50));
	oapi_push(params, json_pack("{s:s, s:s, s:s, s:{s:s}}", "name",
	    "cursor", "in", "query", "description", "next_cursor of the "
	    "previous page", "schema", "type", "string"));
	oapi_push(params, json_pack("{s:s, s:s, s:s, s:{s:s}, s:o}", "name",
	    "sort", "in", "query", "description", "comma list of sortable "
	    "fields, '-' for descending; ties broken by id", "schema", "type",
	    "string", "x-fields", sortable));
	oapi_push(params, json_pack("{s:s, s:s, s:s, s:{s:s}}", "name", "q",
	    "in", "query", "description", "full-text search over the "
	    "searchable fields", "schema", "type", "string"));
	oapi_push(params, json_pack("{s:s, s:s, s:s, s:{s:s}}", "name",
	    "fields", "in", "query", "description", "sparse fieldset: a comma "
	    "list of fields", "schema", "type", "string"));
	oapi_push(params, json_pack("{s:s, s:s, s:s, s:b, s:s, s:{s:s, "
	    "s:{s:s, s:{s:s}}}, s:o}", "name", "filter", "in", "query",
	    "style", "deepObject", "explode", 1, "description",
	    "filter[field][op]=value, op in eq ne lt lte gt gte in contains "
	    "starts_with is_null", "schema", "type", "object",
	    "additionalProperties", "type", "object", "additionalProperties",
	    "type", "string", "x-fields", filterable));
}

/* Paths: what each route is, then its operation. */
static const char *
oapi_summary(const struct route *r)
{
	return (r->summary != NULL ? r->summary : r->path);
}

struct oapi_route {
	const struct route		*r;
	const struct crm_module		*m;
	const struct ent_desc		*d;	/* entity of the path, or NULL */
	int				 eng;	/* oapi_eng[] row, or -1 */
	int				 list;	/* GET /v1/<entity> */
};

static const struct ent_desc *
oapi_entity(const char *path)
{
	const struct ent_desc	*d;
	size_t			 n;
	int			 i;

	if (strncmp(path, "/v1/", 4) != 0)
		return (NULL);
	path += 4;
	for (i = 0; (d = eng_desc_at(i)) != NULL; i++) {
		n = strlen(d->name);
		if (strncmp(path, d->name, n) == 0 &&
		    (path[n] == '/' || path[n] == '\0'))
			return (d);
	}
	return (NULL);
}

static void
oapi_classify(struct oapi_route *o)
{
	size_t	i;

	o->eng = -1;
	o->d = oapi_entity(o->r->path);
	o->list = o->d != NULL && o->r->method == HTTP_METHOD_GET &&
	    strchr(o->r->path + 4, '/') == NULL;
	for (i = 0; o->d != NULL && i < sizeof(oapi_eng) / sizeof(oapi_eng[0]);
	    i++) {
		if (oapi_eng[i].fn == o->r->fn)
			o->eng = (int)i;
	}
}

static int
oapi_public(const struct route *r)
{
	return (strcmp(r->perm, "public") == 0);
}

static int
oapi_when(const struct oapi_route *o)
{
	int	w = OAPI_E_ALL;

	if (!oapi_public(o->r))
		w |= OAPI_E_AUTH;
	if (strchr(o->r->path, '{') != NULL)
		w |= OAPI_E_PARAM;
	if (o->r->flags & (RT_JSON | RT_RAW))
		w |= OAPI_E_BODY;
	if (o->r->method == HTTP_METHOD_POST && !oapi_public(o->r))
		w |= OAPI_E_IDEM;
	if (o->r->method == HTTP_METHOD_PATCH)
		w |= OAPI_E_PATCH;
	if (!(o->r->flags & RT_NOLIMIT))
		w |= OAPI_E_LIMIT;
	return (w);
}

/* "/v1/teams/{id}/members" -> "post_v1_teams_id_members". */
static void
oapi_operation_id(const struct route *r, char *out, size_t len)
{
	const char	*m = http_method_text(r->method), *p;
	size_t		 n = 0;

	for (; *m != '\0' && n + 1 < len; m++)
		out[n++] = (char)tolower((unsigned char)*m);
	for (p = r->path; *p != '\0' && n + 1 < len; p++) {
		if (isalnum((unsigned char)*p))
			out[n++] = *p;
		else if (*p != '{' && *p != '}' && out[n - 1] != '_')
			out[n++] = '_';
	}
	out[n] = '\0';
}

static void
oapi_path_params(json_t *params, const char *path)
{
	const char	*p, *end;
	char		 name[ROUTE_SEGLEN];
	json_t		*s;
	size_t		 n;

	for (p = path; (p = strchr(p, '{')) != NULL; p = end) {
		if ((end = strchr(p, '}')) == NULL)
			break;
		n = MIN((size_t)(end - p - 1), sizeof(name) - 1);
		memcpy(name, p + 1, n);
		name[n] = '\0';
		s = json_pack("{s:s}", "type", "string");
		if (strcmp(name, "id") == 0 || (n > 3 &&
		    strcmp(name + n - 3, "_id") == 0))
			oapi_set(s, "format", json_string("uuid"));
		oapi_push(params, json_pack("{s:s, s:s, s:b, s:o}", "name",
		    name, "in", "path", "required", 1, "schema", s));
	}
}

static json_t *
oapi_parameters_of(const struct oapi_route *o)
{
	json_t	*params = json_array();

	oapi_path_params(params, o->r->path);
	if (o->list)
		oapi_list_params(params, o->d);
	if (oapi_when(o) & OAPI_E_IDEM)
		oapi_push(params, oapi_ref("parameters", "IdempotencyKey"));
	if (o->r->method == HTTP_METHOD_PATCH)
		oapi_push(params, oapi_ref("parameters", "IfMatch"));
	return (params);
}

static json_t *
oapi_schema_ref(const struct ent_desc *d, const char *suffix)
{
	char	name[96];

	oapi_camel(d->singular, suffix, name, sizeof(name));
	return (oapi_ref("schemas", name));
}

static json_t *
oapi_request_body(const struct oapi_route *o)
{
	json_t	*schema;
	int	 what = o->eng >= 0 ? oapi_eng[o->eng].what : 0;

	if (o->r->flags & RT_RAW)
		return (json_pack("{s:b, s:{s:{s:{s:s}}}}", "required", 1,
		    "content", "text/csv", "schema", "type", "string"));
	if (what & OAPI_S_CREATE)
		schema = oapi_schema_ref(o->d, "Create");
	else if (what & OAPI_S_PATCH)
		schema = oapi_schema_ref(o->d, "Patch");
	else
		schema = json_pack("{s:s}", "type", "object");
	return (json_pack("{s:b, s:{s:{s:o}}}", "required", 1, "content",
	    "application/json", "schema", schema));
}

/* The success response: exact for the engine's routes, generic else. */
static void
oapi_success(json_t *responses, const struct oapi_route *o)
{
	json_t	*r, *h;
	char	 status[8];
	int	 what = o->eng >= 0 ? oapi_eng[o->eng].what : 0;

	r = json_pack("{s:s}", "description", oapi_summary(o->r));
	if (o->list)
		oapi_set(r, "content", json_pack("{s:{s:o}}",
		    "application/json", "schema", oapi_schema_ref(o->d,
		    "List")));
	else if (what & OAPI_S_RECORD)
		oapi_set(r, "content", json_pack("{s:{s:o}}",
		    "application/json", "schema", oapi_schema_ref(o->d, "")));
	if (what & (OAPI_S_ETAG | OAPI_S_LOCATION)) {
		h = oapi_obj(r, "headers");
		if (what & OAPI_S_ETAG)
			oapi_set(h, "ETag", json_pack("{s:{s:s}}", "schema",
			    "type", "string"));
		if (what & OAPI_S_LOCATION)
			oapi_set(h, "Location", json_pack("{s:{s:s}}",
			    "schema", "type", "string"));
	}
	if (o->list || o->eng >= 0)
		(void)snprintf(status, sizeof(status), "%d",
		    o->list ? 200 : oapi_eng[o->eng].status);
	else
		(void)snprintf(status, sizeof(status), "2XX");
	oapi_set(responses, status, r);
}

static json_t *
oapi_operation(const struct oapi_route *o)
{
	json_t	*op, *responses;
	char	 id[160], status[8];
	size_t	 i;
	int	 when = oapi_when(o);

	oapi_operation_id(o->r, id, sizeof(id));
	op = json_pack("{s:s, s:s, s:[s], s:s}", "operationId", id, "summary",
	    oapi_summary(o->r), "tags", o->m->name, "x-permission",
	    o->r->perm);
	oapi_set(op, "security", oapi_public(o->r) ? json_array() :
	    json_pack("[{s:[]}]", "bearer"));
	if (o->r->flags & RT_TEST)
		oapi_set(op, "x-test-only", json_true());
	if (o->r->flags & RT_SECRET)
		oapi_set(op, "x-shows-secret-once", json_true());
	oapi_set(op, "parameters", oapi_parameters_of(o));
	if (o->r->flags & (RT_JSON | RT_RAW))
		oapi_set(op, "requestBody", oapi_request_body(o));
	responses = json_object();
	oapi_success(responses, o);
	for (i = 0; i < sizeof(oapi_errors) / sizeof(oapi_errors[0]); i++) {
		if (!(oapi_errors[i].when & when))
			continue;
		(void)snprintf(status, sizeof(status), "%d",
		    oapi_errors[i].status);
		oapi_set(responses, status, oapi_ref("responses", status));
	}
	oapi_set(op, "responses", responses);
	return (op);
}

static json_t *
oapi_paths(void)
{
	struct oapi_route	 o;
	json_t			*paths = json_object();
	char			 method[16];
	size_t			 n;
	int			 i;

	for (i = 0; (o.r = pipe_route_at(i, &o.m)) != NULL; i++) {
		oapi_classify(&o);
		(void)snprintf(method, sizeof(method), "%s",
		    http_method_text(o.r->method));
		for (n = 0; method[n] != '\0'; n++)
			method[n] = (char)tolower((unsigned char)method[n]);
		oapi_set(oapi_obj(paths, o.r->path), method,
		    oapi_operation(&o));
	}
	return (paths);
}

static json_t *
oapi_components(void)
{
	const struct ent_desc	*d;
	json_t			*c, *schemas;
	int			 i;

	c = json_object();
	schemas = oapi_obj(c, "schemas");
	oapi_set(schemas, "Problem", oapi_problem_schema());
	for (i = 0; (d = eng_desc_at(i)) != NULL; i++)
		oapi_entity_schemas(schemas, d);
	oapi_problem_responses(oapi_obj(c, "responses"));
	oapi_parameters(oapi_obj(c, "parameters"));
	oapi_set(oapi_obj(c, "securitySchemes"), "bearer", json_pack("{s:s, "
	    "s:s, s:s}", "type", "http", "scheme", "bearer", "description",
	    "an access JWT (POST /v1/auth/login) or an API key "
	    "(crm_<prefix>_<secret>)"));
	return (c);
}

static json_t *
oapi_document(void)
{
	return (json_pack("{s:s, s:{s:s, s:s, s:s}, s:o, s:o, s:o}",
	    "openapi", "3.1.0", "info", "title", "crm", "version",
	    CRM_VERSION, "description", "Multi-tenant CRM API, generated "
	    "from the service's route table, entity descriptors and problem "
	    "codes (see docs/api.md)", "paths", oapi_paths(),
	    "components", oapi_components(), "x-problem-codes",
	    oapi_problem_codes()));
}

/*
 * Build and dump once per worker.  The ETag is a digest of the bytes, so
 * every worker of one build serves the same one.
 */
void
oapi_worker_init(void)
{
	json_t		*doc;
	uint8_t		 md[SHA256_DIGEST_LENGTH];
	char		 hex[SHA256_DIGEST_LENGTH * 2 + 1];

	if ((doc = oapi_document()) == NULL)
		crm_fatal("openapi: cannot build the document");
	oapi_doc = js_dump(doc, &oapi_len);
	json_decref(doc);
	SHA256((const unsigned char *)oapi_doc, oapi_len, md);
	crm_hex(md, sizeof(md), hex);
	(void)snprintf(oapi_etag, sizeof(oapi_etag), "\"%.32s\"", hex);
}

/* If-None-Match: "*" or a comma list of tags, weak ones compared weakly. */
static int
oapi_not_modified(struct rq *rq)
{
	const char	*v = pipe_header(rq, "if-none-match"), *p;
	size_t		 n = strlen(oapi_etag);

	if (v == NULL)
		return (0);
	for (p = v; *p != '\0'; p++) {
		if (*p == ' ' || *p == '\t' || *p == ',')
			continue;
		if (*p == '*')
			return (1);
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (strncmp(p, oapi_etag, n) == 0)
			return (1);
		if ((p = strchr(p, ',')) == NULL)
			break;
	}
	return (0);
}

static int
oapi_serve(struct rq *rq)
{
	reply_header(rq, "etag", oapi_etag);
	reply_header(rq, "cache-control", OAPI_CACHE);
	if (oapi_not_modified(rq))
		return (reply_empty(rq, 304));
	return (reply_raw(rq, 200, OAPI_CTYPE, oapi_doc, oapi_len));
}

static const struct route oapi_routes[] = {
	ROUTE(HTTP_METHOD_GET, "/v1/openapi.json", "public", oapi_serve, 0,
	    "This API as an OpenAPI 3.1 document"),
};

const struct crm_module openapi_module = {
	"openapi", oapi_routes, sizeof(oapi_routes) / sizeof(oapi_routes[0]),
	NULL, NULL
};
