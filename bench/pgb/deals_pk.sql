-- bench/pgb/deals_pk.sql: PostgreSQL alone, the yardstick of the
-- developers' guide ("PostgreSQL alone answers ~15,000 primary-key
-- reads/s"): the get's own statement with no tenant transaction, no
-- principal check and no row security (run as the superuser), so the
-- bench shows what our whole stack costs on top of the bare read.
-- Variables (-D): tid did (bench/deals.sh).
SELECT id AS _c0, name AS _c1, account_id AS _c2, pipeline_id AS _c3, stage_id AS _c4, amount AS _c5, currency AS _c6, expected_close_date AS _c7, probability AS _c8, type AS _c9, source AS _c10, lost_reason AS _c11, next_step AS _c12, description AS _c13, contacts AS _c14, (closed_at AT TIME ZONE 'UTC') AS _c15, custom AS _c16, owner_id AS _c17, (created_at AT TIME ZONE 'UTC') AS _c18, (updated_at AT TIME ZONE 'UTC') AS _c19, created_by AS _c20, updated_by AS _c21, version FROM crm.deals WHERE tenant_id = :tid::uuid AND id = :did::uuid AND deleted_at IS NULL;
