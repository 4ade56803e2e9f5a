-- 002_tenants.sql: plans (global reference data), tenants, and the one
-- pre-tenant lookup the foundation needs (a tenant by its slug).

-- Plans are the same for every tenant, so this is not a tenant table: it
-- is on crmctl check-schema's global allow-list.  Limits are per tenant.
CREATE TABLE crm.plans (
	code		text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]{1,31}$'),
	name		text NOT NULL CHECK (btrim(name) <> ''),
	seats		int NOT NULL CHECK (seats > 0),
	records		bigint NOT NULL CHECK (records > 0),
	api_per_min	int NOT NULL CHECK (api_per_min > 0),
	storage_mb	int NOT NULL CHECK (storage_mb >= 0),
	price_cents	int NOT NULL CHECK (price_cents >= 0)
);

INSERT INTO crm.plans
	(code, name, seats, records, api_per_min, storage_mb, price_cents)
VALUES
	('free', 'Free', 3, 1000, 60, 100, 0),
	('team', 'Team', 10, 100000, 600, 10240, 2900),
	('business', 'Business', 100, 2000000, 3000, 102400, 9900);

GRANT SELECT ON crm.plans TO crm_app, crm_worker;

-- The tenant row is itself tenant data: under RLS a tenant sees only its
-- own row.  tenant_id is the primary key and the first column like
-- everywhere else.
--
-- UNIQUE (slug) is the schema's one global unique key, allow-listed in
-- crmctl check-schema: a slug names a company at login and in URLs before
-- any tenant is known, so it is global by nature, and its existence is
-- public anyway (sign-up must say "taken").  Everywhere else a global
-- unique key would be an existence oracle across tenants.
CREATE TABLE crm.tenants (
	tenant_id	uuid PRIMARY KEY,
	name		text NOT NULL
			    CHECK (btrim(name) <> '' AND length(name) <= 200),
	slug		text NOT NULL
			    CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$'),
	plan		text NOT NULL REFERENCES crm.plans (code),
	status		text NOT NULL DEFAULT 'trial'
			    CHECK (status IN ('trial', 'active', 'suspended',
			    'closed')),
	settings	jsonb NOT NULL DEFAULT '{}'
			    CHECK (jsonb_typeof(settings) = 'object'),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT tenants_slug_key UNIQUE (slug)
);

SELECT crm_meta.protect_tenant_table('crm.tenants');

-- The service may create a tenant (sign-up, with app.tenant_id set to the
-- new id) but not choose its status, and may rename it or change its
-- settings; status and plan change through operators and billing.
GRANT SELECT ON crm.tenants TO crm_app, crm_worker;
GRANT INSERT (tenant_id, name, slug, plan, settings) ON crm.tenants
    TO crm_app;
GRANT UPDATE (name, settings, updated_at) ON crm.tenants TO crm_app;

-- auth.tenant_by_slug(slug): the tenant id and status for a slug, before
-- any tenant is known (login, sign-up, crmctl seed-demo).  SECURITY
-- DEFINER, owned by crm_auth, which may read exactly these three columns
-- of every tenant row through its own policy (SECURITY.md 3.1.6).  At most
-- one row, since slugs are unique.
GRANT SELECT (tenant_id, slug, status) ON crm.tenants TO crm_auth;
CREATE POLICY auth_lookup ON crm.tenants AS PERMISSIVE FOR SELECT
    TO crm_auth USING (true);

CREATE FUNCTION auth.tenant_by_slug(p_slug text)
RETURNS TABLE (tenant_id uuid, status text)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT t.tenant_id, t.status FROM crm.tenants t WHERE t.slug = p_slug
$$;

-- crm_owner does not inherit crm_auth's rights (roles.sql), so it grants
-- as crm_auth; a grant to itself made before the hand-over would be folded
-- into the owner's entry and lost with it.
ALTER FUNCTION auth.tenant_by_slug(text) OWNER TO crm_auth;
SET LOCAL ROLE crm_auth;
REVOKE ALL ON FUNCTION auth.tenant_by_slug(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth.tenant_by_slug(text) TO crm_app, crm_owner;
RESET ROLE;
