-- 004_identity.sql: who may act in a tenant, and how they prove it.
--
-- Users, roles, teams, sessions with rotating refresh tokens, API keys and
-- invitations.  PostgreSQL is the source of truth for every credential:
-- each authenticated request runs crm.check_user() or crm.check_key() as
-- the second statement of its tenant transaction (same round trip), so a
-- logout, a password change, a deactivation or a key revocation is seen by
-- the very next request, and survives any loss of Redis.
--
-- Secrets are never stored: passwords as argon2id hashes (app/pw.c), API
-- keys, refresh tokens and invitation tokens as SHA-256 of the whole token
-- (they carry 256 random bits, so a fast hash is enough).

-- Roles: the built-in ones are rows too (created at sign-up, builtin =
-- true, immutable) so users.role_id is one foreign key for both kinds.
-- Custom roles hold grants "<resource>:<action>" and a record scope.
CREATE TABLE crm.roles (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	id		uuid NOT NULL,
	name		text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{1,39}$'),
	description	text NOT NULL DEFAULT ''
			    CHECK (length(description) <= 500),
	builtin		boolean NOT NULL DEFAULT false,
	grants		text[] NOT NULL DEFAULT '{}'
			    CHECK (cardinality(grants) <= 200),
	scope		text NOT NULL DEFAULT 'all'
			    CHECK (scope IN ('own', 'team', 'all')),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, name)
);

SELECT crm_meta.protect_tenant_table('crm.roles');
GRANT SELECT, INSERT, UPDATE, DELETE ON crm.roles TO crm_app;
GRANT SELECT ON crm.roles TO crm_worker;

-- email_lc is a stored generated column: lower() is not leakproof, so
-- under RLS an expression index on lower(email) would not be used
-- (SECURITY.md finding 4); "=" on a real column is.
CREATE TABLE crm.users (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	id		uuid NOT NULL,
	email		text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
	email_lc	text GENERATED ALWAYS AS (lower(email)) STORED,
	name		text NOT NULL DEFAULT ''
			    CHECK (length(name) <= 200),
	password_hash	text NOT NULL,
	role_id		uuid NOT NULL,
	status		text NOT NULL DEFAULT 'active'
			    CHECK (status IN ('active', 'deactivated')),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	last_login_at	timestamptz,
	password_changed_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, email_lc),
	FOREIGN KEY (tenant_id, role_id) REFERENCES crm.roles (tenant_id, id)
);

SELECT crm_meta.protect_tenant_table('crm.users');
GRANT SELECT, INSERT, UPDATE ON crm.users TO crm_app;
GRANT SELECT ON crm.users TO crm_worker;

-- Login by e-mail happens before any tenant is known: crm_auth may read
-- just these columns of every user through its own policy, and only
-- through auth.login_candidates() below.  The index serves that lookup.
CREATE INDEX users_email_lc_idx ON crm.users (email_lc);
GRANT SELECT (tenant_id, id, email_lc, status) ON crm.users TO crm_auth;
CREATE POLICY auth_lookup ON crm.users AS PERMISSIVE FOR SELECT
    TO crm_auth USING (true);

CREATE TABLE crm.teams (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	id		uuid NOT NULL,
	name		text NOT NULL
			    CHECK (btrim(name) <> '' AND length(name) <= 100),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, name)
);

SELECT crm_meta.protect_tenant_table('crm.teams');
GRANT SELECT, INSERT, UPDATE, DELETE ON crm.teams TO crm_app;
GRANT SELECT ON crm.teams TO crm_worker;

CREATE TABLE crm.team_members (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	team_id		uuid NOT NULL,
	user_id		uuid NOT NULL,
	added_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, team_id, user_id),
	FOREIGN KEY (tenant_id, team_id) REFERENCES crm.teams (tenant_id, id)
	    ON DELETE CASCADE,
	FOREIGN KEY (tenant_id, user_id) REFERENCES crm.users (tenant_id, id)
);

CREATE INDEX team_members_user_idx
    ON crm.team_members (tenant_id, user_id);
SELECT crm_meta.protect_tenant_table('crm.team_members');
GRANT SELECT, INSERT, DELETE ON crm.team_members TO crm_app;
GRANT SELECT ON crm.team_members TO crm_worker;

-- A session is one login.  version is in every access token (claim sv):
-- logout, password change, role change and deactivation bump it, which
-- kills the session's access tokens on their next request.  Refresh
-- tokens of a session form its family: reuse of a spent one revokes the
-- whole session (RFC 9700 4.14.2).
CREATE TABLE crm.sessions (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	id		uuid NOT NULL,
	user_id		uuid NOT NULL,
	version		bigint NOT NULL DEFAULT 1,
	created_at	timestamptz NOT NULL DEFAULT now(),
	refreshed_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz NOT NULL,
	revoked_at	timestamptz,
	revoke_reason	text,
	ip		inet,
	user_agent	text CHECK (length(user_agent) <= 512),
	PRIMARY KEY (tenant_id, id),
	FOREIGN KEY (tenant_id, user_id) REFERENCES crm.users (tenant_id, id)
);

