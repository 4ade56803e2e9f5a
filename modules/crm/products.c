/*
 * products.c: the catalogue.  A SKU is unique per tenant among live
 * products whatever its case (409 otherwise; sql/016_products.sql).
 * Tenant-wide (ENT_D_SHARED in ent.h): every seller sells from the same catalogue.
 */

#include "records.h"

static const struct ent_field	products_fields[] = {
	{ "sku", ENT_TEXT, ENT_F_SEARCH | ENT_F_SORT | ENT_F_FILTER |
	    ENT_F_AUDIT, 64, NULL, NULL },
	{ "name", ENT_TEXT, ENT_F_REQUIRED | ENT_F_SEARCH | ENT_F_SORT |
	    ENT_F_FILTER | ENT_F_AUDIT, 200, NULL, NULL },
	{ "description", ENT_LONGTEXT, 0, 0, NULL, NULL },
	{ "category", ENT_TEXT, ENT_F_SEARCH | ENT_F_FILTER | ENT_F_SORT, 100,
	    NULL, NULL },
	{ "unit_of_measure", ENT_TEXT, 0, 32, NULL, NULL },
	{ "unit_price", ENT_MONEY, ENT_F_FILTER | ENT_F_SORT | ENT_F_NONNEG |
	    ENT_F_AUDIT, 0, NULL, NULL },
	{ "cost", ENT_MONEY, ENT_F_NONNEG | ENT_F_AUDIT, 0, NULL, NULL },
	{ "currency", ENT_CURRENCY, ENT_F_FILTER, 0, NULL, NULL },
	{ "tax_rate", ENT_NUMBER, ENT_F_FILTER | ENT_F_NONNEG, 0, NULL, NULL },
	{ "active", ENT_BOOL, ENT_F_FILTER | ENT_F_AUDIT, 0, NULL, NULL },
	{ NULL, 0, 0, 0, NULL, NULL }
};

static const struct ent_desc	products_desc = {
	"products", "product", "crm.products", products_fields,
	ENT_D_SHARED
};

static void
products_parent_init(void)
{
	eng_parent_check(&products_desc);
}

static void
products_worker_init(void)
{
	eng_register(&products_desc);
}

static const struct route	products_routes[] = {
	ENTITY_ROUTES("products", "a product"),
};

const struct crm_module products_module = {
	"products", products_routes,
	sizeof(products_routes) / sizeof(products_routes[0]),
	products_worker_init, products_parent_init
};
