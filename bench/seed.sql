-- bench/seed.sql: the bench tenant's accounts, in one INSERT ... SELECT.
--
-- Run by bench/run.sh with psql as the schema owner (crm_owner), inside
-- the tenant's context: RLS is forced on the owner too.  Variables:
-- tenant, user (the owner, who owns every row) and n (how many rows).
--
-- Ids are deterministic, 00000000-0000-7000-8000-<12 decimal digits>, so
-- wrk's Lua scripts and pgbench can pick a random existing row without a
-- list of ids.  Eight industries ("Industry 1" .. "Industry 8") and a
-- spread of revenues give the list route something to filter and sort.

BEGIN;
SELECT set_config('app.tenant_id', :'tenant', true);
INSERT INTO crm.accounts (tenant_id, id, name, domain, industry, employees,
    annual_revenue, currency, owner_id, created_by, updated_by)
SELECT :'tenant', ('00000000-0000-7000-8000-' || lpad(g::text, 12, '0'))::uuid,
    'Bench account ' || g, 'bench' || g || '.example.com',
    'Industry ' || (g % 8 + 1), g % 500,
    ((g * 7919) % 1000000)::numeric / 100 * 1000, 'EUR',
    :'user', :'user', :'user'
FROM generate_series(1, :n) g;
COMMIT;
ANALYZE crm.accounts;
