/*
 * activities.c: tasks, calls, meetings, notes and e-mails.  `related`
 * names the records an activity is about and `participants` who takes
 * part; sql/015_activities.sql checks both (each record must exist in the
 * tenant) and mirrors `related` in crm.activity_links, which the record
 * timelines read.  A subject is required except for notes.
 */

#include "records.h"

static const char *const activities_types[] = {
	"task", "call", "meeting", "note", "email", NULL
};
/* queued, sent, failed: an e-mail sent through the CRM (app/jobmail.c). */
static const char *const activities_statuses[] = {
	"open", "completed", "canceled", "queued", "sent", "failed", NULL
};
static const char *const activities_priorities[] = {
	"low", "normal", "high", NULL
};

static const struct ent_field	activities_fields[] = {
	{ "type", ENT_ENUM, ENT_F_REQUIRED | ENT_F_FILTER | ENT_F_AUDIT, 0,
	    activities_types, NULL },
	{ "subject", ENT_TEXT, ENT_F_SEARCH | ENT_F_SORT | ENT_F_AUDIT, 300,
	    NULL, NULL },
	{ "body", ENT_LONGTEXT, 0, 0, NULL, NULL },
	{ "status", ENT_ENUM, ENT_F_FILTER | ENT_F_AUDIT, 0,
	    activities_statuses, NULL },
	{ "priority", ENT_ENUM, ENT_F_FILTER | ENT_F_SORT, 0,
	    activities_priorities, NULL },
	{ "due_at", ENT_DATETIME, ENT_F_FILTER | ENT_F_SORT | ENT_F_AUDIT, 0,
	    NULL, NULL },
	{ "starts_at", ENT_DATETIME, ENT_F_FILTER | ENT_F_SORT | ENT_F_AUDIT,
	    0, NULL, NULL },
	{ "ends_at", ENT_DATETIME, ENT_F_FILTER | ENT_F_SORT, 0, NULL, NULL },
	{ "all_day", ENT_BOOL, ENT_F_FILTER, 0, NULL, NULL },
	{ "location", ENT_TEXT, ENT_F_SEARCH, 300, NULL, NULL },
	{ "related", ENT_ARRAY, ENT_F_AUDIT, 8192, NULL, NULL },
	{ "participants", ENT_ARRAY, 0, 16384, NULL, NULL },
	{ "remind_at", ENT_DATETIME, ENT_F_FILTER, 0, NULL, NULL },
	{ "completed_at", ENT_DATETIME, ENT_F_READONLY | ENT_F_FILTER |
	    ENT_F_SORT, 0, NULL, NULL },
	{ NULL, 0, 0, 0, NULL, NULL }
};

static const struct ent_desc	activities_desc = {
	"activities", "activity", "crm.activities", activities_fields, 0
};

static void
activities_parent_init(void)
{
	eng_parent_check(&activities_desc);
}

static void
activities_worker_init(void)
{
	eng_register(&activities_desc);
}

static const struct route	activities_routes[] = {
	ENTITY_ROUTES("activities", "an activity"),
};

const struct crm_module activities_module = {
	"activities", activities_routes,
	sizeof(activities_routes) / sizeof(activities_routes[0]),
	activities_worker_init, activities_parent_init
};
