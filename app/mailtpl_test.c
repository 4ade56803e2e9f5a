/*
 * mailtpl_test.c: merge fields of mailtpl.c: checking at save time,
 * rendering with HTML escaping, the built-in templates.
 */

#include <string.h>

#include "mail.h"
#include "ut.h"

static void
test_check(void)
{
	char	bad[80];
	size_t	i;

	UT_EQ_INT(mtpl_check("Hello {{contact.first_name}}!", bad,
	    sizeof(bad)), MTPL_OK);
	UT_EQ_INT(mtpl_check("{{ user.name }} of {{tenant.name}}", bad,
	    sizeof(bad)), MTPL_OK);
	UT_EQ_INT(mtpl_check("no fields { at } all }}", bad, sizeof(bad)),
	    MTPL_OK);
	UT_EQ_INT(mtpl_check("Hi {{contact.firstname}}", bad, sizeof(bad)),
	    MTPL_UNKNOWN);
	UT_EQ_STR(bad, "contact.firstname");
	UT_EQ_INT(mtpl_check("Hi {{contact.first_name}", bad, sizeof(bad)),
	    MTPL_SYNTAX);
	UT_EQ_INT(mtpl_check("Hi {{ }}", bad, sizeof(bad)), MTPL_SYNTAX);
	UT_EQ_INT(mtpl_check(NULL, bad, sizeof(bad)), MTPL_OK);
	for (i = 0; mtpl_builtin_at(i) != NULL; i++) {
		UT_EQ_INT(mtpl_check(mtpl_builtin_at(i)->subject, bad,
		    sizeof(bad)), MTPL_OK);
		UT_EQ_INT(mtpl_check(mtpl_builtin_at(i)->text, bad,
		    sizeof(bad)), MTPL_OK);
		UT_EQ_INT(mtpl_check(mtpl_builtin_at(i)->html, bad,
		    sizeof(bad)), MTPL_OK);
	}
	UT_EQ_INT(i, 2);
	UT_CHECK(mtpl_builtin("invitation") != NULL);
	UT_CHECK(mtpl_builtin("password_reset") != NULL);
	UT_CHECK(mtpl_builtin("nope") == NULL);
	UT_CHECK(mtpl_field_at(0) != NULL);
	UT_EQ_INT(mtpl_field_known("tenant.name", 11), 1);
	UT_EQ_INT(mtpl_field_known("tenant.nam", 10), 0);
}

static void
test_render(void)
{
	struct buf	 b;
	json_t		*v;

	v = json_pack("{s:s, s:s, s:i}", "contact.first_name",
	    "<b>Zoë & \"Co\"</b>", "tenant.name", "Acme", "reset.minutes", 30);
	buf_init(&b, 64);
	mtpl_render(&b, "Hi {{ contact.first_name }} at {{tenant.name}}, "
	    "{{reset.minutes}} min, {{contact.last_name}}.", v, 0);
	UT_EQ_STR(buf_cstr(&b), "Hi <b>Zoë & \"Co\"</b> at Acme, 30 min, .");
	buf_reset(&b);
	mtpl_render(&b, "<p>{{contact.first_name}}</p>", v, 1);
	UT_EQ_STR(buf_cstr(&b),
	    "<p>&lt;b&gt;Zoë &amp; &quot;Co&quot;&lt;/b&gt;</p>");
	buf_reset(&b);
	mtpl_render(&b, "{{retired.field}} and {{open", v, 0);
	UT_EQ_STR(buf_cstr(&b), "{{retired.field}} and {{open");
	buf_free(&b);
	json_decref(v);
}

int
main(void)
{
	UT_TEST(test_check);
	UT_TEST(test_render);
	return (ut_summary());
}
