/*
 * mailtpl.c: e-mail templates with merge fields.
 *
 * A merge field is "{{name}}" (blanks inside the braces allowed) where
 * name is one of mtpl_fields[]; a template naming anything else is
 * refused when it is saved (422 naming the field), so a typo never
 * reaches a recipient as literal braces.  Rendering takes the values from
 * a JSON object {"contact.first_name": "Ada", ...}; a value the e-mail
 * has no source for (a contact field in an invitation) renders empty.  In
 * the HTML part every value is HTML-escaped; the text part and the
 * subject take them as they are (mail.c refuses line breaks in headers).
 *
 * The built-in templates (invitation, password_reset) are used unless
 * the tenant saved one with the same key.
 */

#include <stdio.h>
#include <string.h>

#include "mail.h"

/* Every merge field; values come from sql/024_email.sql and jobmail.c. */
static const char *const	mtpl_fields[] = {
	"contact.first_name", "contact.last_name", "contact.name",
	"contact.email", "contact.title", "account.name",
	"user.name", "user.email", "tenant.name",
	"invitation.url", "invitation.role", "invitation.days",
	"reset.url", "reset.minutes",
	NULL
};

static const struct mtpl_builtin	mtpl_builtins[] = {
	{ "invitation",
	  "{{user.name}} invited you to {{tenant.name}}",
	  "Hello,\n\n"
	  "{{user.name}} invited you to work in {{tenant.name}} as "
	  "{{invitation.role}}.\n\n"
	  "Choose your password and join here (the link works once, for "
	  "{{invitation.days}} days):\n\n"
	  "{{invitation.url}}\n\n"
	  "If you did not expect this invitation, you can ignore this "
	  "e-mail.\n",
	  "<p>Hello,</p>\n"
	  "<p>{{user.name}} invited you to work in <b>{{tenant.name}}</b> "
	  "as {{invitation.role}}.</p>\n"
	  "<p><a href=\"{{invitation.url}}\">Choose your password and "
	  "join</a> (the link works once, for {{invitation.days}} "
	  "days).</p>\n"
	  "<p>If you did not expect this invitation, you can ignore this "
	  "e-mail.</p>\n" },
	{ "password_reset",
	  "Reset your {{tenant.name}} password",
	  "Hello {{user.name}},\n\n"
	  "A password reset was asked for your account in {{tenant.name}}. "
	  "Choose a new password here within {{reset.minutes}} minutes (the "
	  "link works once):\n\n"
	  "{{reset.url}}\n\n"
	  "If you did not ask for it, ignore this e-mail: your password "
	  "stays as it is.\n",
	  "<p>Hello {{user.name}},</p>\n"
	  "<p>A password reset was asked for your account in "
	  "<b>{{tenant.name}}</b>. <a href=\"{{reset.url}}\">Choose a new "
	  "password</a> within {{reset.minutes}} minutes (the link works "
	  "once).</p>\n"
	  "<p>If you did not ask for it, ignore this e-mail: your password "
	  "stays as it is.</p>\n" },
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

const struct mtpl_builtin *
mtpl_builtin(const char *key)
{
	size_t	i;

	for (i = 0; key != NULL && i < NELEM(mtpl_builtins); i++) {
		if (strcmp(mtpl_builtins[i].key, key) == 0)
			return (&mtpl_builtins[i]);
	}
	return (NULL);
}

const struct mtpl_builtin *
mtpl_builtin_at(size_t i)
{
	return (i < NELEM(mtpl_builtins) ? &mtpl_builtins[i] : NULL);
}

int
mtpl_field_known(const char *name, size_t len)
{
	size_t	i;

	for (i = 0; mtpl_fields[i] != NULL; i++) {
		if (strlen(mtpl_fields[i]) == len &&
		    memcmp(mtpl_fields[i], name, len) == 0)
			return (1);
	}
	return (0);
}

const char *
mtpl_field_at(size_t i)
{
	return (i < NELEM(mtpl_fields) ? mtpl_fields[i] : NULL);
}

/*
 * The next "{{...}}" at or after s: *name and *nlen the trimmed name,
 * *end just after the "}}".  NULL when there is none; *end NULL when a
 * "{{" is never closed.
 */
static const char *
mtpl_next(const char *s, const char **name, size_t *nlen, const char **end)
{
	const char	*open, *close, *a, *b;

	*end = NULL;
	if ((open = strstr(s, "{{")) == NULL)
		return (NULL);
	if ((close = strstr(open + 2, "}}")) == NULL)
		return (open);
	for (a = open + 2; a < close && (*a == ' ' || *a == '\t'); a++)
		;
	for (b = close; b > a && (b[-1] == ' ' || b[-1] == '\t'); b--)
		;
	*name = a;
	*nlen = (size_t)(b - a);
	*end = close + 2;
	return (open);
}

/* MTPL_OK, or MTPL_UNKNOWN / MTPL_SYNTAX with the culprit in bad. */
int
mtpl_check(const char *s, char *bad, size_t badlen)
{
	const char	*at, *name = NULL, *end;
	size_t		 nlen = 0;

	bad[0] = '\0';
	while (s != NULL && (at = mtpl_next(s, &name, &nlen, &end)) != NULL) {
		if (end == NULL || nlen == 0) {
			(void)snprintf(bad, badlen, "%.40s", at);
			return (MTPL_SYNTAX);
		}
		if (!mtpl_field_known(name, nlen)) {
			(void)snprintf(bad, badlen, "%.*s",
			    (int)(nlen > 60 ? 60 : nlen), name);
			return (MTPL_UNKNOWN);
		}
		s = end;
	}
	return (MTPL_OK);
}

static void
mtpl_escape(struct buf *out, const char *v)
{
	for (; *v != '\0'; v++) {
		switch (*v) {
		case '&':
			buf_appends(out, "&amp;");
			break;
		case '<':
			buf_appends(out, "&lt;");
			break;
		case '>':
			buf_appends(out, "&gt;");
			break;
		case '"':
			buf_appends(out, "&quot;");
			break;
		case '\'':
			buf_appends(out, "&#39;");
			break;
		default:
			buf_appendc(out, *v);
		}
	}
}

static void
mtpl_value(struct buf *out, json_t *vars, const char *name, size_t nlen,
    int html)
{
	char		 key[64], num[32];
	json_t		*v;
	const char	*s = "";

	(void)snprintf(key, sizeof(key), "%.*s", (int)nlen, name);
	v = json_object_get(vars, key);
	if (json_is_string(v)) {
		s = json_string_value(v);
	} else if (json_is_integer(v)) {
		(void)snprintf(num, sizeof(num), "%lld",
		    (long long)json_integer_value(v));
		s = num;
	}
	if (html)
		mtpl_escape(out, s);
	else
		buf_appends(out, s);
}

/*
 * Appends tpl with its fields replaced.  An unknown or broken field (a
 * template saved before a field was retired) is copied as it is.
 */
void
mtpl_render(struct buf *out, const char *tpl, json_t *vars, int html)
{
	const char	*s = tpl, *at, *name = NULL, *end;
	size_t		 nlen = 0;

	while ((at = mtpl_next(s, &name, &nlen, &end)) != NULL) {
		if (end == NULL)
			break;
		buf_append(out, s, (size_t)(at - s));
		if (nlen > 0 && mtpl_field_known(name, nlen))
			mtpl_value(out, vars, name, nlen, html);
		else
			buf_append(out, at, (size_t)(end - at));
		s = end;
	}
	buf_appends(out, s);
}
