-- 001_foundation.sql: schemas, default privileges and the helpers every
-- later migration uses to declare a tenant table.
--
-- Runs as crm_owner inside one transaction (crmctl migrate); no BEGIN or
-- COMMIT here.  crmctl itself creates crm_meta and
-- crm_meta.schema_migrations before the first file, since it needs them to
-- know that this file is pending.
--
-- Schemas:
--   crm       tenant data (and crm.plans, global reference data)
--   auth      narrow SECURITY DEFINER pre-tenant lookups, owned by crm_auth
--   crm_meta  migrations and these helpers; the owner's only
--
-- A new tenant table in a later migration is, in this order:
--
--   CREATE TABLE crm.things (
--       tenant_id uuid NOT NULL REFERENCES crm.tenants (tenant_id),
--       id uuid NOT NULL, ...,
--       PRIMARY KEY (tenant_id, id),
--       FOREIGN KEY (tenant_id, other_id) REFERENCES crm.others (tenant_id, id)
--   ) [PARTITION BY HASH (tenant_id)];
--   [SELECT crm_meta.make_hash_partitions('crm.things', 16);]
--   SELECT crm_meta.protect_tenant_table('crm.things');
--   GRANT SELECT, INSERT, UPDATE, DELETE ON crm.things TO crm_app;
--
-- and `crmctl check-schema` (ISO-08) fails the build if any step is missing.

-- Nothing is granted by default: crm_owner's tables have no PUBLIC
-- privileges already, and functions lose PostgreSQL's default EXECUTE for
-- PUBLIC, so a helper added later is not callable by the app by accident.
-- Grants are written next to each table, on the parent only: never
-- ALTER DEFAULT PRIVILEGES ... GRANT, never GRANT ... ON ALL TABLES, both
-- of which would reach partitions.
ALTER DEFAULT PRIVILEGES FOR ROLE crm_owner
    REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE crm_auth
    REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

REVOKE ALL ON SCHEMA crm_meta FROM PUBLIC;
REVOKE ALL ON crm_meta.schema_migrations FROM PUBLIC;

CREATE SCHEMA crm;
GRANT USAGE ON SCHEMA crm TO crm_app, crm_worker, crm_auth;

-- crm_auth needs CREATE here only because ALTER FUNCTION ... OWNER TO
-- crm_auth requires it; it has no LOGIN, so nobody creates through it.
CREATE SCHEMA auth;
GRANT USAGE ON SCHEMA auth TO crm_app, crm_worker;
GRANT USAGE, CREATE ON SCHEMA auth TO crm_auth;

-- protect_tenant_table(rel): row-level security on a tenant table and on
-- every partition below it (partitions do not inherit RLS, SECURITY.md
-- finding 3).  Idempotent: the policy is dropped and created again, so
-- running it repairs a drifted one.
--
-- The policy is the plain column-versus-setting comparison on purpose: it
-- is leakproof, so the planner can use (tenant_id, ...) indexes under RLS,
-- and no setting means NULL means zero rows.  It names crm_owner as well
-- as the service roles because FORCE binds the owner too: crmctl works as
-- the owner and sets app.tenant_id like the service does.
CREATE FUNCTION crm_meta.protect_tenant_table(rel regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
	part	regclass;
	col1	name;
	expr	text := 'tenant_id = NULLIF(current_setting(''app.tenant_id'', '
		    'true), '''')::uuid';
BEGIN
	-- pg_partition_tree() is empty for a table that is not partitioned.
	FOR part IN
		SELECT rel UNION SELECT relid FROM pg_partition_tree(rel)
	LOOP
		SELECT attname INTO col1
		FROM pg_attribute
		WHERE attrelid = part AND attnum > 0 AND NOT attisdropped
		ORDER BY attnum
		LIMIT 1;
		IF col1 IS DISTINCT FROM 'tenant_id' THEN
			RAISE EXCEPTION '%: tenant_id must be the first column',
			    part;
		END IF;
		EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', part);
		EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', part);
		EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %s',
		    part);
		EXECUTE format('CREATE POLICY tenant_isolation ON %s '
		    'AS PERMISSIVE FOR ALL TO crm_owner, crm_app, crm_worker '
		    'USING (%s) WITH CHECK (%s)', part, expr, expr);
	END LOOP;
END
$$;

-- make_hash_partitions(parent, n): n hash partitions of a table declared
-- PARTITION BY HASH (tenant_id), named <parent>_p00 ... in its schema,
-- each protected like the parent.  Partitions get no grants: the service
-- reaches them only through the parent, whose grants and policy apply.
CREATE FUNCTION crm_meta.make_hash_partitions(parent regclass, n int)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
	nsp	name;
	rel	name;
	width	int;
BEGIN
	IF n IS NULL OR n < 1 OR n > 1024 THEN
		RAISE EXCEPTION 'make_hash_partitions: n must be 1..1024, not %',
		    n;
	END IF;
	SELECT ns.nspname, c.relname INTO nsp, rel
	FROM pg_class c
	JOIN pg_namespace ns ON ns.oid = c.relnamespace
	JOIN pg_partitioned_table pt ON pt.partrelid = c.oid
	WHERE c.oid = parent AND pt.partstrat = 'h';
	IF NOT FOUND THEN
		RAISE EXCEPTION '%: not a table partitioned by hash', parent;
	END IF;
	width := greatest(2, length((n - 1)::text));
	FOR i IN 0 .. n - 1 LOOP
		EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s '
		    'FOR VALUES WITH (MODULUS %s, REMAINDER %s)', nsp,
		    rel || '_p' || lpad(i::text, width, '0'), parent, n, i);
	END LOOP;
	PERFORM crm_meta.protect_tenant_table(parent);
END
$$;

REVOKE ALL ON FUNCTION crm_meta.protect_tenant_table(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION crm_meta.make_hash_partitions(regclass, int)
    FROM PUBLIC;
