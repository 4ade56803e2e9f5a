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
extern const struct crm_module	contacts_module;
extern const struct crm_module	leads_module;
extern const struct crm_module	pipelines_module;
extern const struct crm_module	deals_module;
extern const struct crm_module	activities_module;
extern const struct crm_module	products_module;
extern const struct crm_module	price_books_module;
extern const struct crm_module	webhooks_module;
extern const struct crm_module	jobs_module;
extern const struct crm_module	exports_module;
extern const struct crm_module	email_module;
extern const struct crm_module	imports_module;

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
	&contacts_module,
	&leads_module,
	&pipelines_module,
	&deals_module,
	&activities_module,
	&products_module,
	&price_books_module,
	&webhooks_module,
	&jobs_module,
	&exports_module,
	&email_module,
	&reset_module,
	&imports_module,
	NULL
};
