-- 024_email.sql: e-mail (docs/email.md): templates, password resets, the
-- e-mail jobs of invitations, resets and contact e-mails.
--
-- An e-mail is a crm.jobs row of type 'email' written in the transaction
-- of what causes it (the invitation, the reset request, the contact
-- e-mail and its activity); crm-worker renders and sends it
-- (app/jobmail.c).  The payload snapshots everything the message needs
-- (recipient, merge values, the tenant's template when it has one), so a
-- later change of the contact or the template does not change an e-mail
-- already asked for.  A token travels in it only sealed (AES-256-GCM,
-- app/jobseal.c): the payload's "secret" is hex of the sealed bytes.

-- Tenant templates.  key names the built-in template a row replaces
-- (invitation, password_reset); NULL for the tenant's own templates.
CREATE TABLE crm.email_templates (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	id		uuid NOT NULL,
	key		text CHECK (key IN ('invitation', 'password_reset')),
	name		text NOT NULL
			    CHECK (btrim(name) <> '' AND length(name) <= 200),
	subject		text NOT NULL
			    CHECK (btrim(subject) <> '' AND length(subject) <= 300),
	body_text	text NOT NULL CHECK (length(body_text) <= 262144),
	body_html	text CHECK (length(body_html) <= 262144),
	created_by	uuid,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	version		bigint NOT NULL DEFAULT 1,
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, key),
	UNIQUE (tenant_id, name)
);

SELECT crm_meta.protect_tenant_table('crm.email_templates');
GRANT SELECT, INSERT, UPDATE, DELETE ON crm.email_templates TO crm_app;
GRANT SELECT ON crm.email_templates TO crm_worker;

-- Password resets: the hash of the token's secret part (the token is
-- "<tenant id>.<secret>", so confirming needs no pre-tenant lookup),
-- single use, short-lived.
CREATE TABLE crm.password_resets (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	id		uuid NOT NULL,
	user_id		uuid NOT NULL,
	token_hash	bytea NOT NULL CHECK (length(token_hash) = 32),
	created_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz NOT NULL,
	used_at		timestamptz,
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, token_hash),
	FOREIGN KEY (tenant_id, user_id) REFERENCES crm.users (tenant_id, id)
	    ON DELETE CASCADE
);

SELECT crm_meta.protect_tenant_table('crm.password_resets');
GRANT SELECT, INSERT, UPDATE ON crm.password_resets TO crm_app;
GRANT SELECT, DELETE ON crm.password_resets TO crm_worker;

-- The worker records a contact e-mail's outcome on its activity: the
-- rendered subject and text, and sent or failed (updated_by NULL: the
-- system).  The activity's timeline trigger (018) writes that change.
GRANT UPDATE (subject, body, status, updated_at, updated_by, version)
    ON crm.activities TO crm_worker;
GRANT INSERT ON crm.timeline TO crm_worker;

-- PATCH and DELETE of a template start with this: a missing one is a
-- 404 that rolls back, so no audit row names an id the tenant lacks.
CREATE FUNCTION crm.email_template_lock(p_tenant uuid, p_id uuid)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
BEGIN
	PERFORM 1 FROM crm.email_templates
	WHERE tenant_id = p_tenant AND id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such template' USING ERRCODE = 'CR404';
	END IF;
END
$$;

-- The tenant's own version of a built-in template, or NULL.
CREATE FUNCTION crm.email_override(p_tenant uuid, p_key text)
RETURNS jsonb
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
	SELECT jsonb_build_object('subject', subject, 'text', body_text,
	    'html', body_html)
	FROM crm.email_templates WHERE tenant_id = p_tenant AND key = p_key
$$;

-- One e-mail job.  subject_id: what the e-mail is about (the invitation,
-- the reset, the activity).
CREATE FUNCTION crm.email_job(p_tenant uuid, p_job uuid, p_subject uuid,
    p_by uuid, p_max int, p_payload jsonb)
RETURNS void
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog
AS $$
	INSERT INTO crm.jobs (tenant_id, id, type, payload, subject_id,
	    created_by, max_attempts)
	VALUES (p_tenant, p_job, 'email', p_payload, p_subject, p_by, p_max)
$$;

-- POST /v1/users: the invitation just made by crm.user_invite, mailed.
CREATE FUNCTION crm.invitation_email(p_tenant uuid, p_invitation uuid,
    p_job uuid, p_max int, p_secret text)
