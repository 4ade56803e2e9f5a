/*
 * email.c: e-mail templates and user-triggered e-mails (docs/email.md).
 *
 *	GET/POST /v1/email-templates, GET/PATCH/DELETE /v1/email-templates/{id}
 *	POST /v1/contacts/{id}/emails {template_id | subject, body, html?}
 *	    -> 202 {activity, job_id}
 *
 * A template's merge fields are checked when it is saved (mailtpl.c): an
 * unknown one is a 422 naming the member and the field.  The built-in
 * templates (invitation, password_reset) are listed too; a tenant
 * replaces one by saving a template with its key.  Sending writes the
 * activity and the job in one transaction (crm.contact_email, sql/024);
 * crm-worker renders and sends (app/jobmail.c) and sets the activity to
 * sent or failed.  The seal key of jobseal.c also seals the invitation and
 * reset tokens that travel to the worker in job payloads (email_seal).
 */

#include <stdio.h>
#include <string.h>

#include "identity.h"
#include "mail.h"
#include "email.h"

#define ET_TS(c)							\
	"to_char(" c " AT TIME ZONE 'UTC', "				\
	"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

#define ET_JSON								\
	"json_build_object('id', id, 'key', key, 'name', name, 'subject', " \
	"subject, 'body_text', body_text, 'body_html', body_html, "	\
	"'builtin', false, 'version', version, 'created_at', "		\
	ET_TS("created_at") ", 'updated_at', " ET_TS("updated_at") ")"

static const char	et_list_sql[] =
	"SELECT coalesce(json_agg(" ET_JSON " ORDER BY name, id), '[]')::text "
	"FROM crm.email_templates WHERE tenant_id = $1";

static const char	et_get_sql[] =
	"SELECT " ET_JSON "::text FROM crm.email_templates "
	"WHERE tenant_id = $1 AND id = $2";

static const char	et_create_sql[] =
	"INSERT INTO crm.email_templates (tenant_id, id, key, name, subject, "
	"body_text, body_html, created_by) VALUES ($1, $2, $3, $4, $5, $6, "
	"$7, $8::uuid) RETURNING " ET_JSON "::text";

static const char	et_update_sql[] =
	"UPDATE crm.email_templates SET name = coalesce($3, name), "
	"subject = coalesce($4, subject), body_text = coalesce($5, "
	"body_text), body_html = CASE WHEN $6::boolean THEN $7 ELSE "
	"body_html END, updated_at = now(), version = version + 1 "
	"WHERE tenant_id = $1 AND id = $2";

static const char *const	et_keys[] = {
	"invitation", "password_reset", NULL
};

static uint8_t	et_key[JSEAL_KEY_LEN];
static int	et_key_ok;

/* The seal key is the webhooks' (CRM_KEYS_DIR/webhook-secret.key). */
static void
et_parent_init(void)
{
	et_key_ok = jseal_key_load(crm_conf.keys_dir, et_key, 1) == 0;
	if (!et_key_ok)
		log_msg(LOG_LVL_ERROR, "email", "cannot read or create the "
		    "seal key in %s: invitations and resets cannot be mailed",
		    crm_conf.keys_dir);
}

static void
et_worker_init(void)
{
	if (!et_key_ok)
		et_key_ok = jseal_key_load(crm_conf.keys_dir, et_key, 0) == 0;
}

int
email_seal(const char *token, char hex[EMAIL_SEALED_HEX])
{
	uint8_t		sealed[IDN_TOKEN_LEN + JSEAL_OVERHEAD];
	size_t		len;

	if (!et_key_ok || strlen(token) > IDN_TOKEN_LEN ||
	    jseal_seal(et_key, token, sealed, &len) == -1)
		return (-1);
	crm_hex(sealed, len, hex);
	return (0);
}

/* A subject, body or HTML whose merge fields we all know; else 422. */
static void
et_check_fields(struct val *v, const char *member, const char *s)
{
	char	bad[80], detail[160];
	int	rc;

	if (s == NULL || (rc = mtpl_check(s, bad, sizeof(bad))) == MTPL_OK)
		return;
	if (rc == MTPL_UNKNOWN)
		(void)snprintf(detail, sizeof(detail), "unknown merge field "
		    "{{%s}}", bad);
	else
		(void)snprintf(detail, sizeof(detail), "a merge field is not "
		    "closed or empty near \"%s\"", bad);
	val_error(v, member, rc == MTPL_UNKNOWN ? "unknown_merge_field" :
	    "invalid_merge_field", detail);
}

static void
et_check_subject(struct val *v, const char *member, const char *s)
{
	if (s != NULL && strpbrk(s, "\r\n") != NULL)
		val_error(v, member, "invalid_value", "a subject is one line");
	et_check_fields(v, member, s);
}

struct et_fields {
	const char	*key;
	const char	*name;
	const char	*subject;
	const char	*text;
	const char	*html;
	int		 html_set;	/* present, null included */
};

