/*
 * records.h: what the CRM entity modules share beyond the engine.
 *
 *	shared.c	shared_  tenant-wide entities (pipelines, products,
 *				 price books): the engine's handlers with
 *				 the record scope widened to the tenant
 *	deals.c		deals_desc, for the deal part of a lead conversion
 *	timeline.c	timeline_ GET /v1/{entity}/{id}/timeline (srv.h)
 */

#ifndef CRM_RECORDS_H
#define CRM_RECORDS_H

#include "srv.h"
#include "ent.h"

/*
 * Pipelines, products and price books are the tenant's configuration and
 * catalogue, not anybody's records: a sales user (record scope team) must
 * see every stage and every product to sell at all.  The engine applies
 * the principal's record scope to every entity, so these routes run its
 * handlers with the scope widened to "all"; who may read or change them
 * at all is still the route's permission.
 */
int	 shared_get(struct rq *);
int	 shared_create(struct rq *);
int	 shared_update(struct rq *);
int	 shared_delete(struct rq *);
int	 shared_restore(struct rq *);
int	 shared_timeline(struct rq *);

#define SHARED_ROUTES(name, one)					\
	ROUTE(HTTP_METHOD_POST, "/v1/" name, name ":create",		\
	    shared_create, RT_JSON | RT_WRITE, "Create " one),		\
	ROUTE(HTTP_METHOD_GET, "/v1/" name "/{id}", name ":read",	\
	    shared_get, 0, "Get " one),					\
	ROUTE(HTTP_METHOD_PATCH, "/v1/" name "/{id}", name ":update",	\
	    shared_update, RT_JSON | RT_WRITE,				\
	    "Change " one " (JSON merge-patch, If-Match)"),		\
	ROUTE(HTTP_METHOD_DELETE, "/v1/" name "/{id}", name ":delete",	\
	    shared_delete, RT_WRITE, "Move " one " to the recycle bin"),\
	ROUTE(HTTP_METHOD_POST, "/v1/" name "/{id}/restore",		\
	    name ":delete", shared_restore, RT_WRITE,			\
	    "Restore " one " from the recycle bin"),			\
	ROUTE(HTTP_METHOD_GET, "/v1/" name "/{id}/timeline",		\
	    name ":read", shared_timeline, 0,				\
	    "Changes of " one ", newest first")

extern const struct ent_desc	deals_desc;

#endif /* CRM_RECORDS_H */
