/*
 * leads.c: people not yet qualified, and their conversion.
 *
 * POST /v1/leads/{id}/convert {account_id?, create_deal?, deal?} turns a
 * lead into an account (or links the given one), a contact and, when
 * asked, a deal, and marks the lead converted with links to all three.
 * One round trip, one transaction, two statements:
 *
 *	1. crm.convert_lead() (sql/017_lead_convert.sql) writes everything
 *	   and raises CR404 / CR409 / CR422 (naming the field);
 *	2. the records, rendered like GET renders them, and their events
 *	   (account.created when one was made, contact.created,
 *	   deal.created, lead.converted) with the same payloads the engine
 *	   writes.
 *
 * The route needs leads:update; the caller must also hold the create
 * permissions of what the conversion creates (a role may hold one without
 * the other).  That 403 comes after the lead is found, so an id the caller
 * cannot see stays a 404 like everywhere else.
 */

#include <stdio.h>
#include <string.h>

#include "records.h"

static const char *const leads_statuses[] = {
	"new", "working", "qualified", "unqualified", "converted", NULL
};
static const char *const leads_ratings[] = { "hot", "warm", "cold", NULL };

static const struct ent_field	leads_fields[] = {
	{ "first_name", ENT_TEXT, ENT_F_SEARCH | ENT_F_SORT | ENT_F_FILTER |
	    ENT_F_AUDIT, 100, NULL, NULL },
	{ "last_name", ENT_TEXT, ENT_F_SEARCH | ENT_F_SORT | ENT_F_FILTER |
	    ENT_F_AUDIT, 100, NULL, NULL },
	{ "company", ENT_TEXT, ENT_F_SEARCH | ENT_F_SORT | ENT_F_FILTER |
	    ENT_F_AUDIT, 200, NULL, NULL },
	{ "title", ENT_TEXT, ENT_F_FILTER, 100, NULL, NULL },
	{ "email", ENT_EMAIL, ENT_F_SEARCH | ENT_F_SORT | ENT_F_FILTER |
	    ENT_F_AUDIT, 0, NULL, NULL },
	{ "phone", ENT_PHONE, ENT_F_SEARCH, 0, NULL, NULL },
	{ "mobile", ENT_PHONE, 0, 0, NULL, NULL },
	{ "website", ENT_URL, 0, 0, NULL, NULL },
	{ "industry", ENT_TEXT, ENT_F_FILTER, 100, NULL, NULL },
	{ "source", ENT_TEXT, ENT_F_FILTER | ENT_F_SORT, 100, NULL, NULL },
	{ "status", ENT_ENUM, ENT_F_FILTER | ENT_F_SORT | ENT_F_AUDIT, 0,
	    leads_statuses, NULL },
	{ "rating", ENT_ENUM, ENT_F_FILTER | ENT_F_SORT, 0, leads_ratings,
	    NULL },
	{ "annual_revenue", ENT_MONEY, ENT_F_FILTER | ENT_F_SORT |
	    ENT_F_NONNEG, 0, NULL, NULL },
	{ "currency", ENT_CURRENCY, ENT_F_FILTER, 0, NULL, NULL },
	{ "employees", ENT_INT, ENT_F_FILTER | ENT_F_SORT | ENT_F_NONNEG, 0,
	    NULL, NULL },
	{ "address", ENT_OBJECT, 0, 0, NULL, NULL },
	{ "description", ENT_LONGTEXT, 0, 0, NULL, NULL },
	{ "converted_at", ENT_DATETIME, ENT_F_READONLY | ENT_F_FILTER |
	    ENT_F_SORT, 0, NULL, NULL },
	{ "converted_account_id", ENT_REF, ENT_F_READONLY | ENT_F_FILTER, 0,
	    NULL, "crm.accounts" },
	{ "converted_contact_id", ENT_REF, ENT_F_READONLY | ENT_F_FILTER, 0,
	    NULL, "crm.contacts" },
	{ "converted_deal_id", ENT_REF, ENT_F_READONLY | ENT_F_FILTER, 0,
	    NULL, "crm.deals" },
	{ NULL, 0, 0, 0, NULL, NULL }
};

static const struct ent_desc	leads_desc = {
	"leads", "lead", "crm.leads", leads_fields, 0
};

/* What the deal of a conversion may say, validated as deal fields. */
static const char *const leads_deal_keys[] = {
	"name", "amount", "currency", "pipeline_id", "stage_id",
	"expected_close_date", NULL
};

static const char *const leads_convert_keys[] = {
	"account_id", "create_deal", "deal", NULL
};

static const char	leads_convert_sql[] =
	"SELECT crm.convert_lead($1, $2, $3, $4, $5, $6::jsonb, $7)";

