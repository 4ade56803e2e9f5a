/*
 * modules.c: every module of the service, listed once.  The pipeline
 * builds its route table from this list at worker start.
 */

#include "srv.h"
#include "identity/identity.h"

extern const struct crm_module	ops_module;
extern const struct crm_module	tenants_module;
extern const struct crm_module	accounts_module;
extern const struct crm_module	webhooks_module;
extern const struct crm_module	jobs_module;

const struct crm_module *crm_modules[] = {
	&ops_module,
	&tenants_module,
	&sessions_module,
	&audit_module,
	&users_module,
	&roles_module,
	&apikeys_module,
	&accounts_module,
	&webhooks_module,
	&jobs_module,
	NULL
};
