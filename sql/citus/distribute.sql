-- sql/citus/distribute.sql: the schema distributed on Citus (deploy/citus).
--
-- Run once by a superuser on the coordinator, after `crmctl migrate`
-- (the `distribute` service of deploy/citus/compose.yaml).  crm.plans
-- becomes a reference table (every tenant row references one), crm.tenants
-- is distributed by tenant_id, and every other table of schema crm with a
-- tenant_id column is distributed by it, co-located with crm.tenants: all
-- of one tenant's rows live on one node, so its foreign keys, joins,
-- triggers and advisory locks (the record limit, sql/030) stay inside it.
-- crm_meta.schema_migrations stays a local table of the coordinator.
--
-- The list comes from the catalog, so a new tenant table is distributed
-- without editing this file.  Citus wants a referenced table distributed
-- before the tables that reference it.  Rather than sort thirty tables by
-- their keys (self-references such as an account's parent, and keys to
-- partitioned tables, which the catalog records once per partition), the
-- keys between the tables being distributed are dropped first and added
-- back, the same definitions under the same names, once every table is
-- distributed.  All of them include tenant_id, as Citus requires between
-- co-located tables.  One transaction, in Citus's sequential mode so that
-- the key checks can follow the data moves.  Tables Citus already has are skipped, so running
-- it again after a migration that added tables distributes just those.
--
-- Our triggers only read and write rows of their own tenant, which are on
-- the same node; Citus refuses tables with triggers unless
-- citus.enable_unsafe_triggers is on (SECURITY.md finding 5), so it is on
-- here and for the database, for the triggers later migrations create.
--
-- Not run here: this machine has no Citus (README, "Noticed but left
-- alone"); tests/schema runs it against stand-ins of the two Citus
-- functions to check that it covers every table in a valid order.

SET citus.enable_unsafe_triggers TO on;

DO $$
BEGIN
	EXECUTE format('ALTER DATABASE %I SET citus.enable_unsafe_triggers '
	    'TO on', current_database());
END
$$;

SET citus.multi_shard_modify_mode TO sequential;

DO $$
DECLARE
	have	regclass[] := '{}';
	todo	regclass[];
	fk	record;
	rel	regclass;
BEGIN
	IF to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
		EXECUTE 'SELECT coalesce(array_agg(logicalrelid), ''{}'') '
		    'FROM pg_catalog.pg_dist_partition' INTO have;
	END IF;
	-- crm.tenants first: the others are co-located with it.
	SELECT coalesce(array_agg(c.oid::regclass ORDER BY
	    c.oid <> 'crm.tenants'::regclass, c.relname), '{}')
	INTO todo
	FROM pg_class c
	JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE n.nspname = 'crm' AND c.relkind IN ('r', 'p') AND
	    NOT c.relispartition AND NOT c.oid::regclass = ANY (have) AND
	    EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
		AND a.attname = 'tenant_id' AND NOT a.attisdropped);
	CREATE TEMP TABLE dist_fks ON COMMIT DROP AS
	SELECT k.conrelid::regclass AS rel, k.conname AS name,
	    pg_get_constraintdef(k.oid) AS def
	FROM pg_constraint k
	WHERE k.contype = 'f' AND k.conparentid = 0 AND
	    k.conrelid::regclass = ANY (todo);
	FOR fk IN SELECT * FROM dist_fks LOOP
		EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.rel,
		    fk.name);
	END LOOP;
	IF NOT 'crm.plans'::regclass = ANY (have) THEN
		PERFORM create_reference_table('crm.plans');
	END IF;
	FOREACH rel IN ARRAY todo LOOP
		IF rel = 'crm.tenants'::regclass THEN
			PERFORM create_distributed_table(rel, 'tenant_id');
		ELSE
			PERFORM create_distributed_table(rel, 'tenant_id',
			    colocate_with => 'crm.tenants');
		END IF;
	END LOOP;
	FOR fk IN SELECT * FROM dist_fks LOOP
		EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', fk.rel,
		    fk.name, fk.def);
	END LOOP;
END
$$;
