/*
 * jobexp_test.c: the export's pure parts: RFC 4180 quoting, rows, the
 * query string handed to elist_parse, the descriptor snapshot and its
 * checks, file names.
 */

#include <string.h>

#include "jobdb.h"
#include "ut.h"

static const char *const	t_stages[] = { "new", "won", NULL };

static const struct ent_field	t_fields[] = {
	{ "name", ENT_TEXT, ENT_F_REQUIRED | ENT_F_SORT | ENT_F_FILTER, 200,
	    NULL, NULL },
	{ "amount", ENT_MONEY, ENT_F_SORT | ENT_F_FILTER, 0, NULL, NULL },
	{ "stage", ENT_ENUM, ENT_F_FILTER, 0, t_stages, NULL },
	{ "account_id", ENT_REF, ENT_F_FILTER, 0, NULL, "crm.accounts" },
	{ NULL, 0, 0, 0, NULL, NULL }
};

static const struct ent_field	t_custom[] = {
	{ "tier", ENT_TEXT, 0, 50, NULL, NULL },
	{ NULL, 0, 0, 0, NULL, NULL }
};

static const struct ent_desc	t_desc = {
	"deals", "deal", "crm.deals", t_fields, 0
};

static void
csv_is(const char *in, const char *want)
{
	struct buf	b;

	buf_init(&b, 16);
	jexp_csv_field(&b, in, strlen(in));
	UT_EQ_STR(buf_cstr(&b), want);
	buf_free(&b);
}

static void
test_csv_field(void)
{
	csv_is("plain", "plain");
	csv_is("", "");
	csv_is("a,b", "\"a,b\"");
	csv_is("say \"hi\"", "\"say \"\"hi\"\"\"");
	csv_is("two\nlines", "\"two\nlines\"");
	csv_is("cr\rhere", "\"cr\rhere\"");
	csv_is("Zoë Ünïcødé", "Zoë Ünïcødé");
	csv_is("\"", "\"\"\"\"");
}

static void
test_rows(void)
{
	struct buf	 b;
	json_t		*cols;
	const char	*rec = "{\"id\":\"x\",\"name\":\"Acme, Inc\",\"amount\":"
			    "\"10.50\",\"n\":3,\"ok\":true,\"stage\":null,"
			    "\"addr\":{\"city\":\"Oslo\"},\"custom\":"
			    "{\"tier\":\"gold \\\"A\\\"\"}}";

	cols = json_pack("[s,s,s,s,s,s,s,s,s]", "id", "name", "amount", "n",
	    "ok", "stage", "addr", "custom.tier", "custom.nope");
	buf_init(&b, 64);
	jexp_csv_header(&b, cols);
	UT_EQ_STR(buf_cstr(&b), "id,name,amount,n,ok,stage,addr,custom.tier,"
	    "custom.nope\r\n");
	buf_reset(&b);
	UT_EQ_INT(jexp_row(&b, 0, cols, rec, strlen(rec)), 0);
	UT_EQ_STR(buf_cstr(&b), "x,\"Acme, Inc\",10.50,3,true,,"
	    "\"{\"\"city\"\":\"\"Oslo\"\"}\",\"gold \"\"A\"\"\",\r\n");
	buf_reset(&b);
	UT_EQ_INT(jexp_row(&b, 1, cols, rec, strlen(rec)), 0);
	UT_EQ_STR(buf_cstr(&b), "{\"id\":\"x\",\"name\":\"Acme, Inc\","
	    "\"amount\":\"10.50\",\"n\":3,\"ok\":true,\"stage\":null,\"addr\":"
	    "{\"city\":\"Oslo\"},\"custom.tier\":\"gold \\\"A\\\"\","
	    "\"custom.nope\":null}\n");
	buf_reset(&b);
	UT_EQ_INT(jexp_row(&b, 0, cols, "[1]", 3), -1);
	UT_EQ_INT(jexp_row(&b, 0, cols, "{bad", 4), -1);
	buf_free(&b);
	json_decref(cols);
}

static void
qs_is(const char *filter, const char *sort, const char *want,
    const char *why_want)
{
	json_error_t	 e;
	json_t		*f = filter ? json_loads(filter, 0, &e) : NULL;
	char		 why[128], *qs;

	qs = jexp_qs(f, sort, why, sizeof(why));
	if (want != NULL) {
		UT_EQ_STR(qs, want);
	} else {
		UT_CHECK(qs == NULL);
		UT_EQ_STR(why, why_want);
	}
	xfree(qs);
	json_decref(f);
}

