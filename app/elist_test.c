/*
 * elist_test.c: list query parsing and SQL (elist.c).
 */

#include <string.h>

#include "ent.h"
#include "ut.h"

static const char *const	stages[] = { "new", "won", NULL };

static const struct ent_field	t_fields[] = {
	{ "name", ENT_TEXT, ENT_F_FILTER | ENT_F_SORT | ENT_F_SEARCH, 0, NULL,
	    NULL },
	{ "notes", ENT_LONGTEXT, ENT_F_FILTER, 0, NULL, NULL },
	{ "amount", ENT_MONEY, ENT_F_FILTER | ENT_F_SORT, 0, NULL, NULL },
	{ "employees", ENT_INT, ENT_F_FILTER | ENT_F_SORT, 0, NULL, NULL },
	{ "stage", ENT_ENUM, ENT_F_FILTER, 0, stages, NULL },
	{ "tags", ENT_MULTI_ENUM, ENT_F_FILTER, 0, stages, NULL },
	{ "secret", ENT_TEXT, 0, 0, NULL, NULL },
	{ NULL, 0, 0, 0, NULL, NULL }
};

static const struct ent_desc	t_desc = {
	"things", "thing", "crm.things", t_fields, 0
};

static const struct ent_field	t_custom[] = {
	{ "score", ENT_NUMBER, ENT_F_FILTER | ENT_F_SORT, 0, NULL, NULL },
	{ NULL, 0, 0, 0, NULL, NULL }
};

static struct elist	l;
static struct buf	sql;

static int
parse(const char *qs)
{
	elist_free(&l);
	buf_reset(&sql);
	if (elist_parse(&l, &t_desc, t_custom, qs) == -1)
		return (-1);
	elist_sql(&l, &t_desc, &sql);
	return (0);
}

static int
has(const char *s)
{
	return (strstr(buf_cstr(&sql), s) != NULL);
}

static void
test_filters(void)
{
	UT_EQ_INT(parse("filter%5Bname%5D%5Beq%5D=Acme+Corp"), 0);
	UT_CHECK(has(" AND name = $4::text"));
	UT_EQ_STR(l.params[0], "Acme Corp");
	UT_EQ_INT(parse("filter[employees][gte]=10&filter[stage][in]=new,won"),
	    0);
	UT_CHECK(has("employees >= $4::bigint"));
	UT_CHECK(has("stage = ANY($5::text[])"));
	UT_EQ_STR(l.params[1], "{\"new\",\"won\"}");
	UT_EQ_INT(parse("filter[name][contains]=100%25_x"), 0);
	UT_EQ_STR(l.params[0], "100\\%\\_x");
	UT_CHECK(has("name ILIKE '%' || $4::text || '%'"));
	UT_EQ_INT(parse("filter[tags][contains]=won"), 0);
	UT_CHECK(has("$4::text = ANY(tags)"));
	UT_EQ_INT(parse("filter[name][is_null]=true&filter[amount][is_null]="
	    "false"), 0);
	UT_CHECK(has("name IS NULL AND amount IS NOT NULL"));
	UT_EQ_INT(l.nparams, 0);
	UT_EQ_INT(parse("filter[custom.score][lt]=2.5"), 0);
	UT_CHECK(has("((custom->>'score')::numeric) < $4::numeric"));
	UT_EQ_INT(parse("filter[id][eq]=01A20000-0000-7000-8000-0000000000AA"),
	    0);
	UT_EQ_STR(l.params[0], "01a20000-0000-7000-8000-0000000000aa");
}

static void
bad(const char *qs, int code, const char *param)
{
	UT_EQ_INT(parse(qs), -1);
	UT_EQ_INT(l.err_code, code);
	UT_EQ_STR(l.err_param, param);
}

