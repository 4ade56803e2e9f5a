/*
 * impmap_test.c: column names (ours, HubSpot's, Salesforce's, custom
 * fields by name and label, overrides) and cell conversion.
 */

#include <string.h>

#include "imp.h"
#include "ut.h"

static const char *const	t_types[] = { "new_business", "renewal", NULL };

static const struct ent_field	t_contacts[] = {
	{ "first_name", ENT_TEXT, 0, 100, NULL, NULL },
	{ "last_name", ENT_TEXT, 0, 100, NULL, NULL },
	{ "email", ENT_EMAIL, 0, 0, NULL, NULL },
	{ "phone", ENT_PHONE, 0, 0, NULL, NULL },
	{ "mobile", ENT_PHONE, 0, 0, NULL, NULL },
	{ "title", ENT_TEXT, 0, 100, NULL, NULL },
	{ "account_id", ENT_REF, 0, 0, NULL, "crm.accounts" },
	{ "address", ENT_OBJECT, 0, 0, NULL, NULL },
	{ "do_not_email", ENT_BOOL, 0, 0, NULL, NULL },
	{ "birthday", ENT_DATE, 0, 0, NULL, NULL },
	{ NULL, 0, 0, 0, NULL, NULL }
};

static const struct ent_desc	t_cdesc = {
	"contacts", "contact", "crm.contacts", t_contacts, 0
};

static const struct ent_field	t_deals[] = {
	{ "name", ENT_TEXT, ENT_F_REQUIRED, 200, NULL, NULL },
	{ "account_id", ENT_REF, 0, 0, NULL, "crm.accounts" },
	{ "pipeline_id", ENT_REF, 0, 0, NULL, "crm.pipelines" },
	{ "stage_id", ENT_REF, 0, 0, NULL, "crm.stages" },
	{ "amount", ENT_MONEY, 0, 0, NULL, NULL },
	{ "expected_close_date", ENT_DATE, 0, 0, NULL, NULL },
	{ "probability", ENT_INT, 0, 0, NULL, NULL },
	{ "type", ENT_ENUM, 0, 0, t_types, NULL },
	{ "contacts", ENT_ARRAY, 0, 0, NULL, NULL },
	{ "closed_at", ENT_DATETIME, ENT_F_READONLY, 0, NULL, NULL },
	{ NULL, 0, 0, 0, NULL, NULL }
};

static const struct ent_desc	t_ddesc = {
	"deals", "deal", "crm.deals", t_deals, 0
};

static char	t_out[IMAP_TARGET];

static const char *
t_map(const struct ent_desc *d, const struct ent_cdefs *cd, json_t *labels,
    json_t *mapping, const char *col)
{
	if (imap_target(d, cd, labels, mapping, col, t_out, sizeof(t_out)) <=
	    0)
		return ("-");
	return (t_out);
}

static void
test_norm(void)
{
	char	n[64];

	imap_norm("First Name", n, sizeof(n));
	UT_EQ_STR(n, "firstname");
	imap_norm(" E-Mail_Address ", n, sizeof(n));
	UT_EQ_STR(n, "emailaddress");
	imap_norm("Probability (%)", n, sizeof(n));
	UT_EQ_STR(n, "probability");
	imap_norm("Zoë", n, sizeof(n));
	UT_EQ_STR(n, "zo");
}