static void
et_parse(struct rq *rq, struct val *v, int create, struct et_fields *f)
{
	static const char *const	 members[] = { "key", "name", "subject",
					    "body_text", "body_html", NULL };
	json_t				*h;

	memset(f, 0, sizeof(*f));
	val_init(v, rq->body);
	val_only(v, members);
	if (create)
		f->key = val_enum(v, "key", 0, et_keys);
	else if (json_object_get(rq->body, "key") != NULL)
		val_error(v, "key", "read_only", "the key is set at creation");
	f->name = val_str(v, "name", create, 1, 200);
	f->subject = val_str(v, "subject", create, 1, MAIL_SUBJECT_MAX);
	f->text = val_str(v, "body_text", create, 0, MAIL_BODY_MAX);
	h = json_is_object(rq->body) ? json_object_get(rq->body,
	    "body_html") : NULL;
	f->html_set = h != NULL;
	if (h != NULL && !json_is_null(h))
		f->html = val_str(v, "body_html", 0, 0, MAIL_BODY_MAX);
	et_check_subject(v, "subject", f->subject);
	et_check_fields(v, "body_text", f->text);
	et_check_fields(v, "body_html", f->html);
}

/* The tenant's templates, then the built-ins it has not replaced. */
static int
et_list_done(struct rq *rq)
{
	const struct mtpl_builtin	*bi;
	json_error_t			 e;
	json_t				*rows, *row;
	size_t				 i, k;

	if (!db_ok(rq))
		return (db_reply_error(rq));
	if ((rows = json_loads(PQgetvalue(db_res(rq, 0), 0, 0), 0, &e)) ==
	    NULL)
		return (reply_problem(rq, PROB_INTERNAL, NULL));
	for (i = 0; (bi = mtpl_builtin_at(i)) != NULL; i++) {
		json_array_foreach(rows, k, row) {
			if (js_get_str(row, "key") != NULL &&
			    strcmp(js_get_str(row, "key"), bi->key) == 0)
				break;
		}
		if (k < json_array_size(rows))
			continue;
		json_array_append_new(rows, json_pack("{s:n,s:s,s:s,s:s,s:s,"
		    "s:s,s:b}", "id", "key", bi->key, "name", bi->key,
		    "subject", bi->subject, "body_text", bi->text, "body_html",
		    bi->html, "builtin", 1));
	}
	return (reply_json(rq, 200, json_pack("{s:o}", "data", rows)));
}

static int
et_list(struct rq *rq)
{
	struct db_batch	*b;

	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, et_list_sql);
	db_param(b, rq->who.tenant);
	return (db_run(rq, b, et_list_done));
}

static int
et_get(struct rq *rq)
{
	struct db_batch	*b;
	char		 id[UUID_STRLEN + 1];

	if (!users_path_id(rq, 0, id))
		return (reply_problem(rq, PROB_NOT_FOUND, "no such template"));
	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, et_get_sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
	return (db_run(rq, b, users_reply_200));
}

