/*
 * entcf_test.c: custom field definitions and values (entcf.c).
 */

#include <string.h>

#include "ent.h"
#include "ut.h"

static const char	defs_json[] =
	"[{\"name\":\"tier\",\"type\":\"enum\",\"required\":true,"
	"\"options\":[\"gold\",\"silver\"]},"
	"{\"name\":\"score\",\"type\":\"number\"},"
	"{\"name\":\"vip\",\"type\":\"boolean\"},"
	"{\"name\":\"tags\",\"type\":\"multi_enum\",\"options\":[\"a\",\"b\"]},"
	"{\"name\":\"partner\",\"type\":\"ref\",\"ref_entity\":\"accounts\"}]";

static json_t *
body(const char *s)
{
	struct js_err	e;

	return (js_parse(s, strlen(s), &e));
}

static void
test_parse(void)
{
	struct ent_cdefs	*cd;
	const struct ent_field	*f;
	enum ent_type		 t;

	cd = entcf_parse(defs_json, 7);
	UT_CHECK(cd != NULL);
	UT_EQ_INT(cd->n, 5);
	UT_EQ_INT((int)cd->version, 7);
	f = entcf_field(cd, "tier");
	UT_CHECK(f != NULL && f->type == ENT_ENUM);
	UT_CHECK(f != NULL && (f->flags & ENT_F_REQUIRED));
	UT_EQ_STR(f->options[1], "silver");
	UT_CHECK(entcf_field(cd, "partner")->type == ENT_REF);
	UT_EQ_STR(entcf_field(cd, "partner")->ref, "accounts");
	UT_CHECK(entcf_field(cd, "nope") == NULL);
	UT_CHECK(cd->fields[5].name == NULL);
	entcf_free(cd);
	UT_CHECK(entcf_parse("{}", 1) == NULL);
	UT_CHECK(entcf_parse("[{\"name\":\"x\",\"type\":\"blob\"}]", 1) ==
	    NULL);
	UT_CHECK(entcf_parse("[", 1) == NULL);
	UT_EQ_INT(entcf_type("long_text", &t) >= 0, 1);
	UT_EQ_INT(t, ENT_LONGTEXT);
	UT_EQ_INT(entcf_type("int", &t), -1);
}

/* Binds {custom: given}; returns the JSON to merge, or "ERR <fields>". */
static char *
bind(const struct ent_cdefs *cd, const char *given, int create)
{
	struct ent_bind	 b;
	struct val	 v;
	json_t		*j = given ? body(given) : NULL, *e, *top;
	struct buf	 out;
	size_t		 i;
	char		*s;

	memset(&b, 0, sizeof(b));
	top = json_object();		/* the record's body */
	val_init(&v, top);
	entcf_bind(cd, j, create, &v, &b);
	buf_init(&out, 64);
	if (val_failed(&v)) {
		buf_appends(&out, "ERR");
		json_array_foreach(json_object_get(v.problem, "errors"), i, e)
			buf_appendf(&out, " %s", json_string_value(
			    json_object_get(e, "field")));
	} else {
		buf_appends(&out, b.custom ? b.custom : "-");
	}
	s = xstrdup(buf_cstr(&out));
	buf_free(&out);
	val_free(&v);
	xfree(b.custom);
	json_decref(j);
	json_decref(top);
	return (s);
}

static void
expect(const struct ent_cdefs *cd, const char *given, int create,
    const char *want)
{
	char	*got = bind(cd, given, create);

	UT_EQ_STR(got, want);
	xfree(got);
}

static void
test_bind(void)
{
	struct ent_cdefs	*cd = entcf_parse(defs_json, 1);

	expect(cd, "{\"tier\":\"gold\",\"score\":12.5,\"vip\":true,"
	    "\"tags\":[\"b\",\"a\"]}", 1,
	    "{\"tier\":\"gold\",\"score\":\"12.5\",\"vip\":true,"
	    "\"tags\":[\"b\",\"a\"]}");
	expect(cd, NULL, 1, "ERR custom.tier");
	expect(cd, "{\"tier\":null}", 1, "ERR custom.tier");
	expect(cd, NULL, 0, "-");
	expect(cd, "{\"score\":null}", 0, "{\"score\":null}");
	expect(cd, "{\"tier\":null}", 0, "ERR custom.tier");
	expect(cd, "{\"tier\":\"bronze\",\"score\":\"x\",\"vip\":1,"
	    "\"tags\":[\"a\",\"a\"],\"partner\":\"no\",\"zz\":1}", 0,
	    "ERR custom.tier custom.score custom.vip custom.tags "
	    "custom.partner custom.zz");
	expect(cd, "[1]", 0, "ERR custom");
	expect(NULL, "{\"x\":1}", 0, "ERR custom.x");
	entcf_free(cd);
}

int
main(void)
{
	UT_TEST(test_parse);
	UT_TEST(test_bind);
	return (ut_summary());
}
