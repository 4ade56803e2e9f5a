/*
 * ent.c: the entity engine's descriptors, field types, body binding and
 * SQL (see ent.h).  Behaviour per type lives in one table: how a JSON
 * value becomes a parameter, and how the column becomes JSON again.
 *
 * Identifiers in the SQL come only from descriptors (static, reviewed
 * code); values only ever travel as $n parameters.
 */

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "ent.h"

/* PostgreSQL functions take at most 100 arguments: 50 name/value pairs. */
#define ENT_JSON_PAIRS	45

#define ENT_TS(c)	"to_char(" c " AT TIME ZONE 'UTC', " \
			"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

typedef int	(*ent_bind_fn)(const struct ent_field *, json_t *, char **,
		    const char **);

static int	ent_b_text(const struct ent_field *, json_t *, char **,
		    const char **);
static int	ent_b_int(const struct ent_field *, json_t *, char **,
		    const char **);
static int	ent_b_number(const struct ent_field *, json_t *, char **,
		    const char **);
static int	ent_b_money(const struct ent_field *, json_t *, char **,
		    const char **);
static int	ent_b_pattern(const struct ent_field *, json_t *, char **,
		    const char **);
static int	ent_b_bool(const struct ent_field *, json_t *, char **,
		    const char **);
static int	ent_b_enum(const struct ent_field *, json_t *, char **,
		    const char **);
static int	ent_b_multi(const struct ent_field *, json_t *, char **,
		    const char **);
static int	ent_b_ref(const struct ent_field *, json_t *, char **,
		    const char **);
static int	ent_b_object(const struct ent_field *, json_t *, char **,
		    const char **);
static int	ent_b_array(const struct ent_field *, json_t *, char **,
		    const char **);

/*
 * How ent_render() writes a column's text (PostgreSQL's output form, with
 * DateStyle ISO, which app/db.c sets on every connection).
 */
enum ent_out {
	ENT_OUT_STR,		/* a JSON string */
	ENT_OUT_RAW,		/* already JSON: bigint, jsonb, to_json() */
	ENT_OUT_NUM,		/* numeric: a number; NaN, Infinity a string */
	ENT_OUT_BOOL,		/* t / f */
	ENT_OUT_TS		/* timestamp in UTC -> RFC 3339, ms, Z */
};

/* One row per type, in enum order (checked by ent_test). */
static const struct {
	enum ent_type	 type;
	const char	*name;
	ent_bind_fn	 bind;
	int		 max;		/* default length limit */
	const char	*json;		/* column -> JSON; %s is the column */
	const char	*sqltype;	/* information_schema data_type */
	const char	*col;		/* column -> text for ent_render */
	enum ent_out	 out;		/* how ent_render writes that text */
} ent_types[] = {
	{ ENT_TEXT,	  "text",	ent_b_text,	200,	"%s", "text",
	    "%s", ENT_OUT_STR },
	{ ENT_LONGTEXT,	  "long_text",	ent_b_text,	20000,	"%s", "text",
	    "%s", ENT_OUT_STR },
	{ ENT_INT,	  "integer",	ent_b_int,	0,	"%s", "bigint",
	    "%s", ENT_OUT_RAW },
	{ ENT_NUMBER,	  "number",	ent_b_number,	0,	"%s", "numeric",
	    "%s", ENT_OUT_NUM },
	{ ENT_MONEY,	  "money",	ent_b_money,	0,	"%s::text",
	    "numeric", "%s", ENT_OUT_STR },
	{ ENT_CURRENCY,	  "currency",	ent_b_pattern,	3,	"%s", "text",
	    "%s", ENT_OUT_STR },
	{ ENT_DATE,	  "date",	ent_b_pattern,	10,	"%s", "date",
	    "%s", ENT_OUT_STR },
	{ ENT_DATETIME,	  "datetime",	ent_b_pattern,	40,
	    ENT_TS("%s"), "timestamp with time zone",
	    "(%s AT TIME ZONE 'UTC')", ENT_OUT_TS },
	{ ENT_BOOL,	  "boolean",	ent_b_bool,	0,	"%s", "boolean",
	    "%s", ENT_OUT_BOOL },
	{ ENT_ENUM,	  "enum",	ent_b_enum,	64,	"%s", "text",
	    "%s", ENT_OUT_STR },
	{ ENT_MULTI_ENUM, "multi_enum",	ent_b_multi,	64,	"%s", "ARRAY",
	    "to_json(%s)", ENT_OUT_RAW },
	{ ENT_EMAIL,	  "email",	ent_b_pattern,	254,	"%s", "text",
	    "%s", ENT_OUT_STR },
	{ ENT_PHONE,	  "phone",	ent_b_pattern,	40,	"%s", "text",
	    "%s", ENT_OUT_STR },
	{ ENT_URL,	  "url",	ent_b_pattern,	2000,	"%s", "text",
	    "%s", ENT_OUT_STR },
	{ ENT_REF,	  "ref",	ent_b_ref,	0,	"%s", "uuid",
	    "%s", ENT_OUT_STR },
	{ ENT_OBJECT,	  "object",	ent_b_object,	4096,	"%s", "jsonb",
	    "%s", ENT_OUT_RAW },
	{ ENT_ARRAY,	  "array",	ent_b_array,	65536,	"%s", "jsonb",
	    "%s", ENT_OUT_RAW },
};

