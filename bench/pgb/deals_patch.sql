-- bench/pgb/deals_patch.sql: pgbench baseline of PATCH /v1/deals/{id}
-- (bench/deals.sh, make bench-deals).
--
-- What app/db.c sends for the route, in one pipeline (one implicit
-- transaction, as in the service): the principal statement
-- (modules/identity/auth.c auth_begin_user: tenant context, session
-- check, read-only mode), then the engine's update with its event row,
-- copied from the service's own statements (log_statement) with every
-- $n turned into a typed pgbench variable.  What pgbench forces: to_char's
-- format is split around its colons (pgbench would take ":MI" for a
-- variable; the planner folds the concatenation), new ids come from
-- crm.uuid7() in SQL instead of from C, and a record id is a literal
-- (bench/deals.sh writes one copy of the script per id: pgbench has no
-- string arrays).  Variables (-D): tid uid sid sv sc did stage nm amt cur
-- ecd cfv cf.  Regenerate by hand when the engine's SQL changes.
\startpipeline
SELECT pg_catalog.set_config('app.tenant_id', :tid::uuid::text, true), pg_catalog.set_config('app.user_id', :uid::uuid::text, true), CASE (SELECT CASE t.status WHEN 'trial' THEN 'active' ELSE t.status END FROM crm.sessions s JOIN crm.tenants t ON t.tenant_id = s.tenant_id WHERE s.tenant_id = :tid::uuid AND s.id = :sid::uuid AND s.user_id = :uid::uuid AND s.version = :sv::bigint AND s.revoked_at IS NULL AND s.expires_at > pg_catalog.now()) WHEN 'active' THEN pg_catalog.set_config('transaction_read_only', CASE WHEN true::boolean THEN 'off' ELSE 'on' END, true) WHEN 'suspended' THEN CASE WHEN true::boolean THEN crm.principal_fail('CR4TS') ELSE pg_catalog.set_config('transaction_read_only', 'on', true) END ELSE crm.principal_fail('CR401') END;
WITH cur AS (SELECT version FROM crm.deals WHERE tenant_id = :tid::uuid AND id = :did::uuid AND deleted_at IS NULL AND (:sc::text = 'all' OR owner_id = :uid::uuid OR (:sc::text = 'team' AND owner_id = ANY ((SELECT crm.scope_owners(:tid::uuid, :uid::uuid, :sc::text))::uuid[]))) FOR UPDATE), upd AS (UPDATE crm.deals t SET amount = :amt::numeric, updated_at = now(), updated_by = :uid::uuid, version = t.version + 1 FROM cur WHERE t.tenant_id = :tid::uuid AND t.id = :did::uuid AND (NULL::bigint IS NULL OR cur.version = NULL::bigint) RETURNING (jsonb_build_object('id', id, 'name', name, 'account_id', account_id, 'pipeline_id', pipeline_id, 'stage_id', stage_id, 'amount', amount::text, 'currency', currency, 'expected_close_date', expected_close_date, 'probability', probability, 'type', type, 'source', source, 'lost_reason', lost_reason, 'next_step', next_step, 'description', description, 'contacts', contacts, 'closed_at', to_char(closed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24' || chr(58) || 'MI' || chr(58) || 'SS.MS"Z"'), 'custom', custom, 'owner_id', owner_id, 'created_at', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24' || chr(58) || 'MI' || chr(58) || 'SS.MS"Z"'), 'updated_at', to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24' || chr(58) || 'MI' || chr(58) || 'SS.MS"Z"'), 'created_by', created_by, 'updated_by', updated_by))::text AS j, t.version AS v), e AS (INSERT INTO crm.events (tenant_id, id, type, entity, entity_id, payload) SELECT :tid::uuid, crm.uuid7(), 'deal.updated', 'deals', :did::uuid, j::jsonb FROM upd) SELECT (SELECT version FROM cur), (SELECT j FROM upd), (SELECT v FROM upd);
\endpipeline
