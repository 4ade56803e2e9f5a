/*
 * impmap.c: which field a CSV column feeds, and what a cell becomes.
 *
 * A column name is compared in a normal form (ASCII letters and digits,
 * lower case: "First Name", "FirstName", "first_name" and "FIRST-NAME"
 * are the same name), in this order: the client's mapping[Column]=field,
 * the entity's own field names, its custom fields (name or label), then
 * the alias table below, which holds the column names HubSpot and
 * Salesforce write in their exports.  Anything else is ignored and listed
 * in the job's result.
 *
 * Targets that are not plain fields are resolved by the worker against
 * the tenant's data: "@owner" (a user, by e-mail or name), "@account" (an
 * account, by name or domain), "@pipeline" and "@stage" (by name), and
 * "<address field>.<part>" (street, city, state, postal_code, country).
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imp.h"

struct imap_alias {
	const char	*entity;	/* NULL: every entity */
	const char	*names;		/* normal forms, space separated */
	const char	*target;
};

/* Entity-specific rows first: the first row that matches wins. */
static const struct imap_alias	imap_aliases[] = {
	/* contacts: HubSpot contact and Salesforce contact exports */
	{ "contacts", "companyname company accountname associatedcompany "
	    "account accountid", "@account" },
	{ "contacts", "mailingstreet mailingaddress street streetaddress "
	    "address", "address.street" },
	{ "contacts", "mailingcity city", "address.city" },
	{ "contacts", "mailingstate mailingstateprovince stateregion state "
	    "stateprovince", "address.state" },
	{ "contacts", "mailingpostalcode mailingzippostalcode postalcode zip "
	    "zipcode", "address.postal_code" },
	{ "contacts", "mailingcountry country countryregion",
	    "address.country" },
	{ "contacts", "leadsource originalsource source", "lead_source" },
	{ "contacts", "birthdate dateofbirth", "birthday" },
	{ "contacts", "linkedin linkedinprofile linkedinprofileurl",
	    "linkedin_url" },
	{ "contacts", "emailoptout hasoptedoutofemail "
	    "unsubscribedfromallemail", "do_not_email" },
	/* leads */
	{ "leads", "companyname accountname", "company" },
	{ "leads", "street streetaddress address", "address.street" },
	{ "leads", "city", "address.city" },
	{ "leads", "state stateregion stateprovince", "address.state" },
	{ "leads", "postalcode zip zipcode", "address.postal_code" },
	{ "leads", "country countryregion", "address.country" },
	{ "leads", "leadsource originalsource", "source" },
	{ "leads", "leadstatus", "status" },
	{ "leads", "leadrating", "rating" },
	{ "leads", "numberofemployees noofemployees", "employees" },
	{ "leads", "websiteurl", "website" },
	/* accounts: HubSpot companies, Salesforce accounts */
	{ "accounts", "companyname accountname company", "name" },
	{ "accounts", "companydomainname domainname", "domain" },
	{ "accounts", "numberofemployees noofemployees", "employees" },
	{ "accounts", "websiteurl", "website" },
	{ "accounts", "billingstreet street streetaddress address",
	    "billing_address.street" },
	{ "accounts", "billingcity city", "billing_address.city" },
	{ "accounts", "billingstate billingstateprovince state stateregion "
	    "stateprovince", "billing_address.state" },
	{ "accounts", "billingpostalcode billingzippostalcode postalcode zip "
	    "zipcode", "billing_address.postal_code" },
	{ "accounts", "billingcountry country countryregion",
	    "billing_address.country" },
	{ "accounts", "shippingstreet", "shipping_address.street" },
	{ "accounts", "shippingcity", "shipping_address.city" },
	{ "accounts", "shippingstate shippingstateprovince",
	    "shipping_address.state" },
	{ "accounts", "shippingpostalcode shippingzippostalcode",
	    "shipping_address.postal_code" },
	{ "accounts", "shippingcountry", "shipping_address.country" },
	{ "accounts", "parentaccountid", "parent_id" },
	/* deals: HubSpot deals, Salesforce opportunities */
	{ "deals", "dealname opportunityname", "name" },
	{ "deals", "closedate expectedclose", "expected_close_date" },
	{ "deals", "dealstage stagename stage", "@stage" },
	{ "deals", "pipeline pipelinename", "@pipeline" },
	{ "deals", "companyname accountname associatedcompany company "
	    "account", "@account" },
	{ "deals", "dealtype opportunitytype", "type" },
	{ "deals", "leadsource originalsource", "source" },
	{ "deals", "closedlostreason lossreason", "lost_reason" },
	{ "deals", "dealcurrencycode", "currency" },
	/* products: HubSpot products, Salesforce products */
	{ "products", "productname", "name" },
	{ "products", "productcode", "sku" },
	{ "products", "productfamily family", "category" },
	{ "products", "price listprice", "unit_price" },
	{ "products", "unitcost", "cost" },
	{ "products", "isactive", "active" },
	{ "products", "productdescription", "description" },
	{ "products", "quantityunitofmeasure unit", "unit_of_measure" },
	{ "products", "tax", "tax_rate" },
	/* every entity */
	{ NULL, "emailaddress email1 primaryemail", "email" },
	{ NULL, "phonenumber businessphone workphone", "phone" },
	{ NULL, "mobilephonenumber mobilephone cellphone", "mobile" },
	{ NULL, "jobtitle", "title" },
	{ NULL, "currencyisocode", "currency" },
	{ NULL, "owner owneremail ownerid contactowner companyowner "
	    "dealowner leadowner accountowner opportunityowner recordowner "
	    "hubspotowner", "@owner" },
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static const char *const	imap_parts[] = {
	"street", "city", "state", "postal_code", "country", NULL
};

/* The normal form: ASCII letters and digits, lower case. */
void
imap_norm(const char *s, char *out, size_t len)
{
	size_t	n = 0;

	for (; *s != '\0' && n + 1 < len; s++) {
		if (isalnum((unsigned char)*s) && !((unsigned char)*s & 0x80))
			out[n++] = (char)tolower((unsigned char)*s);
	}
	out[n] = '\0';
}

static int
imap_word_in(const char *list, const char *w)
{
	size_t	n = strlen(w), k;

	while (*list != '\0') {
		k = strcspn(list, " ");
		if (k == n && n > 0 && strncmp(list, w, n) == 0)
			return (1);
		list += k;
		list += strspn(list, " ");
	}
	return (0);
}

/* The alias table's target for a normalised name, or NULL. */
const char *
imap_alias(const char *entity, const char *norm)
{
	size_t	i;

	for (i = 0; i < NELEM(imap_aliases); i++) {
		if (imap_aliases[i].entity != NULL &&
		    strcmp(imap_aliases[i].entity, entity) != 0)
			continue;
		if (imap_word_in(imap_aliases[i].names, norm))
			return (imap_aliases[i].target);
	}
	return (NULL);
}

static int
imap_writable(const struct ent_field *f)
{
	return (f != NULL && !(f->flags & ENT_F_READONLY) &&
	    f->type != ENT_ARRAY && f->type != ENT_OBJECT);
}

/* May a column feed this target?  (mapping overrides are checked here) */
int
imap_target_ok(const struct ent_desc *d, const struct ent_cdefs *cd,
    const char *t)
{
	const struct ent_field	*f;
	const char		*dot;
	char			 obj[64];
	int			 i;

	if (strcmp(t, "@owner") == 0)
		return (1);
	if (strcmp(t, "@account") == 0)
		return ((f = ent_field(d, "account_id")) != NULL &&
		    f->type == ENT_REF);
	if (strcmp(t, "@pipeline") == 0 || strcmp(t, "@stage") == 0)
		return (ent_field(d, "stage_id") != NULL);
	if (strncmp(t, "custom.", 7) == 0)
		return (cd != NULL && entcf_field(cd, t + 7) != NULL &&
		    entcf_field(cd, t + 7)->type != ENT_ARRAY);
	if ((dot = strchr(t, '.')) != NULL) {
		if ((size_t)(dot - t) >= sizeof(obj))
			return (0);
		(void)snprintf(obj, sizeof(obj), "%.*s", (int)(dot - t), t);
		if ((f = ent_field(d, obj)) == NULL || f->type != ENT_OBJECT)
			return (0);
		for (i = 0; imap_parts[i] != NULL; i++) {
			if (strcmp(imap_parts[i], dot + 1) == 0)
				return (1);
		}
		return (0);
	}
	return (imap_writable(ent_field(d, t)));
}

/*
 * The target of one column: 1 mapped (out set), 0 unknown (ignored, and
 * listed in the result), -1 ignored because the client said so.  `mapping` is
 * the client's {Column: field} (already checked with imap_target_ok; an
 * empty field means "ignore this column"); `labels` the custom fields'
 * {name: label}.
 */
int
imap_target(const struct ent_desc *d, const struct ent_cdefs *cd,
    json_t *labels, json_t *mapping, const char *col, char *out,
    size_t len)
{
	const struct ent_field	*f;
	const char		*t, *name;
	char			 n[128], m[128];
	json_t			*v;
	int			 i;

	out[0] = '\0';
	if ((t = json_string_value(json_object_get(mapping, col))) != NULL) {
		(void)snprintf(out, len, "%s", t);
		return (out[0] != '\0' ? 1 : -1);
	}
	imap_norm(col, n, sizeof(n));
	if (n[0] == '\0')
		return (0);
	for (f = d->fields; f->name != NULL; f++) {
		imap_norm(f->name, m, sizeof(m));
		if (strcmp(m, n) == 0 && imap_writable(f)) {
			(void)snprintf(out, len, "%s", f->name);
			return (1);
		}
	}
	for (i = 0; cd != NULL && i < cd->n; i++) {
		name = cd->fields[i].name;
		imap_norm(name, m, sizeof(m));
		if (strcmp(m, n) != 0 && !(strncmp(col, "custom.", 7) == 0 &&
		    strcmp(col + 7, name) == 0)) {
			v = json_object_get(labels, name);
			imap_norm(json_is_string(v) ? json_string_value(v) :
			    "", m, sizeof(m));
			if (strcmp(m, n) != 0)
				continue;
		}
		(void)snprintf(out, len, "custom.%s", name);
		return (imap_target_ok(d, cd, out));
	}
	if ((t = imap_alias(d->name, n)) != NULL && imap_target_ok(d, cd, t)) {
		(void)snprintf(out, len, "%s", t);
		return (1);
	}
	return (0);
}

/* Fields of which a record needs one, beyond ENT_F_REQUIRED. */
static const struct {
	const char	*entity;
	const char	*one_of[4];
} imap_one_of[] = {
	{ "contacts", { "first_name", "last_name", NULL } },
	{ "leads", { "first_name", "last_name", "company", NULL } },
};

/* Does a column map to target t?  (targets: one per column, or null) */
int
imap_mapped(json_t *targets, const char *t)
{
	json_t	*x;
	size_t	 i;

	json_array_foreach(targets, i, x) {
		if (json_is_string(x) && strcmp(json_string_value(x), t) == 0)
			return (1);
	}
	return (0);
}

/* 0: every required field has a column; -1: why names the first. */
int
imap_required(const struct ent_desc *d, json_t *targets, char *why,
    size_t len)
{
	const struct ent_field	*f;
	size_t			 i;
	int			 k, any;

	for (f = d->fields; f->name != NULL; f++) {
		if ((f->flags & ENT_F_REQUIRED) && !imap_mapped(targets,
		    f->name)) {
			(void)snprintf(why, len, "no column maps to the "
			    "required field %s", f->name);
			return (-1);
		}
	}
	for (i = 0; i < NELEM(imap_one_of); i++) {
		if (strcmp(imap_one_of[i].entity, d->name) != 0)
			continue;
		for (k = any = 0; imap_one_of[i].one_of[k] != NULL; k++)
			any |= imap_mapped(targets, imap_one_of[i].one_of[k]);
		if (!any) {
			(void)snprintf(why, len, "no column maps to %s or %s",
			    imap_one_of[i].one_of[0], imap_one_of[i].one_of[1]);
			return (-1);
		}
	}
	return (0);
}

/* none always; email on records with an e-mail; domain on accounts. */
int
imap_dedupe_ok(const char *entity, const char *rule)
{
	if (strcmp(rule, "none") == 0)
		return (1);
	if (strcmp(rule, "email") == 0)
		return (strcmp(entity, "contacts") == 0 ||
		    strcmp(entity, "leads") == 0);
	if (strcmp(rule, "domain") == 0)
		return (strcmp(entity, "accounts") == 0);
	return (0);
}

/* Trimmed copy of a cell. */
static char *
imap_trim(const char *s)
{
	size_t	n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	return (xstrndup(s, n));
}

/* "$1,234.50" -> "1234.50": currency signs and thousands separators. */
static void
imap_decimal(char *s)
{
	char	*w = s, *r = s;

	for (; *r != '\0'; r++) {
		if (*r == ',' || *r == '$' || *r == ' ')
			continue;
		if ((unsigned char)*r == 0xe2 && (unsigned char)r[1] == 0x82 &&
		    (unsigned char)r[2] == 0xac) {	/* euro sign */
			r += 2;
			continue;
		}
		if ((unsigned char)*r == 0xc2 && (unsigned char)r[1] == 0xa3) {
			r += 1;				/* pound sign */
			continue;
		}
		*w++ = *r;
	}
	*w = '\0';
}

static json_t *
imap_bool(const char *s)
{
	static const char *const yes[] = { "true", "yes", "y", "1", "x",
	    NULL };
	static const char *const no[] = { "false", "no", "n", "0", NULL };
	int	i;

	for (i = 0; yes[i] != NULL; i++)
		if (strcasecmp(s, yes[i]) == 0)
			return (json_true());
	for (i = 0; no[i] != NULL; i++)
		if (strcasecmp(s, no[i]) == 0)
			return (json_false());
	return (json_string(s));		/* the binder says why */
}

/* "Closed Won" -> "closed_won", to compare with an enum's options. */
static json_t *
imap_option(const struct ent_field *f, const char *s)
{
	char	buf[128];
	size_t	i, n = 0;
	int	k;

	for (i = 0; s[i] != '\0' && n + 1 < sizeof(buf); i++)
		buf[n++] = s[i] == ' ' || s[i] == '-' ? '_' :
		    (char)tolower((unsigned char)s[i]);
	buf[n] = '\0';
	for (k = 0; f->options != NULL && f->options[k] != NULL; k++) {
		if (strcmp(f->options[k], buf) == 0)
			return (json_string(buf));
	}
	return (json_string(s));
}

static json_t *
imap_multi(const struct ent_field *f, const char *s)
{
	json_t	*a = json_array();
	char	*copy, *tok, *save, *t;

	copy = xstrdup(s);
	for (tok = strtok_r(copy, ";", &save); tok != NULL;
	    tok = strtok_r(NULL, ";", &save)) {
		t = imap_trim(tok);
		if (*t != '\0')
			json_array_append_new(a, imap_option(f, t));
		xfree(t);
	}
	xfree(copy);
	return (a);
}

/* "2024-01-31 10:00" (HubSpot) and "2024-01-31T10:00:00Z" -> the date. */
static json_t *
imap_date(const char *s)
{
	if (strlen(s) > 10 && (s[10] == ' ' || s[10] == 'T') &&
	    strspn(s, "0123456789") == 4 && s[4] == '-')
		return (json_stringn(s, 10));
	return (json_string(s));
}

/*
 * A cell as the JSON value the binder expects for the field's type, or
 * NULL for an empty cell (the field is then left out, so defaults apply).
 * A cell that cannot be the type is passed on as a string: ent_value()
 * then names the field and says why, as for an API write.
 */
json_t *
imap_value(const struct ent_field *f, const char *cell)
{
	json_t		*j;
	char		*s, *end;
	long long	 ll;

	s = imap_trim(cell);
	if (*s == '\0') {
		xfree(s);
		return (NULL);
	}
	switch (f->type) {
	case ENT_INT:
		imap_decimal(s);
		ll = strtoll(s, &end, 10);
		j = *s != '\0' && *end == '\0' ? json_integer(ll) :
		    json_string(s);
		break;
	case ENT_NUMBER:
	case ENT_MONEY:
		imap_decimal(s);
		j = json_string(s);
		break;
	case ENT_BOOL:
		j = imap_bool(s);
		break;
	case ENT_ENUM:
		j = imap_option(f, s);
		break;
	case ENT_MULTI_ENUM:
		j = imap_multi(f, s);
		break;
	case ENT_DATE:
		j = imap_date(s);
		break;
	case ENT_CURRENCY:
		for (end = s; *end != '\0'; end++)
			*end = (char)toupper((unsigned char)*end);
		j = json_string(s);
		break;
	case ENT_TEXT:
	case ENT_LONGTEXT:
		j = json_string(cell);		/* as written */
		break;
	default:
		j = json_string(s);
		break;
	}
	xfree(s);
	return (j);
}