static void
test_qs(void)
{
	qs_is(NULL, NULL, "", NULL);
	qs_is("{}", "-amount,name", "sort=-amount%2Cname", NULL);
	qs_is("{\"amount\": {\"gte\": 1000}}", NULL,
	    "filter[amount][gte]=1000", NULL);
	qs_is("{\"name\": {\"starts_with\": \"A&B=c\"}}", "name",
	    "filter[name][starts_with]=A%26B%3Dc&sort=name", NULL);
	qs_is("{\"stage\": {\"in\": [\"new\", \"won\"]}, \"ok\": {\"eq\": "
	    "true}}", NULL, "filter[stage][in]=new%2Cwon&filter[ok][eq]=true",
	    NULL);
	qs_is("{\"amount\": 5}", NULL, NULL, "filter.amount");
	qs_is("{\"amount\": {\"eq\": null}}", NULL, NULL, "filter.amount.eq");
	qs_is("{\"amount\": {\"in\": [{}]}}", NULL, NULL, "filter.amount.in");
	qs_is("[1]", NULL, NULL, "filter");
}

static void
test_desc_roundtrip(void)
{
	struct jexp_desc	 x;
	struct elist		 l;
	struct buf		 sql;
	json_t			*j, *cols;

	j = jexp_desc_json(&t_desc, t_custom);
	UT_EQ_INT(jexp_desc_load(j, &x), 0);
	UT_EQ_STR(x.d.table, "crm.deals");
	UT_EQ_STR(x.fields[2].options[1], "won");
	UT_EQ_STR(x.fields[3].ref, "crm.accounts");
	UT_EQ_STR(x.custom[0].name, "tier");
	UT_CHECK(x.custom[1].name == NULL);
	/* The rebuilt descriptor drives elist like the original. */
	UT_EQ_INT(elist_parse(&l, &x.d, x.custom, "filter[stage][eq]=won&"
	    "filter[custom.tier][eq]=gold&sort=-amount"), 0);
	buf_init(&sql, 256);
	elist_sql(&l, &x.d, &sql);
	UT_CHECK(strstr(buf_cstr(&sql), "FROM crm.deals WHERE") != NULL);
	UT_CHECK(strstr(buf_cstr(&sql), "ORDER BY amount DESC, id DESC") !=
	    NULL);
	buf_free(&sql);
	elist_free(&l);
	UT_EQ_INT(elist_parse(&l, &x.d, x.custom, "filter[stage][eq]=lost"),
	    -1);
	elist_free(&l);
	jexp_desc_free(&x);

	cols = jexp_columns(&t_desc, t_custom);
	UT_EQ_INT(json_array_size(cols), 9);
	UT_EQ_STR(json_string_value(json_array_get(cols, 0)), "id");
	UT_EQ_STR(json_string_value(json_array_get(cols, 5)), "custom.tier");
	json_decref(cols);

	/* Forged snapshots: a table or a name that is not ours. */
	json_object_set_new(j, "table", json_string("crm.users"));
	UT_EQ_INT(jexp_desc_load(j, &x), -1);
	json_object_set_new(j, "table", json_string("crm.deals"));
	json_array_set_new(json_object_get(j, "fields"), 0, json_pack(
	    "[s,i,i,i,n,n]", "name; DROP TABLE x", 0, 0, 0));
	UT_EQ_INT(jexp_desc_load(j, &x), -1);
	json_array_set_new(json_object_get(j, "fields"), 0, json_pack(
	    "[s,i,i,i,n,s]", "name", 0, 0, 0, "public.x"));
	UT_EQ_INT(jexp_desc_load(j, &x), -1);
	json_array_set_new(json_object_get(j, "fields"), 0, json_pack(
	    "[s,i,i,i,n,n]", "name", 99, 0, 0));
	UT_EQ_INT(jexp_desc_load(j, &x), -1);
	json_object_set_new(j, "name", json_string("users"));
	UT_EQ_INT(jexp_desc_load(j, &x), -1);
	json_decref(j);
}

static void
test_file_names(void)
{
	UT_EQ_INT(jexp_file_ok("0190a0b0-0000-7000-8000-000000000001."
	    "0190a0b0-0000-7000-8000-000000000002.csv"), 1);
	UT_EQ_INT(jexp_file_ok("0190a0b0-0000-7000-8000-000000000001."
	    "0190a0b0-0000-7000-8000-000000000002.jsonl"), 1);
	UT_EQ_INT(jexp_file_ok("0190a0b0-0000-7000-8000-000000000001."
	    "0190a0b0-0000-7000-8000-000000000002.sh"), 0);
	UT_EQ_INT(jexp_file_ok("../../etc/passwd"), 0);
	UT_EQ_INT(jexp_file_ok(NULL), 0);
	UT_EQ_INT(jexp_entity_ok("deals"), 1);
	UT_EQ_INT(jexp_entity_ok("users"), 0);
}

int
main(void)
{
	UT_TEST(test_csv_field);
	UT_TEST(test_rows);
	UT_TEST(test_qs);
	UT_TEST(test_desc_roundtrip);
	UT_TEST(test_file_names);
	return (ut_summary());
}
