-- bench/pgb/deals_list.sql: pgbench baseline of GET /v1/deals?filter[stage_id][eq]=S&sort=-amount&limit=20
-- (bench/deals.sh, make bench-deals).
--
-- What app/db.c sends for the route, in one pipeline (one implicit
-- transaction, as in the service): the principal statement
-- (modules/identity/auth.c auth_begin_user: tenant context, session
-- check, read-only mode), then the engine's list (20 + 1 rows, keyset sort keys),
-- copied from the service's own statements (log_statement) with every
-- $n turned into a typed pgbench variable.  What pgbench forces: to_char's
-- format is split around its colons (pgbench would take ":MI" for a
-- variable; the planner folds the concatenation), new ids come from
-- crm.uuid7() in SQL instead of from C, and a record id is a literal
-- (bench/deals.sh writes one copy of the script per id: pgbench has no
-- string arrays).  Variables (-D): tid uid sid sv sc did stage nm amt cur
-- ecd cfv cf.  Regenerate by hand when the engine's SQL changes.
\startpipeline
SELECT pg_catalog.set_config('app.tenant_id', :tid::uuid::text, true), pg_catalog.set_config('app.user_id', :uid::uuid::text, true), CASE (SELECT CASE t.status WHEN 'trial' THEN 'active' ELSE t.status END FROM crm.sessions s JOIN crm.tenants t ON t.tenant_id = s.tenant_id WHERE s.tenant_id = :tid::uuid AND s.id = :sid::uuid AND s.user_id = :uid::uuid AND s.version = :sv::bigint AND s.revoked_at IS NULL AND s.expires_at > pg_catalog.now()) WHEN 'active' THEN pg_catalog.set_config('transaction_read_only', CASE WHEN false::boolean THEN 'off' ELSE 'on' END, true) WHEN 'suspended' THEN CASE WHEN false::boolean THEN crm.principal_fail('CR4TS') ELSE pg_catalog.set_config('transaction_read_only', 'on', true) END ELSE crm.principal_fail('CR401') END;
SELECT id AS _c0, name AS _c1, account_id AS _c2, pipeline_id AS _c3, stage_id AS _c4, amount AS _c5, currency AS _c6, expected_close_date AS _c7, probability AS _c8, type AS _c9, source AS _c10, lost_reason AS _c11, next_step AS _c12, description AS _c13, contacts AS _c14, (closed_at AT TIME ZONE 'UTC') AS _c15, custom AS _c16, owner_id AS _c17, (created_at AT TIME ZONE 'UTC') AS _c18, (updated_at AT TIME ZONE 'UTC') AS _c19, created_by AS _c20, updated_by AS _c21, (amount)::text AS _k0, (id)::text AS _k1 FROM crm.deals WHERE tenant_id = :tid::uuid AND deleted_at IS NULL AND (:sc::text = 'all' OR owner_id = :uid::uuid OR (:sc::text = 'team' AND owner_id = ANY ((SELECT crm.scope_owners(:tid::uuid, :uid::uuid, :sc::text))::uuid[]))) AND stage_id = :stage::uuid ORDER BY amount DESC, id DESC LIMIT 21;
\endpipeline
