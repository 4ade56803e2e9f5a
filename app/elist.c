/*
 * elist.c: list queries of the entity engine (API.md "List query
 * parameters"), without Kore.
 *
 *	GET /v1/{entity}?filter[amount][gte]=1000&sort=-amount,name
 *	    &q=acme&fields=id,name&limit=20&cursor=...
 *
 * elist_parse() turns the query string into a checked struct elist: every
 * name must be a descriptor field (or a system or custom field) with the
 * right flag, every operator one the field's type allows, every value one
 * the type accepts; the first failure is kept, with the parameter it was
 * found in, for a 400 that names it.  elist_sql() then writes one SELECT:
 * identifiers only from descriptors, values only as $n parameters.
 *
 * Pagination is keyset, never OFFSET: rows are ordered by the sort keys
 * and the id, and a cursor holds the last row's keys, so a page costs the
 * same wherever it is and rows inserted meanwhile cause neither duplicates
 * nor gaps.  NULL sorts as the largest value (PostgreSQL's default: last
 * ascending, first descending), which a btree scans in either direction.
 */

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "ent.h"

enum elist_op {
	OP_EQ, OP_NE, OP_LT, OP_LTE, OP_GT, OP_GTE, OP_IN, OP_CONTAINS,
	OP_STARTS, OP_NULL
};

#define B(op)		(1 << (op))
#define OPS_CMP		(B(OP_EQ) | B(OP_NE) | B(OP_LT) | B(OP_LTE) | \
			 B(OP_GT) | B(OP_GTE) | B(OP_IN) | B(OP_NULL))
#define OPS_TEXT	(OPS_CMP | B(OP_CONTAINS) | B(OP_STARTS))
#define OPS_SAME	(B(OP_EQ) | B(OP_NE) | B(OP_IN) | B(OP_NULL))

static const struct {
	const char	*name;
	const char	*sql;		/* %1$s column, %2$s parameter */
} elist_ops[] = {
	{ "eq",		  "%s = %s" },
	{ "ne",		  "%s IS DISTINCT FROM %s" },
	{ "lt",		  "%s < %s" },
	{ "lte",	  "%s <= %s" },
	{ "gt",		  "%s > %s" },
	{ "gte",	  "%s >= %s" },
	{ "in",		  "%s = ANY(%s)" },
	{ "contains",	  "%s ILIKE '%%' || %s || '%%'" },
	{ "starts_with",  "%s ILIKE %s || '%%'" },
	{ "is_null",	  NULL },
};

/* Per type: the operators it allows and the cast of its parameters. */
static const struct {
	int		 ops;
	const char	*cast;
} elist_types[ENT__TYPES] = {
	[ENT_TEXT] =		{ OPS_TEXT, "text" },
	[ENT_LONGTEXT] =	{ B(OP_CONTAINS) | B(OP_STARTS) | B(OP_NULL),
				  "text" },
	[ENT_INT] =		{ OPS_CMP, "bigint" },
	[ENT_NUMBER] =		{ OPS_CMP, "numeric" },
	[ENT_MONEY] =		{ OPS_CMP, "numeric" },
	[ENT_CURRENCY] =	{ OPS_SAME, "text" },
	[ENT_DATE] =		{ OPS_CMP, "date" },
	[ENT_DATETIME] =	{ OPS_CMP, "timestamptz" },
	[ENT_BOOL] =		{ B(OP_EQ) | B(OP_NE) | B(OP_NULL), "boolean" },
	[ENT_ENUM] =		{ OPS_SAME, "text" },
	[ENT_MULTI_ENUM] =	{ B(OP_CONTAINS) | B(OP_IN) | B(OP_NULL),
				  "text" },
	[ENT_EMAIL] =		{ OPS_TEXT, "text" },
	[ENT_PHONE] =		{ OPS_TEXT, "text" },
	[ENT_URL] =		{ OPS_TEXT, "text" },
	[ENT_REF] =		{ OPS_SAME, "uuid" },
	[ENT_OBJECT] =		{ B(OP_NULL), "jsonb" },
	[ENT_ARRAY] =		{ B(OP_NULL), "jsonb" },
};

