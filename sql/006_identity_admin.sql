-- 006_identity_admin.sql: the rules of tenant administration (users,
-- invitations, roles, teams, API keys, usage) that must hold under
-- concurrency, as small functions the handlers call in their one round
-- trip (modules/identity/users.c, roles.c, apikeys.c, modules/tenants).
--
-- All are SECURITY INVOKER: they run as crm_app under RLS, inside the
-- request's tenant transaction, and still say "tenant_id = p_tenant" in
-- every query.  A refusal raises a class "CR" SQLSTATE that aborts the
-- whole transaction (so the audit row in the same batch goes with it):
--
--	CR403	forbidden		CR404	not found
--	CR409	conflict (message is the client's detail)
--	CR422	validation failed (message is the client's detail)
--	CR401	the invitation token is not valid
--	CR4TS	the tenant is suspended
--	CR204	nothing to do: the handler replies 204 without auditing
--	CRPLS	the plan's seats are taken (403 plan_limit naming seats)
--	CRPLK	the tenant has its maximum of live API keys (403 plan_limit)
--
-- Messages are client-safe: the handlers may send them as the detail.

-- Administrative changes that count or protect users (seats, owners, key
-- limits) are serialised per tenant by locking the tenant row.  FOR NO KEY
-- UPDATE does not block the KEY SHARE locks that foreign key checks take,
-- so ordinary writes in the tenant go on.
CREATE FUNCTION crm.admin_lock(p_tenant uuid)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
BEGIN
	PERFORM 1 FROM crm.tenants WHERE tenant_id = p_tenant
	    FOR NO KEY UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such tenant' USING ERRCODE = 'CR404';
	END IF;
END
$$;

-- Is this user an owner?  Only the built-in role counts: a custom role
-- cannot be named "owner" since names are unique per tenant.
CREATE FUNCTION crm.user_is_owner(p_tenant uuid, p_user uuid)
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
	SELECT coalesce((SELECT r.builtin AND r.name = 'owner'
	    FROM crm.users u
	    JOIN crm.roles r ON r.tenant_id = u.tenant_id AND r.id = u.role_id
	    WHERE u.tenant_id = p_tenant AND u.id = p_user), false)
$$;

CREATE FUNCTION crm.owner_count(p_tenant uuid)
RETURNS bigint
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
	SELECT count(*)
	FROM crm.users u
	JOIN crm.roles r ON r.tenant_id = u.tenant_id AND r.id = u.role_id
	WHERE u.tenant_id = p_tenant AND u.status = 'active'
	    AND r.builtin AND r.name = 'owner'
$$;

-- Does the grant list p_have (a JSON array) cover every grant of the
-- role?  The same rule as perm_allows() in app/perm.c: "*" on either side
-- of a held grant matches anything, and "manage" implies every action.
-- Built-in roles keep their grants in the code, not in their rows: the
-- caller passes them as p_builtin, {"<role name>": [grants]}.  This stops
-- a custom role holding users:manage or roles:manage from handing out (or
-- taking away) more than it holds itself.
CREATE FUNCTION crm.role_within(p_tenant uuid, p_role uuid, p_have jsonb,
    p_builtin jsonb)
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
	SELECT NOT EXISTS (
	    SELECT 1
	    FROM crm.roles r
	    CROSS JOIN LATERAL unnest(CASE WHEN r.builtin THEN ARRAY(
		SELECT jsonb_array_elements_text(p_builtin -> r.name))
		ELSE r.grants END) w
	    WHERE r.tenant_id = p_tenant AND r.id = p_role
		AND NOT EXISTS (
		    SELECT 1 FROM jsonb_array_elements_text(p_have) h
		    WHERE split_part(h, ':', 1) IN ('*', split_part(w, ':', 1))
			AND split_part(h, ':', 2) IN ('*', 'manage',
			split_part(w, ':', 2))))
$$;

-- The role p_role of the tenant that p_actor may hand out: it must exist
-- (CR422), only an owner makes owners, and it must be within the actor's
-- grants (CR403).
CREATE FUNCTION crm.role_grantable(p_tenant uuid, p_actor uuid,
    p_have jsonb, p_builtin jsonb, p_role text)
RETURNS uuid
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
	rid	uuid;
BEGIN
	SELECT id INTO rid FROM crm.roles
	WHERE tenant_id = p_tenant AND name = p_role;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such role' USING ERRCODE = 'CR422';
	END IF;
	IF p_role = 'owner' AND NOT crm.user_is_owner(p_tenant, p_actor) THEN
		RAISE EXCEPTION 'only an owner may grant the owner role'
		    USING ERRCODE = 'CR403';
	END IF;
	IF NOT crm.role_within(p_tenant, rid, p_have, p_builtin) THEN
		RAISE EXCEPTION 'the role has permissions you do not hold'
		    USING ERRCODE = 'CR403';
	END IF;
	RETURN rid;
END
$$;

-- The target user's role name and status for a change by p_actor, with
-- the rules every change of a user shares: it must exist (CR404), only an
-- owner may change an owner, and nobody may change a user whose role
-- holds more than they do (CR403).
CREATE FUNCTION crm.user_for_change(p_tenant uuid, p_actor uuid,
    p_have jsonb, p_builtin jsonb, p_user uuid, OUT role_name text,
    OUT status text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
DECLARE
	rid	uuid;
BEGIN
	PERFORM crm.admin_lock(p_tenant);
	SELECT r.name, u.status, r.id INTO role_name, status, rid
	FROM crm.users u
	JOIN crm.roles r ON r.tenant_id = u.tenant_id AND r.id = u.role_id
	WHERE u.tenant_id = p_tenant AND u.id = p_user;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such resource' USING ERRCODE = 'CR404';
	END IF;
	IF role_name = 'owner' AND NOT crm.user_is_owner(p_tenant, p_actor)
	THEN
		RAISE EXCEPTION 'only an owner may change an owner'
		    USING ERRCODE = 'CR403';
	END IF;
	IF NOT crm.role_within(p_tenant, rid, p_have, p_builtin) THEN
		RAISE EXCEPTION 'the user has permissions you do not hold'
		    USING ERRCODE = 'CR403';
	END IF;
END
$$;

-- PATCH /v1/users/{id}: a NULL argument leaves the column alone.  A role
-- change bumps the version of every live session of the user, so the
-- access tokens carrying the old role fail on their next request.
CREATE FUNCTION crm.user_update(p_tenant uuid, p_actor uuid, p_have jsonb,
    p_builtin jsonb, p_user uuid, p_name text, p_role text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
DECLARE
	cur	record;
	rid	uuid;
BEGIN
	SELECT * INTO cur FROM crm.user_for_change(p_tenant, p_actor, p_have,
	    p_builtin, p_user);
	IF p_role IS NOT NULL AND p_role <> cur.role_name THEN
		rid := crm.role_grantable(p_tenant, p_actor, p_have, p_builtin,
		    p_role);
		IF cur.role_name = 'owner' AND cur.status = 'active' AND
		    crm.owner_count(p_tenant) <= 1 THEN
			RAISE EXCEPTION 'the last owner cannot be demoted'
			    USING ERRCODE = 'CR409';
		END IF;
		UPDATE crm.users SET role_id = rid, updated_at = now()
		WHERE tenant_id = p_tenant AND id = p_user;
		UPDATE crm.sessions SET version = version + 1
		WHERE tenant_id = p_tenant AND user_id = p_user
		    AND revoked_at IS NULL;
	END IF;
	IF p_name IS NOT NULL THEN
		UPDATE crm.users SET name = p_name, updated_at = now()
		WHERE tenant_id = p_tenant AND id = p_user;
	END IF;
END
$$;

-- DELETE /v1/users/{id}: deactivate and revoke every session (their
-- refresh tokens die with them; the user's API keys fail crm.check_key()).
CREATE FUNCTION crm.user_deactivate(p_tenant uuid, p_actor uuid,
    p_have jsonb, p_builtin jsonb, p_user uuid)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
DECLARE
	cur	record;
BEGIN
	SELECT * INTO cur FROM crm.user_for_change(p_tenant, p_actor, p_have,
	    p_builtin, p_user);
	IF cur.status = 'deactivated' THEN
		RAISE EXCEPTION 'already deactivated' USING ERRCODE = 'CR204';
	END IF;
	IF cur.role_name = 'owner' AND crm.owner_count(p_tenant) <= 1 THEN
		RAISE EXCEPTION 'the last owner cannot be deactivated'
		    USING ERRCODE = 'CR409';
	END IF;
	UPDATE crm.users SET status = 'deactivated', updated_at = now()
	WHERE tenant_id = p_tenant AND id = p_user;
	UPDATE crm.sessions SET revoked_at = now(),
	    revoke_reason = 'user deactivated'
	WHERE tenant_id = p_tenant AND user_id = p_user AND revoked_at IS NULL;
END
$$;

-- POST /v1/users: a new invitation replaces a pending one for the same
-- e-mail (so "send again" works).  Seats count active users and pending
-- invitations, so invitations cannot oversubscribe the plan.
CREATE FUNCTION crm.user_invite(p_tenant uuid, p_actor uuid, p_have jsonb,
    p_builtin jsonb, p_id uuid, p_email text, p_name text, p_role text,
    p_hash bytea, p_ttl integer)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
DECLARE
	rid	uuid;
	seats	integer;
BEGIN
	PERFORM crm.admin_lock(p_tenant);
	rid := crm.role_grantable(p_tenant, p_actor, p_have, p_builtin,
	    p_role);
	IF EXISTS (SELECT 1 FROM crm.users
	    WHERE tenant_id = p_tenant AND email_lc = lower(p_email)) THEN
		RAISE EXCEPTION 'a user with this e-mail already exists'
		    USING ERRCODE = 'CR409';
	END IF;
	UPDATE crm.invitations SET revoked_at = now()
	WHERE tenant_id = p_tenant AND email_lc = lower(p_email)
	    AND accepted_at IS NULL AND revoked_at IS NULL;
	SELECT p.seats INTO seats
	FROM crm.tenants t JOIN crm.plans p ON p.code = t.plan
	WHERE t.tenant_id = p_tenant;
	IF (SELECT count(*) FROM crm.users
	    WHERE tenant_id = p_tenant AND status = 'active') +
	    (SELECT count(*) FROM crm.invitations
	    WHERE tenant_id = p_tenant AND accepted_at IS NULL
	    AND revoked_at IS NULL AND expires_at > now()) >= seats THEN
		RAISE EXCEPTION 'every seat of the plan is taken'
		    USING ERRCODE = 'CRPLS';
	END IF;
	INSERT INTO crm.invitations (tenant_id, id, email, name, role_id,
	    token_hash, invited_by, expires_at)
	VALUES (p_tenant, p_id, p_email, coalesce(p_name, ''), rid, p_hash,
	    p_actor, now() + make_interval(secs => p_ttl));
END
$$;

-- POST /v1/invitations/accept: the invitation (live, unused) becomes a
-- user with its role; the handler opens the session in the same
-- transaction (sess_open()).  Returns the role name for the access token.
-- A spent, expired, revoked or unknown token is one CR401; the row lock
-- makes a token single-use even when two accepts race.
CREATE FUNCTION crm.invitation_accept(p_tenant uuid, p_hash bytea,
    p_user uuid, p_pw text, p_name text)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
DECLARE
	inv	record;
	st	text;
BEGIN
	SELECT status INTO st FROM crm.tenants WHERE tenant_id = p_tenant;
	SELECT i.id, i.email, i.role_id, r.name AS role_name INTO inv
	FROM crm.invitations i
	JOIN crm.roles r ON r.tenant_id = i.tenant_id AND r.id = i.role_id
	WHERE i.tenant_id = p_tenant AND i.token_hash = p_hash
	    AND i.accepted_at IS NULL AND i.revoked_at IS NULL
	    AND i.expires_at > now()
	FOR UPDATE OF i;
	IF NOT FOUND OR st IS NULL OR st = 'closed' THEN
		RAISE EXCEPTION 'invitation not valid' USING ERRCODE = 'CR401';
	END IF;
	IF st = 'suspended' THEN
		RAISE EXCEPTION 'tenant suspended' USING ERRCODE = 'CR4TS';
	END IF;
	IF EXISTS (SELECT 1 FROM crm.users
	    WHERE tenant_id = p_tenant AND email_lc = lower(inv.email)) THEN
		RAISE EXCEPTION 'a user with this e-mail already exists'
		    USING ERRCODE = 'CR409';
	END IF;
	INSERT INTO crm.users (tenant_id, id, email, name, password_hash,
	    role_id, last_login_at)
	VALUES (p_tenant, p_user, inv.email, p_name, p_pw, inv.role_id, now());
	UPDATE crm.invitations SET accepted_at = now(), user_id = p_user
	WHERE tenant_id = p_tenant AND id = inv.id;
	RETURN inv.role_name;
END
$$;

-- A custom role about to be changed or deleted, locked: 404 when there is
-- none, 403 for a built-in role or one with permissions the caller does
-- not hold (the privilege-escalation guard of crm.role_within()).
CREATE FUNCTION crm.role_for_change(p_tenant uuid, p_have jsonb,
    p_builtin jsonb, p_id uuid, p_verb text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
DECLARE
	b	boolean;
BEGIN
	SELECT builtin INTO b FROM crm.roles
	WHERE tenant_id = p_tenant AND id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such resource' USING ERRCODE = 'CR404';
	END IF;
	IF b THEN
		RAISE EXCEPTION 'built-in roles cannot be %', p_verb
		    USING ERRCODE = 'CR403';
	END IF;
	IF NOT crm.role_within(p_tenant, p_id, p_have, p_builtin) THEN
		RAISE EXCEPTION 'the role has permissions you do not hold'
		    USING ERRCODE = 'CR403';
	END IF;
END
$$;

-- PATCH /v1/roles/{id}: built-in roles are immutable.  Every live session
-- holding the role is bumped: tokens carry the role's name and the
-- permission step its grants, both of which may have changed.
CREATE FUNCTION crm.role_update(p_tenant uuid, p_have jsonb,
    p_builtin jsonb, p_id uuid, p_name text, p_description text,
    p_grants text[], p_scope text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
BEGIN
	PERFORM crm.role_for_change(p_tenant, p_have, p_builtin, p_id,
	    'changed');
	UPDATE crm.roles SET name = coalesce(p_name, name),
	    description = coalesce(p_description, description),
	    grants = coalesce(p_grants, grants),
	    scope = coalesce(p_scope, scope), updated_at = now()
	WHERE tenant_id = p_tenant AND id = p_id;
	UPDATE crm.sessions s SET version = s.version + 1
	FROM crm.users u
	WHERE u.tenant_id = p_tenant AND u.role_id = p_id
	    AND s.tenant_id = p_tenant AND s.user_id = u.id
	    AND s.revoked_at IS NULL;
END
$$;

-- DELETE /v1/roles/{id}: a role that users or invitations (pending or
-- past: they keep a foreign key to it) refer to is in use.
CREATE FUNCTION crm.role_delete(p_tenant uuid, p_have jsonb,
    p_builtin jsonb, p_id uuid)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
BEGIN
	PERFORM crm.role_for_change(p_tenant, p_have, p_builtin, p_id,
	    'deleted');
	IF EXISTS (SELECT 1 FROM crm.users
	    WHERE tenant_id = p_tenant AND role_id = p_id) OR
	    EXISTS (SELECT 1 FROM crm.invitations
	    WHERE tenant_id = p_tenant AND role_id = p_id) THEN
		RAISE EXCEPTION 'the role is in use by users or invitations'
		    USING ERRCODE = 'CR409';
	END IF;
	DELETE FROM crm.roles WHERE tenant_id = p_tenant AND id = p_id;
END
$$;

-- PATCH and DELETE /v1/teams/{id}: CR404 for a missing team, so the
-- audit row in the same transaction is never written for nothing.
CREATE FUNCTION crm.team_update(p_tenant uuid, p_id uuid, p_name text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
BEGIN
	UPDATE crm.teams SET name = p_name, updated_at = now()
	WHERE tenant_id = p_tenant AND id = p_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such resource' USING ERRCODE = 'CR404';
	END IF;
END
$$;

CREATE FUNCTION crm.team_delete(p_tenant uuid, p_id uuid)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
BEGIN
	DELETE FROM crm.teams WHERE tenant_id = p_tenant AND id = p_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such resource' USING ERRCODE = 'CR404';
	END IF;
END
$$;

-- Team membership: the team must exist (CR404), the user be an active
-- user of the tenant (CR422).  Adding twice is not an error.
CREATE FUNCTION crm.team_member_add(p_tenant uuid, p_team uuid,
    p_user uuid)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
BEGIN
	PERFORM 1 FROM crm.teams WHERE tenant_id = p_tenant AND id = p_team;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such resource' USING ERRCODE = 'CR404';
	END IF;
	PERFORM 1 FROM crm.users
	WHERE tenant_id = p_tenant AND id = p_user AND status = 'active';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such active user' USING ERRCODE = 'CR422';
	END IF;
	INSERT INTO crm.team_members (tenant_id, team_id, user_id)
	VALUES (p_tenant, p_team, p_user)
	ON CONFLICT DO NOTHING;
END
$$;

CREATE FUNCTION crm.team_member_remove(p_tenant uuid, p_team uuid,
    p_user uuid)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
BEGIN
	DELETE FROM crm.team_members
	WHERE tenant_id = p_tenant AND team_id = p_team AND user_id = p_user;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such resource' USING ERRCODE = 'CR404';
	END IF;
END
$$;

-- POST /v1/api-keys: at most p_max live keys per tenant.
CREATE FUNCTION crm.api_key_create(p_tenant uuid, p_id uuid, p_prefix text,
    p_hash bytea, p_name text, p_scopes text[], p_creator uuid,
    p_expires timestamptz, p_max integer)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
BEGIN
	PERFORM crm.admin_lock(p_tenant);
	IF p_expires IS NOT NULL AND p_expires <= now() THEN
		RAISE EXCEPTION 'must be in the future' USING ERRCODE = 'CR422';
	END IF;
	IF (SELECT count(*) FROM crm.api_keys
	    WHERE tenant_id = p_tenant AND revoked_at IS NULL
	    AND (expires_at IS NULL OR expires_at > now())) >= p_max THEN
		RAISE EXCEPTION 'the tenant has its maximum of live API keys'
		    USING ERRCODE = 'CRPLK';
	END IF;
	INSERT INTO crm.api_keys (tenant_id, id, prefix, key_hash, name,
	    scopes, created_by, expires_at)
	VALUES (p_tenant, p_id, p_prefix, p_hash, p_name, p_scopes, p_creator,
	    p_expires);
END
$$;

-- DELETE /v1/api-keys/{id}: revoking a revoked key changes nothing.
CREATE FUNCTION crm.api_key_revoke(p_tenant uuid, p_id uuid)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
DECLARE
	r	timestamptz;
BEGIN
	SELECT revoked_at INTO r FROM crm.api_keys
	WHERE tenant_id = p_tenant AND id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such resource' USING ERRCODE = 'CR404';
	END IF;
	IF r IS NOT NULL THEN
		RAISE EXCEPTION 'already revoked' USING ERRCODE = 'CR204';
	END IF;
	UPDATE crm.api_keys SET revoked_at = now()
	WHERE tenant_id = p_tenant AND id = p_id;
END
$$;

-- GET /v1/tenant/usage, records.used: the tenant's rows in the CRM record
-- tables that exist now.  The CRM migrations create these tables later;
-- until then the sum is 0.  Table names are constants here, never input.
-- A migration adding a record table not named here replaces this
-- function (CREATE OR REPLACE) with the longer list.
CREATE FUNCTION crm.tenant_record_count(p_tenant uuid)
RETURNS bigint
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
	rel	regclass;
	n	bigint;
	total	bigint := 0;
BEGIN
	FOR rel IN
		SELECT to_regclass('crm.' || t) FROM unnest(ARRAY['accounts',
		    'contacts', 'leads', 'deals', 'activities', 'products',
		    'price_books', 'quotes', 'orders', 'invoices']) t
	LOOP
		CONTINUE WHEN rel IS NULL OR
		    NOT has_table_privilege(rel, 'SELECT');
		EXECUTE format('SELECT count(*) FROM %s WHERE tenant_id = $1',
		    rel) INTO n USING p_tenant;
		total := total + n;
	END LOOP;
	RETURN total;
END
$$;

GRANT EXECUTE ON FUNCTION
    crm.admin_lock(uuid),
    crm.user_is_owner(uuid, uuid),
    crm.owner_count(uuid),
    crm.role_within(uuid, uuid, jsonb, jsonb),
    crm.role_grantable(uuid, uuid, jsonb, jsonb, text),
    crm.role_for_change(uuid, jsonb, jsonb, uuid, text),
    crm.user_for_change(uuid, uuid, jsonb, jsonb, uuid),
    crm.user_update(uuid, uuid, jsonb, jsonb, uuid, text, text),
    crm.user_deactivate(uuid, uuid, jsonb, jsonb, uuid),
    crm.user_invite(uuid, uuid, jsonb, jsonb, uuid, text, text, text, bytea,
	integer),
    crm.invitation_accept(uuid, bytea, uuid, text, text),
    crm.role_update(uuid, jsonb, jsonb, uuid, text, text, text[], text),
    crm.role_delete(uuid, jsonb, jsonb, uuid),
    crm.team_update(uuid, uuid, text),
    crm.team_delete(uuid, uuid),
    crm.team_member_add(uuid, uuid, uuid),
    crm.team_member_remove(uuid, uuid, uuid),
    crm.api_key_create(uuid, uuid, text, bytea, text, text[], uuid,
	timestamptz, integer),
    crm.api_key_revoke(uuid, uuid),
    crm.tenant_record_count(uuid)
    TO crm_app;