static void
test_hubspot_salesforce(void)
{
	const struct ent_desc	*c = &t_cdesc, *d = &t_ddesc;

	/* HubSpot contacts */
	UT_EQ_STR(t_map(c, NULL, NULL, NULL, "First Name"), "first_name");
	UT_EQ_STR(t_map(c, NULL, NULL, NULL, "Last Name"), "last_name");
	UT_EQ_STR(t_map(c, NULL, NULL, NULL, "Email"), "email");
	UT_EQ_STR(t_map(c, NULL, NULL, NULL, "Phone Number"), "phone");
	UT_EQ_STR(t_map(c, NULL, NULL, NULL, "Mobile Phone Number"), "mobile");
	UT_EQ_STR(t_map(c, NULL, NULL, NULL, "Job Title"), "title");
	UT_EQ_STR(t_map(c, NULL, NULL, NULL, "Company Name"), "@account");
	UT_EQ_STR(t_map(c, NULL, NULL, NULL, "Contact owner"), "@owner");
	/* Salesforce contacts */
	UT_EQ_STR(t_map(c, NULL, NULL, NULL, "FirstName"), "first_name");
	UT_EQ_STR(t_map(c, NULL, NULL, NULL, "MobilePhone"), "mobile");
	UT_EQ_STR(t_map(c, NULL, NULL, NULL, "Account Name"), "@account");
	UT_EQ_STR(t_map(c, NULL, NULL, NULL, "MailingCity"), "address.city");
	UT_EQ_STR(t_map(c, NULL, NULL, NULL, "Mailing Street"),
	    "address.street");
	UT_EQ_STR(t_map(c, NULL, NULL, NULL, "MailingPostalCode"),
	    "address.postal_code");
	UT_EQ_STR(t_map(c, NULL, NULL, NULL, "HasOptedOutOfEmail"),
	    "do_not_email");
	UT_EQ_STR(t_map(c, NULL, NULL, NULL, "Birthdate"), "birthday");
	/* Deals and opportunities */
	UT_EQ_STR(t_map(d, NULL, NULL, NULL, "Deal Name"), "name");
	UT_EQ_STR(t_map(d, NULL, NULL, NULL, "Opportunity Name"), "name");
	UT_EQ_STR(t_map(d, NULL, NULL, NULL, "Amount"), "amount");
	UT_EQ_STR(t_map(d, NULL, NULL, NULL, "Close Date"),
	    "expected_close_date");
	UT_EQ_STR(t_map(d, NULL, NULL, NULL, "CloseDate"),
	    "expected_close_date");
	UT_EQ_STR(t_map(d, NULL, NULL, NULL, "Deal Stage"), "@stage");
	UT_EQ_STR(t_map(d, NULL, NULL, NULL, "StageName"), "@stage");
	UT_EQ_STR(t_map(d, NULL, NULL, NULL, "Pipeline"), "@pipeline");
	UT_EQ_STR(t_map(d, NULL, NULL, NULL, "Probability (%)"),
	    "probability");
	/* Unknown, read-only and array columns are ignored. */
	UT_EQ_STR(t_map(c, NULL, NULL, NULL, "Favourite Colour"), "-");
	UT_EQ_STR(t_map(d, NULL, NULL, NULL, "closed_at"), "-");
	UT_EQ_STR(t_map(d, NULL, NULL, NULL, "contacts"), "-");
	UT_EQ_STR(t_map(c, NULL, NULL, NULL, "Mailing Address"),
	    "address.street");
	UT_EQ_STR(t_map(c, NULL, NULL, NULL, "?!"), "-");
}

static void
test_custom_and_override(void)
{
	struct ent_cdefs	*cd;
	json_t			*labels, *mapping;

	cd = entcf_parse("[{\"name\": \"tier\", \"type\": \"text\"}, "
	    "{\"name\": \"nps_score\", \"type\": \"number\"}]", 3);
	UT_CHECK(cd != NULL);
	labels = json_pack("{s:s,s:s}", "tier", "Customer Tier",
	    "nps_score", "NPS");
	mapping = json_pack("{s:s,s:s,s:s}", "Email", "", "Work Mail",
	    "email", "Score", "custom.nps_score");
	UT_EQ_STR(t_map(&t_cdesc, cd, labels, NULL, "tier"), "custom.tier");
	UT_EQ_STR(t_map(&t_cdesc, cd, labels, NULL, "custom.tier"),
	    "custom.tier");
	UT_EQ_STR(t_map(&t_cdesc, cd, labels, NULL, "Customer Tier"),
	    "custom.tier");
	UT_EQ_STR(t_map(&t_cdesc, cd, labels, NULL, "NPS"),
	    "custom.nps_score");
	UT_EQ_STR(t_map(&t_cdesc, cd, labels, mapping, "Email"), "-");
	UT_EQ_STR(t_map(&t_cdesc, cd, labels, mapping, "Work Mail"), "email");
	UT_EQ_STR(t_map(&t_cdesc, cd, labels, mapping, "Score"),
	    "custom.nps_score");
	UT_CHECK(imap_target_ok(&t_cdesc, cd, "custom.tier"));
	UT_CHECK(!imap_target_ok(&t_cdesc, cd, "custom.nope"));
	UT_CHECK(imap_target_ok(&t_cdesc, cd, "address.country"));
	UT_CHECK(!imap_target_ok(&t_cdesc, cd, "address.planet"));
	UT_CHECK(!imap_target_ok(&t_cdesc, cd, "address"));
	UT_CHECK(!imap_target_ok(&t_cdesc, cd, "@stage"));
	UT_CHECK(imap_target_ok(&t_ddesc, NULL, "@stage"));
	UT_CHECK(imap_target_ok(&t_cdesc, NULL, "@account"));
	UT_CHECK(!imap_target_ok(&t_ddesc, NULL, "closed_at"));
	UT_CHECK(!imap_target_ok(&t_ddesc, NULL, "no_such"));
	json_decref(labels);
	json_decref(mapping);
	entcf_free(cd);
}