static int
et_create(struct rq *rq)
{
	struct db_batch		*b;
	struct et_fields	 f;
	struct val		 v;
	char			 id[UUID_STRLEN + 1];

	et_parse(rq, &v, 1, &f);
	if (val_failed(&v))
		return (auth_reply_val(rq, &v));
	val_free(&v);
	uuid7_new_str(id);
	b = db_batch(rq, DB_TX);
	audit_add(b, rq, "email_template.created", "email_template", id,
	    json_pack("{s:s?}", "key", f.key));
	db_stmt(b, et_create_sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
	db_param(b, f.key);
	db_param(b, f.name);
	db_param(b, f.subject);
	db_param(b, f.text);
	db_param(b, f.html);
	db_param(b, rq->who.owner[0] ? rq->who.owner : NULL);
	return (db_run(rq, b, users_reply_201));
}

/* First in a change: a missing template is a 404 and nothing is written. */
static void
et_lock(struct db_batch *b, struct rq *rq, const char *id)
{
	db_stmt(b, "SELECT crm.email_template_lock($1, $2)");
	db_param(b, rq->who.tenant);
	db_param(b, id);
}

static int
et_update(struct rq *rq)
{
	struct db_batch		*b;
	struct et_fields	 f;
	struct val		 v;
	char			 id[UUID_STRLEN + 1];

	if (!users_path_id(rq, 0, id))
		return (reply_problem(rq, PROB_NOT_FOUND, "no such template"));
	et_parse(rq, &v, 0, &f);
	if (val_failed(&v))
		return (auth_reply_val(rq, &v));
	val_free(&v);
	b = db_batch(rq, DB_TX);
	et_lock(b, rq, id);
	db_stmt(b, et_update_sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
	db_param(b, f.name);
	db_param(b, f.subject);
	db_param(b, f.text);
	db_param(b, f.html_set ? "true" : "false");
	db_param(b, f.html);
	audit_add(b, rq, "email_template.updated", "email_template", id,
	    NULL);
	db_stmt(b, et_get_sql);
	db_param(b, rq->who.tenant);
	db_param(b, id);
	return (db_run(rq, b, users_reply_200));
}

static int
et_delete_done(struct rq *rq)
{
	if (!db_ok(rq))
		return (db_reply_error(rq));
	return (reply_empty(rq, 204));
}

static int
et_delete(struct rq *rq)
{
	struct db_batch	*b;
	char		 id[UUID_STRLEN + 1];

	if (!users_path_id(rq, 0, id))
		return (reply_problem(rq, PROB_NOT_FOUND, "no such template"));
	b = db_batch(rq, DB_TX);
	et_lock(b, rq, id);
	db_stmt(b, "DELETE FROM crm.email_templates WHERE tenant_id = $1 "
	    "AND id = $2");
	db_param(b, rq->who.tenant);
	db_param(b, id);
	audit_add(b, rq, "email_template.deleted", "email_template", id,
	    NULL);
	return (db_run(rq, b, et_delete_done));
}

/* POST /v1/contacts/{id}/emails */

static int
et_send_done(struct rq *rq)
{
	PGresult	*res;

	if (!db_ok(rq))
		return (db_reply_error(rq));
	res = db_res(rq, 0);
	return (reply_raw(rq, 202, "application/json; charset=utf-8",
	    PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0)));
}

static void
et_send_parse(struct rq *rq, struct val *v, struct et_fields *f,
    char tpl[UUID_STRLEN + 1])
{
	static const char *const	 members[] = { "template_id", "subject",
					    "body", "html", NULL };
	int				 have_tpl;

	memset(f, 0, sizeof(*f));
	val_init(v, rq->body);
	val_only(v, members);
	have_tpl = val_uuid(v, "template_id", 0, tpl);
	f->subject = val_str(v, "subject", !have_tpl, 1, MAIL_SUBJECT_MAX);
	f->text = val_str(v, "body", !have_tpl, 1, MAIL_BODY_MAX);
	f->html = val_str(v, "html", 0, 0, MAIL_BODY_MAX);
	if (have_tpl && (f->subject != NULL || f->text != NULL ||
	    f->html != NULL))
		val_error(v, "template_id", "invalid_value", "either a "
		    "template_id or a subject and body, not both");
	et_check_subject(v, "subject", f->subject);
	et_check_fields(v, "body", f->text);
	et_check_fields(v, "html", f->html);
}

static int
et_send(struct rq *rq)
{
	struct db_batch		*b;
	struct et_fields	 f;
	struct val		 v;
	char			 contact[UUID_STRLEN + 1], tpl[UUID_STRLEN + 1];
	char			 act[UUID_STRLEN + 1], ev[UUID_STRLEN + 1];
	char			 job[UUID_STRLEN + 1];

	if (!users_path_id(rq, 0, contact) || rq->who.owner[0] == '\0')
		return (reply_problem(rq, PROB_NOT_FOUND, "no such contact"));
	tpl[0] = '\0';
	et_send_parse(rq, &v, &f, tpl);
	if (val_failed(&v))
		return (auth_reply_val(rq, &v));
	val_free(&v);
	uuid7_new_str(act);
	uuid7_new_str(ev);
	uuid7_new_str(job);
	b = db_batch(rq, DB_TX);
	db_stmt(b, "SELECT crm.contact_email($1, $2, $3, $4, $5, $6, $7, $8, "
	    "$9, $10, $11, $12)");
	db_param(b, rq->who.tenant);
	db_param(b, rq->who.owner);
	db_param(b, perm_scope_name(rq->who.scope));
	db_param(b, contact);
	db_param(b, tpl[0] ? tpl : NULL);
	db_param(b, f.subject);
	db_param(b, f.text);
	db_param(b, f.html);
	db_param(b, act);
	db_param(b, ev);
	db_param(b, job);
	db_paramf(b, "%d", crm_conf.email_max_attempts);
	return (db_run(rq, b, et_send_done));
}

static const struct route et_routes[] = {
	ROUTE(HTTP_METHOD_GET, "/v1/email-templates", "email-templates:read",
	    et_list, 0, "E-mail templates: the tenant's and the built-ins"),
	ROUTE(HTTP_METHOD_POST, "/v1/email-templates", "email-templates:create",
	    et_create, RT_JSON | RT_WRITE,
	    "Save an e-mail template (merge fields are checked)"),
	ROUTE(HTTP_METHOD_GET, "/v1/email-templates/{id}",
	    "email-templates:read", et_get, 0, "One e-mail template"),
	ROUTE(HTTP_METHOD_PATCH, "/v1/email-templates/{id}",
	    "email-templates:update", et_update, RT_JSON | RT_WRITE,
	    "Change an e-mail template"),
	ROUTE(HTTP_METHOD_DELETE, "/v1/email-templates/{id}",
	    "email-templates:delete", et_delete, RT_WRITE,
	    "Delete an e-mail template"),
	ROUTE(HTTP_METHOD_POST, "/v1/contacts/{id}/emails", "activities:create",
	    et_send, RT_JSON | RT_WRITE | RT_IDEMPOTENT,
	    "E-mail a contact: recorded as an activity, sent by a job"),
};

const struct crm_module email_module = {
	"email", et_routes, sizeof(et_routes) / sizeof(et_routes[0]),
	et_worker_init, et_parent_init
};