/* The system columns every entity table has (ent.h), with their types. */
static const struct {
	const char	*name;
	const char	*sqltype;
} ent_system[] = {
	{ "tenant_id", "uuid" }, { "id", "uuid" }, { "custom", "jsonb" },
	{ "owner_id", "uuid" }, { "created_at", "timestamp with time zone" },
	{ "updated_at", "timestamp with time zone" },
	{ "created_by", "uuid" }, { "updated_by", "uuid" },
	{ "version", "bigint" }, { "deleted_at", "timestamp with time zone" },
};

const char *
ent_type_name(enum ent_type t)
{
	return ((int)t >= 0 && t < ENT__TYPES ? ent_types[t].name : "?");
}

int
ent_type_check_table(void)
{
	int	i;

	for (i = 0; i < ENT__TYPES; i++) {
		if ((int)ent_types[i].type != i)
			return (-1);
	}
	return ((int)(sizeof(ent_types) / sizeof(ent_types[0])) == ENT__TYPES ?
	    0 : -1);
}

const struct ent_field *
ent_field(const struct ent_desc *d, const char *name)
{
	const struct ent_field	*f;

	for (f = d->fields; f->name != NULL; f++) {
		if (strcmp(f->name, name) == 0)
			return (f);
	}
	return (NULL);
}

size_t
ent_nfields(const struct ent_desc *d)
{
	size_t	n = 0;

	while (d->fields[n].name != NULL)
		n++;
	return (n);
}

static int
ent_max(const struct ent_field *f)
{
	return (f->max > 0 ? f->max : ent_types[f->type].max);
}

/* Code points of valid UTF-8 (js_parse checked it). */
static size_t
ent_chars(const char *s)
{
	size_t	n = 0;

	for (; *s != '\0'; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return (n);
}

/* Binders: 0 with *out set (owned), or -1 with an error code and detail. */

static int
ent_b_text(const struct ent_field *f, json_t *j, char **out,
    const char **why)
{
	const char	*s, *p;

	if (!json_is_string(j))
		return (*why = "invalid_type", -1);
	s = json_string_value(j);
	if ((int)ent_chars(s) > ent_max(f))
		return (*why = "too_long", -1);
	if ((f->flags & ENT_F_REQUIRED) && s[strspn(s, " \t\r\n")] == '\0')
		return (*why = "blank", -1);
	for (p = s; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 && (f->type == ENT_TEXT ||
		    (*p != '\n' && *p != '\t' && *p != '\r')))
			return (*why = "invalid_format", -1);
	}
	*out = xstrdup(s);
	return (0);
}

static int
ent_b_int(const struct ent_field *f, json_t *j, char **out,
    const char **why)
{
	char	buf[32];

	if (!json_is_integer(j))
		return (*why = "invalid_type", -1);
	if ((f->flags & ENT_F_NONNEG) && json_integer_value(j) < 0)
		return (*why = "out_of_range", -1);
	(void)snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
	    json_integer_value(j));
	*out = xstrdup(buf);
	return (0);
}

/*
 * A decimal as text: optional '-', 1..digits integer digits, optional
 * '.' and 1..frac fraction digits.  Exact, unlike a double.
 */
static int
ent_decimal_ok(const char *s, int digits, int frac)
{
	int	n;

	if (*s == '-')
		s++;
	for (n = 0; isdigit((unsigned char)*s); s++)
		n++;
	if (n < 1 || n > digits)
		return (0);
	if (*s == '\0')
		return (1);
	if (*s++ != '.')
		return (0);
	for (n = 0; isdigit((unsigned char)*s); s++)
		n++;
	return (n >= 1 && n <= frac && *s == '\0');
}

static int
ent_b_number(const struct ent_field *f, json_t *j, char **out,
    const char **why)
{
	char	buf[64];

	if (json_is_integer(j))
		return (ent_b_int(f, j, out, why));
	if (json_is_real(j)) {
		(void)snprintf(buf, sizeof(buf), "%.15g", json_real_value(j));
		*out = xstrdup(buf);
		return (0);
	}
	if (!json_is_string(j) || !ent_decimal_ok(json_string_value(j), 15, 6))
		return (*why = "invalid_type", -1);
	*out = xstrdup(json_string_value(j));
	return (0);
}

/*
 * Money never travels as a float: a decimal string with at most 2
 * decimals, the columns' scale, so nothing is ever rounded silently.
 */
