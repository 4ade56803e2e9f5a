/*
 * ent_test.c: the entity engine's binding and SQL (ent.c), on a test
 * descriptor with one field of every type.
 */

#include <string.h>

#include "ent.h"
#include "ut.h"

static const char *const	stages[] = { "new", "won", "lost", NULL };

static const struct ent_field	t_fields[] = {
	{ "name", ENT_TEXT, ENT_F_REQUIRED | ENT_F_SEARCH, 10, NULL, NULL },
	{ "notes", ENT_LONGTEXT, 0, 0, NULL, NULL },
	{ "employees", ENT_INT, ENT_F_FILTER | ENT_F_NONNEG, 0, NULL, NULL },
	{ "score", ENT_NUMBER, 0, 0, NULL, NULL },
	{ "amount", ENT_MONEY, ENT_F_SORT, 0, NULL, NULL },
	{ "currency", ENT_CURRENCY, 0, 0, NULL, NULL },
	{ "close_date", ENT_DATE, 0, 0, NULL, NULL },
	{ "due_at", ENT_DATETIME, 0, 0, NULL, NULL },
	{ "active", ENT_BOOL, 0, 0, NULL, NULL },
	{ "stage", ENT_ENUM, 0, 0, stages, NULL },
	{ "tags", ENT_MULTI_ENUM, 0, 0, stages, NULL },
	{ "email", ENT_EMAIL, 0, 0, NULL, NULL },
	{ "phone", ENT_PHONE, 0, 0, NULL, NULL },
	{ "website", ENT_URL, 0, 0, NULL, NULL },
	{ "account_id", ENT_REF, 0, 0, NULL, "crm.accounts" },
	{ "address", ENT_OBJECT, 0, 0, NULL, NULL },
	{ "links", ENT_ARRAY, 0, 40, NULL, NULL },
	{ "score_rank", ENT_INT, ENT_F_READONLY, 0, NULL, NULL },
	{ NULL, 0, 0, 0, NULL, NULL }
};

static const struct ent_desc	t_desc = {
	"things", "thing", "crm.things", t_fields, 0
};

static int
bind_one(const char *field, const char *json, char **out)
{
	const struct ent_field	*f = ent_field(&t_desc, field);
	struct js_err		 e;
	json_t			*j;
	const char		*why = NULL;
	int			 rc;

	j = js_parse(json, strlen(json), &e);
	if (f == NULL || j == NULL)
		return (-2);
	rc = ent_value(f, j, out, &why);
	json_decref(j);
	return (rc);
}

static int
ok_as(const char *field, const char *json, const char *want)
{
	char	*out = NULL;
	int	 good;

	good = bind_one(field, json, &out) == 0 &&
	    ((want == NULL && out == NULL) ||
	    (want != NULL && out != NULL && strcmp(out, want) == 0));
	xfree(out);
	return (good);
}

static int
refused(const char *field, const char *json)
{
	char	*out = NULL;
	int	 rc = bind_one(field, json, &out);

	xfree(out);
	return (rc == -1);
}

static void
test_table(void)
{
	UT_EQ_INT(ent_type_check_table(), 0);
	UT_EQ_STR(ent_type_name(ENT_MULTI_ENUM), "multi_enum");
	UT_EQ_INT(ent_nfields(&t_desc), 18);
}

