-- 027_write_path.sql: what every record write runs in triggers, made
-- cheaper.  Measured on a deal create through the API (track_functions,
-- 2 cores under load): the triggers took ~4.7 ms of PostgreSQL, and
-- perf showed the SQL parser and planner (base_yyparse, pg_strtok,
-- copyObject) running on every write.
--
-- The cause: a LANGUAGE sql function with a SET clause is never inlined,
-- and when it is called from another statement its body is parsed and
-- planned again on each execution of that statement (PL/pgSQL caches its
-- plans for the session; SQL functions do not).  crm.uuid7() is called by
-- the timeline entry, the stage history row and every webhook job, and
-- crm.webhook_jobs_for_event() by every event.
--
-- SET search_path = pg_catalog protects SECURITY DEFINER functions from a
-- caller's search path.  These run as the caller with the caller's rights,
-- every name in them is pg_catalog's or schema-qualified, and pg_catalog
-- is searched first unless a search path names it later (ours never
-- does), so the clause bought nothing here and cost a parse per call.

-- Inlinable now: a single SELECT of built-ins, no SET clause (overlay
-- and substring in their SQL-standard form are pg_catalog's by grammar).
CREATE OR REPLACE FUNCTION crm.uuid7()
RETURNS uuid
LANGUAGE sql
VOLATILE
AS $$
	SELECT pg_catalog.encode(pg_catalog.set_bit(pg_catalog.set_bit(
	    overlay(pg_catalog.uuid_send(pg_catalog.gen_random_uuid())
	    PLACING substring(pg_catalog.int8send(pg_catalog.floor(
	    pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()) * 1000)
	    ::bigint) FROM 3) FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$;

ALTER FUNCTION crm.webhook_wants(text[], text) RESET search_path;

-- The event trigger writes the delivery jobs itself (a PL/pgSQL statement
-- keeps its plan), and only when the tenant has an enabled subscription:
-- an INSERT ... SELECT of no rows still fires the jobs table's statement
-- trigger, whose NOTIFY takes PostgreSQL's database-wide notify lock at
-- every commit.
CREATE OR REPLACE FUNCTION crm.events_to_webhooks()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM crm.webhooks w WHERE w.tenant_id =
	    NEW.tenant_id AND w.enabled AND crm.webhook_wants(w.events,
	    NEW.type)) THEN
		INSERT INTO crm.jobs (tenant_id, id, type, payload, subject_id)
		SELECT w.tenant_id, crm.uuid7(), 'webhook', jsonb_build_object(
		    'event_id', NEW.id, 'webhook_id', w.id), w.id
		FROM crm.webhooks w
		WHERE w.tenant_id = NEW.tenant_id AND w.enabled
		    AND crm.webhook_wants(w.events, NEW.type);
	END IF;
	RETURN NULL;
END
$$;