CREATE INDEX sessions_user_idx ON crm.sessions (tenant_id, user_id)
    WHERE revoked_at IS NULL;
SELECT crm_meta.protect_tenant_table('crm.sessions');
GRANT SELECT, INSERT, UPDATE ON crm.sessions TO crm_app;
GRANT SELECT, DELETE ON crm.sessions TO crm_worker;

CREATE TABLE crm.refresh_tokens (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	token_hash	bytea NOT NULL CHECK (length(token_hash) = 32),
	session_id	uuid NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz NOT NULL,
	used_at		timestamptz,
	PRIMARY KEY (tenant_id, token_hash),
	FOREIGN KEY (tenant_id, session_id) REFERENCES crm.sessions (tenant_id, id)
	    ON DELETE CASCADE
);

SELECT crm_meta.protect_tenant_table('crm.refresh_tokens');
GRANT SELECT, INSERT, UPDATE ON crm.refresh_tokens TO crm_app;
GRANT SELECT, DELETE ON crm.refresh_tokens TO crm_worker;

-- API keys: crm_live_<prefix>_<secret><crc> (app/akey.c); the prefix is
-- public (shown in listings), key_hash is SHA-256 of the whole key.
-- Prefixes are random (62^8), so a clash across tenants is possible in
-- theory only; the lookup returns every match and the hash decides.
CREATE TABLE crm.api_keys (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	id		uuid NOT NULL,
	prefix		text NOT NULL CHECK (prefix ~ '^[A-Za-z0-9]{8}$'),
	key_hash	bytea NOT NULL CHECK (length(key_hash) = 32),
	name		text NOT NULL
			    CHECK (btrim(name) <> '' AND length(name) <= 100),
	scopes		text[] NOT NULL CHECK (cardinality(scopes) BETWEEN 1 AND 50),
	created_by	uuid NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz,
	last_used_at	timestamptz,
	last_used_ip	inet,
	revoked_at	timestamptz,
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, prefix),
	FOREIGN KEY (tenant_id, created_by) REFERENCES crm.users (tenant_id, id)
);

CREATE INDEX api_keys_prefix_idx ON crm.api_keys (prefix);
SELECT crm_meta.protect_tenant_table('crm.api_keys');
GRANT SELECT, INSERT, UPDATE ON crm.api_keys TO crm_app;
GRANT SELECT ON crm.api_keys TO crm_worker;
GRANT SELECT (tenant_id, id, prefix, key_hash, revoked_at, expires_at)
    ON crm.api_keys TO crm_auth;
CREATE POLICY auth_lookup ON crm.api_keys AS PERMISSIVE FOR SELECT
    TO crm_auth USING (true);

-- Invitations: the token is "<tenant id>.<secret>", so accepting needs no
-- pre-tenant lookup; only its hash is stored.  Single use, 7 days.
CREATE TABLE crm.invitations (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	id		uuid NOT NULL,
	email		text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
	email_lc	text GENERATED ALWAYS AS (lower(email)) STORED,
	name		text NOT NULL DEFAULT ''
			    CHECK (length(name) <= 200),
	role_id		uuid NOT NULL,
	token_hash	bytea NOT NULL CHECK (length(token_hash) = 32),
	invited_by	uuid NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz NOT NULL,
	accepted_at	timestamptz,
	revoked_at	timestamptz,
	user_id		uuid,
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, token_hash),
	FOREIGN KEY (tenant_id, role_id) REFERENCES crm.roles (tenant_id, id),
	FOREIGN KEY (tenant_id, invited_by) REFERENCES crm.users (tenant_id, id),
	FOREIGN KEY (tenant_id, user_id) REFERENCES crm.users (tenant_id, id)
);

SELECT crm_meta.protect_tenant_table('crm.invitations');
GRANT SELECT, INSERT, UPDATE ON crm.invitations TO crm_app;
GRANT SELECT ON crm.invitations TO crm_worker;

