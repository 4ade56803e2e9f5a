/*
 * cfc.c: the per-worker cache of custom field definitions (entcf.c,
 * sql/011), per tenant and entity.
 *
 * A write validates against the cached definitions and passes their
 * version to crm.custom_apply(), which refuses (CR4CF) when they moved on;
 * a list that names a custom field the cache does not know reloads once.
 * So the cache may be stale without ever being wrong, and it needs no
 * invalidation messages between workers.  Entries also expire after
 * CFC_TTL_MS, only to let unused tenants go.
 *
 * Direct-mapped: a tenant+entity hashes to one slot and evicts whatever
 * was there; a miss costs one indexed read.
 */

#include <string.h>

#include "srv.h"
#include "ent.h"

#define CFC_SLOTS	2048
#define CFC_TTL_MS	(5 * 60 * 1000)

struct cfc_slot {
	char			 tenant[UUID_STRLEN + 1];
	const struct ent_desc	*desc;
	uint64_t		 loaded_ms;
	struct ent_cdefs	*defs;
};

static struct cfc_slot	cfc_slots[CFC_SLOTS];

static const char	cfc_load_sql[] =
	ENTCF_DEFS_SQL("$1", "$2");

static struct cfc_slot *
cfc_slot(const char *tenant, const struct ent_desc *d)
{
	uint32_t	h = 2166136261u;
	const char	*p;

	for (p = tenant; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	for (p = d->name; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return (&cfc_slots[h % CFC_SLOTS]);
}

static void
cfc_clear(struct cfc_slot *s)
{
	entcf_free(s->defs);
	memset(s, 0, sizeof(*s));
}

/* Forget a tenant's definitions of an entity (after changing them). */
void
cfc_drop(const char *tenant, const struct ent_desc *d)
{
	struct cfc_slot	*s = cfc_slot(tenant, d);

	if (s->desc == d && strcmp(s->tenant, tenant) == 0)
		cfc_clear(s);
}

static const struct ent_cdefs *
cfc_find(const char *tenant, const struct ent_desc *d)
{
	struct cfc_slot	*s = cfc_slot(tenant, d);

	if (s->desc != d || strcmp(s->tenant, tenant) != 0)
		return (NULL);
	if (crm_now_ms() - s->loaded_ms > CFC_TTL_MS) {
		cfc_clear(s);
		return (NULL);
	}
	return (s->defs);
}

/* The loader's answer: cache it, then run the route's handler again. */
static int
cfc_loaded(struct rq *rq)
{
	const struct ent_desc	*d = eng_desc(rq);
	struct cfc_slot		*s;
	struct ent_cdefs	*defs;
	PGresult		*res;

	if (!db_ok(rq))
		return (db_reply_error(rq));
	res = db_res(rq, 0);
	defs = entcf_parse(PQgetvalue(res, 0, 1),
	    strtoll(PQgetvalue(res, 0, 0), NULL, 10));
	if (defs == NULL) {
		log_msg(LOG_LVL_ERROR, "custom_fields", "bad definitions of %s",
		    d->name);
		return (reply_problem(rq, PROB_INTERNAL, NULL));
	}
	s = cfc_slot(rq->who.tenant, d);
	cfc_clear(s);
	(void)snprintf(s->tenant, sizeof(s->tenant), "%s", rq->who.tenant);
	s->desc = d;
	s->defs = defs;
	s->loaded_ms = crm_now_ms();
	rq->cf_loaded = 1;
	return (rq->route->fn(rq));
}

/*
 * The definitions for this request's tenant and entity: PIPE_NEXT with
 * *out set, or RQ_WAIT while they load (the handler then runs again from
 * its start).  reload forces a fresh read, at most once per request.
 */
int
cfc_ready(struct rq *rq, const struct ent_desc *d, int reload,
    const struct ent_cdefs **out)
{
	struct db_batch	*b;

	if (reload && !rq->cf_loaded)
		cfc_drop(rq->who.tenant, d);
	if ((*out = cfc_find(rq->who.tenant, d)) != NULL)
		return (PIPE_NEXT);
	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, cfc_load_sql);
	db_param(b, rq->who.tenant);
	db_param(b, d->name);
	return (db_run(rq, b, cfc_loaded));
}
