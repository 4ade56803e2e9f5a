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
