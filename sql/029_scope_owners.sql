-- 029_scope_owners.sql: the record scope test without a function call per
-- row (app/ent.h, ENT_SCOPE_SQL).  The service now compares a record's
-- owner with crm.scope_owners() (020), computed once per statement, where
-- it called crm.in_scope() (008) for every row the user does not own: a
-- sales user ("own") listing a stage of 19,260 deals took 235 ms of
-- PostgreSQL, 8 ms now.  Imports run the same test in crm-worker, which
-- therefore needs the function too.
--
-- Both functions lose their SET clause, for 027's reason: they run as the
-- caller, every name in them is pg_catalog's or schema-qualified, and the
-- clause made each call save and restore the search path (crm.in_scope()
-- is still called per row by the SQL functions of 017, 020 and 024).

GRANT EXECUTE ON FUNCTION crm.scope_owners(uuid, uuid, text) TO crm_worker;
ALTER FUNCTION crm.scope_owners(uuid, uuid, text) RESET search_path;
ALTER FUNCTION crm.in_scope(uuid, uuid, uuid, text) RESET search_path;
