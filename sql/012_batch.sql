-- 012_batch.sql: what a batch of record operations needs from SQL.
--
-- POST /v1/{entity}/batch runs every operation in one transaction and
-- must undo all of them when one fails.  A single update or delete answers
-- "no such record" or "version mismatch" with a row the handler reads;
-- inside a batch those become errors instead, so the transaction aborts
-- and the error names the failing statement (the engine maps it back to
-- its operation).  found: rows in scope; done: rows changed.
CREATE FUNCTION crm.batch_row(p_found bigint, p_done bigint)
RETURNS bigint
LANGUAGE plpgsql
IMMUTABLE
SET search_path = pg_catalog
AS $$
BEGIN
	IF p_found = 0 THEN
		RAISE EXCEPTION USING ERRCODE = 'CR404',
		    MESSAGE = 'no such record';
	END IF;
	IF p_done = 0 THEN
		RAISE EXCEPTION USING ERRCODE = 'CR412',
		    MESSAGE = 'the record has changed since that version';
	END IF;
	RETURN p_done;
END
$$;

REVOKE ALL ON FUNCTION crm.batch_row(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.batch_row(bigint, bigint) TO crm_app;