/* Statement 2, built once from the descriptors (leads_render_sql). */
static char	*leads_render;

struct leads_conv {
	char		 account[UUID_STRLEN + 1];	/* given, "" none */
	json_t		*deal;				/* NULL: no deal */
	const char	*lacks;		/* a create permission not held */
};

static const struct ent_desc *
leads_find(const char *name)
{
	const struct ent_desc	*d;

	if ((d = eng_find(name)) == NULL)
		crm_fatal("lead conversion needs the %s entity", name);
	return (d);
}

/* One created record: its JSON as GET shows it, from CTE `l` column c. */
static void
leads_render_one(struct buf *b, const char *cte, const char *name,
    const char *col)
{
	const struct ent_desc	*d = leads_find(name);

	buf_appendf(b, ", %s AS (SELECT ", cte);
	ent_sql_json(d, b);
	buf_appendf(b, " AS j FROM %s WHERE tenant_id = $1 AND id = "
	    "(SELECT %s FROM l))", d->table, col);
}

/*
 * $1 tenant, $2 lead, $3 the account given (NULL: one was created).
 * Returns (account, contact, deal) as JSON, deal NULL when none.
 */
static const char *
leads_render_sql(void)
{
	struct buf	b;

	if (leads_render != NULL)
		return (leads_render);
	buf_init(&b, 8192);
	buf_appends(&b, "WITH l AS (SELECT converted_account_id AS a, "
	    "converted_contact_id AS c, converted_deal_id AS d FROM crm.leads "
	    "WHERE tenant_id = $1 AND id = $2)");
	leads_render_one(&b, "ra", "accounts", "a");
	leads_render_one(&b, "rc", "contacts", "c");
	leads_render_one(&b, "rd", "deals", "d");
	buf_appends(&b, ", e AS (INSERT INTO crm.events (tenant_id, id, type, "
	    "entity, entity_id, payload) "
	    "SELECT $1, crm.uuid7(), 'account.created', 'accounts', "
	    "(SELECT a FROM l), j::jsonb FROM ra WHERE $3::uuid IS NULL "
	    "UNION ALL SELECT $1, crm.uuid7(), 'contact.created', 'contacts', "
	    "(SELECT c FROM l), j::jsonb FROM rc "
	    "UNION ALL SELECT $1, crm.uuid7(), 'deal.created', 'deals', "
	    "(SELECT d FROM l), j::jsonb FROM rd "
	    "UNION ALL SELECT $1, crm.uuid7(), 'lead.converted', 'leads', $2, "
	    "jsonb_build_object('id', $2::uuid, 'account_id', a, "
	    "'contact_id', c, 'deal_id', d, 'account_created', "
	    "$3::uuid IS NULL) FROM l) "
	    "SELECT (SELECT j FROM ra), (SELECT j FROM rc), "
	    "(SELECT j FROM rd)");
	leads_render = xstrdup(buf_cstr(&b));
	buf_free(&b);
	return (leads_render);
}

static void
leads_conv_free(void *h)
{
	struct leads_conv	*c = h;

	if (c->deal != NULL)
		json_decref(c->deal);
	xfree(c);
}

/* The deal object: each member checked as the deal field it names. */
static void
leads_deal(struct val *v, json_t *in, json_t *out)
{
	const struct ent_field	*f;
	const char		*key, *why;
	char			 name[64];
	char			*text;
	json_t			*j;
	size_t			 i;

	json_object_foreach(in, key, j) {
		(void)snprintf(name, sizeof(name), "deal.%s", key);
		for (i = 0; leads_deal_keys[i] != NULL; i++) {
			if (strcmp(leads_deal_keys[i], key) == 0)
				break;
		}
		if (leads_deal_keys[i] == NULL ||
		    (f = ent_field(&deals_desc, key)) == NULL) {
			v->unknown++;
			val_error(v, name, "unknown_field",
			    "this field is unknown or cannot be set");
			continue;
		}
		if (ent_value(f, j, &text, &why) == -1) {
			val_error(v, name, why, "this value is not allowed");
			continue;
		}
		if (text != NULL)
			json_object_set_new(out, key, json_string(text));
		xfree(text);
	}
}