static int
ent_b_money(const struct ent_field *f, json_t *j, char **out,
    const char **why)
{
	if (!json_is_string(j))
		return (*why = "invalid_type", -1);
	if (!ent_decimal_ok(json_string_value(j), 13, 2))
		return (*why = "invalid_format", -1);
	if ((f->flags & ENT_F_NONNEG) && json_string_value(j)[0] == '-')
		return (*why = "out_of_range", -1);
	*out = xstrdup(json_string_value(j));
	return (0);
}

static int
ent_date_ok(const char *s)
{
	static const int	 mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31,
				    30, 31, 30, 31 };
	int			 y, m, d, n;

	if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 ||
	    n != 10 || s[4] != '-' || s[7] != '-' || !isdigit((unsigned char)s[0]))
		return (0);
	if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return (0);
	return (m != 2 || d < 29 || (y % 4 == 0 && (y % 100 != 0 ||
	    y % 400 == 0)));
}

/* RFC 3339: a date, 'T', hh:mm:ss, optional fraction, 'Z' or +hh:mm. */
static int
ent_datetime_ok(const char *s)
{
	char	date[11];
	int	i;

	if (strlen(s) < 20)
		return (0);
	memcpy(date, s, 10);
	date[10] = '\0';
	if (!ent_date_ok(date) || (s[10] != 'T' && s[10] != 't'))
		return (0);
	for (i = 11; i < 19; i++) {
		if ((i == 13 || i == 16) ? s[i] != ':' :
		    !isdigit((unsigned char)s[i]))
			return (0);
	}
	s += 19;
	if (*s == '.')
		for (s++; isdigit((unsigned char)*s); s++)
			;
	if (*s == 'Z' || *s == 'z')
		return (s[1] == '\0');
	return ((*s == '+' || *s == '-') && isdigit((unsigned char)s[1]) &&
	    isdigit((unsigned char)s[2]) && s[3] == ':' &&
	    isdigit((unsigned char)s[4]) && isdigit((unsigned char)s[5]) &&
	    s[6] == '\0');
}

static int
ent_phone_ok(const char *s)
{
	int	digits = 0;

	for (; *s != '\0'; s++) {
		if (isdigit((unsigned char)*s))
			digits++;
		else if (strchr(" +-().x/", *s) == NULL)
			return (0);
	}
	return (digits >= 3);
}

static int
ent_url_ok(const char *s)
{
	const char	*p;

	if (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0)
		return (0);
	for (p = s; *p != '\0'; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return (0);
	}
	return (strlen(strchr(s, ':') + 3) > 0);
}

/*
 * ISO 4217: the codes in use (2026), and those withdrawn since 2020 (HRK,
 * SLL, ZWL, ANG), which old records and imports still carry.  Sorted, for
 * bsearch(); ent_test.c checks the order.  The database's CHECK keeps the
 * shape only ([A-Z]{3}): the list is the API's to keep current.
 */
static const char	ent_iso4217[][4] = {
	"AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN",
	"BAM", "BBD", "BDT", "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV",
	"BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHE", "CHF",
	"CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP", "CVE",
	"CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD",
	"FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD",
	"HNL", "HRK", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK",
	"JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD",
	"KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL",
	"MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN",
	"MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR",
	"PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD",
	"RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE",
	"SLL", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS",
	"TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD",
	"USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST",
	"XAF", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XCG", "XDR",
	"XOF", "XPD", "XPF", "XPT", "XSU", "XTS", "XUA", "XXX", "YER", "ZAR",
	"ZMW", "ZWG", "ZWL"
};

static int
ent_code_cmp(const void *a, const void *b)
{
	return (strcmp(a, b));
}

int
ent_currency_ok(const char *s)
{
	if (strlen(s) != 3)
		return (0);
	return (bsearch(s, ent_iso4217, sizeof(ent_iso4217) /
	    sizeof(ent_iso4217[0]), sizeof(ent_iso4217[0]),
	    ent_code_cmp) != NULL);
}

/* For ent_test.c: the table is sorted (bsearch needs it). */
int
ent_currency_table_sorted(void)
{
	size_t	i;

	for (i = 1; i < sizeof(ent_iso4217) / sizeof(ent_iso4217[0]); i++) {
		if (strcmp(ent_iso4217[i - 1], ent_iso4217[i]) >= 0)
			return (0);
	}
	return (1);
}

