-- 011_custom_fields.sql: fields a tenant adds to an entity.
--
-- Definitions are rows (crm.custom_fields); values live in each record's
-- `custom jsonb` under the field's name.  The service validates values in
-- C with the same type table as built-in fields, from a per-worker cache
-- of the definitions; crm.custom_field_versions counts changes per tenant
-- and entity so that every write can prove its cache was current: it
-- passes the version it validated against to crm.custom_apply(), which
-- raises CR4CF when the definitions moved on (the service then reloads
-- and validates again).  So a value can never be written against rules
-- that no longer hold, even with many workers.

CREATE TABLE crm.custom_fields (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	id		uuid NOT NULL,
	entity		text NOT NULL CHECK (entity ~ '^[a-z][a-z-]{0,39}$'),
	name		text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,39}$'),
	label		text NOT NULL CHECK (length(btrim(label)) BETWEEN 1 AND 100),
	type		text NOT NULL CHECK (type IN ('text', 'long_text',
			    'number', 'money', 'date', 'datetime', 'boolean',
			    'enum', 'multi_enum', 'email', 'phone', 'url',
			    'ref')),
	required	boolean NOT NULL DEFAULT false,
	options		text[] CHECK (cardinality(options) BETWEEN 1 AND 200),
	ref_entity	text,
	description	text CHECK (length(description) <= 500),
	position	integer NOT NULL DEFAULT 0,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	created_by	uuid,
	updated_by	uuid,
	version		bigint NOT NULL DEFAULT 1,
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, entity, name),
	CHECK ((type IN ('enum', 'multi_enum')) = (options IS NOT NULL)),
	CHECK ((type = 'ref') = (ref_entity IS NOT NULL))
);
SELECT crm_meta.protect_tenant_table('crm.custom_fields');
GRANT SELECT, INSERT, UPDATE, DELETE ON crm.custom_fields TO crm_app;
GRANT SELECT ON crm.custom_fields TO crm_worker;

CREATE TABLE crm.custom_field_versions (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	entity		text NOT NULL,
	version		bigint NOT NULL,
	PRIMARY KEY (tenant_id, entity)
);
SELECT crm_meta.protect_tenant_table('crm.custom_field_versions');
GRANT SELECT, INSERT, UPDATE ON crm.custom_field_versions TO crm_app;
GRANT SELECT ON crm.custom_field_versions TO crm_worker;

-- Any change to a tenant's definitions of an entity bumps its version, in
-- the same transaction.
CREATE FUNCTION crm.custom_fields_bump()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
	r	record;
BEGIN
	IF TG_OP = 'DELETE' THEN
		r := OLD;
	ELSE
		r := NEW;
	END IF;
	INSERT INTO crm.custom_field_versions AS v (tenant_id, entity, version)
	    VALUES (r.tenant_id, r.entity, 1)
	    ON CONFLICT (tenant_id, entity)
	    DO UPDATE SET version = v.version + 1;
	RETURN NULL;
END
$$;

CREATE TRIGGER custom_fields_bump AFTER INSERT OR UPDATE OR DELETE
    ON crm.custom_fields FOR EACH ROW
    EXECUTE FUNCTION crm.custom_fields_bump();

-- The custom column of a write: the old values merged with the given ones
-- (a JSON null removes a value), after proving the caller validated
-- against the current definitions (p_version) and that every reference
-- names a live record of the tenant.  The table of a reference comes from
-- the definition, whose ref_entity the service checked against its
-- entities; %I quotes it all the same.
CREATE FUNCTION crm.custom_apply(p_tenant uuid, p_entity text,
    p_version bigint, p_old jsonb, p_patch jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
	cur	bigint;
	f	record;
	found_	boolean;
BEGIN
	SELECT version INTO cur FROM crm.custom_field_versions
	    WHERE tenant_id = p_tenant AND entity = p_entity;
	IF coalesce(cur, 0) <> p_version THEN
		RAISE EXCEPTION USING ERRCODE = 'CR4CF',
		    MESSAGE = 'the custom field definitions have changed';
	END IF;
	FOR f IN SELECT name, ref_entity FROM crm.custom_fields
	    WHERE tenant_id = p_tenant AND entity = p_entity AND type = 'ref'
	    AND jsonb_typeof(p_patch -> name) = 'string'
	LOOP
		EXECUTE format('SELECT EXISTS (SELECT 1 FROM crm.%I WHERE '
		    'tenant_id = $1 AND id = $2 AND deleted_at IS NULL)',
		    replace(f.ref_entity, '-', '_'))
		    INTO found_ USING p_tenant, (p_patch ->> f.name)::uuid;
		IF NOT found_ THEN
			RAISE EXCEPTION USING ERRCODE = 'CR422',
			    MESSAGE = 'no such record',
			    COLUMN = 'custom.' || f.name,
			    CONSTRAINT = 'not_found';
		END IF;
	END LOOP;
	RETURN jsonb_strip_nulls(coalesce(p_old, '{}') ||
	    coalesce(p_patch, '{}'));
END
$$;

REVOKE ALL ON FUNCTION crm.custom_apply(uuid, text, bigint, jsonb, jsonb)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.custom_apply(uuid, text, bigint, jsonb, jsonb)
    TO crm_app;

-- The row count of a write that must have touched something: 0 raises
-- (p_state, p_msg, naming p_column), so the statements after it in the
-- same transaction (an audit entry) never run for nothing.
CREATE FUNCTION crm.require_rows(p_n bigint, p_state text, p_msg text,
    p_column text)
RETURNS bigint
LANGUAGE plpgsql
IMMUTABLE
SET search_path = pg_catalog
AS $$
BEGIN
	IF p_n = 0 THEN
		RAISE EXCEPTION USING ERRCODE = p_state, MESSAGE = p_msg,
		    COLUMN = coalesce(p_column, '');
	END IF;
	RETURN p_n;
END
$$;

REVOKE ALL ON FUNCTION crm.require_rows(bigint, text, text, text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.require_rows(bigint, text, text, text)
    TO crm_app, crm_worker;