/* System fields: every entity has them; all filter and sort. */
static const struct ent_field	elist_system[] = {
	{ "id", ENT_REF, ENT_F_FILTER | ENT_F_SORT, 0, NULL, NULL },
	{ "owner_id", ENT_REF, ENT_F_FILTER | ENT_F_SORT, 0, NULL, NULL },
	{ "created_at", ENT_DATETIME, ENT_F_FILTER | ENT_F_SORT, 0, NULL,
	    NULL },
	{ "updated_at", ENT_DATETIME, ENT_F_FILTER | ENT_F_SORT, 0, NULL,
	    NULL },
	{ "created_by", ENT_REF, ENT_F_FILTER, 0, NULL, NULL },
	{ "updated_by", ENT_REF, ENT_F_FILTER, 0, NULL, NULL },
	{ NULL, 0, 0, 0, NULL, NULL }
};

/* Members a sparse fieldset may name besides the descriptor's fields. */
static const char *const	elist_members[] = {
	"id", "custom", "owner_id", "created_at", "updated_at", "created_by",
	"updated_by", NULL
};

static int	elist_cursor_apply(struct elist *);

#define ELIST_MAXVALUE	1000		/* bytes of one filter value */
#define ELIST_MAXIN	100		/* values of one `in` */

static int
elist_fail(struct elist *l, enum problem_code code, const char *param,
    const char *fmt, const char *arg)
{
	if (l->err_code != -1)
		return (-1);
	l->err_code = code;
	(void)snprintf(l->err_param, sizeof(l->err_param), "%s", param);
	(void)snprintf(l->err_detail, sizeof(l->err_detail), fmt, arg);
	return (-1);
}

