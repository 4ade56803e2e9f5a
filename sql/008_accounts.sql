-- 008_accounts.sql: the first CRM entity, and what every entity shares.
--
-- An entity table has its own columns (declared once more, as a
-- descriptor, in modules/crm/entities.c; the engine checks the two agree)
-- followed by the system columns: custom (the tenant's custom fields),
-- owner_id, created_at, updated_at, created_by, updated_by, version (the
-- ETag), deleted_at (the recycle bin).  Large by nature, so hash
-- partitioned by tenant like the audit log.

-- Record scope (own, team, all): may this user see a record with this
-- owner?  "team" means the owner shares a team with the user.  SQL, not
-- plpgsql, so the planner can inline it into the query.
CREATE FUNCTION crm.in_scope(p_tenant uuid, p_owner uuid, p_user uuid,
    p_scope text)
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
	SELECT p_scope = 'all' OR p_owner = p_user OR (p_scope = 'team' AND
	    EXISTS (SELECT 1 FROM crm.team_members a
	    JOIN crm.team_members b ON b.tenant_id = a.tenant_id
	        AND b.team_id = a.team_id
	    WHERE a.tenant_id = p_tenant AND a.user_id = p_user
	        AND b.user_id = p_owner))
$$;

REVOKE ALL ON FUNCTION crm.in_scope(uuid, uuid, uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.in_scope(uuid, uuid, uuid, text)
    TO crm_app, crm_worker;

CREATE TABLE crm.accounts (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	id		uuid NOT NULL,
	name		text NOT NULL CHECK (btrim(name) <> ''),
	domain		text,
	industry	text,
	employees	bigint CHECK (employees >= 0),
	annual_revenue	numeric(15, 2),
	currency	text CHECK (currency ~ '^[A-Z]{3}$'),
	phone		text,
	website		text,
	billing_address	jsonb,
	shipping_address jsonb,
	parent_id	uuid,
	custom		jsonb NOT NULL DEFAULT '{}',
	owner_id	uuid NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	created_by	uuid,
	updated_by	uuid,
	version		bigint NOT NULL DEFAULT 1,
	deleted_at	timestamptz,
	PRIMARY KEY (tenant_id, id),
	FOREIGN KEY (tenant_id, parent_id) REFERENCES crm.accounts (tenant_id, id),
	FOREIGN KEY (tenant_id, owner_id) REFERENCES crm.users (tenant_id, id)
) PARTITION BY HASH (tenant_id);

CREATE INDEX accounts_owner_idx ON crm.accounts (tenant_id, owner_id)
    WHERE deleted_at IS NULL;
SELECT crm_meta.make_hash_partitions('crm.accounts', 16);
SELECT crm_meta.protect_tenant_table('crm.accounts');

GRANT SELECT, INSERT, UPDATE ON crm.accounts TO crm_app;
GRANT SELECT ON crm.accounts TO crm_worker;
