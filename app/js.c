/*
 * js.c: every JSON byte in or out of the service, on jansson.
 *
 * Input: js_parse() is the one door for untrusted JSON.  It checks UTF-8
 * itself (to report the byte), lets jansson parse with duplicate keys and
 * trailing data refused, then walks the tree once for the limits of
 * SECURITY.md RES-03 (depth, array length, string and key length).  Error
 * details are ours, short and never echo input: jansson's "near '...'"
 * context can quote a password from a malformed login body, and details end
 * up in replies and logs.
 *
 * Output: js_dump() and js_dump_buf() write compact UTF-8; js_escape() is
 * for hand-built JSON (log lines) and turns any byte string into a valid
 * JSON string literal.
 *
 * Left to others: what a document must contain (the handlers), error
 * replies (problem.c).
 */

#include <sys/types.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "crm.h"

static const char	js_hex[] = "0123456789abcdef";

/*
 * Length of the well-formed UTF-8 sequence at p (Unicode table 3-7), or 0
 * if there is none: overlong forms, surrogates and code points above
 * U+10FFFF are all refused here by the second byte's range.
 */
static size_t
utf8_seq(const uint8_t *p, size_t n)
{
	uint8_t		lo = 0x80, hi = 0xbf;
	size_t		len, i;

	if (p[0] < 0x80)
		return (1);
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return (0);

	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;

	if (n < len || p[1] < lo || p[1] > hi)
		return (0);
	for (i = 2; i < len; i++) {
		if (p[i] < 0x80 || p[i] > 0xbf)
			return (0);
	}
	return (len);
}

/* Returns the offset of the first bad byte, or len when all are good. */
static size_t
utf8_check(const uint8_t *p, size_t len)
{
	size_t		i = 0, n;

	while (i < len) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((n = utf8_seq(p + i, len - i)) == 0)
			return (i);
		i += n;
	}
	return (len);
}

int
js_utf8_valid(const void *p, size_t len)
{
	return (utf8_check(p, len) == len);
}

/*
 * Appends p with each byte that does not start a well-formed sequence
 * replaced by U+FFFD, so the result is always valid UTF-8.
 */
void
js_utf8_repair(struct buf *b, const void *p, size_t len)
{
	const uint8_t	*s = p;
	size_t		 bad;

	while (len > 0) {
		bad = utf8_check(s, len);
		buf_append(b, s, bad);
		if (bad == len)
			break;
		buf_append(b, "\xef\xbf\xbd", 3);
		s += bad + 1;
		len -= bad + 1;
	}
}

static void
js_err_set(struct js_err *err, size_t pos, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

static void
js_err_set(struct js_err *err, size_t pos, const char *fmt, ...)
{
	va_list		args;

	if (err == NULL)
		return;
	err->position = pos;
	va_start(args, fmt);
	(void)vsnprintf(err->detail, sizeof(err->detail), fmt, args);
	va_end(args);
}

/* jansson's text without its " near '<input>'" tail (see top of file). */
static void
js_err_jansson(struct js_err *err, const json_error_t *je)
{
	size_t		pos = (size_t)je->position;
	int		len;
	const char	*near;

	switch (json_error_code(je)) {
	case json_error_null_character:
		js_err_set(err, pos, "strings must not contain \\u0000");
		return;
	case json_error_numeric_overflow:
		js_err_set(err, pos, "number out of range at byte %zu", pos);
		return;
	case json_error_duplicate_key:
		js_err_set(err, pos, "duplicate object key at byte %zu", pos);
		return;
	case json_error_stack_overflow:
		js_err_set(err, pos, "nesting deeper than %d levels",
		    JS_MAX_DEPTH);
		return;
	case json_error_end_of_input_expected:
		/* jansson's position is past the whole extra token. */
		js_err_set(err, pos, "unexpected data after the JSON value");
		return;
	case json_error_premature_end_of_input:
		js_err_set(err, pos, "unexpected end of input");
		return;
	default:
		break;
	}

	if ((near = strstr(je->text, " near")) != NULL)
		len = (int)(near - je->text);
	else
		len = (int)strnlen(je->text, sizeof(je->text) - 1);
	js_err_set(err, pos, "invalid JSON at byte %zu: %.*s", pos, len,
	    je->text);
}

/* One pass over the parsed tree for the limits jansson does not have. */
static int
js_walk(json_t *j, int depth, struct js_err *err)
{
	const char	*key;
	json_t		*v;
	size_t		 i;

	switch (json_typeof(j)) {
	case JSON_OBJECT:
		if (depth >= JS_MAX_DEPTH)
			goto deep;
		json_object_foreach(j, key, v) {
			if (strlen(key) > JS_MAX_STRING) {
				js_err_set(err, 0, "object key longer than "
				    "%d bytes", JS_MAX_STRING);
				return (-1);
			}
			if (js_walk(v, depth + 1, err) == -1)
				return (-1);
		}
		return (0);
	case JSON_ARRAY:
		if (depth >= JS_MAX_DEPTH)
			goto deep;
		if (json_array_size(j) > JS_MAX_ARRAY) {
			js_err_set(err, 0, "array longer than %d elements",
			    JS_MAX_ARRAY);
			return (-1);
		}
		json_array_foreach(j, i, v) {
			if (js_walk(v, depth + 1, err) == -1)
				return (-1);
		}
		return (0);
	case JSON_STRING:
		if (json_string_length(j) > JS_MAX_STRING) {
			js_err_set(err, 0, "string longer than %d bytes",
			    JS_MAX_STRING);
			return (-1);
		}
		return (0);
	default:
		return (0);
	}

deep:
	js_err_set(err, 0, "nesting deeper than %d levels", JS_MAX_DEPTH);
	return (-1);
}

/*
 * Parses one JSON value (any type: callers check the shape they want).
 * Errors found in the tree walk have no byte position and report 0.
 */
json_t *
js_parse(const void *data, size_t len, struct js_err *err)
{
	json_t		*j;
	json_error_t	 je;
	size_t		 bad;

	if (err != NULL) {
		err->detail[0] = '\0';
		err->position = 0;
	}
	if (data == NULL)	/* an absent body is an empty one */
		data = "";
	if ((bad = utf8_check(data, len)) != len) {
		js_err_set(err, bad, "invalid UTF-8 at byte %zu", bad);
		return (NULL);
	}

	j = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
	    &je);
	if (j == NULL) {
		js_err_jansson(err, &je);
		return (NULL);
	}
	if (js_walk(j, 0, err) == -1) {
		json_decref(j);
		return (NULL);
	}
	return (j);
}

