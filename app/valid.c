/*
 * valid.c: validating request bodies into one problem.
 *
 * A handler declares what it accepts, field by field; every failure is
 * collected, so the client learns all that is wrong at once.  Fields the
 * handler does not accept are a 400 naming them (SECURITY.md PROP-01: mass
 * assignment of tenant_id, role, status ... must fail loudly, not be
 * ignored); wrong values are a 422.  Nothing here echoes a value back.
 */

#include <string.h>

#include "crm.h"

void
val_init(struct val *v, json_t *body)
{
	memset(v, 0, sizeof(*v));
	v->body = body;
	if (body == NULL || !json_is_object(body))
		val_error(v, "", "invalid_type", "the body must be a JSON object");
}

static json_t *
val_problem_get(struct val *v, enum problem_code code)
{
	if (v->problem == NULL)
		v->problem = problem_new(code, NULL);
	return (v->problem);
}

void
val_error(struct val *v, const char *field, const char *code,
    const char *detail)
{
	problem_add_field(val_problem_get(v, PROB_VALIDATION_FAILED), field,
	    code, detail);
	v->nerr++;
}

/* Any member not in the NULL-terminated list is an error (400). */
void
val_only(struct val *v, const char *const *allowed)
{
	const char	*key;
	json_t		*val;
	size_t		 i;

	if (!json_is_object(v->body))
		return;
	json_object_foreach(v->body, key, val) {
		for (i = 0; allowed[i] != NULL; i++) {
			if (strcmp(allowed[i], key) == 0)
				break;
		}
		if (allowed[i] != NULL)
			continue;
		v->unknown++;
		val_error(v, key, "unknown_field",
		    "this field is unknown or cannot be set");
	}
}

/* The member, or NULL (and an error when required) if absent or null. */
static json_t *
val_get(struct val *v, const char *field, int required)
{
	json_t	*j;

	j = json_is_object(v->body) ? json_object_get(v->body, field) : NULL;
	if ((j == NULL || json_is_null(j)) && required)
		val_error(v, field, "required", "this field is required");
	return (json_is_null(j) ? NULL : j);
}

/* Length in code points of valid UTF-8 (js_parse checked it). */
static size_t
val_chars(const char *s)
{
	size_t	n = 0;

	for (; *s != '\0'; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return (n);
}

const char *
val_str(struct val *v, const char *field, int required, size_t min,
    size_t max)
{
	json_t		*j;
	const char	*s;
	size_t		 n;

	if ((j = val_get(v, field, required)) == NULL)
		return (NULL);
	if (!json_is_string(j)) {
		val_error(v, field, "invalid_type", "must be a string");
		return (NULL);
	}
	s = json_string_value(j);
	n = val_chars(s);
	if (n < min || n > max) {
		val_error(v, field, n < min ? "too_short" : "too_long",
		    min == 1 && n == 0 ? "must not be empty" :
		    "has the wrong length");
		return (NULL);
	}
	return (s);
}

/*
 * An e-mail address as people type them: one '@', a local part of 1..64
 * bytes, a domain with a dot, no spaces or control characters.  Delivery
 * proves the rest.
 */
int
val_email_ok(const char *s)
{
	const char	*at, *p;
	size_t		 len = strlen(s);

	if (len < 3 || len > 254 || (at = strchr(s, '@')) == NULL ||
	    strchr(at + 1, '@') != NULL || at == s || at - s > 64)
		return (0);
	for (p = s; *p != '\0'; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '"' ||
		    *p == '<' || *p == '>' || *p == ',' || *p == ';')
			return (0);
	}
	p = strrchr(at + 1, '.');
	return (p != NULL && p != at + 1 && p[1] != '\0' && at[1] != '.');
}

const char *
val_email(struct val *v, const char *field, int required)
{
	const char	*s;

	if ((s = val_str(v, field, required, 3, 254)) == NULL)
		return (NULL);
	if (!val_email_ok(s)) {
		val_error(v, field, "invalid_format", "not an e-mail address");
		return (NULL);
	}
	return (s);
}

/* One of a fixed set of words. */
const char *
val_enum(struct val *v, const char *field, int required,
    const char *const *words)
{
	const char	*s;
	size_t		 i;

	if ((s = val_str(v, field, required, 1, 64)) == NULL)
		return (NULL);
	for (i = 0; words[i] != NULL; i++) {
		if (strcmp(words[i], s) == 0)
			return (s);
	}
	val_error(v, field, "invalid_value", "not one of the allowed values");
	return (NULL);
}

int
val_uuid(struct val *v, const char *field, int required, char out[37])
{
	const char	*s;
	uint8_t		 raw[UUID_LEN];

	if ((s = val_str(v, field, required, 1, 64)) == NULL)
		return (0);
	if (uuid7_parse(s, raw) == -1) {
		val_error(v, field, "invalid_format", "not a UUID");
		return (0);
	}
	uuid7_fmt(raw, out);
	return (1);
}

/* An array of strings, each checked by ok() when given. */
json_t *
val_str_array(struct val *v, const char *field, int required, size_t maxn,
    int (*ok)(const char *))
{
	json_t	*j, *e;
	size_t	 i;

	if ((j = val_get(v, field, required)) == NULL)
		return (NULL);
	if (!json_is_array(j) || json_array_size(j) > maxn) {
		val_error(v, field, "invalid_type", json_is_array(j) ?
		    "too many entries" : "must be an array of strings");
		return (NULL);
	}
	json_array_foreach(j, i, e) {
		if (!json_is_string(e) || (ok != NULL &&
		    !ok(json_string_value(e)))) {
			val_error(v, field, "invalid_value",
			    "an entry is not allowed here");
			return (NULL);
		}
	}
	return (j);
}

int
val_failed(struct val *v)
{
	return (v->nerr > 0);
}

/*
 * The problem to send (caller owns it): 400 if any field was unknown or
 * the body was not an object, else 422.
 */
json_t *
val_problem(struct val *v)
{
	json_t	*p = v->problem, *errors;

	v->problem = NULL;
	if (p == NULL)
		return (NULL);
	errors = json_object_get(p, "errors");
	if (v->unknown > 0 || !json_is_object(v->body)) {
		json_incref(errors);
		json_decref(p);
		p = problem_new(PROB_BAD_REQUEST, "unknown or read-only fields");
		json_object_set_new(p, "errors", errors);
		return (p);
	}
	json_object_set_new(p, "detail", json_sprintf("%d %s invalid",
	    v->nerr, v->nerr == 1 ? "field is" : "fields are"));
	return (p);
}

void
val_free(struct val *v)
{
	if (v->problem != NULL)
		json_decref(v->problem);
	v->problem = NULL;
}
