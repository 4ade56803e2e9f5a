-- bench/pgb/readyz.sql: what GET /readyz asks PostgreSQL.
SELECT 1;
