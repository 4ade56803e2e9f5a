/*
 * accounts.c: companies, the first CRM entity.  A descriptor and the
 * engine's routes; no handler code of its own (app/engine.c serves it).
 * The columns are in sql/008_accounts.sql.
 */

#include "srv.h"
#include "ent.h"

static const struct ent_field	accounts_fields[] = {
	{ "name", ENT_TEXT, ENT_F_REQUIRED | ENT_F_SEARCH | ENT_F_SORT |
	    ENT_F_FILTER | ENT_F_AUDIT, 200, NULL, NULL },
	{ "domain", ENT_TEXT, ENT_F_SEARCH | ENT_F_FILTER, 253, NULL, NULL },
	{ "industry", ENT_TEXT, ENT_F_FILTER | ENT_F_SORT, 100, NULL, NULL },
	{ "employees", ENT_INT, ENT_F_FILTER | ENT_F_SORT | ENT_F_NONNEG, 0,
	    NULL, NULL },
	{ "annual_revenue", ENT_MONEY, ENT_F_FILTER | ENT_F_SORT |
	    ENT_F_NONNEG, 0, NULL, NULL },
	{ "currency", ENT_CURRENCY, ENT_F_FILTER, 0, NULL, NULL },
	{ "phone", ENT_PHONE, ENT_F_SEARCH, 0, NULL, NULL },
	{ "website", ENT_URL, 0, 0, NULL, NULL },
	{ "billing_address", ENT_OBJECT, 0, 0, NULL, NULL },
	{ "shipping_address", ENT_OBJECT, 0, 0, NULL, NULL },
	{ "parent_id", ENT_REF, ENT_F_FILTER | ENT_F_AUDIT, 0, NULL,
	    "crm.accounts" },
	{ NULL, 0, 0, 0, NULL, NULL }
};

static const struct ent_desc	accounts_desc = {
	"accounts", "account", "crm.accounts", accounts_fields, 0
};

static void
accounts_parent_init(void)
{
	eng_parent_check(&accounts_desc);
}

static void
accounts_worker_init(void)
{
	eng_register(&accounts_desc);
}

static const struct route	accounts_routes[] = {
	ENTITY_ROUTES("accounts", "an account"),
	DEDUPE_ROUTES("accounts", "an account"),
};

const struct crm_module accounts_module = {
	"accounts", accounts_routes,
	sizeof(accounts_routes) / sizeof(accounts_routes[0]),
	accounts_worker_init, accounts_parent_init
};
