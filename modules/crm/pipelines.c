/*
 * pipelines.c: sales pipelines and their stages.  `stages` is one JSON
 * array; sql/014_pipelines_deals.sql checks it, gives new stages ids and
 * positions, refuses to drop a stage deals still use, and mirrors it in
 * crm.stages for the deals' foreign key.  Every tenant starts with a
 * default "Sales" pipeline (same file).  Tenant-wide (ENT_D_SHARED in ent.h).
 */

#include "records.h"

static const struct ent_field	pipelines_fields[] = {
	{ "name", ENT_TEXT, ENT_F_REQUIRED | ENT_F_SEARCH | ENT_F_SORT |
	    ENT_F_FILTER | ENT_F_AUDIT, 100, NULL, NULL },
	{ "description", ENT_LONGTEXT, 0, 2000, NULL, NULL },
	{ "is_default", ENT_BOOL, ENT_F_FILTER | ENT_F_AUDIT, 0, NULL, NULL },
	{ "currency", ENT_CURRENCY, ENT_F_FILTER, 0, NULL, NULL },
	{ "stages", ENT_ARRAY, ENT_F_AUDIT, 16384, NULL, NULL },
	{ NULL, 0, 0, 0, NULL, NULL }
};

static const struct ent_desc	pipelines_desc = {
	"pipelines", "pipeline", "crm.pipelines", pipelines_fields,
	ENT_D_SHARED
};

static void
pipelines_parent_init(void)
{
	eng_parent_check(&pipelines_desc);
}

static void
pipelines_worker_init(void)
{
	eng_register(&pipelines_desc);
}

static const struct route	pipelines_routes[] = {
	ENTITY_ROUTES("pipelines", "a pipeline"),
};

const struct crm_module pipelines_module = {
	"pipelines", pipelines_routes,
	sizeof(pipelines_routes) / sizeof(pipelines_routes[0]),
	pipelines_worker_init, pipelines_parent_init
};
