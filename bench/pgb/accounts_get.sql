-- bench/pgb/accounts_get.sql: pgbench baseline of GET /v1/accounts/{id}.
--
-- What app/db.c sends for the route, in one pipeline (one implicit
-- transaction, as in the service): crm.begin_user() (tenant context,
-- principal check, read only), then the engine's statement, in the engine's text
-- but for three things pgbench forces: ids are built in SQL from random
-- numbers (pgbench has no string variables; wrk's scripts use the same
-- seeded ids), to_char's format is split around its colons (pgbench would
-- take ":MI" for a variable; the planner folds the concatenation), and
-- literals stand for parameters that do not vary here.
-- Variables (-D, bench/run.sh): tenant, user, session, n (seeded rows),
-- scope.  Regenerate by hand when the engine's SQL changes.
\set i random(1, :n)
\startpipeline
SELECT crm.begin_user(:tenant, :user, :session, 1, false);
SELECT (jsonb_build_object('id', id, 'name', name, 'domain', domain, 'industry', industry, 'employees', employees, 'annual_revenue', annual_revenue::text, 'currency', currency, 'phone', phone, 'website', website, 'billing_address', billing_address, 'shipping_address', shipping_address, 'parent_id', parent_id, 'custom', custom, 'owner_id', owner_id, 'created_at', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:' || 'MI:' || 'SS.MS"Z"'), 'updated_at', to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:' || 'MI:' || 'SS.MS"Z"'), 'created_by', created_by, 'updated_by', updated_by))::text, version FROM crm.accounts WHERE tenant_id = :tenant AND id = ('00000000-0000-7000-8000-' || lpad(:i::text, 12, '0'))::uuid AND deleted_at IS NULL AND (:scope::text = 'all' OR owner_id = :user OR crm.in_scope(:tenant, owner_id, :user, :scope));
\endpipeline