/* The body into c; -1 when the val holds the problem. */
static int
leads_convert_body(struct rq *rq, struct val *v, struct leads_conv *c)
{
	json_t	*account, *create, *deal;
	int	 want;

	val_only(v, leads_convert_keys);
	account = json_object_get(rq->body, "account_id");
	if (json_is_string(account))
		(void)val_uuid(v, "account_id", 0, c->account);
	else if (account != NULL && !json_is_null(account))
		val_error(v, "account_id", "invalid_type", "not a UUID");
	create = json_object_get(rq->body, "create_deal");
	deal = json_object_get(rq->body, "deal");
	if (create != NULL && !json_is_boolean(create) && !json_is_null(create))
		val_error(v, "create_deal", "invalid_type", "a boolean");
	if (deal != NULL && !json_is_object(deal) && !json_is_null(deal))
		val_error(v, "deal", "invalid_type", "an object");
	want = json_is_true(create) || (json_is_object(deal) &&
	    !json_is_false(create));
	if (json_is_false(create) && json_is_object(deal))
		val_error(v, "deal", "invalid_value",
		    "a deal was given but create_deal is false");
	if (want) {
		c->deal = json_object();
		if (json_is_object(deal))
			leads_deal(v, deal, c->deal);
	}
	return (val_failed(v) ? -1 : 0);
}

static int
leads_convert_done(struct rq *rq)
{
	struct leads_conv	*c = rq->h;
	PGresult		*res;
	struct buf		 out;

	if (!db_ok(rq)) {
		if (c->lacks != NULL && rq->batch != NULL &&
		    strcmp(rq->batch->sqlstate, "CR403") == 0)
			return (reply_problem(rq, PROB_FORBIDDEN,
			    "this credential lacks %s", c->lacks));
		return (db_reply_error(rq));
	}
	res = db_res(rq, 1);
	buf_init(&out, 4096);
	buf_appends(&out, "{\"account\":");
	buf_append(&out, PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0));
	buf_appends(&out, ",\"contact\":");
	buf_append(&out, PQgetvalue(res, 0, 1), PQgetlength(res, 0, 1));
	if (!PQgetisnull(res, 0, 2)) {
		buf_appends(&out, ",\"deal\":");
		buf_append(&out, PQgetvalue(res, 0, 2), PQgetlength(res, 0, 2));
	}
	buf_appendc(&out, '}');
	reply_raw(rq, 200, "application/json; charset=utf-8", out.data,
	    out.len);
	buf_free(&out);
	return (RQ_DONE);
}

static int
leads_convert(struct rq *rq)
{
	struct leads_conv	*c;
	struct db_batch		*b;
	struct val		 v;
	uint8_t			 raw[UUID_LEN];
	char			 id[UUID_STRLEN + 1], *deal;

	if (pipe_param(rq, 0) == NULL ||
	    uuid7_parse(pipe_param(rq, 0), raw) == -1)
		return (reply_problem(rq, PROB_NOT_FOUND, "no such resource"));
	uuid7_fmt(raw, id);
	c = xcalloc(1, sizeof(*c));
	rq->h = c;
	rq->h_free = leads_conv_free;
	val_init(&v, rq->body);
	if (leads_convert_body(rq, &v, c) == -1)
		return (reply_problem_json(rq, val_problem(&v)));
	val_free(&v);
	if ((c->lacks = (pipe_allows(rq, "contacts:create") ? NULL : "contacts:create")) == NULL &&
	    c->account[0] == '\0')
		c->lacks = (pipe_allows(rq, "accounts:create") ? NULL : "accounts:create");
	if (c->lacks == NULL && c->deal != NULL)
		c->lacks = (pipe_allows(rq, "deals:create") ? NULL : "deals:create");
	b = db_batch(rq, DB_TX);
	db_stmt(b, leads_convert_sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
	db_param(b, rq->who.owner);
	db_param(b, perm_scope_name(rq->who.scope));
	db_param(b, c->account[0] ? c->account : NULL);
	deal = c->deal != NULL ? js_dump(c->deal, NULL) : NULL;
	db_param(b, deal);
	db_param(b, c->lacks);
	xfree(deal);
	db_stmt(b, leads_render_sql());
	db_param(b, rq->who.tenant);
	db_param(b, id);
	db_param(b, c->account[0] ? c->account : NULL);
	return (db_run(rq, b, leads_convert_done));
}

static void
leads_parent_init(void)
{
	eng_parent_check(&leads_desc);
}

static void
leads_worker_init(void)
{
	eng_register(&leads_desc);
}

static const struct route	leads_routes[] = {
	ENTITY_ROUTES("leads", "a lead"),
	DEDUPE_ROUTES("leads", "a lead"),
	ROUTE(HTTP_METHOD_POST, "/v1/leads/{id}/convert", "leads:update",
	    leads_convert, RT_JSON | RT_WRITE | RT_IDEMPOTENT,
	    "Convert a lead into an account, a contact and maybe a deal"),
};

const struct crm_module leads_module = {
	"leads", leads_routes, sizeof(leads_routes) / sizeof(leads_routes[0]),
	leads_worker_init, leads_parent_init
};