/* Strings with a fixed shape: one checker per type. */
static int
ent_b_pattern(const struct ent_field *f, json_t *j, char **out,
    const char **why)
{
	const char	*s;
	int		 ok;

	if (!json_is_string(j))
		return (*why = "invalid_type", -1);
	s = json_string_value(j);
	if ((int)strlen(s) > ent_max(f))
		return (*why = "too_long", -1);
	switch (f->type) {
	case ENT_CURRENCY:
		ok = ent_currency_ok(s);
		break;
	case ENT_DATE:
		ok = ent_date_ok(s);
		break;
	case ENT_DATETIME:
		ok = ent_datetime_ok(s);
		break;
	case ENT_EMAIL:
		ok = val_email_ok(s);
		break;
	case ENT_PHONE:
		ok = ent_phone_ok(s);
		break;
	default:
		ok = ent_url_ok(s);
		break;
	}
	if (!ok)
		return (*why = "invalid_format", -1);
	*out = xstrdup(s);
	return (0);
}

static int
ent_b_bool(const struct ent_field *f, json_t *j, char **out,
    const char **why)
{
	if (!json_is_boolean(j))
		return (*why = "invalid_type", -1);
	*out = xstrdup(json_is_true(j) ? "true" : "false");
	return (0);
}

static int
ent_option(const struct ent_field *f, const char *s)
{
	size_t	i;

	for (i = 0; f->options != NULL && f->options[i] != NULL; i++) {
		if (strcmp(f->options[i], s) == 0)
			return (1);
	}
	return (0);
}

static int
ent_b_enum(const struct ent_field *f, json_t *j, char **out,
    const char **why)
{
	if (!json_is_string(j))
		return (*why = "invalid_type", -1);
	if (!ent_option(f, json_string_value(j)))
		return (*why = "invalid_value", -1);
	*out = xstrdup(json_string_value(j));
	return (0);
}

/*
 * A PostgreSQL array literal of options.  Options are identifiers from the
 * descriptor, so quoting them is enough; duplicates are refused.
 */
static int
ent_b_multi(const struct ent_field *f, json_t *j, char **out,
    const char **why)
{
	struct buf	 b;
	json_t		*e, *e2;
	size_t		 i, k;

	if (!json_is_array(j))
		return (*why = "invalid_type", -1);
	json_array_foreach(j, i, e) {
		if (!json_is_string(e) || !ent_option(f, json_string_value(e)))
			return (*why = "invalid_value", -1);
		for (k = 0; k < i; k++) {
			e2 = json_array_get(j, k);
			if (json_equal(e, e2))
				return (*why = "duplicate_value", -1);
		}
	}
	buf_init(&b, 64);
	buf_appendc(&b, '{');
	json_array_foreach(j, i, e)
		buf_appendf(&b, "%s\"%s\"", i ? "," : "", json_string_value(e));
	buf_appendc(&b, '}');
	*out = xstrdup(buf_cstr(&b));
	buf_free(&b);
	return (0);
}

/* A reference: a UUID; the composite foreign key checks the tenant. */
static int
ent_b_ref(const struct ent_field *f, json_t *j, char **out,
    const char **why)
{
	uint8_t		raw[UUID_LEN];
	char		s[UUID_STRLEN + 1];

	if (!json_is_string(j))
		return (*why = "invalid_type", -1);
	if (uuid7_parse(json_string_value(j), raw) == -1)
		return (*why = "invalid_format", -1);
	uuid7_fmt(raw, s);
	*out = xstrdup(s);
	return (0);
}

/* A small object of string members (an address). */
static int
ent_b_object(const struct ent_field *f, json_t *j, char **out,
    const char **why)
{
	const char	*k;
	json_t		*v;
	char		*s;

	if (!json_is_object(j))
		return (*why = "invalid_type", -1);
	json_object_foreach(j, k, v) {
		if (!json_is_string(v) && !json_is_null(v))
			return (*why = "invalid_type", -1);
	}
	s = js_dump(j, NULL);
	if ((int)strlen(s) > ent_max(f)) {
		xfree(s);
		return (*why = "too_long", -1);
	}
	*out = s;
	return (0);
}

/* An array; what its elements must be is the table's business (ent.h). */
static int
ent_b_array(const struct ent_field *f, json_t *j, char **out,
    const char **why)
{
	char	*s;

	if (!json_is_array(j))
		return (*why = "invalid_type", -1);
	s = js_dump(j, NULL);
	if ((int)strlen(s) > ent_max(f)) {
		xfree(s);
		return (*why = "too_long", -1);
	}
	*out = s;
	return (0);
}

/* One field's value as a parameter: NULL for JSON null. */
int
ent_value(const struct ent_field *f, json_t *j, char **out, const char **why)
{
	*out = NULL;
	if (json_is_null(j))
		return (0);
	return (ent_types[f->type].bind(f, j, out, why));
}

const char *
ent_why_detail(const char *why)
{
	if (strcmp(why, "invalid_type") == 0)
		return ("has the wrong type");
	if (strcmp(why, "too_long") == 0)
		return ("is too long");
	if (strcmp(why, "invalid_value") == 0)
		return ("is not one of the allowed values");
	if (strcmp(why, "duplicate_value") == 0)
		return ("lists a value twice");
	if (strcmp(why, "blank") == 0)
		return ("must not be blank");
	if (strcmp(why, "out_of_range") == 0)
		return ("must not be negative");
	return ("has the wrong format");
}

