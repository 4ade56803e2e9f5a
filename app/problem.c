/*
 * problem.c: the one table of problem codes (API.md) and the RFC 9457
 * bodies built from it.
 *
 * Clients switch on "code"; status, title and type come from the same row,
 * so they never disagree.  The table is indexed by enum problem_code with
 * designated initializers; problem_test.c checks every row is filled and
 * names its own index.
 *
 * Left to others: sending the body and its headers (reply.c), and choosing
 * which code an error gets (the caller).
 */

#include <sys/types.h>

#include <stdarg.h>
#include <string.h>

#include "crm.h"

#define PROBLEM_TYPE_BASE	"https://errors.crm.example/"
#define PROBLEM_DETAIL_MAX	512	/* bytes */

#define P(c, s, n, t, d)	[c] = { c, s, n, t, d }

static const struct problem_def	problem_defs[] = {
	P(PROB_BAD_REQUEST, 400, "bad_request", "Bad request",
	    "The request is malformed: a bad header, path or parameter."),
	P(PROB_INVALID_JSON, 400, "invalid_json", "Invalid JSON",
	    "The body is not one valid UTF-8 JSON document within limits."),
	P(PROB_INVALID_QUERY, 400, "invalid_query", "Invalid query",
	    "A query string parameter is unknown or has a bad value."),
	P(PROB_INVALID_FILTER, 400, "invalid_filter", "Invalid filter",
	    "A filter names an unknown field or operator, or a bad value."),
	P(PROB_INVALID_CURSOR, 400, "invalid_cursor", "Invalid cursor",
	    "The pagination cursor is malformed or belongs to another query."),
	P(PROB_UNAUTHENTICATED, 401, "unauthenticated",
	    "Authentication required",
	    "No, bad, expired or revoked credential."),
	P(PROB_FORBIDDEN, 403, "forbidden", "Forbidden",
	    "The caller is authenticated but lacks the permission."),
	P(PROB_TENANT_SUSPENDED, 403, "tenant_suspended", "Tenant suspended",
	    "The tenant is suspended; writes are refused."),
	P(PROB_PLAN_LIMIT, 403, "plan_limit", "Plan limit reached",
	    "The tenant's plan does not allow more of this resource."),
	P(PROB_NOT_FOUND, 404, "not_found", "Not found",
	    "No such resource in the caller's tenant."),
	P(PROB_METHOD_NOT_ALLOWED, 405, "method_not_allowed",
	    "Method not allowed",
	    "The path exists but not with this HTTP method."),
	P(PROB_CONFLICT, 409, "conflict", "Conflict",
	    "The request conflicts with current state, e.g. a unique value."),
	P(PROB_PRECONDITION_FAILED, 412, "precondition_failed",
	    "Precondition failed",
	    "If-Match does not match the resource's current ETag."),
	P(PROB_PAYLOAD_TOO_LARGE, 413, "payload_too_large",
	    "Payload too large",
	    "The body is larger than the route accepts."),
	P(PROB_UNSUPPORTED_MEDIA_TYPE, 415, "unsupported_media_type",
	    "Unsupported media type",
	    "The Content-Type is not one the route accepts."),
	P(PROB_VALIDATION_FAILED, 422, "validation_failed",
	    "Validation failed",
	    "Well-formed but invalid: see errors[] for each field."),
	P(PROB_IDEMPOTENCY_KEY_REUSED, 422, "idempotency_key_reused",
	    "Idempotency key reused",
	    "The Idempotency-Key was used before with a different request."),
	P(PROB_PRECONDITION_REQUIRED, 428, "precondition_required",
	    "Precondition required",
	    "The route requires an If-Match header."),
	P(PROB_RATE_LIMITED, 429, "rate_limited", "Too many requests",
	    "Over a rate limit; retry after Retry-After seconds."),
	P(PROB_INTERNAL, 500, "internal_error", "Internal server error",
	    "An unexpected error; the request_id finds it in the logs."),
	P(PROB_UNAVAILABLE, 503, "unavailable", "Service unavailable",
	    "PostgreSQL or Redis is unreachable; retry after Retry-After."),
};

