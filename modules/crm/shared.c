/*
 * shared.c: the engine's handlers for tenant-wide entities (records.h):
 * the same handlers, the record scope widened to the whole tenant.  The
 * principal's scope is read only by the engine's statements, so widening
 * it for this request changes nothing else.
 */

#include "records.h"

static struct rq *
shared_widen(struct rq *rq)
{
	rq->who.scope = PERM_SCOPE_ALL;
	return (rq);
}

int
shared_get(struct rq *rq)
{
	return (eng_get(shared_widen(rq)));
}

int
shared_create(struct rq *rq)
{
	return (eng_create(shared_widen(rq)));
}

int
shared_update(struct rq *rq)
{
	return (eng_update(shared_widen(rq)));
}

int
shared_delete(struct rq *rq)
{
	return (eng_delete(shared_widen(rq)));
}

int
shared_restore(struct rq *rq)
{
	return (eng_restore(shared_widen(rq)));
}

int
shared_timeline(struct rq *rq)
{
	return (timeline_list(shared_widen(rq)));
}