static void
ent_bind_field(const struct ent_field *f, int i, json_t *j, struct val *v,
    struct ent_bind *b)
{
	const char	*why;

	if (f->flags & ENT_F_READONLY) {
		v->unknown++;
		val_error(v, f->name, "read_only", "this field cannot be set");
		return;
	}
	if (json_is_null(j) && (f->flags & ENT_F_REQUIRED)) {
		val_error(v, f->name, "required", "this field is required");
		return;
	}
	if (ent_value(f, j, &b->text[i], &why) == -1) {
		val_error(v, f->name, why, ent_why_detail(why));
		return;
	}
	b->given[i] = 1;
}

/* Fields the body names that the descriptor does not know: 400. */
static void
ent_bind_unknown(const struct ent_desc *d, json_t *body, struct val *v)
{
	const char	*key;
	json_t		*j;

	json_object_foreach(body, key, j) {
		if (ent_field(d, key) == NULL && strcmp(key, "custom") != 0) {
			v->unknown++;
			val_error(v, key, "unknown_field",
			    "this field is unknown or cannot be set");
		}
	}
}

static int
ent_bind(const struct ent_desc *d, const struct ent_cdefs *cd, json_t *body,
    struct val *v, struct ent_bind *b, int create)
{
	const struct ent_field	*f;
	json_t			*j;
	int			 i;

	memset(b, 0, sizeof(*b));
	b->nfields = (int)ent_nfields(d);
	if (b->nfields > ENT_MAXFIELDS)
		crm_fatal("entity %s has too many fields", d->name);
	if (!json_is_object(body))
		return (-1);
	ent_bind_unknown(d, body, v);
	for (i = 0, f = d->fields; f->name != NULL; f++, i++) {
		if ((j = json_object_get(body, f->name)) != NULL)
			ent_bind_field(f, i, j, v, b);
		else if (create && (f->flags & ENT_F_REQUIRED))
			val_error(v, f->name, "required",
			    "this field is required");
	}
	entcf_bind(cd, json_object_get(body, "custom"), create, v, b);
	return (val_failed(v) ? -1 : 0);
}

int
ent_bind_create(const struct ent_desc *d, const struct ent_cdefs *cd,
    json_t *body, struct val *v, struct ent_bind *b)
{
	return (ent_bind(d, cd, body, v, b, 1));
}

int
ent_bind_update(const struct ent_desc *d, const struct ent_cdefs *cd,
    json_t *body, struct val *v, struct ent_bind *b)
{
	return (ent_bind(d, cd, body, v, b, 0));
}

void
ent_bind_free(struct ent_bind *b)
{
	int	i;

	for (i = 0; i < b->nfields; i++)
		xfree(b->text[i]);
	xfree(b->custom);
	memset(b, 0, sizeof(*b));
}

/* SQL. */

static void
ent_json_pair(struct buf *out, int *pairs, const char *name,
    const char *expr)
{
	if (*pairs > 0 && *pairs % ENT_JSON_PAIRS == 0)
		buf_appends(out, ")::jsonb || jsonb_build_object(");
	else if (*pairs > 0)
		buf_appends(out, ", ");
	buf_appendf(out, "'%s', ", name);
	buf_appends(out, expr);
	(*pairs)++;
}

/* Is this member wanted?  NULL: every member (the whole record). */
static int
ent_wanted(const char *const *names, const char *name)
{
	if (names == NULL)
		return (1);
	for (; *names != NULL; names++) {
		if (strcmp(*names, name) == 0)
			return (1);
	}
	return (0);
}

static void
ent_json_member(struct buf *out, int *pairs, const char *const *names,
    const char *name, const char *expr)
{
	if (ent_wanted(names, name))
		ent_json_pair(out, pairs, name, expr);
}

/*
 * The record as JSON, built by PostgreSQL: id, the fields, custom, then
 * the system columns; with names, only those members (sparse fieldsets:
 * id always).  Beyond ENT_JSON_PAIRS pairs the object is built in chunks
 * joined with jsonb ||, because functions take 100 arguments.
 */
void
ent_sql_json_sel(const struct ent_desc *d, const char *const *names,
    struct buf *out)
{
	const struct ent_field	*f;
	char			 expr[160];
	int			 pairs = 0;

	buf_appends(out, "(jsonb_build_object(");
	ent_json_pair(out, &pairs, "id", "id");
	for (f = d->fields; f->name != NULL; f++) {
		(void)snprintf(expr, sizeof(expr), ent_types[f->type].json,
		    f->name);
		ent_json_member(out, &pairs, names, f->name, expr);
	}
	ent_json_member(out, &pairs, names, "custom", "custom");
	ent_json_member(out, &pairs, names, "owner_id", "owner_id");
	ent_json_member(out, &pairs, names, "created_at",
	    ENT_TS("created_at"));
	ent_json_member(out, &pairs, names, "updated_at",
	    ENT_TS("updated_at"));
	ent_json_member(out, &pairs, names, "created_by", "created_by");
	ent_json_member(out, &pairs, names, "updated_by", "updated_by");
	buf_appends(out, "))::text");
}