/* %XX and '+' decoded in place; -1 on a bad escape or a NUL byte. */
int
elist_decode(char *s)
{
	char	*w = s;
	int	 hi, lo;

	for (; *s != '\0'; s++) {
		if (*s == '+') {
			*w++ = ' ';
		} else if (*s == '%') {
			if ((hi = crm_hexval(s[1])) < 0 ||
			    (lo = crm_hexval(s[2])) < 0 || (hi | lo) == 0)
				return (-1);
			*w++ = (char)(hi << 4 | lo);
			s += 2;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
	return (0);
}

/* A name: a field of the descriptor, a system field or custom.<name>. */
static const struct ent_field *
elist_field(const struct ent_desc *d, const struct ent_field *custom,
    const char *name, int *is_custom)
{
	const struct ent_field	*f;

	*is_custom = 0;
	if (strncmp(name, "custom.", 7) == 0) {
		*is_custom = 1;
		for (f = custom; f != NULL && f->name != NULL; f++) {
			if (strcmp(f->name, name + 7) == 0)
				return (f);
		}
		return (NULL);
	}
	if ((f = ent_field(d, name)) != NULL)
		return (f);
	for (f = elist_system; f->name != NULL; f++) {
		if (strcmp(f->name, name) == 0)
			return (f);
	}
	return (NULL);
}

/*
 * The SQL expression of a field: its column, or for a custom field the
 * member of `custom` cast to its type (values were checked on write).
 */
static char *
elist_expr(const struct ent_field *f, int is_custom)
{
	struct buf	b;
	char		*s;

	if (!is_custom)
		return (xstrdup(f->name));
	buf_init(&b, 64);
	if (f->type == ENT_MULTI_ENUM)
		buf_appendf(&b, "(custom->'%s')", f->name);
	else
		buf_appendf(&b, "((custom->>'%s')::%s)", f->name,
		    elist_types[f->type].cast);
	s = xstrdup(buf_cstr(&b));
	buf_free(&b);
	return (s);
}

/* One value checked by the field's type; owned canonical text, or NULL. */
static char *
elist_value(const struct ent_field *f, const char *s)
{
	struct ent_field	 g = *f;
	json_t			*j;
	const char		*why;
	char			*out = NULL;
	long long		 n;
	int			 end = 0;

	if (strlen(s) > ELIST_MAXVALUE)
		return (NULL);
	switch (f->type) {
	case ENT_TEXT: case ENT_LONGTEXT: case ENT_EMAIL: case ENT_PHONE:
	case ENT_URL:
		return (xstrdup(s));
	case ENT_MULTI_ENUM:		/* one of its options */
		g.type = ENT_ENUM;
		j = json_string(s);
		break;
	case ENT_INT:
		if (sscanf(s, "%lld%n", &n, &end) != 1 || s[end] != '\0' ||
		    !isdigit((unsigned char)s[strlen(s) - 1]))
			return (NULL);
		j = json_integer(n);
		break;
	case ENT_BOOL:
		if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0)
			return (NULL);
		return (xstrdup(s));
	default:
		j = json_string(s);
		break;
	}
	g.flags &= ~(ENT_F_NONNEG | ENT_F_REQUIRED);
	if (j == NULL || ent_value(&g, j, &out, &why) == -1) {
		xfree(out);
		out = NULL;
	}
	json_decref(j);
	return (out);
}

/* A PostgreSQL array literal of checked values: {"a","b"}. */
static char *
elist_in(const struct ent_field *f, const char *list)
{
	struct buf	 b;
	char		*copy, *tok, *save, *v, *p;
	int		 n = 0, bad = 0;

	copy = xstrdup(list);
	buf_init(&b, 128);
	buf_appendc(&b, '{');
	for (tok = strtok_r(copy, ",", &save); tok != NULL && !bad;
	    tok = strtok_r(NULL, ",", &save)) {
		if (++n > ELIST_MAXIN || (v = elist_value(f, tok)) == NULL) {
			bad = 1;
			break;
		}
		buf_appends(&b, n > 1 ? ",\"" : "\"");
		for (p = v; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				buf_appendc(&b, '\\');
			buf_appendc(&b, *p);
		}
		buf_appendc(&b, '"');
		xfree(v);
	}
	buf_appendc(&b, '}');
	v = (bad || n == 0) ? NULL : xstrdup(buf_cstr(&b));
	buf_free(&b);
	xfree(copy);
	return (v);
}

/* contains / starts_with match literally: LIKE's own characters escaped. */
static char *
elist_like(const char *s)
{
	struct buf	 b;
	char		*out;

	buf_init(&b, strlen(s) + 8);
	for (; *s != '\0'; s++) {
		if (*s == '%' || *s == '_' || *s == '\\')
			buf_appendc(&b, '\\');
		buf_appendc(&b, *s);
	}
	out = xstrdup(buf_cstr(&b));
	buf_free(&b);
	return (out);
}

static int
elist_param(struct elist *l, char *v)
{
	if (l->nparams == ELIST_MAXPARAMS) {
		xfree(v);
		return (-1);
	}
	l->params[l->nparams++] = v;
	return (l->nparams + ELIST_FIXED);
}

static int
elist_op(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof(elist_ops) / sizeof(elist_ops[0]); i++) {
		if (strcmp(elist_ops[i].name, name) == 0)
			return ((int)i);
	}
	return (-1);
}

/*
 * A multi-select holds a set: a text[] column, or a JSON array in custom.
 * contains: the set has the value; in: it has any of the values.
 */
static int
elist_where_set(struct elist *l, const char *expr, int op, int n,
    int is_custom)
{
	if (is_custom)
		buf_appendf(&l->where, op == OP_IN ? " AND %s ?| $%d::text[]" :
		    " AND %s ? $%d::text", expr, n);
	else if (op == OP_IN)
		buf_appendf(&l->where, " AND %s && $%d::text[]", expr, n);
	else
		buf_appendf(&l->where, " AND $%d::text = ANY(%s)", n, expr);
	return (0);
}

