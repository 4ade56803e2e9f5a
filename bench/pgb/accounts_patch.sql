-- bench/pgb/accounts_patch.sql: pgbench baseline of PATCH /v1/accounts/{id} {"employees": n}.
--
-- What app/db.c sends for the route, in one pipeline (one implicit
-- transaction, as in the service): the principal statement (tenant context,
-- principal check), then the engine's statement, in the engine's text
-- but for three things pgbench forces: ids are built in SQL from random
-- numbers (pgbench has no string variables; wrk's scripts use the same
-- seeded ids), to_char's format is split around its colons (pgbench would
-- take ":MI" for a variable; the planner folds the concatenation), and
-- literals stand for parameters that do not vary here.
-- Variables (-D, bench/run.sh): tenant, user, session, n (seeded rows),
-- scope.  Regenerate by hand when the engine's SQL changes.
\set i random(1, :n)
\set r random(1, 999999999999)
\set e random(0, 100000)
\startpipeline
SELECT pg_catalog.set_config('app.tenant_id', :tenant::uuid::text, true), pg_catalog.set_config('app.user_id', :user::uuid::text, true), CASE (SELECT CASE t.status WHEN 'trial' THEN 'active' ELSE t.status END FROM crm.sessions s JOIN crm.tenants t ON t.tenant_id = s.tenant_id WHERE s.tenant_id = :tenant::uuid AND s.id = :session::uuid AND s.user_id = :user::uuid AND s.version = 1::bigint AND s.revoked_at IS NULL AND s.expires_at > pg_catalog.now()) WHEN 'active' THEN pg_catalog.set_config('transaction_read_only', CASE WHEN true::boolean THEN 'off' ELSE 'on' END, true) WHEN 'suspended' THEN CASE WHEN true::boolean THEN crm.principal_fail('CR4TS') ELSE pg_catalog.set_config('transaction_read_only', 'on', true) END ELSE crm.principal_fail('CR401') END;;
WITH cur AS (SELECT version FROM crm.accounts WHERE tenant_id = :tenant AND id = ('00000000-0000-7000-8000-' || lpad(:i::text, 12, '0'))::uuid AND deleted_at IS NULL AND (:scope::text = 'all' OR owner_id = :user OR (:scope::text = 'team' AND owner_id = ANY ((SELECT crm.scope_owners(:tenant, :user, :scope::text))::uuid[]))) FOR UPDATE), upd AS (UPDATE crm.accounts t SET employees = :e, updated_at = now(), updated_by = :user, version = t.version + 1 FROM cur WHERE t.tenant_id = :tenant AND t.id = ('00000000-0000-7000-8000-' || lpad(:i::text, 12, '0'))::uuid AND (NULL::bigint IS NULL OR cur.version = NULL::bigint) RETURNING (jsonb_build_object('id', id, 'name', name, 'domain', domain, 'industry', industry, 'employees', employees, 'annual_revenue', annual_revenue::text, 'currency', currency, 'phone', phone, 'website', website, 'billing_address', billing_address, 'shipping_address', shipping_address, 'parent_id', parent_id, 'custom', custom, 'owner_id', owner_id, 'created_at', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:' || 'MI:' || 'SS.MS"Z"'), 'updated_at', to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:' || 'MI:' || 'SS.MS"Z"'), 'created_by', created_by, 'updated_by', updated_by))::text AS j, t.version AS v), e AS (INSERT INTO crm.events (tenant_id, id, type, entity, entity_id, payload) SELECT :tenant, ('00000000-0000-7000-a000-' || lpad(:r::text, 12, '0'))::uuid, 'account.updated', 'accounts', ('00000000-0000-7000-8000-' || lpad(:i::text, 12, '0'))::uuid, j::jsonb FROM upd) SELECT (SELECT version FROM cur), (SELECT j FROM upd), (SELECT v FROM upd);
\endpipeline