void
ent_sql_json(const struct ent_desc *d, struct buf *out)
{
	ent_sql_json_sel(d, NULL, out);
}

/*
 * Reads render the record in C instead (ent_sql_cols, ent_render): the
 * SELECT returns plain columns and the JSON is written here.  Measured on
 * a 20-row deals list, PostgreSQL's CPU per statement fell from ~660 us
 * (jsonb_build_object) to ~230 us; building JSON and formatting dates
 * in the database was most of a list's cost.  Both walk ent_members(), so
 * the columns a SELECT returns and the members written cannot drift.
 */
typedef void	(*ent_member_fn)(void *, const char *, enum ent_type);

static const struct {
	const char	*name;
	enum ent_type	 type;
} ent_tail[] = {
	{ "custom", ENT_OBJECT }, { "owner_id", ENT_REF },
	{ "created_at", ENT_DATETIME }, { "updated_at", ENT_DATETIME },
	{ "created_by", ENT_REF }, { "updated_by", ENT_REF },
};

static void
ent_members(const struct ent_desc *d, const char *const *names,
    ent_member_fn fn, void *arg)
{
	const struct ent_field	*f;
	size_t			 i;

	fn(arg, "id", ENT_REF);
	for (f = d->fields; f->name != NULL; f++) {
		if (ent_wanted(names, f->name))
			fn(arg, f->name, f->type);
	}
	for (i = 0; i < sizeof(ent_tail) / sizeof(ent_tail[0]); i++) {
		if (ent_wanted(names, ent_tail[i].name))
			fn(arg, ent_tail[i].name, ent_tail[i].type);
	}
}

struct ent_colw {
	struct buf	*out;
	int		 n;
};

static void
ent_col_sql(void *arg, const char *name, enum ent_type t)
{
	struct ent_colw	*w = arg;

	if (w->n > 0)
		buf_appends(w->out, ", ");
	buf_appendf(w->out, ent_types[t].col, name);
	/* Aliased, or an output column could capture ORDER BY's name. */
	buf_appendf(w->out, " AS _c%d", w->n++);
}

/* The record's members as plain columns; returns how many. */
int
ent_sql_cols(const struct ent_desc *d, const char *const *names,
    struct buf *out)
{
	struct ent_colw	w = { out, 0 };

	ent_members(d, names, ent_col_sql, &w);
	return (w.n);
}

/*
 * "2026-11-23 14:03:29.335123" (timestamp, DateStyle ISO) as
 * "2026-11-23T14:03:29.335Z", the form the JSON writer in SQL gives
 * (to_char's MS truncates, so does this).  Any other shape (years beyond
 * 9999, BC) goes out as the string it is.
 */
static void
ent_out_ts(struct buf *out, const char *v, size_t len)
{
	char	ts[32];
	size_t	i, frac;

	if (len < 19 || v[10] != ' ' || v[4] != '-' || v[13] != ':' ||
	    (len > 19 && v[19] != '.') || len > 26) {
		js_escape(out, v, len);
		return;
	}
	memcpy(ts, v, 19);
	ts[10] = 'T';
	ts[19] = '.';
	for (i = 0, frac = 20; i < 3; i++)
		ts[20 + i] = frac + i < len ? v[frac + i] : '0';
	ts[23] = 'Z';
	ts[24] = '"';
	buf_appendc(out, '"');
	buf_append(out, ts, 25);
}

static int
ent_finite(const char *v)
{
	return (strcmp(v, "NaN") != 0 && strstr(v, "Infinity") == NULL);
}

static void
ent_out(struct buf *out, enum ent_out how, const char *v, size_t len)
{
	switch (how) {
	case ENT_OUT_STR:
		js_escape(out, v, len);
		break;
	case ENT_OUT_NUM:
		if (!ent_finite(v)) {
			js_escape(out, v, len);
			break;
		}
		/* FALLTHROUGH */
	case ENT_OUT_RAW:
		buf_append(out, v, len);
		break;
	case ENT_OUT_BOOL:
		buf_appends(out, v[0] == 't' ? "true" : "false");
		break;
	case ENT_OUT_TS:
		ent_out_ts(out, v, len);
		break;
	}
}

struct ent_renderw {
	struct buf	*out;
	ent_col_fn	 get;
	void		*arg;
	int		 n;
};

