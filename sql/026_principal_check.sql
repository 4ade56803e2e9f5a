-- 026_principal_check.sql: the principal check of every user request as
-- one plain statement instead of a PL/pgSQL call (its text is
-- auth_begin_user in modules/identity/auth.c).
--
-- crm.begin_user() (022) costs three SPI executions and a join of
-- sessions, users and tenants on every request.  Measured with pgbench
-- (pipeline of the check and a deal read, -c8, generic plans): the check
-- alone was ~100 us of PostgreSQL CPU where set_config() alone is ~40 us.
-- The new statement sets the tenant context in its first two columns and
-- then looks the session and its tenant up in a scalar subquery, which
-- PostgreSQL runs as an InitPlan on first reference, that is after the
-- set_config() calls before it in the target list, so row security on
-- sessions and tenants sees the context.  Were that order ever different,
-- the lookup would find nothing and the request would get 401: it fails
-- closed.
--
-- The users join goes: a session of a user who is not active must not
-- exist unrevoked, and the trigger below makes that hold whatever path
-- changes a user's status (crm.user_deactivate() already revoked them; an
-- UPDATE by an operator now does too).

-- Raised by the check when the session lookup says no.  Only called on
-- the failing branch of a CASE, so a valid request never pays for it.
CREATE FUNCTION crm.principal_fail(p_code text)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
BEGIN
	IF p_code = 'CR4TS' THEN
		RAISE EXCEPTION 'tenant suspended' USING ERRCODE = 'CR4TS';
	END IF;
	RAISE EXCEPTION 'credential no longer valid' USING ERRCODE = 'CR401';
END
$$;

REVOKE ALL ON FUNCTION crm.principal_fail(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.principal_fail(text) TO crm_app;

-- A user leaving 'active' takes every live session with them, in the same
-- transaction.  The tenant context is set to the user's own tenant for
-- the UPDATE (row security on sessions) and put back afterwards, so this
-- works from an operator's connection that has no context as well.
CREATE FUNCTION crm.users_revoke_sessions()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
	prev	text := current_setting('app.tenant_id', true);
BEGIN
	PERFORM set_config('app.tenant_id', NEW.tenant_id::text, true);
	UPDATE crm.sessions SET revoked_at = now(),
	    revoke_reason = 'user ' || NEW.status, version = version + 1
	WHERE tenant_id = NEW.tenant_id AND user_id = NEW.id
	    AND revoked_at IS NULL;
	PERFORM set_config('app.tenant_id', coalesce(prev, ''), true);
	RETURN NULL;
END
$$;

CREATE TRIGGER users_revoke_sessions
AFTER UPDATE OF status ON crm.users
FOR EACH ROW
WHEN (OLD.status = 'active' AND NEW.status <> 'active')
EXECUTE FUNCTION crm.users_revoke_sessions();
