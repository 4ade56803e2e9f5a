/*
 * entcf.c: custom fields, without Kore.  A tenant's definitions for one
 * entity (rows of crm.custom_fields, sql/011) become ent_field structs, so
 * values are checked by the very type table of built-in fields (ent.c)
 * and lists filter and sort on them like on columns (elist.c).
 *
 * Values are stored in the record's `custom` object as JSON: strings for
 * text-like types and for number and money (decimal strings, exact), true
 * or false for boolean, an array of strings for multi_enum.
 */

#include <stdio.h>
#include <string.h>

#include "ent.h"

/* API type names (API.md "custom-fields") to engine types. */
static const struct {
	const char	*name;
	enum ent_type	 type;
	int		 max;
	int		 flags;
} entcf_types[] = {
	{ "text",	ENT_TEXT,	 1000,	ENT_F_FILTER | ENT_F_SORT },
	{ "long_text",	ENT_LONGTEXT,	 20000,	ENT_F_FILTER },
	{ "number",	ENT_NUMBER,	 0,	ENT_F_FILTER | ENT_F_SORT },
	{ "money",	ENT_MONEY,	 0,	ENT_F_FILTER | ENT_F_SORT },
	{ "date",	ENT_DATE,	 0,	ENT_F_FILTER | ENT_F_SORT },
	{ "datetime",	ENT_DATETIME,	 0,	ENT_F_FILTER | ENT_F_SORT },
	{ "boolean",	ENT_BOOL,	 0,	ENT_F_FILTER | ENT_F_SORT },
	{ "enum",	ENT_ENUM,	 0,	ENT_F_FILTER | ENT_F_SORT },
	{ "multi_enum",	ENT_MULTI_ENUM,	 0,	ENT_F_FILTER },
	{ "email",	ENT_EMAIL,	 0,	ENT_F_FILTER | ENT_F_SORT },
	{ "phone",	ENT_PHONE,	 0,	ENT_F_FILTER | ENT_F_SORT },
	{ "url",	ENT_URL,	 0,	ENT_F_FILTER | ENT_F_SORT },
	{ "ref",	ENT_REF,	 0,	ENT_F_FILTER },
	{ NULL,		0,		 0,	0 }
};

int
entcf_type(const char *name, enum ent_type *out)
{
	int	i;

	for (i = 0; entcf_types[i].name != NULL; i++) {
		if (strcmp(entcf_types[i].name, name) == 0) {
			*out = entcf_types[i].type;
			return (i);
		}
	}
	return (-1);
}

/* One definition {name, type, required, options, ref_entity}. */
static int
entcf_def(struct ent_cdefs *cd, int i, json_t *j)
{
	struct ent_field	*f = &cd->fields[i];
	json_t			*o, *e;
	const char		*name, *type;
	char			**opts;
	size_t			 k;
	int			 t;

	name = json_string_value(json_object_get(j, "name"));
	type = json_string_value(json_object_get(j, "type"));
	if (name == NULL || type == NULL || strlen(name) > 40 ||
	    (t = entcf_type(type, &f->type)) == -1)
		return (-1);
	f->name = xstrdup(name);
	f->max = entcf_types[t].max;
	f->flags = entcf_types[t].flags;
	if (json_is_true(json_object_get(j, "required")))
		f->flags |= ENT_F_REQUIRED;
	if (f->type == ENT_REF)
		f->ref = xstrdup(json_string_value(json_object_get(j,
		    "ref_entity")) ? json_string_value(json_object_get(j,
		    "ref_entity")) : "");
	if ((o = json_object_get(j, "options")) == NULL || !json_is_array(o))
		return (0);
	opts = xcalloc(json_array_size(o) + 1, sizeof(*opts));
	json_array_foreach(o, k, e)
		opts[k] = xstrdup(json_is_string(e) ? json_string_value(e) : "");
	f->options = (const char *const *)opts;
	return (0);
}

/*
 * The definitions from the loader's JSON array; NULL if it is not one
 * (which would be a bug of ours: the service then refuses the write).
 */