static void
ent_render_member(void *arg, const char *name, enum ent_type t)
{
	struct ent_renderw	*w = arg;
	const char		*v;
	size_t			 len;

	buf_appends(w->out, w->n > 0 ? ", \"" : "{\"");
	buf_appends(w->out, name);
	buf_appends(w->out, "\": ");
	if ((v = w->get(w->arg, w->n++, &len)) == NULL)
		buf_appends(w->out, "null");
	else
		ent_out(w->out, ent_types[t].out, v, len);
}

/* The record as JSON from the columns ent_sql_cols() selected. */
void
ent_render(const struct ent_desc *d, const char *const *names,
    ent_col_fn get, void *arg, struct buf *out)
{
	struct ent_renderw	w = { out, get, arg, 0 };

	ent_members(d, names, ent_render_member, &w);
	buf_appendc(out, '}');
}

/* The record scope test every statement on an existing record carries. */
#define ENT_SCOPE	ENT_SCOPE_SQL("$1", "owner_id", "$3", "$4")

/* $1 tenant, $2 id, $3 user, $4 scope. */
void
ent_sql_get(const struct ent_desc *d, struct buf *out)
{
	buf_appends(out, "SELECT ");
	ent_sql_json(d, out);
	buf_appendf(out, ", version FROM %s WHERE tenant_id = $1 AND id = $2 "
	    "AND deleted_at IS NULL AND " ENT_SCOPE, d->table);
}

/* $1 tenant, $2 id, $3 user, $4 scope: the columns, then version. */
void
ent_sql_get_cols(const struct ent_desc *d, struct buf *out)
{
	buf_appends(out, "SELECT ");
	(void)ent_sql_cols(d, NULL, out);
	buf_appendf(out, ", version FROM %s WHERE tenant_id = $1 AND id = $2 "
	    "AND deleted_at IS NULL AND " ENT_SCOPE, d->table);
}

/* The event row of a change, from the CTE `from` (columns j, or id). */
static void
ent_sql_event(const struct ent_desc *d, const char *what, const char *from,
    const char *payload, struct buf *out)
{
	buf_appendf(out, ", e AS (INSERT INTO crm.events (tenant_id, id, type, "
	    "entity, entity_id, payload) SELECT $1, %s, '%s.%s', '%s', $2, %s "
	    "FROM %s)", strcmp(what, "created") == 0 ? "$4" : "$5",
	    d->singular, what, d->name, payload, from);
}

/*
 * INSERT: $1 tenant, $2 id, $3 user (owner and author), $4 event id, then
 * the given fields.  Returns (j, v): the record and its version.  With
 * `owned` (imports: an owner column), one more parameter after the custom
 * JSON names the owner; NULL leaves it to the acting user.
 */
static void
ent_sql_create_as(const struct ent_desc *d, const struct ent_bind *b,
    int owned, struct buf *out)
{
	const struct ent_field	*f;
	int			 i, n = 5;

	buf_appendf(out, "WITH r AS (INSERT INTO %s (tenant_id, id", d->table);
	for (i = 0, f = d->fields; f->name != NULL; f++, i++) {
		if (b->given[i])
			buf_appendf(out, ", %s", f->name);
	}
	buf_appends(out, ", custom, owner_id, created_by, updated_by) VALUES "
	    "($1, $2");
	for (i = 0; i < b->nfields; i++) {
		if (b->given[i])
			buf_appendf(out, ", $%d", n++);
	}
	buf_appendf(out, ", crm.custom_apply($1, '%s', $%d::bigint, "
	    "'{}'::jsonb, $%d::jsonb), ", d->name, n, n + 1);
	if (owned)
		buf_appendf(out, "coalesce($%d::uuid, $3)", n + 2);
	else
		buf_appends(out, "$3");
	buf_appends(out, ", $3, $3) RETURNING ");
	ent_sql_json(d, out);
	buf_appends(out, " AS j, version AS v)");
	ent_sql_event(d, "created", "r", "j::jsonb", out);
	buf_appends(out, " SELECT j, v FROM r");
}

void
ent_sql_create(const struct ent_desc *d, const struct ent_bind *b,
    struct buf *out)
{
	ent_sql_create_as(d, b, 0, out);
}

void
ent_sql_create_owned(const struct ent_desc *d, const struct ent_bind *b,
    struct buf *out)
{
	ent_sql_create_as(d, b, 1, out);
}

/*
 * UPDATE with If-Match in one statement.  $1 tenant, $2 id, $3 user,
 * $4 scope, $5 event id, $6 expected version (NULL: no If-Match), then the
 * given fields.  One row always: (current version, or NULL when there is
 * no such record in scope; the new record, or NULL when the version did
 * not match; the new version).
 */
