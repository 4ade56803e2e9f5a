/*
 * js_test.c: unit tests for js.c, the JSON door (SECURITY.md PROP-04,
 * RES-03): escaping, UTF-8, \u escapes, limits, numbers, round trips.
 */

#include <stdlib.h>
#include <string.h>

#include "crm.h"
#include "ut.h"

/* Parses a C string; returns 1 if accepted (and frees the value). */
static int
accepts(const char *s)
{
	struct js_err	 err;
	json_t		*j;

	if ((j = js_parse(s, strlen(s), &err)) == NULL)
		return (0);
	json_decref(j);
	return (1);
}

static int
accepts_n(const char *s, size_t len)
{
	json_t		*j;

	if ((j = js_parse(s, len, NULL)) == NULL)
		return (0);
	json_decref(j);
	return (1);
}

/* The error detail js_parse gives for s, in a static buffer. */
static const char *
detail(const char *s)
{
	static struct js_err	 err;
	json_t			*j;

	if ((j = js_parse(s, strlen(s), &err)) != NULL) {
		json_decref(j);
		return ("(accepted)");
	}
	return (err.detail);
}

static void
test_basic(void)
{
	struct js_err	 err;
	json_t		*j;
	const char	*s = "{\"a\":\"x\",\"n\":1,\"o\":{\"b\":[true,null]}}";

	j = js_parse(s, strlen(s), &err);
	UT_CHECK(j != NULL);
	UT_EQ_STR(js_get_str(j, "a"), "x");
	UT_CHECK(js_get_str(j, "n") == NULL);
	UT_CHECK(js_get_str(j, "missing") == NULL);
	UT_CHECK(js_get_str(NULL, "a") == NULL);
	UT_CHECK(js_get_str(json_object_get(j, "o"), "b") == NULL);
	json_decref(j);

	UT_CHECK(accepts("1"));
	UT_CHECK(accepts("\"s\""));
	UT_CHECK(accepts("[]"));
	UT_CHECK(accepts("  {}  \n"));
	UT_CHECK(!accepts(""));
	UT_CHECK(!accepts("   "));
	UT_CHECK(!accepts("{"));
	UT_CHECK(!accepts("{'a':1}"));
	UT_CHECK(!accepts("[1,]"));
	UT_CHECK(!accepts("NaN"));
	UT_CHECK(!accepts("Infinity"));
	UT_CHECK(!accepts("[-Infinity]"));
	UT_CHECK(!accepts("01"));
	UT_CHECK(js_parse(NULL, 0, NULL) == NULL);	/* absent body */
}

static void
test_quotes_backslashes(void)
{
	json_t		*j;
	const char	*s = "[\"a\\\"b\", \"c\\\\d\", \"\\/\"]";

	j = js_parse(s, strlen(s), NULL);
	UT_CHECK(j != NULL);
	UT_EQ_STR(json_string_value(json_array_get(j, 0)), "a\"b");
	UT_EQ_STR(json_string_value(json_array_get(j, 1)), "c\\d");
	UT_EQ_STR(json_string_value(json_array_get(j, 2)), "/");
	json_decref(j);
	UT_CHECK(!accepts("\"a\"b\""));
	UT_CHECK(!accepts("\"a\\\""));
	UT_CHECK(!accepts("\"\\x41\""));
	UT_CHECK(!accepts("\"\\'\""));
}

static void
test_control_chars(void)
{
	char		 s[8];
	json_t		*j;
	int		 c, raw_rejected = 1;
	const char	*esc = "\"\\b\\f\\n\\r\\t\\u001f\\u0001\"";

	for (c = 1; c < 0x20; c++) {
		s[0] = '"';
		s[1] = 'a';
		s[2] = (char)c;
		s[3] = '"';
		if (accepts_n(s, 4))
			raw_rejected = 0;
	}
	UT_CHECK(raw_rejected);
	UT_CHECK(!accepts_n("\"a\0b\"", 5));
	UT_CHECK(!accepts_n("[1]\0", 4));

	j = js_parse(esc, strlen(esc), NULL);
	UT_CHECK(j != NULL);
	UT_EQ_STR(json_string_value(j), "\b\f\n\r\t\x1f\x01");
	json_decref(j);
	UT_CHECK(accepts("\"\x7f\""));
}

