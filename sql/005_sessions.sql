-- 005_sessions.sql: refresh token rotation with reuse detection.
--
-- One function so that a refresh is one round trip and one transaction:
-- the presented token is locked, spent and replaced, or, when it was spent
-- already, its whole session (the token family) is revoked (RFC 9700
-- 4.14.2).  It returns a status instead of raising, because the revocation
-- must commit while the client still gets its 401.

CREATE FUNCTION crm.refresh_rotate(p_tenant uuid, p_hash bytea,
    p_new_hash bytea, p_ttl_seconds int)
RETURNS TABLE (status text, user_id uuid, session_id uuid, version bigint,
    role text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
DECLARE
	tok	crm.refresh_tokens%ROWTYPE;
	ses	crm.sessions%ROWTYPE;
	rname	text;
	ustat	text;
BEGIN
	SELECT * INTO tok FROM crm.refresh_tokens r
	WHERE r.tenant_id = p_tenant AND r.token_hash = p_hash FOR UPDATE;
	IF NOT FOUND THEN
		RETURN QUERY SELECT 'invalid'::text, NULL::uuid, NULL::uuid,
		    NULL::bigint, NULL::text;
		RETURN;
	END IF;
	SELECT * INTO ses FROM crm.sessions s
	WHERE s.tenant_id = p_tenant AND s.id = tok.session_id FOR UPDATE;
	IF tok.used_at IS NOT NULL THEN
		UPDATE crm.sessions s SET revoked_at = coalesce(s.revoked_at,
		    now()), revoke_reason = coalesce(s.revoke_reason,
		    'refresh_reuse'), version = s.version + 1
		WHERE s.tenant_id = p_tenant AND s.id = ses.id;
		RETURN QUERY SELECT 'reused'::text, ses.user_id, ses.id,
		    ses.version + 1, NULL::text;
		RETURN;
	END IF;
	SELECT r.name, u.status INTO rname, ustat
	FROM crm.users u JOIN crm.roles r
	    ON r.tenant_id = u.tenant_id AND r.id = u.role_id
	WHERE u.tenant_id = p_tenant AND u.id = ses.user_id;
	IF tok.expires_at <= now() OR ses.revoked_at IS NOT NULL OR
	    ses.expires_at <= now() OR ustat IS DISTINCT FROM 'active' THEN
		RETURN QUERY SELECT 'invalid'::text, NULL::uuid, NULL::uuid,
		    NULL::bigint, NULL::text;
		RETURN;
	END IF;
	UPDATE crm.refresh_tokens r SET used_at = now()
	WHERE r.tenant_id = p_tenant AND r.token_hash = p_hash;
	INSERT INTO crm.refresh_tokens (tenant_id, token_hash, session_id,
	    expires_at)
	VALUES (p_tenant, p_new_hash, ses.id, least(ses.expires_at,
	    now() + make_interval(secs => p_ttl_seconds)));
	UPDATE crm.sessions s SET refreshed_at = now()
	WHERE s.tenant_id = p_tenant AND s.id = ses.id;
	RETURN QUERY SELECT 'ok'::text, ses.user_id, ses.id, ses.version,
	    rname;
END
$$;

REVOKE ALL ON FUNCTION crm.refresh_rotate(uuid, bytea, bytea, int)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.refresh_rotate(uuid, bytea, bytea, int)
    TO crm_app;
