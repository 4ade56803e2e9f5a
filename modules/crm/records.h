/*
 * records.h: what the CRM entity modules share beyond the engine.
 *
 *	deals.c		deals_desc, for the deal part of a lead conversion
 *	timeline.c	timeline_ GET /v1/{entity}/{id}/timeline (srv.h)
 */

#ifndef CRM_RECORDS_H
#define CRM_RECORDS_H

#include "srv.h"
#include "ent.h"

extern const struct ent_desc	deals_desc;

#endif /* CRM_RECORDS_H */
