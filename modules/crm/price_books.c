/*
 * price_books.c: price lists.  `entries` ([{product_id, unit_price}]) is
 * checked and mirrored in crm.price_book_entries by
 * sql/016_products.sql; an unknown product is a 422 naming
 * entries[i].product_id.  Tenant-wide (ENT_D_SHARED in ent.h).
 */

#include "records.h"

static const struct ent_field	price_books_fields[] = {
	{ "name", ENT_TEXT, ENT_F_REQUIRED | ENT_F_SEARCH | ENT_F_SORT |
	    ENT_F_FILTER | ENT_F_AUDIT, 200, NULL, NULL },
	{ "description", ENT_LONGTEXT, 0, 2000, NULL, NULL },
	{ "currency", ENT_CURRENCY, ENT_F_FILTER, 0, NULL, NULL },
	{ "active", ENT_BOOL, ENT_F_FILTER | ENT_F_AUDIT, 0, NULL, NULL },
	{ "is_standard", ENT_BOOL, ENT_F_FILTER, 0, NULL, NULL },
	{ "valid_from", ENT_DATE, ENT_F_FILTER | ENT_F_SORT, 0, NULL, NULL },
	{ "valid_to", ENT_DATE, ENT_F_FILTER | ENT_F_SORT, 0, NULL, NULL },
	{ "entries", ENT_ARRAY, ENT_F_AUDIT, 0, NULL, NULL },
	{ NULL, 0, 0, 0, NULL, NULL }
};

static const struct ent_desc	price_books_desc = {
	"price-books", "price_book", "crm.price_books", price_books_fields,
	ENT_D_SHARED
};

static void
price_books_parent_init(void)
{
	eng_parent_check(&price_books_desc);
}

static void
price_books_worker_init(void)
{
	eng_register(&price_books_desc);
}

static const struct route	price_books_routes[] = {
	ENTITY_ROUTES("price-books", "a price book"),
};

const struct crm_module price_books_module = {
	"price-books", price_books_routes,
	sizeof(price_books_routes) / sizeof(price_books_routes[0]),
	price_books_worker_init, price_books_parent_init
};