static int
js_dump_cb(const char *p, size_t len, void *arg)
{
	buf_append(arg, p, len);
	return (0);
}

/* Fails only on jansson's own allocation failure: die like xmalloc. */
void
js_dump_buf(const json_t *j, struct buf *b)
{
	if (json_dump_callback(j, js_dump_cb, b,
	    JSON_COMPACT | JSON_ENCODE_ANY) == -1)
		crm_fatal("js_dump: cannot encode JSON value");
}

char *
js_dump(const json_t *j, size_t *lenp)
{
	struct buf	b;

	buf_init(&b, 256);
	js_dump_buf(j, &b);
	if (lenp != NULL)
		*lenp = b.len;
	return (b.data);
}

static void
js_escape_u(struct buf *b, unsigned int c)
{
	char	u[6] = { '\\', 'u', js_hex[(c >> 12) & 0xf],
		    js_hex[(c >> 8) & 0xf], js_hex[(c >> 4) & 0xf],
		    js_hex[c & 0xf] };

	buf_append(b, u, sizeof(u));
}

/* The escape for an ASCII byte, or NULL when it goes out as is. */
static const char *
js_escape_ascii(uint8_t c)
{
	switch (c) {
	case '"':
		return ("\\\"");
	case '\\':
		return ("\\\\");
	case '\b':
		return ("\\b");
	case '\f':
		return ("\\f");
	case '\n':
		return ("\\n");
	case '\r':
		return ("\\r");
	case '\t':
		return ("\\t");
	default:
		return (c < 0x20 ? "" : NULL);
	}
}

/*
 * Appends s as a quoted JSON string.  Bytes that are fine go out in runs;
 * U+2028 and U+2029 are escaped because JavaScript (JSONP, log viewers)
 * treats them as line ends, and bad UTF-8 becomes U+FFFD, so the output is
 * valid JSON whatever the input.
 */
void
js_escape(struct buf *b, const char *s, size_t len)
{
	const uint8_t	*p = (const uint8_t *)s;
	const char	*esc;
	size_t		 i = 0, run = 0, n;

	buf_appendc(b, '"');
	if (p == NULL)
		len = 0;
	while (i < len) {
		/* Printable ASCII other than '"' and '\\' goes out as is. */
		while (i < len && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' &&
		    p[i] != '\\')
			i++;
		if (i == len)
			break;
		if (p[i] < 0x80) {
			if ((esc = js_escape_ascii(p[i])) == NULL) {
				i++;
				continue;
			}
			buf_append(b, p + run, i - run);
			if (*esc != '\0')
				buf_appends(b, esc);
			else
				js_escape_u(b, p[i]);
			run = ++i;
			continue;
		}
		n = utf8_seq(p + i, len - i);
		if (n == 3 && p[i] == 0xe2 && p[i + 1] == 0x80 &&
		    (p[i + 2] == 0xa8 || p[i + 2] == 0xa9)) {
			buf_append(b, p + run, i - run);
			js_escape_u(b, p[i + 2] == 0xa8 ? 0x2028 : 0x2029);
			run = i += 3;
		} else if (n == 0) {
			buf_append(b, p + run, i - run);
			buf_append(b, "\xef\xbf\xbd", 3);
			run = ++i;
		} else
			i += n;
	}
	if (i > run)
		buf_append(b, p + run, i - run);
	buf_appendc(b, '"');
}

const char *
js_get_str(const json_t *j, const char *key)
{
	if (!json_is_object(j))
		return (NULL);
	return (json_string_value(json_object_get(j, key)));
}

/*
 * jansson's object iterators take a non-const json_t although they do not
 * write through it; the uintptr_t round trip says so without -Wcast-qual.
 */
static int
js_depth_left(const json_t *cj, int left)
{
	json_t		*j = (json_t *)(uintptr_t)cj;
	const char	*key;
	json_t		*v;
	size_t		 i;

	if (!json_is_object(j) && !json_is_array(j))
		return (1);
	if (left <= 0)
		return (0);
	if (json_is_array(j)) {
		json_array_foreach(j, i, v) {
			if (!js_depth_left(v, left - 1))
				return (0);
		}
		return (1);
	}
	json_object_foreach(j, key, v) {
		if (!js_depth_left(v, left - 1))
			return (0);
	}
	return (1);
}

/* 1 when objects and arrays nest at most max deep ("[]" is 1, "1" is 0). */
int
js_depth_ok(const json_t *j, int max)
{
	return (js_depth_left(j, max));
}