-- The per-request credential checks.  SECURITY INVOKER: they run as
-- crm_app under RLS, after the transaction's tenant context is set, and
-- look at the caller's tenant only.  A failure raises a CR4xx SQLSTATE
-- that app/db.c maps to the problem of the same status; the whole
-- transaction (and so the request's work) is aborted with it.
CREATE FUNCTION crm.check_user(p_tenant uuid, p_user uuid, p_session uuid,
    p_version bigint, p_write boolean)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
	st	text;
BEGIN
	SELECT t.status INTO st
	FROM crm.sessions s
	JOIN crm.users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
	JOIN crm.tenants t ON t.tenant_id = s.tenant_id
	WHERE s.tenant_id = p_tenant AND s.id = p_session
	    AND s.user_id = p_user AND s.version = p_version
	    AND s.revoked_at IS NULL AND s.expires_at > now()
	    AND u.status = 'active';
	IF st IS NULL OR st = 'closed' THEN
		RAISE EXCEPTION 'credential no longer valid'
		    USING ERRCODE = 'CR401';
	END IF;
	IF p_write AND st = 'suspended' THEN
		RAISE EXCEPTION 'tenant suspended' USING ERRCODE = 'CR4TS';
	END IF;
	RETURN st;
END
$$;

-- last_used_at is written at most once a minute per key, so that key
-- lookups do not all become writes.
CREATE FUNCTION crm.check_key(p_tenant uuid, p_key uuid, p_write boolean,
    p_ip inet)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
DECLARE
	st	text;
	used	timestamptz;
BEGIN
	SELECT t.status, k.last_used_at INTO st, used
	FROM crm.api_keys k
	JOIN crm.users u ON u.tenant_id = k.tenant_id AND u.id = k.created_by
	JOIN crm.tenants t ON t.tenant_id = k.tenant_id
	WHERE k.tenant_id = p_tenant AND k.id = p_key
	    AND k.revoked_at IS NULL
	    AND (k.expires_at IS NULL OR k.expires_at > now())
	    AND u.status = 'active';
	IF st IS NULL OR st = 'closed' THEN
		RAISE EXCEPTION 'credential no longer valid'
		    USING ERRCODE = 'CR401';
	END IF;
	IF p_write AND st = 'suspended' THEN
		RAISE EXCEPTION 'tenant suspended' USING ERRCODE = 'CR4TS';
	END IF;
	IF used IS NULL OR used < now() - interval '1 minute' THEN
		UPDATE crm.api_keys SET last_used_at = now(), last_used_ip = p_ip
		WHERE tenant_id = p_tenant AND id = p_key;
	END IF;
	RETURN st;
END
$$;

REVOKE ALL ON FUNCTION crm.check_user(uuid, uuid, uuid, bigint, boolean)
    FROM PUBLIC;
REVOKE ALL ON FUNCTION crm.check_key(uuid, uuid, boolean, inet) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.check_user(uuid, uuid, uuid, bigint, boolean)
    TO crm_app;
GRANT EXECUTE ON FUNCTION crm.check_key(uuid, uuid, boolean, inet)
    TO crm_app;

-- Pre-tenant lookups (SECURITY.md 3.1.6): SECURITY DEFINER, owned by
-- crm_auth, reading only the columns granted to it above.
--
-- auth.login_candidates(email): the active users with this e-mail in
-- tenants that are not closed, at most 10.  The caller then reads the
-- password hash inside each candidate's own tenant transaction.
CREATE FUNCTION auth.login_candidates(p_email text)
RETURNS TABLE (tenant_id uuid, user_id uuid, slug text)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT u.tenant_id, u.id, t.slug
	FROM crm.users u
	JOIN crm.tenants t ON t.tenant_id = u.tenant_id
	WHERE u.email_lc = lower(p_email) AND u.status = 'active'
	    AND t.status <> 'closed'
	ORDER BY t.slug
	LIMIT 10
$$;

-- auth.api_key_lookup(prefix): the live keys with this prefix and their
-- hashes; the caller compares the hash in constant time.
CREATE FUNCTION auth.api_key_lookup(p_prefix text)
RETURNS TABLE (tenant_id uuid, key_id uuid, key_hash bytea)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT k.tenant_id, k.id, k.key_hash
	FROM crm.api_keys k
	WHERE k.prefix = p_prefix AND k.revoked_at IS NULL
	    AND (k.expires_at IS NULL OR k.expires_at > now())
	LIMIT 5
$$;

ALTER FUNCTION auth.login_candidates(text) OWNER TO crm_auth;
ALTER FUNCTION auth.api_key_lookup(text) OWNER TO crm_auth;
SET LOCAL ROLE crm_auth;
REVOKE ALL ON FUNCTION auth.login_candidates(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION auth.api_key_lookup(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth.login_candidates(text) TO crm_app;
GRANT EXECUTE ON FUNCTION auth.api_key_lookup(text) TO crm_app;
RESET ROLE;

-- Sign-up: crm_app may create the tenant's built-in roles and first user
-- like any other rows (the transaction's tenant is the new tenant); the
-- audit log and tenants grants of 002/003 cover the rest.
