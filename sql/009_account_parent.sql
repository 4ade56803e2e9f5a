-- 009_account_parent.sql: an account cannot be its own parent.
--
-- The engine names the field of a violated check constraint from the
-- constraint's name (app/engine.c), so this answers 422 naming parent_id.
-- Longer cycles (A -> B -> A) are left to the hierarchy views to come.
ALTER TABLE crm.accounts ADD CONSTRAINT accounts_parent_id_check
    CHECK (parent_id IS DISTINCT FROM id);