RETURNS void
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog
AS $$
	SELECT crm.email_job(p_tenant, p_job, i.id, i.invited_by, p_max,
	    jsonb_build_object('kind', 'invitation', 'to', i.email,
	    'from_name', t.name, 'secret', p_secret,
	    'template', crm.email_override(p_tenant, 'invitation'),
	    'vars', jsonb_build_object('user.name', u.name, 'user.email',
	    u.email, 'tenant.name', t.name, 'invitation.role', r.name,
	    'invitation.days', ceil(extract(epoch FROM i.expires_at -
	    i.created_at) / 86400)::int)))
	FROM crm.invitations i
	JOIN crm.users u ON u.tenant_id = i.tenant_id AND u.id = i.invited_by
	JOIN crm.roles r ON r.tenant_id = i.tenant_id AND r.id = i.role_id
	JOIN crm.tenants t ON t.tenant_id = i.tenant_id
	WHERE i.tenant_id = p_tenant AND i.id = p_invitation
$$;

-- POST /v1/auth/password-reset, for one candidate user (found by the
-- pre-tenant lookup auth.login_candidates, 004): earlier live resets of
-- the user end, the new one is stored hashed and mailed.
CREATE FUNCTION crm.password_reset_request(p_tenant uuid, p_user uuid,
    p_id uuid, p_hash bytea, p_minutes int, p_job uuid, p_max int,
    p_secret text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
BEGIN
	UPDATE crm.password_resets SET used_at = now()
	WHERE tenant_id = p_tenant AND user_id = p_user AND used_at IS NULL;
	INSERT INTO crm.password_resets (tenant_id, id, user_id, token_hash,
	    expires_at)
	VALUES (p_tenant, p_id, p_user, p_hash,
	    now() + make_interval(mins => p_minutes));
	PERFORM crm.email_job(p_tenant, p_job, p_id, NULL, p_max,
	    jsonb_build_object('kind', 'password_reset', 'to', u.email,
	    'from_name', t.name, 'secret', p_secret,
	    'template', crm.email_override(p_tenant, 'password_reset'),
	    'vars', jsonb_build_object('user.name', u.name, 'user.email',
	    u.email, 'tenant.name', t.name, 'reset.minutes', p_minutes)))
	FROM crm.users u JOIN crm.tenants t ON t.tenant_id = u.tenant_id
	WHERE u.tenant_id = p_tenant AND u.id = p_user;
END
$$;

-- POST /v1/auth/password-reset/confirm: a live, unused reset of an
-- active user sets the password and ends every session of the user.  An
-- unknown, used or expired token is one CR401; the row lock makes a
-- token single-use even when two confirms race.  Returns the user id.
CREATE FUNCTION crm.password_reset_confirm(p_tenant uuid, p_hash bytea,
    p_pw text)
RETURNS uuid
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
DECLARE
	uid	uuid;
BEGIN
	SELECT r.user_id INTO uid FROM crm.password_resets r
	JOIN crm.users u ON u.tenant_id = r.tenant_id AND u.id = r.user_id
	WHERE r.tenant_id = p_tenant AND r.token_hash = p_hash
	    AND r.used_at IS NULL AND r.expires_at > now()
	    AND u.status = 'active'
	FOR UPDATE OF r;
	IF uid IS NULL THEN
		RAISE EXCEPTION 'invalid reset token' USING ERRCODE = 'CR401';
	END IF;
	UPDATE crm.password_resets SET used_at = now()
	WHERE tenant_id = p_tenant AND user_id = uid AND used_at IS NULL;
	UPDATE crm.users SET password_hash = p_pw, password_changed_at = now(),
	    updated_at = now()
	WHERE tenant_id = p_tenant AND id = uid;
	UPDATE crm.sessions SET revoked_at = now(),
	    revoke_reason = 'password_reset', version = version + 1
	WHERE tenant_id = p_tenant AND user_id = uid AND revoked_at IS NULL;
	RETURN uid;
END
$$;

-- POST /v1/contacts/{id}/emails: the contact (live, in the caller's
-- record scope, e-mail allowed, with an address), the activity (type
-- email, status queued, related to the contact and its account), its
-- created event and the job, in one statement's transaction.  Refusals
-- are CR422 naming the field with a precise code; a contact out of scope
-- is the 404 of a missing one.  p_template NULL: subject/text/html given.
CREATE FUNCTION crm.contact_email(p_tenant uuid, p_user uuid, p_scope text,
    p_contact uuid, p_template uuid, p_subject text, p_text text,
    p_html text, p_activity uuid, p_event uuid, p_job uuid, p_max int)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
DECLARE
	c	record;
	tpl	jsonb;
	rel	jsonb;
	act	jsonb;
BEGIN
	SELECT * INTO c FROM crm.contacts
	WHERE tenant_id = p_tenant AND id = p_contact AND deleted_at IS NULL;
	IF NOT FOUND OR NOT crm.in_scope(p_tenant, c.owner_id, p_user,
	    p_scope) THEN
		RAISE EXCEPTION 'no such contact' USING ERRCODE = 'CR404';
	END IF;
	IF c.do_not_email THEN
		RAISE EXCEPTION 'the contact does not want e-mail (do_not_email)'
		    USING ERRCODE = 'CR422', COLUMN = 'do_not_email',
		    CONSTRAINT = 'do_not_email';
	END IF;
	IF coalesce(btrim(c.email), '') = '' THEN
		RAISE EXCEPTION 'the contact has no e-mail address'
		    USING ERRCODE = 'CR422', COLUMN = 'email',
		    CONSTRAINT = 'no_email_address';
	END IF;
	IF p_template IS NOT NULL THEN
		SELECT jsonb_build_object('subject', subject, 'text',
		    body_text, 'html', body_html) INTO tpl
		FROM crm.email_templates
		WHERE tenant_id = p_tenant AND id = p_template;
		IF tpl IS NULL THEN
			RAISE EXCEPTION 'no such e-mail template'
			    USING ERRCODE = 'CR422', COLUMN = 'template_id',
			    CONSTRAINT = 'not_found';
		END IF;
	ELSE
		tpl := jsonb_build_object('subject', p_subject, 'text', p_text,
		    'html', p_html);
	END IF;
	rel := jsonb_build_array(jsonb_build_object('entity', 'contacts',
	    'id', c.id));
	IF c.account_id IS NOT NULL THEN
		rel := rel || jsonb_build_array(jsonb_build_object('entity',
		    'accounts', 'id', c.account_id));
	END IF;
	INSERT INTO crm.activities (tenant_id, id, type, subject, body,
	    status, related, owner_id, created_by, updated_by)
	VALUES (p_tenant, p_activity, 'email', left(tpl->>'subject', 300),
	    tpl->>'text', 'queued', rel, p_user, p_user, p_user);
	act := jsonb_build_object('id', p_activity, 'type', 'email',
	    'subject', left(tpl->>'subject', 300), 'status', 'queued',
	    'related', rel, 'owner_id', p_user);
	INSERT INTO crm.events (tenant_id, id, type, entity, entity_id,
	    payload)
	VALUES (p_tenant, p_event, 'activity.created', 'activities',
	    p_activity, act);
	PERFORM crm.email_job(p_tenant, p_job, p_activity, p_user, p_max,
	    jsonb_build_object('kind', 'contact', 'to', c.email,
	    'from_name', t.name, 'reply_to', u.email, 'template', tpl,
	    'activity_id', p_activity,
	    'vars', jsonb_build_object('contact.first_name', c.first_name,
	    'contact.last_name', c.last_name, 'contact.name',
	    btrim(coalesce(c.first_name, '') || ' ' ||
	    coalesce(c.last_name, '')), 'contact.email', c.email,
	    'contact.title', c.title, 'account.name', a.name,
	    'user.name', u.name, 'user.email', u.email,
	    'tenant.name', t.name)))
	FROM crm.tenants t
	JOIN crm.users u ON u.tenant_id = t.tenant_id AND u.id = p_user
	LEFT JOIN crm.accounts a ON a.tenant_id = t.tenant_id
	    AND a.id = c.account_id AND a.deleted_at IS NULL
	WHERE t.tenant_id = p_tenant;
	RETURN jsonb_build_object('activity', act, 'job_id', p_job)::text;
END
$$;

REVOKE ALL ON FUNCTION crm.email_template_lock(uuid, uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION crm.email_override(uuid, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION crm.email_job(uuid, uuid, uuid, uuid, int, jsonb)
    FROM PUBLIC;
REVOKE ALL ON FUNCTION crm.invitation_email(uuid, uuid, uuid, int, text)
    FROM PUBLIC;
REVOKE ALL ON FUNCTION crm.password_reset_request(uuid, uuid, uuid, bytea,
    int, uuid, int, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION crm.password_reset_confirm(uuid, bytea, text)
    FROM PUBLIC;
REVOKE ALL ON FUNCTION crm.contact_email(uuid, uuid, text, uuid, uuid,
    text, text, text, uuid, uuid, uuid, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.email_template_lock(uuid, uuid) TO crm_app;
GRANT EXECUTE ON FUNCTION crm.email_override(uuid, text) TO crm_app;
GRANT EXECUTE ON FUNCTION crm.email_job(uuid, uuid, uuid, uuid, int, jsonb)
    TO crm_app;
GRANT EXECUTE ON FUNCTION crm.invitation_email(uuid, uuid, uuid, int, text)
    TO crm_app;
GRANT EXECUTE ON FUNCTION crm.password_reset_request(uuid, uuid, uuid, bytea,
    int, uuid, int, text) TO crm_app;
GRANT EXECUTE ON FUNCTION crm.password_reset_confirm(uuid, bytea, text)
    TO crm_app;
GRANT EXECUTE ON FUNCTION crm.contact_email(uuid, uuid, text, uuid, uuid,
    text, text, text, uuid, uuid, uuid, int) TO crm_app;
