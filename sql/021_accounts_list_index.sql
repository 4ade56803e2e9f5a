-- 021_accounts_list_index.sql: an index for the accounts list's common
-- shape, a filter on industry sorted by revenue (bench/run.sh's list
-- route).  EXPLAIN ANALYZE under crm_app with the tenant set, 5,000
-- accounts: before, a scan of the tenant's partition and a top-N sort of
-- the industry's 625 rows; with it, LIMIT n reads n index entries.
-- Partial like accounts_owner_idx: the recycle bin is never listed here.

CREATE INDEX accounts_industry_revenue_idx ON crm.accounts
    (tenant_id, industry, annual_revenue DESC, id DESC)
    WHERE deleted_at IS NULL;
