/*
 * problem_test.c: unit tests for problem.c: the table matches the enum
 * and API.md, and the bodies have the RFC 9457 shape.
 */

#include <string.h>

#include "crm.h"
#include "ut.h"

static void
test_table(void)
{
	static const struct {
		const char	*name;
		int		 status;
	} want[] = {
		{ "bad_request", 400 }, { "invalid_json", 400 },
		{ "invalid_query", 400 }, { "invalid_filter", 400 },
		{ "invalid_cursor", 400 }, { "unauthenticated", 401 },
		{ "forbidden", 403 }, { "tenant_suspended", 403 },
		{ "plan_limit", 403 }, { "not_found", 404 },
		{ "method_not_allowed", 405 }, { "conflict", 409 },
		{ "precondition_failed", 412 }, { "payload_too_large", 413 },
		{ "unsupported_media_type", 415 },
		{ "validation_failed", 422 },
		{ "idempotency_key_reused", 422 },
		{ "precondition_required", 428 }, { "rate_limited", 429 },
		{ "internal_error", 500 }, { "unavailable", 503 },
	};
	const struct problem_def	*t;
	size_t				 n, i, j;

	t = problem_table(&n);
	UT_EQ_INT(n, PROB__COUNT);
	UT_EQ_INT(sizeof(want) / sizeof(want[0]), PROB__COUNT);
	for (i = 0; i < n; i++) {
		UT_EQ_INT(t[i].code, i);
		UT_CHECK(t[i].name != NULL && t[i].title != NULL &&
		    t[i].doc != NULL && t[i].doc[0] != '\0');
		UT_EQ_STR(t[i].name, want[i].name);
		UT_EQ_INT(t[i].status, want[i].status);
		UT_CHECK(problem_def((enum problem_code)i) == &t[i]);
		for (j = 0; j < i; j++)
			UT_CHECK(strcmp(t[i].name, t[j].name) != 0);
	}
	UT_EQ_STR(problem_def(PROB__COUNT)->name, "internal_error");
	UT_EQ_STR(problem_def((enum problem_code)-1)->name, "internal_error");
}

static void
test_new(void)
{
	json_t		*p;
	char		*s;

	p = problem_new(PROB_NOT_FOUND, NULL);
	s = js_dump(p, NULL);
	UT_EQ_STR(s, "{\"type\":\"https://errors.crm.example/not_found\","
	    "\"title\":\"Not found\",\"status\":404,\"code\":\"not_found\"}");
	UT_EQ_INT(problem_status(p), 404);
	xfree(s);
	json_decref(p);

	p = problem_new(PROB_INVALID_JSON, "bad at byte %d: %s", 17, "\"q\"");
	UT_EQ_STR(js_get_str(p, "detail"), "bad at byte 17: \"q\"");
	UT_EQ_STR(js_get_str(p, "code"), "invalid_json");
	UT_EQ_INT(problem_status(p), 400);
	problem_set_request_id(p, "req-1");
	UT_EQ_STR(js_get_str(p, "request_id"), "req-1");
	json_decref(p);

	UT_EQ_INT(problem_status(NULL), 500);
	p = json_object();
	UT_EQ_INT(problem_status(p), 500);
	json_decref(p);
}

/* Details may quote raw input: bad UTF-8 is repaired, size is capped. */
static void
test_detail_input(void)
{
	struct buf	 b = { NULL, 0, 0 };
	json_t		*p;
	const char	*d;
	int		 i;

	p = problem_new(PROB_INVALID_QUERY, "unknown parameter '%s'",
	    "a\xff" "b");
	d = js_get_str(p, "detail");
	UT_EQ_STR(d, "unknown parameter 'a\xef\xbf\xbd" "b'");
	json_decref(p);

	for (i = 0; i < 5000; i++)
		buf_appends(&b, "\xc3\xa9");
	p = problem_new(PROB_INVALID_FILTER, "bad value '%s'", buf_cstr(&b));
	d = js_get_str(p, "detail");
	UT_CHECK(d != NULL && strlen(d) == 511);	/* 11 + 250 x 2 bytes */
	UT_CHECK(d != NULL && strstr(d, "\xef\xbf\xbd") == NULL);
	UT_CHECK(d != NULL && js_utf8_valid(d, strlen(d)));
	json_decref(p);
	buf_free(&b);
}

static void
test_fields(void)
{
	json_t		*p, *errs, *e;

	p = problem_new(PROB_VALIDATION_FAILED, "2 fields are invalid");
	problem_add_field(p, "email", "invalid_format", "not an e-mail");
	problem_add_field(p, "name", "required", NULL);
	problem_add_field(p, "x\x80", NULL, NULL);
	errs = json_object_get(p, "errors");
	UT_CHECK(json_is_array(errs));
	UT_EQ_INT(json_array_size(errs), 3);
	e = json_array_get(errs, 0);
	UT_EQ_STR(js_get_str(e, "field"), "email");
	UT_EQ_STR(js_get_str(e, "code"), "invalid_format");
	UT_EQ_STR(js_get_str(e, "detail"), "not an e-mail");
	e = json_array_get(errs, 1);
	UT_EQ_STR(js_get_str(e, "code"), "required");
	UT_CHECK(json_object_get(e, "detail") == NULL);
	e = json_array_get(errs, 2);
	UT_EQ_STR(js_get_str(e, "field"), "x\xef\xbf\xbd");
	UT_EQ_INT(json_object_size(e), 1);
	UT_EQ_INT(problem_status(p), 422);
	json_decref(p);
}

int
main(void)
{
	UT_TEST(test_table);
	UT_TEST(test_new);
	UT_TEST(test_detail_input);
	UT_TEST(test_fields);
	return (ut_summary());
}