static void
test_text(void)
{
	UT_CHECK(ok_as("name", "\"Acme\"", "Acme"));
	UT_CHECK(ok_as("name", "\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\"",
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"));
	UT_CHECK(refused("name", "\"12345678901\""));
	UT_CHECK(refused("name", "\"a\\nb\""));
	UT_CHECK(refused("name", "42"));
	UT_CHECK(refused("name", "\"\""));
	UT_CHECK(refused("name", "\"   \""));
	UT_CHECK(ok_as("notes", "\"line 1\\nline 2\\ttab\"",
	    "line 1\nline 2\ttab"));
	UT_CHECK(refused("notes", "\"bell\\u0007\""));
	UT_CHECK(ok_as("name", "null", NULL));
}

static void
test_numbers(void)
{
	UT_CHECK(ok_as("employees", "42", "42"));
	UT_CHECK(ok_as("score", "-9223372036854775807",
	    "-9223372036854775807"));
	UT_CHECK(refused("employees", "4.5"));
	UT_CHECK(refused("employees", "-1"));
	UT_CHECK(ok_as("employees", "0", "0"));
	UT_CHECK(refused("employees", "\"42\""));
	UT_CHECK(ok_as("score", "4.5", "4.5"));
	UT_CHECK(ok_as("score", "\"12.125\"", "12.125"));
	UT_CHECK(refused("score", "\"1e5\""));
	UT_CHECK(ok_as("amount", "\"1234.50\"", "1234.50"));
	UT_CHECK(ok_as("amount", "\"-0.01\"", "-0.01"));
	UT_CHECK(refused("amount", "\"1.234\""));
	UT_CHECK(refused("amount", "1234.5"));
	UT_CHECK(refused("amount", "\"1,234.50\""));
	UT_CHECK(refused("amount", "\"1.23456\""));
	UT_CHECK(refused("amount", "\".5\""));
	UT_CHECK(refused("amount", "\"12345678901234\""));
}

static void
test_shapes(void)
{
	UT_CHECK(ok_as("currency", "\"EUR\"", "EUR"));
	UT_CHECK(refused("currency", "\"eur\""));
	UT_CHECK(refused("currency", "\"EURO\""));
	/* Shape alone is not enough: ISO 4217 codes only. */
	UT_CHECK(refused("currency", "\"USX\""));
	UT_CHECK(refused("currency", "\"ABC\""));
	UT_CHECK(ok_as("currency", "\"JPY\"", "JPY"));
	UT_CHECK(ok_as("currency", "\"AED\"", "AED"));	/* first */
	UT_CHECK(ok_as("currency", "\"ZWL\"", "ZWL"));	/* last */
	UT_CHECK(ok_as("currency", "\"HRK\"", "HRK"));	/* withdrawn 2023 */
	UT_EQ_INT(ent_currency_table_sorted(), 1);
	UT_EQ_INT(ent_currency_ok("CH"), 0);
	UT_EQ_INT(ent_currency_ok("CHFF"), 0);
	UT_EQ_INT(ent_currency_ok("CHF"), 1);
	UT_CHECK(ok_as("close_date", "\"2028-02-29\"", "2028-02-29"));
	UT_CHECK(refused("close_date", "\"2027-02-29\""));
	UT_CHECK(refused("close_date", "\"2026-13-01\""));
	UT_CHECK(refused("close_date", "\"2026-1-1\""));
	UT_CHECK(ok_as("due_at", "\"2026-11-23T10:15:00.123Z\"",
	    "2026-11-23T10:15:00.123Z"));
	UT_CHECK(ok_as("due_at", "\"2026-11-23T10:15:00+01:00\"",
	    "2026-11-23T10:15:00+01:00"));
	UT_CHECK(refused("due_at", "\"2026-11-23 10:15:00\""));
	UT_CHECK(refused("due_at", "\"2026-11-23T10:15Z\""));
	UT_CHECK(ok_as("email", "\"ann@example.com\"", "ann@example.com"));
	UT_CHECK(refused("email", "\"ann@\""));
	UT_CHECK(ok_as("phone", "\"+49 (30) 123-45\"", "+49 (30) 123-45"));
	UT_CHECK(refused("phone", "\"call me\""));
	UT_CHECK(ok_as("website", "\"https://example.com/x\"",
	    "https://example.com/x"));
	UT_CHECK(refused("website", "\"javascript:alert(1)\""));
	UT_CHECK(refused("website", "\"https://a b\""));
}

static void
test_choices(void)
{
	UT_CHECK(ok_as("active", "true", "true"));
	UT_CHECK(refused("active", "1"));
	UT_CHECK(ok_as("stage", "\"won\"", "won"));
	UT_CHECK(refused("stage", "\"maybe\""));
	UT_CHECK(ok_as("tags", "[\"new\", \"lost\"]", "{\"new\",\"lost\"}"));
	UT_CHECK(ok_as("tags", "[]", "{}"));
	UT_CHECK(refused("tags", "[\"new\", \"new\"]"));
	UT_CHECK(refused("tags", "[\"other\"]"));
	UT_CHECK(refused("tags", "\"new\""));
	UT_CHECK(ok_as("account_id", "\"01A207C4-98C8-7302-846F-5913E269DA92\"",
	    "01a207c4-98c8-7302-846f-5913e269da92"));
	UT_CHECK(refused("account_id", "\"x' OR 1=1 --\""));
	UT_CHECK(ok_as("address", "{\"city\": \"Lyon\", \"zip\": null}",
	    "{\"city\":\"Lyon\",\"zip\":null}"));
	UT_CHECK(refused("address", "{\"city\": {\"nested\": 1}}"));
	UT_CHECK(refused("address", "[1]"));
}

static json_t *
body(const char *s)
{
	struct js_err	e;

	return (js_parse(s, strlen(s), &e));
}

static void
test_bind(void)
{
	struct ent_bind	 b;
	struct val	 v;
	json_t		*j, *p;

	j = body("{\"name\": \"Acme\", \"amount\": \"10.00\"}");
	val_init(&v, j);
	UT_EQ_INT(ent_bind_create(&t_desc, NULL, j, &v, &b), 0);
	UT_CHECK(b.given[0] && b.given[4] && !b.given[1]);
	UT_EQ_STR(b.text[4], "10.00");
	ent_bind_free(&b);
	val_free(&v);
	json_decref(j);

	/* Missing required on create: 422 naming it; fine on update. */
	j = body("{\"amount\": \"10.00\"}");
	val_init(&v, j);
	UT_EQ_INT(ent_bind_create(&t_desc, NULL, j, &v, &b), -1);
	p = val_problem(&v);
	UT_EQ_INT(problem_status(p), 422);
	UT_EQ_STR(json_string_value(json_object_get(json_array_get(
	    json_object_get(p, "errors"), 0), "field")), "name");
	json_decref(p);
	ent_bind_free(&b);
	val_free(&v);
	val_init(&v, j);
	UT_EQ_INT(ent_bind_update(&t_desc, NULL, j, &v, &b), 0);
	ent_bind_free(&b);
	val_free(&v);
	json_decref(j);

	/* Unknown and read-only fields: 400 naming each. */
	j = body("{\"name\": \"A\", \"tenant_id\": \"x\", \"score_rank\": 1}");
	val_init(&v, j);
	UT_EQ_INT(ent_bind_update(&t_desc, NULL, j, &v, &b), -1);
	p = val_problem(&v);
	UT_EQ_INT(problem_status(p), 400);
	UT_EQ_INT(json_array_size(json_object_get(p, "errors")), 2);
	json_decref(p);
	ent_bind_free(&b);
	val_free(&v);
	json_decref(j);
}

static void
test_sql(void)
{
	struct ent_bind	 b;
	struct val	 v;
	struct buf	 s;
	json_t		*j;

	buf_init(&s, 1024);
	ent_sql_get(&t_desc, &s);
	UT_CHECK(strstr(s.data, "FROM crm.things WHERE tenant_id = $1 AND "
	    "id = $2 AND deleted_at IS NULL AND ($4::text = 'all' OR "
	    "owner_id = $3 OR ($4::text = 'team' AND owner_id = ANY ((SELECT "
	    "crm.scope_owners($1, $3, $4::text))::uuid[])))") != NULL);
	UT_CHECK(strstr(s.data, "'amount', amount::text") != NULL);
	UT_CHECK(strstr(s.data, "'due_at', to_char(due_at AT TIME ZONE") !=
	    NULL);
	buf_reset(&s);
	j = body("{\"name\": \"Acme\", \"stage\": \"new\"}");
	val_init(&v, j);
	UT_EQ_INT(ent_bind_create(&t_desc, NULL, j, &v, &b), 0);
	ent_sql_create(&t_desc, &b, &s);
	UT_CHECK(strstr(s.data, "INSERT INTO crm.things (tenant_id, id, name, "
	    "stage, custom, owner_id, created_by, updated_by) VALUES ($1, $2, "
	    "$5, $6, crm.custom_apply($1, 'things', $7::bigint, '{}'::jsonb, "
	    "$8::jsonb), $3, $3, $3) RETURNING") != NULL);
	UT_CHECK(strstr(s.data, "SELECT $1, $4, 'thing.created', 'things', "
	    "$2, j::jsonb FROM r") != NULL);
	buf_reset(&s);
	ent_sql_update(&t_desc, &b, &s);
	UT_CHECK(strstr(s.data, "SET name = $7, stage = $8, updated_at = "
	    "now(), updated_by = $3") != NULL);
	UT_CHECK(strstr(s.data, "($6::bigint IS NULL OR cur.version = "
	    "$6::bigint)") != NULL);
	UT_CHECK(strstr(s.data, "'thing.updated'") != NULL);
	UT_CHECK(strstr(s.data, "custom_apply") == NULL);
	b.custom_given = 1;
	buf_reset(&s);
	ent_sql_update(&t_desc, &b, &s);
	UT_CHECK(strstr(s.data, "stage = $8, custom = crm.custom_apply($1, "
	    "'things', $9::bigint, t.custom, $10::jsonb), updated_at") != NULL);
	b.custom_given = 0;
	buf_reset(&s);
	ent_sql_delete(&t_desc, &s);
	UT_CHECK(strstr(s.data, "'thing.deleted'") != NULL);
	ent_bind_free(&b);
	val_free(&v);
	json_decref(j);
	buf_free(&s);
}

static void
test_array(void)
{
	UT_CHECK(ok_as("links", "[{\"a\":1},\"x\"]", "[{\"a\":1},\"x\"]"));
	UT_CHECK(ok_as("links", "[]", "[]"));
	UT_CHECK(refused("links", "{\"a\":1}"));
	UT_CHECK(refused("links", "\"[]\""));
	UT_CHECK(refused("links", "[\"0123456789\",\"0123456789\",\"0123456789\",\"x\"]"));
	UT_EQ_STR(ent_type_name(ENT_ARRAY), "array");
}

static void
test_drift(void)
{
	static const struct ent_field	 f[] = {
		{ "name", ENT_TEXT, 0, 0, NULL, NULL },
		{ "amount", ENT_MONEY, 0, 0, NULL, NULL },
		{ NULL, 0, 0, 0, NULL, NULL }
	};
	static const struct ent_desc	 d = { "x", "x", "crm.x", f, 0 };
	const char			*cols[] = { "tenant_id", "id", "custom",
					    "owner_id", "created_at",
					    "updated_at", "created_by",
					    "updated_by", "version",
					    "deleted_at", "name", "amount" };
	const char			*types[] = { "uuid", "uuid", "jsonb",
					    "uuid", "timestamp with time zone",
					    "timestamp with time zone", "uuid",
					    "uuid", "bigint",
					    "timestamp with time zone", "text",
					    "numeric" };
	char				 err[128];

	UT_EQ_INT(ent_check_columns(&d, cols, types, 12, err, sizeof(err)), 0);
	types[11] = "text";
	UT_EQ_INT(ent_check_columns(&d, cols, types, 12, err, sizeof(err)), -1);
	UT_EQ_STR(err, "column amount is text, the descriptor says numeric");
	UT_EQ_INT(ent_check_columns(&d, cols, types, 11, err, sizeof(err)), -1);
	UT_EQ_STR(err, "column amount is missing");
	UT_EQ_INT(ent_check_columns(&d, cols, types, 9, err, sizeof(err)), -1);
	UT_EQ_STR(err, "column deleted_at is missing");
}


/* ent_render: a row of text values as PostgreSQL sends them. */
static const char *const	r_row[] = {
	"01a2-id",			/* id */
	"Tab\there \"q\"",		/* name */
	NULL,				/* notes */
	"42",				/* employees */
	"NaN",				/* score */
	"10.50",			/* amount */
	"EUR",				/* currency */
	"2026-12-31",			/* close_date */
	"2026-11-23 14:03:29.3",	/* due_at */
	"t",				/* active */
	"won",				/* stage */
	"[\"new\", \"won\"]",		/* tags: to_json(text[]) */
	"a@b.example", "+1 555", "https://x.example/", "01a2-acct",
	"{\"city\": \"Oslo\"}", "[]", "7",
	"{}", "01a2-own",		/* custom, owner_id */
	"2026-11-23 14:03:29.335123",	/* created_at */
	"12345-01-01 00:00:00",		/* updated_at: another shape */
	"01a2-by", NULL,		/* created_by, updated_by */
};

struct r_rowp {
	const char *const	*row;
};

static const char *
r_col(void *arg, int col, size_t *len)
{
	const char *const	*row = ((struct r_rowp *)arg)->row;

	if (row[col] == NULL)
		return (NULL);
	*len = strlen(row[col]);
	return (row[col]);
}

static void
test_render(void)
{
	const char *const	 sparse[] = { "amount", "active", "due_at",
				    NULL };
	const char *const	 one[] = { "created_at", NULL };
	struct r_rowp		 all = { r_row }, tail = { r_row + 20 };
	struct buf		 sql, out;
	json_t			*j;
	struct js_err		 e;

	buf_init(&sql, 1024);
	UT_EQ_INT(ent_sql_cols(&t_desc, NULL, &sql),
	    (int)(sizeof(r_row) / sizeof(r_row[0])));
	UT_CHECK(strstr(buf_cstr(&sql), "(due_at AT TIME ZONE 'UTC') AS _c8")
	    != NULL);
	UT_CHECK(strstr(buf_cstr(&sql), "to_json(tags) AS _c11") != NULL);
	buf_reset(&sql);
	UT_EQ_INT(ent_sql_cols(&t_desc, sparse, &sql), 4);
	UT_EQ_STR(buf_cstr(&sql), "id AS _c0, amount AS _c1, "
	    "(due_at AT TIME ZONE 'UTC') AS _c2, active AS _c3");
	buf_free(&sql);

	buf_init(&out, 1024);
	ent_render(&t_desc, NULL, r_col, &all, &out);
	j = js_parse(out.data, out.len, &e);
	UT_CHECK(j != NULL);
	UT_EQ_STR(json_string_value(json_object_get(j, "name")),
	    "Tab\there \"q\"");
	UT_CHECK(json_is_null(json_object_get(j, "notes")));
	UT_EQ_INT(json_integer_value(json_object_get(j, "employees")), 42);
	UT_EQ_STR(json_string_value(json_object_get(j, "score")), "NaN");
	UT_EQ_STR(json_string_value(json_object_get(j, "amount")), "10.50");
	UT_EQ_STR(json_string_value(json_object_get(j, "due_at")),
	    "2026-11-23T14:03:29.300Z");
	UT_CHECK(json_is_true(json_object_get(j, "active")));
	UT_EQ_INT(json_array_size(json_object_get(j, "tags")), 2);
	UT_EQ_STR(json_string_value(json_object_get(json_object_get(j,
	    "address"), "city")), "Oslo");
	UT_EQ_STR(json_string_value(json_object_get(j, "created_at")),
	    "2026-11-23T14:03:29.335Z");
	UT_EQ_STR(json_string_value(json_object_get(j, "updated_at")),
	    "12345-01-01 00:00:00");
	UT_CHECK(json_is_null(json_object_get(j, "updated_by")));
	UT_EQ_INT(json_object_size(j), 25);
	json_decref(j);

	buf_reset(&out);
	ent_render(&t_desc, one, r_col, &tail, &out);
	UT_EQ_STR(buf_cstr(&out), "{\"id\": \"01a2-own\", "
	    "\"created_at\": \"2026-11-23T14:03:29.335Z\"}");
	buf_free(&out);
}

int
main(void)
{
	UT_TEST(test_drift);
	UT_TEST(test_table);
	UT_TEST(test_array);
	UT_TEST(test_text);
	UT_TEST(test_numbers);
	UT_TEST(test_shapes);
	UT_TEST(test_choices);
	UT_TEST(test_bind);
	UT_TEST(test_sql);
	UT_TEST(test_render);
	return (ut_summary());
}
