/*
 * identity.h: what the identity module's files share.
 *
 *	auth.c		auth_	  credentials -> principal; the pipeline's
 *				  authenticate, tenant, rate limit and
 *				  permission steps; the principal check in
 *				  every tenant transaction; token issuing
 *	audit.c		audit_	  audit log rows (in the change's transaction)
 *				  and GET /v1/audit-log
 *	sessions.c	sess_	  sign-up, login, refresh, logout, me, JWKS
 *	users.c		users_	  users and invitations
 *	roles.c		roles_	  roles and teams
 *	apikeys.c	apikeys_  API keys
 *	tenant.c	tenant_	  the tenant, its usage
 *
 * Handlers follow the kernel's rules (app/srv.h): parse with val_*,
 * build one db batch per round trip, reply with reply_* or
 * db_reply_error(); audit rows ride in the same batch as the change.
 */

#ifndef CRM_IDENTITY_H
#define CRM_IDENTITY_H

#include "srv.h"
#include "auth.h"

#define IDN_REFRESH_TTL		(30 * 60)	/* idle timeout, seconds */
#define IDN_SESSION_TTL		(8 * 3600)	/* absolute timeout */
#define IDN_INVITE_TTL		(7 * 86400)
#define IDN_TOKEN_LEN		(UUID_STRLEN + 1 + 43)	/* tenant.secret */

/* auth.c */
void	 auth_worker_init(void);
void	 auth_parent_init(void);
const struct kr_ring	*auth_ring(void);
int	 auth_client_ip(struct rq *, char *, size_t);
int	 auth_ip_limit(struct rq *, const char *, const char *, int, int, int,
	    rq_fn);
void	 auth_password_check(struct val *, const char *, const char *);
const char	*auth_user_agent(struct rq *);
void	 auth_set_user(struct rq *, const char *, const char *, const char *,
	    int64_t, const char *);
json_t	*auth_tokens(struct rq *, const char *);
int	 auth_reply_tokens(struct rq *, int, const char *, json_t *);
int	 auth_opaque_new(const char *, char [IDN_TOKEN_LEN + 1], uint8_t [32]);
int	 auth_opaque_parse(const char *, char [UUID_STRLEN + 1], uint8_t [32]);
int	 auth_reply_invalid(struct rq *);
int	 auth_reply_val(struct rq *, struct val *);
int	 auth_is_owner_role(const char *);

/* sessions.c: a new session and its first refresh token, into b. */
void	 sess_open(struct db_batch *, struct rq *, const char *,
	    char [IDN_TOKEN_LEN + 1]);

/*
 * users.c: what the administrative handlers (users, roles, teams, API
 * keys, the tenant) share: the problem for a failed batch (CR codes of
 * sql/006_identity_admin.sql; a CR422 names field), continuations that
 * send the batch's last statement's JSON text, {id} path parsing, and
 * the parameters (caller's grants, built-in roles' grants) of the SQL
 * rules that keep a role from handing out more than it holds.
 */
int	 users_db_error(struct rq *, const char *);
const char	*users_builtin_grants(void);
void	 users_actor_params(struct db_batch *, struct rq *);
int	 users_reply_200(struct rq *);
int	 users_reply_201(struct rq *);
int	 users_path_id(struct rq *, int, char [UUID_STRLEN + 1]);

/* audit.c: adds the INSERT to b; detail may be NULL (stolen otherwise). */
void	 audit_add(struct db_batch *, struct rq *, const char *,
	    const char *, const char *, json_t *);
void	 audit_add_as(struct db_batch *, struct rq *, const char *,
	    const char *, const char *, const char *, json_t *);

extern const struct crm_module	sessions_module;
extern const struct crm_module	users_module;
extern const struct crm_module	reset_module;
extern const struct crm_module	roles_module;
extern const struct crm_module	apikeys_module;
extern const struct crm_module	audit_module;

#endif /* CRM_IDENTITY_H */