/* The SQL of one filter, appended to l->where. */
static int
elist_where(struct elist *l, const struct ent_field *f, const char *expr,
    int is_custom, int op, const char *raw, const char *param)
{
	char		*v, *lit, arg[64];
	const char	*cast = elist_types[f->type].cast;
	int		 n;

	if (op == OP_NULL) {
		if (strcmp(raw, "true") != 0 && strcmp(raw, "false") != 0)
			return (elist_fail(l, PROB_INVALID_FILTER, param,
			    "is_null takes true or false, not %s", "that"));
		buf_appendf(&l->where, " AND %s IS %sNULL", expr,
		    raw[0] == 't' ? "" : "NOT ");
		return (0);
	}
	v = op == OP_IN ? elist_in(f, raw) : elist_value(f, raw);
	if (v == NULL)
		return (elist_fail(l, PROB_INVALID_FILTER, param,
		    "the value is not a valid %s", ent_type_name(f->type)));
	if ((op == OP_CONTAINS || op == OP_STARTS) &&
	    f->type != ENT_MULTI_ENUM) {
		lit = v;
		v = elist_like(lit);
		xfree(lit);
	}
	if ((n = elist_param(l, v)) == -1)
		return (elist_fail(l, PROB_INVALID_FILTER, param,
		    "%s", "too many filters"));
	if (f->type == ENT_MULTI_ENUM)
		return (elist_where_set(l, expr, op, n, is_custom));
	(void)snprintf(arg, sizeof(arg), op == OP_IN ? "$%d::%s[]" :
	    (op == OP_CONTAINS || op == OP_STARTS) ? "$%d::text" : "$%d::%s",
	    n, cast);
	buf_appends(&l->where, " AND ");
	buf_appendf(&l->where, elist_ops[op].sql, expr, arg);
	return (0);
}

static int
elist_filter(struct elist *l, const struct ent_desc *d,
    const struct ent_field *custom, char *key, const char *val)
{
	const struct ent_field	*f;
	char			*name, *opname, *end, *expr, p[128];
	int			 op, is_custom, rc;

	name = key + 7;				/* after "filter[" */
	if ((end = strchr(name, ']')) == NULL || end[1] != '[' ||
	    (opname = end + 2, strlen(opname) < 2) ||
	    opname[strlen(opname) - 1] != ']')
		return (elist_fail(l, PROB_INVALID_FILTER, key,
		    "%s", "write filter[field][operator]=value"));
	*end = '\0';
	opname[strlen(opname) - 1] = '\0';
	f = elist_field(d, custom, name, &is_custom);
	l->err_custom |= f == NULL && is_custom;
	if (f == NULL || (!(f->flags & ENT_F_FILTER) && !is_custom)) {
		(void)snprintf(p, sizeof(p), "filter[%s]", name);
		return (elist_fail(l, PROB_INVALID_FILTER, p,
		    "%s is not a field that can be filtered on", name));
	}
	(void)snprintf(p, sizeof(p), "filter[%s][%s]", name, opname);
	if ((op = elist_op(opname)) == -1 ||
	    !(elist_types[f->type].ops & B(op)))
		return (elist_fail(l, PROB_INVALID_FILTER, p,
		    "this operator does not apply to a %s field",
		    ent_type_name(f->type)));
	expr = elist_expr(f, is_custom);
	rc = elist_where(l, f, expr, is_custom, op, val, p);
	xfree(expr);
	return (rc);
}

/* sort=-amount,name: sortable fields, at most ELIST_MAXSORT, then id. */
static int
elist_sort(struct elist *l, const struct ent_desc *d,
    const struct ent_field *custom, const char *spec)
{
	const struct ent_field	*f;
	char			*copy, *tok, *save;
	int			 desc, is_custom;

	if (l->nsort > 0)
		return (elist_fail(l, PROB_INVALID_QUERY, "sort", "%s",
		    "give sort once, as a comma list"));
	copy = xstrdup(spec);
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		desc = tok[0] == '-';
		f = elist_field(d, custom, tok + desc, &is_custom);
		l->err_custom |= f == NULL && is_custom;
		if (f == NULL || (!(f->flags & ENT_F_SORT) && !is_custom) ||
		    f->type == ENT_MULTI_ENUM || l->nsort == ELIST_MAXSORT) {
			elist_fail(l, PROB_INVALID_FILTER, "sort",
			    "cannot sort by %s", tok + desc);
			break;
		}
		l->sort[l->nsort].expr = elist_expr(f, is_custom);
		l->sort[l->nsort].field = f;
		l->sort[l->nsort++].desc = desc;
	}
	xfree(copy);
	if (l->err_code == -1 && l->nsort == 0)
		return (elist_fail(l, PROB_INVALID_FILTER, "sort", "%s",
		    "name at least one field"));
	(void)snprintf(l->sortspec, sizeof(l->sortspec), "%s", spec);
	return (l->err_code == -1 ? 0 : -1);
}

