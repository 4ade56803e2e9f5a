-- 023_exports.sql: exports (app/jobexp.c, modules/integrations/exports.c).
--
-- An export job's row says who asked (created_by: only that user may
-- download, everyone else gets the 404 of a missing job) and, once done,
-- where its file is and until when (result: {file, rows, bytes, format,
-- expires_at}, and removed_at once the scheduled cleanup_exports job has
-- deleted the file).  The file itself is in CRM_EXPORTS_DIR, mode 600,
-- named <tenant>.<job>.<csv|jsonl>; the name never comes from a client.

ALTER TABLE crm.jobs ADD COLUMN created_by uuid;
ALTER TABLE crm.jobs ADD COLUMN result jsonb
    CHECK (result IS NULL OR jsonb_typeof(result) = 'object');

-- The cleanup's scan: exports whose file may still be on disk.
CREATE INDEX jobs_export_files_idx ON crm.jobs (tenant_id, id)
    WHERE type = 'export' AND result IS NOT NULL;