static void
test_errors(void)
{
	bad("filter[nope][eq]=1", PROB_INVALID_FILTER, "filter[nope]");
	bad("filter[secret][eq]=1", PROB_INVALID_FILTER, "filter[secret]");
	bad("filter[name][gt2]=1", PROB_INVALID_FILTER, "filter[name][gt2]");
	bad("filter[notes][eq]=1", PROB_INVALID_FILTER, "filter[notes][eq]");
	bad("filter[employees][eq]=1x", PROB_INVALID_FILTER,
	    "filter[employees][eq]");
	bad("filter[stage][eq]=lost", PROB_INVALID_FILTER,
	    "filter[stage][eq]");
	bad("filter[custom.nope][eq]=1", PROB_INVALID_FILTER,
	    "filter[custom.nope]");
	UT_EQ_INT(l.err_custom, 1);
	bad("filter[name]=1", PROB_INVALID_FILTER, "filter[name]");
	bad("sort=secret", PROB_INVALID_FILTER, "sort");
	bad("sort=tags", PROB_INVALID_FILTER, "sort");
	bad("sort=name&sort=amount", PROB_INVALID_QUERY, "sort");
	bad("sort=name,amount,employees,id", PROB_INVALID_FILTER, "sort");
	bad("fields=name,tenant_id", PROB_INVALID_FILTER, "fields");
	bad("limit=0", PROB_INVALID_QUERY, "limit");
	bad("limit=201", PROB_INVALID_QUERY, "limit");
	bad("q=%20%20", PROB_INVALID_QUERY, "q");
	bad("q=a&q=b", PROB_INVALID_QUERY, "q");
	bad("page=2", PROB_INVALID_QUERY, "page");
	bad("filter[name][eq]=%00", PROB_INVALID_QUERY, "query");
	bad("filter[name][eq]=%zz", PROB_INVALID_QUERY, "query");
	bad("cursor=!!", PROB_INVALID_CURSOR, "cursor");
}

static void
test_sort_and_fields(void)
{
	UT_EQ_INT(parse(NULL), 0);
	UT_CHECK(has("ORDER BY id DESC LIMIT 51"));
	UT_EQ_INT(parse("sort=-amount,name&limit=20&fields=name"), 0);
	UT_CHECK(has("ORDER BY amount DESC, name ASC, id ASC LIMIT 21"));
	UT_CHECK(has("(amount)::text AS _k0"));
	UT_CHECK(has("'name', name"));
	UT_CHECK(!has("'amount'"));
	UT_EQ_INT(parse("sort=-custom.score"), 0);
	UT_CHECK(has("ORDER BY ((custom->>'score')::numeric) DESC, id DESC"));
	UT_EQ_INT(parse("q=acme&sort=name"), 0);
	UT_CHECK(has("search @@ crm.search_query($4::text)"));
}

static void
test_cursor(void)
{
	const char	*keys[] = { "12.50", NULL,
			    "01a20000-0000-7000-8000-000000000001" };
	char		*c, qs[1024];

	UT_EQ_INT(parse("sort=-amount,name"), 0);
	c = elist_cursor(&l, keys);
	(void)snprintf(qs, sizeof(qs), "sort=-amount,name&cursor=%s", c);
	UT_EQ_INT(parse(qs), 0);
	/* amount < 12.50, or = and name (NULL, ascending: nothing after). */
	UT_CHECK(has("(amount < $4::numeric) OR (amount = $4::numeric AND "
	    "FALSE) OR (amount = $4::numeric AND name IS NULL AND id > "
	    "$5::uuid))"));
	(void)snprintf(qs, sizeof(qs), "sort=amount&cursor=%s", c);
	bad(qs, PROB_INVALID_CURSOR, "cursor");
	xfree(c);
}

int
main(void)
{
	buf_init(&sql, 1024);
	UT_TEST(test_filters);
	UT_TEST(test_errors);
	UT_TEST(test_sort_and_fields);
	UT_TEST(test_cursor);
	elist_free(&l);
	buf_free(&sql);
	return (ut_summary());
}
