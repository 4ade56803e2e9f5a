-- 007_request_begin.sql: open a request's tenant transaction in one
-- statement.
--
-- app/db.c sends a request's work as one libpq pipeline without BEGIN or
-- COMMIT: up to its Sync a pipeline is one implicit transaction, committed
-- at the Sync (or rolled back on any error), so set_config(..., true)
-- lasts exactly that long.  The first statement of every authenticated
-- pipeline is one of these: it sets the tenant (and user) context, makes
-- a read transaction read only, and checks the credential (crm.check_user
-- / crm.check_key from 004), which would otherwise be three statements.

CREATE FUNCTION crm.begin_user(p_tenant uuid, p_user uuid, p_session uuid,
    p_version bigint, p_write boolean)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
DECLARE
	st	text;
BEGIN
	PERFORM set_config('app.tenant_id', p_tenant::text, true),
	    set_config('app.user_id', p_user::text, true);
	st := crm.check_user(p_tenant, p_user, p_session, p_version, p_write);
	IF NOT p_write THEN
		PERFORM set_config('transaction_read_only', 'on', true);
	END IF;
	RETURN st;
END
$$;

-- The key check may record the key's last use, so read only comes after.
CREATE FUNCTION crm.begin_key(p_tenant uuid, p_key uuid, p_write boolean,
    p_ip inet)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
DECLARE
	st	text;
BEGIN
	PERFORM set_config('app.tenant_id', p_tenant::text, true),
	    set_config('app.user_id', '', true);
	st := crm.check_key(p_tenant, p_key, p_write, p_ip);
	IF NOT p_write THEN
		PERFORM set_config('transaction_read_only', 'on', true);
	END IF;
	RETURN st;
END
$$;

REVOKE ALL ON FUNCTION crm.begin_user(uuid, uuid, uuid, bigint, boolean)
    FROM PUBLIC;
REVOKE ALL ON FUNCTION crm.begin_key(uuid, uuid, boolean, inet) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.begin_user(uuid, uuid, uuid, bigint, boolean)
    TO crm_app;
GRANT EXECUTE ON FUNCTION crm.begin_key(uuid, uuid, boolean, inet)
    TO crm_app;