_Static_assert(sizeof(problem_defs) / sizeof(problem_defs[0]) ==
    PROB__COUNT, "problem_defs must have one row per enum problem_code");

/* An unknown code is a bug in the caller: answer it as internal_error. */
const struct problem_def *
problem_def(enum problem_code code)
{
	if ((unsigned int)code >= PROB__COUNT)
		code = PROB_INTERNAL;
	return (&problem_defs[code]);
}

const struct problem_def *
problem_table(size_t *n)
{
	if (n != NULL)
		*n = PROB__COUNT;
	return (problem_defs);
}

/*
 * jansson refuses strings that are not UTF-8, and details and field names
 * may quote raw query strings: repair them rather than lose them.
 */
static json_t *
problem_str(const char *s, size_t len)
{
	struct buf	b = { NULL, 0, 0 };
	json_t		*j;

	js_utf8_repair(&b, s, len);
	j = json_stringn(buf_cstr(&b), b.len);
	buf_free(&b);
	if (j == NULL)
		crm_fatal("problem_str: out of memory");
	return (j);
}

static void
problem_set(json_t *p, const char *key, json_t *v)
{
	if (v == NULL || json_object_set_new(p, key, v) == -1)
		crm_fatal("problem: cannot set \"%s\"", key);
}

/*
 * Builds the problem body for code; fmt (may be NULL) formats "detail",
 * cut at PROBLEM_DETAIL_MAX bytes so a caller quoting input cannot make
 * the reply or the log line large.
 */
json_t *
problem_new(enum problem_code code, const char *fmt, ...)
{
	const struct problem_def	*d = problem_def(code);
	struct buf			 b = { NULL, 0, 0 };
	json_t				*p;
	va_list				 args;

	if ((p = json_object()) == NULL)
		crm_fatal("problem_new: out of memory");
	buf_appends(&b, PROBLEM_TYPE_BASE);
	buf_appends(&b, d->name);
	problem_set(p, "type", json_string(b.data));
	problem_set(p, "title", json_string(d->title));
	problem_set(p, "status", json_integer(d->status));
	problem_set(p, "code", json_string(d->name));
	if (fmt != NULL) {
		buf_reset(&b);
		va_start(args, fmt);
		buf_appendv(&b, fmt, args);
		va_end(args);
		if (b.len > PROBLEM_DETAIL_MAX) {
			/* Cut before a character, not inside one. */
			b.len = PROBLEM_DETAIL_MAX;
			while (b.len > 0 && (b.data[b.len] & 0xc0) == 0x80)
				b.len--;
		}
		problem_set(p, "detail", problem_str(b.data, b.len));
	}
	buf_free(&b);
	return (p);
}

/* Appends {"field","code","detail"} to "errors"; NULL members are left out. */
void
problem_add_field(json_t *p, const char *field, const char *code,
    const char *detail)
{
	json_t		*errs, *e;

	if ((errs = json_object_get(p, "errors")) == NULL) {
		errs = json_array();
		problem_set(p, "errors", errs);
	}
	if ((e = json_object()) == NULL)
		crm_fatal("problem_add_field: out of memory");
	if (field != NULL)
		problem_set(e, "field", problem_str(field, strlen(field)));
	if (code != NULL)
		problem_set(e, "code", problem_str(code, strlen(code)));
	if (detail != NULL)
		problem_set(e, "detail", problem_str(detail, strlen(detail)));
	if (json_array_append_new(errs, e) == -1)
		crm_fatal("problem_add_field: \"errors\" is not an array");
}

void
problem_set_request_id(json_t *p, const char *id)
{
	problem_set(p, "request_id", problem_str(id, strlen(id)));
}

/* 500 for anything that is not a problem body: never a 0 status. */
int
problem_status(const json_t *p)
{
	json_t		*s = json_object_get(p, "status");

	if (!json_is_integer(s))
		return (500);
	return ((int)json_integer_value(s));
}
