/*
 * modules.c: every module of the service, listed once.  The pipeline
 * builds its route table from this list at worker start.
 */

#include "srv.h"
#include "identity/identity.h"

extern const struct crm_module	ops_module;
extern const struct crm_module	openapi_module;
extern const struct crm_module	tenants_module;
extern const struct crm_module	accounts_module;
extern const struct crm_module	customfields_module;
extern const struct crm_module	search_module;

const struct crm_module *crm_modules[] = {
	&ops_module,
	&openapi_module,
	&tenants_module,
	&sessions_module,
	&audit_module,
	&users_module,
	&roles_module,
	&apikeys_module,
	&accounts_module,
	&customfields_module,
	&search_module,
	NULL
};