static void
ent_sql_update_as(const struct ent_desc *d, const struct ent_bind *b,
    int strict, struct buf *out)
{
	const struct ent_field	*f;
	int			 i, n = 7;

	buf_appendf(out, "WITH cur AS (SELECT version FROM %s WHERE "
	    "tenant_id = $1 AND id = $2 AND deleted_at IS NULL AND "
	    ENT_SCOPE " FOR UPDATE), upd AS (UPDATE %s t SET ", d->table,
	    d->table);
	for (i = 0, f = d->fields; f->name != NULL; f++, i++) {
		if (b->given[i])
			buf_appendf(out, "%s = $%d, ", f->name, n++);
	}
	if (b->custom_given)
		buf_appendf(out, "custom = crm.custom_apply($1, '%s', "
		    "$%d::bigint, t.custom, $%d::jsonb), ", d->name, n, n + 1);
	buf_appends(out, "updated_at = now(), updated_by = $3, version = "
	    "t.version + 1 FROM cur WHERE t.tenant_id = $1 AND t.id = $2 AND "
	    "($6::bigint IS NULL OR cur.version = $6::bigint) RETURNING ");
	ent_sql_json(d, out);
	buf_appends(out, " AS j, t.version AS v)");
	ent_sql_event(d, "updated", "upd", "j::jsonb", out);
	if (strict)
		buf_appends(out, " SELECT crm.batch_row((SELECT count(*) FROM "
		    "cur), (SELECT count(*) FROM upd))");
	else
		buf_appends(out, " SELECT (SELECT version FROM cur)");
	buf_appends(out, ", (SELECT j FROM upd), (SELECT v FROM upd)");
}

void
ent_sql_update(const struct ent_desc *d, const struct ent_bind *b,
    struct buf *out)
{
	ent_sql_update_as(d, b, 0, out);
}

/*
 * For a batch, where one failed operation must undo all: no record is
 * CR404, a version mismatch CR412 (crm.batch_row, sql/012), instead of a
 * row the caller would have to look at.  Same columns otherwise.
 */
void
ent_sql_update_strict(const struct ent_desc *d, const struct ent_bind *b,
    struct buf *out)
{
	ent_sql_update_as(d, b, 1, out);
}

/*
 * Soft delete: the recycle bin keeps it 30 days.  $1 tenant, $2 id,
 * $3 user, $4 scope, $5 event id.  Returns the count deleted (0 or 1).
 */
void
ent_sql_delete(const struct ent_desc *d, struct buf *out)
{
	buf_appendf(out, "WITH r AS (UPDATE %s SET deleted_at = now(), "
	    "updated_by = $3, version = version + 1 WHERE tenant_id = $1 AND "
	    "id = $2 AND deleted_at IS NULL AND " ENT_SCOPE " RETURNING id)",
	    d->table);
	ent_sql_event(d, "deleted", "r", "jsonb_build_object('id', id)", out);
	buf_appends(out, " SELECT count(*) FROM r");
}

void
ent_sql_delete_strict(const struct ent_desc *d, struct buf *out)
{
	ent_sql_delete(d, out);
	buf_appends(out, " HAVING crm.batch_row(count(*), count(*)) = 1");
}

/* Parameters as ent_sql_delete(); returns (j, v) like create. */
void
ent_sql_restore(const struct ent_desc *d, struct buf *out)
{
	buf_appendf(out, "WITH r AS (UPDATE %s SET deleted_at = NULL, "
	    "updated_at = now(), updated_by = $3, version = version + 1 WHERE "
	    "tenant_id = $1 AND id = $2 AND deleted_at > now() - "
	    "interval '30 days' AND " ENT_SCOPE " RETURNING ", d->table);
	ent_sql_json(d, out);
	buf_appends(out, " AS j, version AS v)");
	ent_sql_event(d, "restored", "r", "j::jsonb", out);
	buf_appends(out, " SELECT j, v FROM r");
}

/*
 * The startup drift check: does the live table have every column the
 * descriptor and the engine need, of the right type?  cols[i] and
 * types[i] are the table's columns as information_schema names them.
 * Returns 0, or -1 with the first difference in err.
 */
static int
ent_has(const char *const *cols, const char *const *types, size_t n,
    const char *name, const char *type, char *err, size_t len)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (strcmp(cols[i], name) != 0)
			continue;
		if (strcmp(types[i], type) == 0)
			return (0);
		(void)snprintf(err, len, "column %s is %s, the descriptor says "
		    "%s", name, types[i], type);
		return (-1);
	}
	(void)snprintf(err, len, "column %s is missing", name);
	return (-1);
}

int
ent_check_columns(const struct ent_desc *d, const char *const *cols,
    const char *const *types, size_t n, char *err, size_t len)
{
	const struct ent_field	*f;
	size_t			 i;

	for (i = 0; i < sizeof(ent_system) / sizeof(ent_system[0]); i++) {
		if (ent_has(cols, types, n, ent_system[i].name,
		    ent_system[i].sqltype, err, len) == -1)
			return (-1);
	}
	for (f = d->fields; f->name != NULL; f++) {
		if (ent_has(cols, types, n, f->name, ent_types[f->type].sqltype,
		    err, len) == -1)
			return (-1);
	}
	return (0);
}