struct ent_cdefs *
entcf_parse(const char *json, int64_t version)
{
	struct ent_cdefs	*cd;
	struct js_err		 e;
	json_t			*j, *d;
	size_t			 i;

	if ((j = js_parse(json, strlen(json), &e)) == NULL)
		return (NULL);
	if (!json_is_array(j) || json_array_size(j) > ENTCF_MAX) {
		json_decref(j);
		return (NULL);
	}
	cd = xcalloc(1, sizeof(*cd));
	cd->version = version;
	cd->fields = xcalloc(json_array_size(j) + 1, sizeof(*cd->fields));
	json_array_foreach(j, i, d) {
		if (!json_is_object(d) || entcf_def(cd, cd->n, d) == -1) {
			json_decref(j);
			entcf_free(cd);
			return (NULL);
		}
		cd->n++;
	}
	json_decref(j);
	return (cd);
}

void
entcf_free(struct ent_cdefs *cd)
{
	const char *const	*o;
	int			 i;

	if (cd == NULL)
		return;
	for (i = 0; i < cd->n; i++) {
		xfree((void *)(uintptr_t)cd->fields[i].name);
		xfree((void *)(uintptr_t)cd->fields[i].ref);
		for (o = cd->fields[i].options; o != NULL && *o != NULL; o++)
			xfree((void *)(uintptr_t)*o);
		xfree((void *)(uintptr_t)cd->fields[i].options);
	}
	xfree(cd->fields);
	xfree(cd);
}

const struct ent_field *
entcf_field(const struct ent_cdefs *cd, const char *name)
{
	int	i;

	for (i = 0; cd != NULL && i < cd->n; i++) {
		if (strcmp(cd->fields[i].name, name) == 0)
			return (&cd->fields[i]);
	}
	return (NULL);
}

/* A checked value as it is stored: see the top of this file. */
static json_t *
entcf_stored(const struct ent_field *f, json_t *given, const char *text)
{
	if (f->type == ENT_BOOL)
		return (json_boolean(strcmp(text, "true") == 0));
	if (f->type == ENT_MULTI_ENUM)
		return (json_deep_copy(given));
	return (json_string(text));
}

static void
entcf_error(struct val *v, const char *name, const char *code,
    const char *detail)
{
	char	field[64];

	(void)snprintf(field, sizeof(field), "custom.%s", name);
	val_error(v, field, code, detail);
}

/* Required fields a create leaves out (or sets to null). */
static void
entcf_required(const struct ent_cdefs *cd, json_t *given, struct val *v)
{
	json_t	*j;
	int	 i;

	for (i = 0; cd != NULL && i < cd->n; i++) {
		if (!(cd->fields[i].flags & ENT_F_REQUIRED))
			continue;
		j = given != NULL ? json_object_get(given, cd->fields[i].name) :
		    NULL;
		if (j == NULL || json_is_null(j))
			entcf_error(v, cd->fields[i].name, "required",
			    "this field is required");
	}
}

/*
 * The `custom` member of a body: each name a defined field, each value
 * of its type (null removes a value, unless the field is required).
 * Sets b->custom to the JSON to merge, and b->custom_unknown when a name
 * is not defined (the caller may reload definitions once: they may be
 * newer than its cache).
 */
void
entcf_bind(const struct ent_cdefs *cd, json_t *given, int create,
    struct val *v, struct ent_bind *b)
{
	const struct ent_field	*f;
	const char		*k, *why;
	json_t			*out, *j;
	char			*text;

	if (given != NULL && !json_is_object(given)) {
		val_error(v, "custom", "invalid_type",
		    "custom is an object of custom field values");
		return;
	}
	if (create)
		entcf_required(cd, given, v);
	if (given == NULL)
		return;
	out = json_object();
	json_object_foreach(given, k, j) {
		if ((f = entcf_field(cd, k)) == NULL) {
			v->unknown++;
			b->custom_unknown = 1;
			entcf_error(v, k, "unknown_field",
			    "no custom field of this name");
			continue;
		}
		if (json_is_null(j)) {
			if (!create && (f->flags & ENT_F_REQUIRED))
				entcf_error(v, k, "required",
				    "this field is required");
			json_object_set_new(out, k, json_null());
			continue;
		}
		if (ent_value(f, j, &text, &why) == -1) {
			entcf_error(v, k, why, ent_why_detail(why));
			continue;
		}
		json_object_set_new(out, k, entcf_stored(f, j, text));
		xfree(text);
	}
	b->custom = js_dump(out, NULL);
	b->custom_given = 1;
	json_decref(out);
}
