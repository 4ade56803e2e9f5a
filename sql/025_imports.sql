-- 025_imports.sql: CSV imports (app/jobimp.c, modules/integrations/imports.c).
--
-- An import job writes records exactly as the API does (the engine's
-- INSERT and UPDATE statements, with their event rows, so the timeline
-- and webhook triggers fire per record), but from crm-worker: crm_worker
-- gets the same write grants as crm_app on the five importable entities
-- and on what their triggers write.  RLS still binds every statement to
-- the job's tenant (app/jobdb.c sets app.tenant_id per transaction).
--
-- A job's progress and report live in crm.jobs.result (023): counts, the
-- first 1,000 row errors, the columns that were ignored, and while it runs
-- a checkpoint (the byte offset and row number of the next record, written
-- in the same transaction as each batch of rows), so a worker that dies
-- mid-import leaves a job that resumes after its last committed batch.

GRANT INSERT, UPDATE ON crm.accounts, crm.contacts, crm.leads, crm.deals,
    crm.products TO crm_worker;
GRANT INSERT ON crm.timeline, crm.deal_stage_history TO crm_worker;
GRANT INSERT, UPDATE ON crm.deal_contacts TO crm_worker;
-- A batch commits only with its checkpoint, and the checkpoint only while
-- the job is still this worker's: crm.batch_row raises otherwise.
GRANT EXECUTE ON FUNCTION crm.batch_row(bigint, bigint) TO crm_worker;
GRANT EXECUTE ON FUNCTION crm.custom_apply(uuid, text, bigint, jsonb, jsonb)
    TO crm_worker;

-- Contacts and deals name their account by name or domain in a CSV, and
-- accounts dedupe by domain: lower-cased stored columns, since under RLS
-- an expression index on lower(...) would not be used (004_identity.sql).
ALTER TABLE crm.accounts
    ADD COLUMN name_lc text GENERATED ALWAYS AS (lower(name)) STORED,
    ADD COLUMN domain_lc text GENERATED ALWAYS AS (lower(domain)) STORED;
CREATE INDEX accounts_name_lc_idx ON crm.accounts (tenant_id, name_lc);
CREATE INDEX accounts_domain_lc_idx ON crm.accounts (tenant_id, domain_lc)
    WHERE domain_lc IS NOT NULL;

-- The timeline trigger (018) leaves generated columns out of a record's
-- changes; its list was read from the catalog when it was made, so the
-- accounts trigger is made again with the two new columns added to it,
-- its other arguments kept as they are.
DO $$
DECLARE
	a	text[];
BEGIN
	-- tgargs: each argument NUL-terminated ('\000' once encoded)
	SELECT string_to_array(encode(tgargs, 'escape'), '\000') INTO a
	FROM pg_trigger
	WHERE tgrelid = 'crm.accounts'::regclass AND tgname = 'timeline';
	DROP TRIGGER timeline ON crm.accounts;
	EXECUTE format('CREATE TRIGGER timeline AFTER INSERT OR UPDATE '
	    'ON crm.accounts FOR EACH ROW WHEN (current_user <> ''crm_owner'' '
	    'OR current_setting(''crm.bulk_load'', true) IS DISTINCT FROM '
	    '''on'') EXECUTE FUNCTION crm.timeline_record(%L, %L, %L, %L)',
	    a[1], a[2] || ',name_lc,domain_lc', a[3], a[4]);
END
$$;