/* fields=id,name: members of the record; id is always there. */
static int
elist_fields(struct elist *l, const struct ent_desc *d, const char *spec)
{
	char	*copy, *tok, *save;
	int	 i, known;

	copy = xstrdup(spec);
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		for (known = 0, i = 0; elist_members[i] != NULL; i++)
			known |= strcmp(elist_members[i], tok) == 0;
		if ((!known && ent_field(d, tok) == NULL) ||
		    l->nfields == ELIST_MAXMEMBERS) {
			elist_fail(l, PROB_INVALID_FILTER, "fields",
			    "%s is not a field of this record", tok);
			break;
		}
		l->fields[l->nfields++] = xstrdup(tok);
	}
	xfree(copy);
	return (l->err_code == -1 ? 0 : -1);
}

static int
elist_limit(struct elist *l, const char *v)
{
	if (strspn(v, "0123456789") != strlen(v) || strlen(v) > 3 ||
	    (l->limit = atoi(v)) < 1 || l->limit > ELIST_MAXLIMIT)
		return (elist_fail(l, PROB_INVALID_QUERY, "limit",
		    "%s", "limit is a number from 1 to 200"));
	return (0);
}

static int
elist_search(struct elist *l, const char *v)
{
	int	n;

	if (v[strspn(v, " \t")] == '\0' || strlen(v) > 200)
		return (elist_fail(l, PROB_INVALID_QUERY, "q", "%s",
		    "q is 1 to 200 characters of search words"));
	if ((n = elist_param(l, xstrdup(v))) == -1)
		return (elist_fail(l, PROB_INVALID_QUERY, "q", "%s",
		    "too many parameters"));
	buf_appendf(&l->where, " AND search @@ crm.search_query($%d::text)",
	    n);
	return (0);
}

/* One name=value pair of the query string. */
static int
elist_pair(struct elist *l, const struct ent_desc *d,
    const struct ent_field *custom, char *k, char *v)
{
	if (strncmp(k, "filter[", 7) == 0)
		return (elist_filter(l, d, custom, k, v));
	if (strcmp(k, "sort") == 0)
		return (elist_sort(l, d, custom, v));
	if (strcmp(k, "fields") == 0)
		return (elist_fields(l, d, v));
	if (strcmp(k, "limit") == 0)
		return (elist_limit(l, v));
	if (strcmp(k, "q") == 0 && !l->has_q++)
		return (elist_search(l, v));
	if (strcmp(k, "cursor") == 0 && l->cursor == NULL) {
		l->cursor = xstrdup(v);
		return (0);
	}
	return (elist_fail(l, PROB_INVALID_QUERY, k, "%s",
	    "unknown or repeated query parameter"));
}

/* The default order, newest first: ids are time-ordered (UUIDv7). */
static void
elist_sort_default(struct elist *l)
{
	static const char	*spec = "-id";

	(void)snprintf(l->sortspec, sizeof(l->sortspec), "%s", spec);
}

/* The id closes every order, in the direction of the last key. */
static void
elist_sort_id(struct elist *l)
{
	int	desc = l->nsort > 0 ? l->sort[l->nsort - 1].desc : 1;

	if (l->nsort > 0 && strcmp(l->sort[l->nsort - 1].expr, "id") == 0)
		return;
	l->sort[l->nsort].expr = xstrdup("id");
	l->sort[l->nsort].field = &elist_system[0];
	l->sort[l->nsort++].desc = desc;
}