static void
test_utf8(void)
{
	struct js_err	err;

	UT_CHECK(accepts("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""));
	UT_CHECK(accepts("\"\xef\xbf\xbf\xf4\x8f\xbf\xbf\""));
	UT_CHECK(!accepts("\"\x80\""));			/* lone continuation */
	UT_CHECK(!accepts("\"a\xbf\""));
	UT_CHECK(!accepts("\"\xc0\xaf\""));		/* overlong '/' */
	UT_CHECK(!accepts("\"\xc1\xbf\""));
	UT_CHECK(!accepts("\"\xe0\x80\xaf\""));		/* overlong 3 */
	UT_CHECK(!accepts("\"\xf0\x80\x80\xaf\""));	/* overlong 4 */
	UT_CHECK(!accepts("\"\xed\xa0\x80\""));		/* U+D800 */
	UT_CHECK(!accepts("\"\xed\xbf\xbf\""));		/* U+DFFF */
	UT_CHECK(!accepts("\"\xf4\x90\x80\x80\""));	/* > U+10FFFF */
	UT_CHECK(!accepts("\"\xf5\x80\x80\x80\""));
	UT_CHECK(!accepts("\"\xff\""));
	UT_CHECK(!accepts("\"\xe2\x82\""));		/* truncated */
	UT_CHECK(!accepts("\"\xf0\x9f\x98"));		/* truncated at end */
	UT_CHECK(!accepts("\"\xc3\""));

	UT_CHECK(js_parse("{\"k\":\"ab\xc3\"}", 10, &err) == NULL);
	UT_EQ_INT(err.position, 8);
	UT_EQ_STR(err.detail, "invalid UTF-8 at byte 8");

	UT_CHECK(js_utf8_valid("", 0));
	UT_CHECK(js_utf8_valid("\xed\x9f\xbf", 3));	/* U+D7FF */
	UT_CHECK(js_utf8_valid("\xee\x80\x80", 3));	/* U+E000 */
	UT_CHECK(!js_utf8_valid("\xed\xa0\x80", 3));
	UT_CHECK(!js_utf8_valid("\xe2\x82", 2));
}

static void
test_u_escapes(void)
{
	json_t		*j;
	const char	*s = "[\"\\u00e9\", \"\\uD83D\\uDE00\", \"\\u20AC\"]";

	j = js_parse(s, strlen(s), NULL);
	UT_CHECK(j != NULL);
	UT_EQ_STR(json_string_value(json_array_get(j, 0)), "\xc3\xa9");
	UT_EQ_STR(json_string_value(json_array_get(j, 1)),
	    "\xf0\x9f\x98\x80");
	UT_EQ_STR(json_string_value(json_array_get(j, 2)), "\xe2\x82\xac");
	json_decref(j);

	UT_CHECK(!accepts("\"\\uD83D\""));		/* lone high */
	UT_CHECK(!accepts("\"\\uDE00\""));		/* lone low */
	UT_CHECK(!accepts("\"\\uD83Dx\""));
	UT_CHECK(!accepts("\"\\uD83D\\u0041\""));	/* high + non-low */
	UT_CHECK(!accepts("\"\\u12\""));
	UT_CHECK(!accepts("\"\\u12G4\""));

	UT_CHECK(!accepts("\"\\u0000\""));
	UT_EQ_STR(detail("{\"a\":\"x\\u0000y\"}"),
	    "strings must not contain \\u0000");
	UT_CHECK(!accepts("{\"\\u0000\":1}"));
}

static char *
nest(int depth, char open, char close)
{
	char		*s = xmalloc((size_t)depth * 2 + 1);

	memset(s, open, (size_t)depth);
	memset(s + depth, close, (size_t)depth);
	s[depth * 2] = '\0';
	return (s);
}

static void
test_depth(void)
{
	struct buf	 b = { NULL, 0, 0 };
	json_t		*j;
	char		*s;
	int		 i;

	s = nest(32, '[', ']');
	UT_CHECK(accepts(s));
	j = js_parse(s, strlen(s), NULL);
	UT_CHECK(js_depth_ok(j, 32));
	UT_CHECK(!js_depth_ok(j, 31));
	json_decref(j);
	xfree(s);

	s = nest(33, '[', ']');
	UT_CHECK(!accepts(s));
	UT_EQ_STR(detail(s), "nesting deeper than 32 levels");
	xfree(s);

	/* Objects count the same as arrays. */
	for (i = 0; i < 32; i++)
		buf_appends(&b, "{\"a\":");
	buf_appends(&b, "1");
	for (i = 0; i < 32; i++)
		buf_appendc(&b, '}');
	UT_CHECK(accepts(buf_cstr(&b)));
	buf_reset(&b);
	for (i = 0; i < 16; i++)
		buf_appends(&b, "{\"a\":[");
	buf_appends(&b, "[]");
	for (i = 0; i < 16; i++)
		buf_appends(&b, "]}");
	UT_CHECK(!accepts(buf_cstr(&b)));
	buf_free(&b);

	/* jansson's own limit stops this before any stack trouble. */
	s = xmalloc(100001);
	memset(s, '[', 100000);
	s[100000] = '\0';
	UT_CHECK(!accepts(s));
	UT_EQ_STR(detail(s), "nesting deeper than 32 levels");
	xfree(s);

	UT_CHECK(js_depth_ok(NULL, 0));
	j = json_pack("{s:[i]}", "a", 1);
	UT_CHECK(js_depth_ok(j, 2));
	UT_CHECK(!js_depth_ok(j, 1));
	json_decref(j);
	j = json_integer(3);
	UT_CHECK(js_depth_ok(j, 0));
	json_decref(j);
}

static void
test_numbers(void)
{
	struct js_err	 err;
	json_t		*j;
	const char	*s;

	s = "[9223372036854775807, -9223372036854775808, 1.5, -0, 1e308]";
	j = js_parse(s, strlen(s), &err);
	UT_CHECK(j != NULL);
	UT_EQ_INT(json_integer_value(json_array_get(j, 0)), INT64_MAX);
	UT_EQ_INT(json_integer_value(json_array_get(j, 1)), INT64_MIN);
	json_decref(j);

	UT_CHECK(!accepts("9223372036854775808"));
	UT_CHECK(!accepts("-9223372036854775809"));
	UT_CHECK(!accepts("99999999999999999999999"));
	UT_EQ_STR(detail("[99999999999999999999999]"),
	    "number out of range at byte 24");
	UT_CHECK(!accepts("1e400"));
	UT_CHECK(!accepts("-1e400"));
	UT_EQ_STR(detail("{\"x\":1e400}"), "number out of range at byte 10");
	UT_CHECK(accepts("1e-400"));	/* underflow is just zero */
}

static void
test_dups_trailing(void)
{
	UT_CHECK(!accepts("{\"a\":1,\"a\":2}"));
	UT_CHECK(!accepts("{\"a\":{\"b\":1,\"b\":1}}"));
	UT_EQ_STR(detail("{\"password\":\"hunter2\",\"password\":\"x\"}"),
	    "duplicate object key at byte 32");
	UT_CHECK(accepts("[{\"a\":1},{\"a\":2}]"));

	UT_CHECK(!accepts("{} x"));
	UT_CHECK(!accepts("{}{}"));
	UT_CHECK(!accepts("[1] [2]"));
	UT_CHECK(!accepts("1 2"));
	UT_EQ_STR(detail("{}garbage"), "unexpected data after the JSON value");
}

/* Details never echo input, even the token jansson choked on. */
static void
test_detail_no_echo(void)
{
	struct buf	 b = { NULL, 0, 0 };
	const char	*d;
	int		 i;

	d = detail("{\"password\": s3cr3tpassw0rd}");
	UT_CHECK(strstr(d, "s3cr3t") == NULL);
	UT_CHECK(strncmp(d, "invalid JSON at byte ", 21) == 0);
	d = detail("{\"pw\":\"s3cr3t\x01\"}");
	UT_CHECK(strstr(d, "s3cr3t") == NULL);
	d = detail("[\"s3cr3t\" \"s3cr3t\"]");
	UT_CHECK(strstr(d, "s3cr3t") == NULL);

	buf_appendc(&b, '[');
	for (i = 0; i < 2000; i++)
		buf_appends(&b, "xyz");
	d = detail(buf_cstr(&b));
	UT_CHECK(strlen(d) < 100);
	UT_CHECK(strstr(d, "xyz") == NULL);
	buf_free(&b);
}

static void
test_limits(void)
{
	struct buf	 b = { NULL, 0, 0 };
	int		 i;

	buf_appendc(&b, '[');
	for (i = 0; i < 1000; i++)
		buf_appends(&b, i == 0 ? "0" : ",0");
	buf_appendc(&b, ']');
	UT_CHECK(accepts(buf_cstr(&b)));
	b.len--;
	buf_appends(&b, ",0]");
	UT_CHECK(!accepts(buf_cstr(&b)));
	UT_EQ_STR(detail(buf_cstr(&b)), "array longer than 1000 elements");

	/* Nested arrays are checked too, not only the top one. */
	buf_reset(&b);
	buf_appends(&b, "{\"a\":{\"b\":[");
	for (i = 0; i < 1001; i++)
		buf_appends(&b, i == 0 ? "[]" : ",[]");
	buf_appends(&b, "]}}");
	UT_CHECK(!accepts(buf_cstr(&b)));

	buf_reset(&b);
	buf_appendc(&b, '"');
	for (i = 0; i < JS_MAX_STRING; i++)
		buf_appendc(&b, 'a');
	buf_appendc(&b, '"');
	UT_CHECK(accepts(buf_cstr(&b)));
	b.len--;
	buf_appends(&b, "a\"");
	UT_CHECK(!accepts(buf_cstr(&b)));
	UT_EQ_STR(detail(buf_cstr(&b)), "string longer than 65536 bytes");

	/* The limit is on bytes, not on characters. */
	buf_reset(&b);
	buf_appends(&b, "[\"");
	for (i = 0; i < JS_MAX_STRING / 2 + 1; i++)
		buf_appends(&b, "\xc3\xa9");
	buf_appends(&b, "\"]");
	UT_CHECK(!accepts(buf_cstr(&b)));

	buf_reset(&b);
	buf_appends(&b, "{\"");
	for (i = 0; i <= JS_MAX_STRING; i++)
		buf_appendc(&b, 'k');
	buf_appends(&b, "\":1}");
	UT_CHECK(!accepts(buf_cstr(&b)));
	UT_EQ_STR(detail(buf_cstr(&b)), "object key longer than 65536 bytes");
	buf_free(&b);
}

static void
test_dump(void)
{
	const char	*s = "{\"s\":\"q\\\"b\\\\c\\n\\u0001"
			    "\xc3\xa9\xe2\x80\xa8\",\"i\":-42,"
			    "\"big\":9223372036854775807,"
			    "\"r\":0.1,\"a\":[true,false,null,{}],\"e\":\"\"}";
	json_t		*j, *k;
	struct buf	 b = { NULL, 0, 0 };
	char		*out;
	size_t		 len;

	j = js_parse(s, strlen(s), NULL);
	UT_CHECK(j != NULL);
	out = js_dump(j, &len);
	UT_EQ_INT(len, strlen(out));
	UT_CHECK(strchr(out, ' ') == NULL);		/* compact */
	UT_CHECK(strstr(out, "\xc3\xa9") != NULL);	/* not ASCII-escaped */
	k = js_parse(out, len, NULL);
	UT_CHECK(k != NULL && json_equal(j, k));
	json_decref(k);

	buf_appends(&b, "x=");
	js_dump_buf(j, &b);
	UT_EQ_INT(b.len, len + 2);
	UT_CHECK(memcmp(b.data + 2, out, len) == 0);
	UT_CHECK(b.data[b.len] == '\0');
	buf_free(&b);
	xfree(out);
	json_decref(j);

	j = json_string("plain");
	out = js_dump(j, NULL);
	UT_EQ_STR(out, "\"plain\"");
	xfree(out);
	json_decref(j);
}

static struct buf	esc_buf;

/* js_escape(s) as a C string, valid until the next call. */
static const char *
esc(const char *s, size_t len)
{
	buf_reset(&esc_buf);
	js_escape(&esc_buf, s, len);
	return (buf_cstr(&esc_buf));
}

static void
test_escape(void)
{
	UT_EQ_STR(esc("", 0), "\"\"");
	UT_EQ_STR(esc(NULL, 0), "\"\"");
	UT_EQ_STR(esc("abc", 3), "\"abc\"");
	UT_EQ_STR(esc("a\"b\\c", 5), "\"a\\\"b\\\\c\"");
	UT_EQ_STR(esc("\n\r\t\b\f", 5), "\"\\n\\r\\t\\b\\f\"");
	UT_EQ_STR(esc("\x01\x1f", 2), "\"\\u0001\\u001f\"");
	UT_EQ_STR(esc("a\0b", 3), "\"a\\u0000b\"");
	UT_EQ_STR(esc("/\x7f", 2), "\"/\x7f\"");
	UT_EQ_STR(esc("\xc3\xa9\xf0\x9f\x98\x80", 6),
	    "\"\xc3\xa9\xf0\x9f\x98\x80\"");
	UT_EQ_STR(esc("\xe2\x80\xa8x\xe2\x80\xa9", 7),
	    "\"\\u2028x\\u2029\"");
	UT_EQ_STR(esc("a\xff" "b", 3), "\"a\xef\xbf\xbd" "b\"");
	UT_EQ_STR(esc("\xc0\xaf", 2), "\"\xef\xbf\xbd\xef\xbf\xbd\"");
	UT_EQ_STR(esc("\xed\xa0\x80", 3),
	    "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
	UT_EQ_STR(esc("x\xe2\x82", 3), "\"x\xef\xbf\xbd\xef\xbf\xbd\"");
	buf_free(&esc_buf);
}

/*
 * Whatever the bytes, js_escape() output is one JSON string that jansson
 * accepts (\u0000 included, hence JSON_ALLOW_NUL), and for valid UTF-8
 * without NUL it decodes back to the input.
 */
static void
test_escape_random(void)
{
	struct buf	 b = { NULL, 0, 0 };
	unsigned char	 in[64];
	json_t		*j;
	size_t		 len;
	int		 i, bad = 0, mismatch = 0, k;

	srandom(12345);
	for (i = 0; i < 10000; i++) {
		len = (size_t)(random() % (int)sizeof(in));
		for (k = 0; k < (int)len; k++) {
			/* Bias towards the interesting bytes. */
			switch (random() % 4) {
			case 0:
				in[k] = (unsigned char)(random() % 0x20);
				break;
			case 1:
				in[k] = (unsigned char)(0x80 + random() % 0x80);
				break;
			default:
				in[k] = (unsigned char)random();
			}
		}
		buf_reset(&b);
		js_escape(&b, (const char *)in, len);
		j = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL,
		    NULL);
		if (j == NULL || !json_is_string(j) ||
		    !js_utf8_valid(b.data, b.len)) {
			bad++;
		} else if (js_utf8_valid(in, len) && (json_string_length(j) !=
		    len || memcmp(json_string_value(j), in, len) != 0)) {
			mismatch++;
		}
		json_decref(j);
	}
	UT_EQ_INT(bad, 0);
	UT_EQ_INT(mismatch, 0);
	buf_free(&b);
}

static void
test_repair(void)
{
	struct buf	b = { NULL, 0, 0 };

	js_utf8_repair(&b, "ok\xc3\xa9", 4);
	UT_EQ_STR(buf_cstr(&b), "ok\xc3\xa9");
	buf_reset(&b);
	js_utf8_repair(&b, "a\x80\xed\xa0\x80z", 6);
	UT_EQ_STR(buf_cstr(&b), "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	    "\xef\xbf\xbdz");
	UT_CHECK(js_utf8_valid(b.data, b.len));
	buf_free(&b);
}

int
main(void)
{
	UT_TEST(test_basic);
	UT_TEST(test_quotes_backslashes);
	UT_TEST(test_control_chars);
	UT_TEST(test_utf8);
	UT_TEST(test_u_escapes);
	UT_TEST(test_depth);
	UT_TEST(test_numbers);
	UT_TEST(test_dups_trailing);
	UT_TEST(test_detail_no_echo);
	UT_TEST(test_limits);
	UT_TEST(test_dump);
	UT_TEST(test_escape);
	UT_TEST(test_escape_random);
	UT_TEST(test_repair);
	return (ut_summary());
}
