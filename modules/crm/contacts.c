/*
 * contacts.c: people, usually at an account.  A descriptor and the
 * engine's routes; the rules the engine cannot know (a first or a last
 * name, flags never null) are in sql/013_contacts_leads.sql.
 */

#include "records.h"

static const char *const contacts_channels[] = {
	"email", "phone", "mobile", "sms", "mail", NULL
};

static const struct ent_field	contacts_fields[] = {
	{ "first_name", ENT_TEXT, ENT_F_SEARCH | ENT_F_SORT | ENT_F_FILTER |
	    ENT_F_AUDIT, 100, NULL, NULL },
	{ "last_name", ENT_TEXT, ENT_F_SEARCH | ENT_F_SORT | ENT_F_FILTER |
	    ENT_F_AUDIT, 100, NULL, NULL },
	{ "email", ENT_EMAIL, ENT_F_SEARCH | ENT_F_SORT | ENT_F_FILTER |
	    ENT_F_AUDIT, 0, NULL, NULL },
	{ "phone", ENT_PHONE, ENT_F_SEARCH, 0, NULL, NULL },
	{ "mobile", ENT_PHONE, ENT_F_SEARCH, 0, NULL, NULL },
	{ "title", ENT_TEXT, ENT_F_SEARCH | ENT_F_FILTER, 100, NULL, NULL },
	{ "department", ENT_TEXT, ENT_F_FILTER, 100, NULL, NULL },
	{ "account_id", ENT_REF, ENT_F_FILTER | ENT_F_AUDIT, 0, NULL,
	    "crm.accounts" },
	{ "address", ENT_OBJECT, 0, 0, NULL, NULL },
	{ "preferred_channel", ENT_ENUM, ENT_F_FILTER, 0, contacts_channels,
	    NULL },
	{ "do_not_email", ENT_BOOL, ENT_F_FILTER | ENT_F_AUDIT, 0, NULL, NULL },
	{ "do_not_call", ENT_BOOL, ENT_F_FILTER | ENT_F_AUDIT, 0, NULL, NULL },
	{ "birthday", ENT_DATE, ENT_F_FILTER | ENT_F_SORT, 0, NULL, NULL },
	{ "lead_source", ENT_TEXT, ENT_F_FILTER, 100, NULL, NULL },
	{ "linkedin_url", ENT_URL, 0, 0, NULL, NULL },
	{ "description", ENT_LONGTEXT, 0, 0, NULL, NULL },
	{ NULL, 0, 0, 0, NULL, NULL }
};

static const struct ent_desc	contacts_desc = {
	"contacts", "contact", "crm.contacts", contacts_fields, 0
};

static void
contacts_parent_init(void)
{
	eng_parent_check(&contacts_desc);
}

static void
contacts_worker_init(void)
{
	eng_register(&contacts_desc);
}

static const struct route	contacts_routes[] = {
	ENTITY_ROUTES("contacts", "a contact"),
	DEDUPE_ROUTES("contacts", "a contact"),
};

const struct crm_module contacts_module = {
	"contacts", contacts_routes,
	sizeof(contacts_routes) / sizeof(contacts_routes[0]),
	contacts_worker_init, contacts_parent_init
};