int
elist_parse(struct elist *l, const struct ent_desc *d,
    const struct ent_field *custom, const char *qs)
{
	char	*copy, *tok, *save, *eq;

	memset(l, 0, sizeof(*l));
	l->err_code = -1;
	l->limit = ELIST_DEFLIMIT;
	buf_init(&l->where, 256);
	copy = xstrdup(qs != NULL ? qs : "");
	for (tok = strtok_r(copy, "&", &save); tok != NULL &&
	    l->err_code == -1; tok = strtok_r(NULL, "&", &save)) {
		if ((eq = strchr(tok, '=')) == NULL)
			eq = tok + strlen(tok);
		else
			*eq++ = '\0';
		if (elist_decode(tok) == -1 || elist_decode(eq) == -1)
			elist_fail(l, PROB_INVALID_QUERY, "query", "%s",
			    "a parameter is not valid URL encoding");
		else
			(void)elist_pair(l, d, custom, tok, eq);
	}
	xfree(copy);
	if (l->err_code == -1 && l->nsort == 0)
		elist_sort_default(l);
	if (l->err_code == -1)
		elist_sort_id(l);
	if (l->err_code == -1 && l->cursor != NULL)
		(void)elist_cursor_apply(l);
	return (l->err_code == -1 ? 0 : -1);
}

/*
 * The keyset predicate from the cursor's keys: a row comes after the
 * cursor if it ties on the first i keys and is beyond on key i, for some
 * i.  NULL is the largest value.
 */
static void
elist_after(struct elist *l, int i, const int *pn)
{
	const char	*e = l->sort[i].expr;
	const char	*cast = elist_types[l->sort[i].field->type].cast;

	if (pn[i] == 0)			/* the cursor's key is NULL */
		buf_appendf(&l->where, l->sort[i].desc ?
		    "%s IS NOT NULL" : "FALSE", e);
	else if (l->sort[i].desc)
		buf_appendf(&l->where, "%s < $%d::%s", e, pn[i], cast);
	else if (l->sort[i].field == &elist_system[0])	/* never NULL */
		buf_appendf(&l->where, "%s > $%d::%s", e, pn[i], cast);
	else
		buf_appendf(&l->where, "(%s > $%d::%s OR %s IS NULL)", e,
		    pn[i], cast, e);
}

static void
elist_keyset(struct elist *l, const int *pn)
{
	int	i, j;

	buf_appends(&l->where, " AND (");
	for (i = 0; i < l->nsort; i++) {
		buf_appends(&l->where, i > 0 ? " OR (" : "(");
		for (j = 0; j < i; j++) {
			if (pn[j] == 0)
				buf_appendf(&l->where, "%s IS NULL AND ",
				    l->sort[j].expr);
			else
				buf_appendf(&l->where, "%s = $%d::%s AND ",
				    l->sort[j].expr, pn[j],
				    elist_types[l->sort[j].field->type].cast);
		}
		elist_after(l, i, pn);
		buf_appendc(&l->where, ')');
	}
	buf_appendc(&l->where, ')');
}

/*
 * A cursor is base64url of ["<sort>", key..., id]: the keys of the last
 * row served.  It is checked like a filter value, so a forged one is a
 * 400, never an SQL error; one from another sort order is refused.
 */
static int
elist_cursor_apply(struct elist *l)
{
	char		 raw[ELIST_MAXCURSOR];
	struct js_err	 e;
	json_t		*j, *k;
	ssize_t		 n;
	int		 i, pn[ELIST_MAXSORT + 1];
	char		*v;

	n = b64url_decode(l->cursor, strlen(l->cursor), raw, sizeof(raw));
	if (n <= 0 || (j = js_parse(raw, (size_t)n, &e)) == NULL)
		return (elist_fail(l, PROB_INVALID_CURSOR, "cursor", "%s",
		    "the cursor is not one this list gave out"));
	if (!json_is_array(j) || (int)json_array_size(j) != l->nsort + 1 ||
	    !json_is_string(json_array_get(j, 0)) ||
	    strcmp(json_string_value(json_array_get(j, 0)), l->sortspec) != 0)
		goto bad;
	for (i = 0; i < l->nsort; i++) {
		k = json_array_get(j, i + 1);
		pn[i] = 0;
		if (json_is_null(k) && i < l->nsort - 1)
			continue;
		if (!json_is_string(k) || (v = elist_value(l->sort[i].field,
		    json_string_value(k))) == NULL ||
		    (pn[i] = elist_param(l, v)) == -1)
			goto bad;
	}
	json_decref(j);
	elist_keyset(l, pn);
	return (0);
bad:
	json_decref(j);
	return (elist_fail(l, PROB_INVALID_CURSOR, "cursor", "%s",
	    "the cursor is not one this list gave out (or its sort differs)"));
}

