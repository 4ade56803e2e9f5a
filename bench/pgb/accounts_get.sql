-- bench/pgb/accounts_get.sql: pgbench baseline of GET /v1/accounts/{id}.
--
-- What app/db.c sends for the route, in one pipeline (one implicit
-- transaction, as in the service): the principal statement (tenant context,
-- session check, read only; auth_begin_user in modules/identity/auth.c),
-- then the engine's statement, in the engine's text
-- but for three things pgbench forces: ids are built in SQL from random
-- numbers (pgbench has no string variables; wrk's scripts use the same
-- seeded ids), to_char's format is split around its colons (pgbench would
-- take ":MI" for a variable; the planner folds the concatenation), and
-- literals stand for parameters that do not vary here.
-- Variables (-D, bench/run.sh): tenant, user, session, n (seeded rows),
-- scope.  Regenerate by hand when the engine's SQL changes.
\set i random(1, :n)
\startpipeline
SELECT pg_catalog.set_config('app.tenant_id', :tenant::uuid::text, true), pg_catalog.set_config('app.user_id', :user::uuid::text, true), CASE (SELECT CASE t.status WHEN 'trial' THEN 'active' ELSE t.status END FROM crm.sessions s JOIN crm.tenants t ON t.tenant_id = s.tenant_id WHERE s.tenant_id = :tenant::uuid AND s.id = :session::uuid AND s.user_id = :user::uuid AND s.version = 1::bigint AND s.revoked_at IS NULL AND s.expires_at > pg_catalog.now()) WHEN 'active' THEN pg_catalog.set_config('transaction_read_only', CASE WHEN false::boolean THEN 'off' ELSE 'on' END, true) WHEN 'suspended' THEN CASE WHEN false::boolean THEN crm.principal_fail('CR4TS') ELSE pg_catalog.set_config('transaction_read_only', 'on', true) END ELSE crm.principal_fail('CR401') END;;
SELECT id AS _c0, name AS _c1, domain AS _c2, industry AS _c3, employees AS _c4, annual_revenue AS _c5, currency AS _c6, phone AS _c7, website AS _c8, billing_address AS _c9, shipping_address AS _c10, parent_id AS _c11, custom AS _c12, owner_id AS _c13, (created_at AT TIME ZONE 'UTC') AS _c14, (updated_at AT TIME ZONE 'UTC') AS _c15, created_by AS _c16, updated_by AS _c17, version FROM crm.accounts WHERE tenant_id = :tenant::uuid AND id = ('00000000-0000-7000-8000-' || lpad(:i::text, 12, '0'))::uuid AND deleted_at IS NULL AND (:scope::text = 'all' OR owner_id = :user::uuid OR (:scope::text = 'team' AND owner_id = ANY ((SELECT crm.scope_owners(:tenant::uuid, :user::uuid, :scope::text))::uuid[])));
\endpipeline