static void
test_required_dedupe(void)
{
	json_t	*t;
	char	 why[128];

	t = json_pack("[s,s]", "amount", "@stage");
	UT_EQ_INT(imap_required(&t_ddesc, t, why, sizeof(why)), -1);
	UT_EQ_STR(why, "no column maps to the required field name");
	json_array_append_new(t, json_string("name"));
	UT_EQ_INT(imap_required(&t_ddesc, t, why, sizeof(why)), 0);
	UT_EQ_INT(imap_required(&t_cdesc, t, why, sizeof(why)), -1);
	UT_EQ_STR(why, "no column maps to first_name or last_name");
	json_decref(t);
	UT_CHECK(imap_dedupe_ok("contacts", "email"));
	UT_CHECK(imap_dedupe_ok("leads", "email"));
	UT_CHECK(imap_dedupe_ok("accounts", "domain"));
	UT_CHECK(!imap_dedupe_ok("accounts", "email"));
	UT_CHECK(!imap_dedupe_ok("deals", "domain"));
	UT_CHECK(imap_dedupe_ok("products", "none"));
	UT_CHECK(!imap_dedupe_ok("products", "sku"));
}

static void
value_is(const struct ent_field *f, const char *cell, const char *want)
{
	json_t	*j = imap_value(f, cell);
	char	*s = j != NULL ? js_dump(j, NULL) : NULL;

	UT_EQ_STR(s != NULL ? s : "(omitted)", want);
	xfree(s);
	json_decref(j);
}

static void
test_values(void)
{
	value_is(&t_deals[4], " $1,234.50 ", "\"1234.50\"");
	value_is(&t_deals[4], "\xe2\x82\xac" "99", "\"99\"");
	value_is(&t_deals[4], "", "(omitted)");
	value_is(&t_deals[4], "   ", "(omitted)");
	value_is(&t_deals[6], "40", "40");
	value_is(&t_deals[6], "1,000", "1000");
	value_is(&t_deals[6], "forty", "\"forty\"");
	value_is(&t_deals[7], "New Business", "\"new_business\"");
	value_is(&t_deals[7], "Other", "\"Other\"");
	value_is(&t_deals[5], "2024-01-31 10:00", "\"2024-01-31\"");
	value_is(&t_deals[5], "2024-01-31", "\"2024-01-31\"");
	value_is(&t_contacts[8], "Yes", "true");
	value_is(&t_contacts[8], "0", "false");
	value_is(&t_contacts[8], "maybe", "\"maybe\"");
	value_is(&t_contacts[0], " Ann ", "\" Ann \"");	/* text as is */
}

int
main(void)
{
	UT_TEST(test_norm);
	UT_TEST(test_hubspot_salesforce);
	UT_TEST(test_custom_and_override);
	UT_TEST(test_required_dedupe);
	UT_TEST(test_values);
	return (ut_summary());
}