/* The cursor after a row, from its key columns (NULL: SQL NULL). */
char *
elist_cursor(const struct elist *l, const char *const *keys)
{
	json_t	*j;
	char	*s, *out;
	size_t	 len, cap;
	int	 i;

	j = json_array();
	json_array_append_new(j, json_string(l->sortspec));
	for (i = 0; i < l->nsort; i++)
		json_array_append_new(j, keys[i] != NULL ?
		    json_string(keys[i]) : json_null());
	s = js_dump(j, &len);
	json_decref(j);
	cap = len * 4 / 3 + 4;
	out = xmalloc(cap);
	(void)b64url_encode(s, len, out, cap);
	xfree(s);
	return (out);
}

/*
 * A sort key as text, exact enough to compare equal again.  Aliased: an
 * output column named like a table column would capture ORDER BY's name.
 */
static void
elist_key(struct buf *b, const struct elist_sort *k, int i)
{
	if (k->field->type == ENT_DATETIME)
		buf_appendf(b, ", to_char(%s AT TIME ZONE 'UTC', "
		    "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS _k%d", k->expr, i);
	else
		buf_appendf(b, ", (%s)::text AS _k%d", k->expr, i);
}

static void	elist_rest(const struct elist *, const struct ent_desc *,
		    struct buf *);

/*
 * SELECT record, key... FROM the table: $1 tenant, $2 user, $3 record
 * scope, then l->params.  One row more than the limit is asked for: its
 * presence is what says there is a next page.
 */
static int
elist_select(const struct elist *l, const struct ent_desc *d, int plain,
    struct buf *out)
{
	const char	*names[ELIST_MAXMEMBERS + 2];
	int		 i, n = 1;

	for (i = 0; i < l->nfields; i++)
		names[i] = l->fields[i];
	names[i] = NULL;
	buf_appends(out, "SELECT ");
	if (plain)
		n = ent_sql_cols(d, l->nfields > 0 ? names : NULL, out);
	else {
		ent_sql_json_sel(d, l->nfields > 0 ? names : NULL, out);
		buf_appends(out, " AS _j");
	}
	elist_rest(l, d, out);
	return (n);
}

/* The record as one JSON column (exports), then the sort keys. */
void
elist_sql(const struct elist *l, const struct ent_desc *d, struct buf *out)
{
	(void)elist_select(l, d, 0, out);
}

/*
 * The record as plain columns for ent_render() (the API's lists), then
 * the sort keys; returns how many record columns come first.
 */
int
elist_sql_cols(const struct elist *l, const struct ent_desc *d,
    struct buf *out)
{
	return (elist_select(l, d, 1, out));
}

static void
elist_rest(const struct elist *l, const struct ent_desc *d, struct buf *out)
{
	int	i;

	for (i = 0; i < l->nsort; i++)
		elist_key(out, &l->sort[i], i);
	buf_appendf(out, " FROM %s WHERE tenant_id = $1 AND deleted_at IS NULL "
	    "AND " ENT_SCOPE_SQL("$1", "owner_id", "$2", "$3"), d->table);
	buf_append(out, l->where.data, l->where.len);
	buf_appends(out, " ORDER BY ");
	for (i = 0; i < l->nsort; i++)
		buf_appendf(out, "%s%s %s", i > 0 ? ", " : "",
		    l->sort[i].expr, l->sort[i].desc ? "DESC" : "ASC");
	buf_appendf(out, " LIMIT %d", l->limit + 1);
}

void
elist_free(struct elist *l)
{
	int	i;

	for (i = 0; i < l->nparams; i++)
		xfree(l->params[i]);
	for (i = 0; i < l->nsort; i++)
		xfree(l->sort[i].expr);
	for (i = 0; i < l->nfields; i++)
		xfree(l->fields[i]);
	xfree(l->cursor);
	buf_free(&l->where);
	memset(l, 0, sizeof(*l));
}
