-- 030_record_limits.sql: the plan's record limit, enforced.
--
-- crm.plans.records (free 1,000, team 100,000, business 2,000,000) is how
-- many CRM records a tenant may hold: accounts, contacts, leads, deals,
-- activities, products and price books, the tables crm.tenant_record_count()
-- counts.  Records in the recycle bin still count until they are purged.
--
-- Counting on every create would cost a scan per request, and one counter
-- row per tenant would make a tenant's creates queue behind each other's
-- commits.  So the count is kept in slots: each backend adds to the slot
-- of its process id (64 per tenant), and the total is the sum of a
-- tenant's slots, one index range read.  Concurrent creates of a tenant
-- touch different rows unless their backends share a slot.
--
-- A row trigger on each of those tables keeps the slots and, on insert,
-- compares the total with the plan first: over it raises CRPLR (403
-- plan_limit naming records), which undoes the statement and with it the
-- request's transaction.  It costs a create two index reads and an update
-- (~50 us; a statement trigger with transition tables measured ~500 us).
--
-- Far from the limit, concurrent creates do not wait for each other; each
-- sees the others' committed rows only.  Within 1,000 records of the limit
-- (always, on the free plan), a create takes the tenant's advisory lock
-- and counts again under it, so creates near the limit go one at a time
-- and the count is exact: the limit can only be passed if more than 1,000
-- records of one tenant are being created at the same instant.

CREATE TABLE crm.tenant_records (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id)
			    ON DELETE CASCADE,
	slot		smallint NOT NULL CHECK (slot >= 0 AND slot < 64),
	n		bigint NOT NULL,
	PRIMARY KEY (tenant_id, slot)
);

SELECT crm_meta.protect_tenant_table('crm.tenant_records');
GRANT SELECT, INSERT, UPDATE ON crm.tenant_records TO crm_app, crm_worker;

-- Records the plan allows the current tenant, and how many it holds.
CREATE FUNCTION crm.records_used(p_tenant uuid)
RETURNS bigint
LANGUAGE sql
STABLE
AS $$
	SELECT coalesce(sum(n), 0)::bigint FROM crm.tenant_records
	WHERE tenant_id = p_tenant
$$;

-- The exact check, for creates near the limit and for recounts: refuse n
-- more records for p_tenant when its plan has no room for them.  Under the
-- tenant's lock, so one create at a time, each counting afresh (a new
-- statement sees what the last holder committed).
CREATE FUNCTION crm.records_room(p_tenant uuid, p_n bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
	lim	bigint;
BEGIN
	PERFORM pg_advisory_xact_lock(hashtextextended(
	    'crm.records:' || p_tenant::text, 0));
	SELECT p.records INTO lim FROM crm.tenants t
	JOIN crm.plans p ON p.code = t.plan
	WHERE t.tenant_id = p_tenant;
	IF crm.records_used(p_tenant) + p_n > lim THEN
		RAISE EXCEPTION 'the plan allows % records', lim
		    USING ERRCODE = 'CRPLR', COLUMN = 'records';
	END IF;
END
$$;

-- Add d to this backend's slot of p_tenant.  The insert is for the first
-- time a backend counts for a tenant; it is skipped for a tenant being
-- deleted (its slots go with it).
CREATE FUNCTION crm.records_add(p_tenant uuid, d int)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
	UPDATE crm.tenant_records SET n = n + d
	WHERE tenant_id = p_tenant AND slot = pg_catalog.pg_backend_pid() % 64;
	IF NOT FOUND THEN
		INSERT INTO crm.tenant_records AS c (tenant_id, slot, n)
		SELECT p_tenant, pg_catalog.pg_backend_pid() % 64, d
		WHERE EXISTS (SELECT 1 FROM crm.tenants t
		    WHERE t.tenant_id = p_tenant)
		ON CONFLICT (tenant_id, slot) DO UPDATE SET n = c.n + d;
	END IF;
END
$$;

-- The row trigger.  No SET clause: it runs on every create, and a SET
-- clause costs a configuration save and restore per call; every name is
-- qualified instead.
CREATE FUNCTION crm.records_counted()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		PERFORM crm.records_add(OLD.tenant_id, -1);
		RETURN NULL;
	END IF;
	-- Far from the limit (1,000 records or more) nothing waits.
	IF (SELECT p.records FROM crm.tenants t
	    JOIN crm.plans p ON p.code = t.plan
	    WHERE t.tenant_id = NEW.tenant_id) - 1000 <=
	    crm.records_used(NEW.tenant_id) THEN
		PERFORM crm.records_room(NEW.tenant_id, 1);
	END IF;
	PERFORM crm.records_add(NEW.tenant_id, 1);
	RETURN NULL;
END
$$;

-- seed-demo's bulk load (crm_owner with crm.bulk_load on, as for the
-- deal and activity triggers) counts once per tenant at its end instead.
CREATE FUNCTION crm.records_recount(p_tenant uuid)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
	DELETE FROM crm.tenant_records WHERE tenant_id = p_tenant;
	INSERT INTO crm.tenant_records (tenant_id, slot, n)
	VALUES (p_tenant, 0, crm.tenant_record_count(p_tenant));
	PERFORM crm.records_room(p_tenant, 0);
END
$$;

-- The slots start from an exact count of what each tenant holds now.
-- crm_owner sees tenants only through their context (forced RLS), so the
-- list comes through crm_auth's lookup policy, as in 014.
DO $$
DECLARE
	ids	uuid[];
	t	uuid;
BEGIN
	SET LOCAL ROLE crm_auth;
	SELECT array_agg(tenant_id) INTO ids FROM crm.tenants;
	RESET ROLE;
	FOREACH t IN ARRAY coalesce(ids, '{}') LOOP
		PERFORM set_config('app.tenant_id', t::text, true);
		INSERT INTO crm.tenant_records (tenant_id, slot, n)
		VALUES (t, 0, crm.tenant_record_count(t));
	END LOOP;
	PERFORM set_config('app.tenant_id', '', true);
END
$$;

DO $$
DECLARE
	t	text;
BEGIN
	FOREACH t IN ARRAY ARRAY['accounts', 'contacts', 'leads', 'deals',
	    'activities', 'products', 'price_books']
	LOOP
		EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR DELETE ON '
		    'crm.%I FOR EACH ROW WHEN (current_user <> ''crm_owner'' '
		    'OR current_setting(''crm.bulk_load'', true) IS DISTINCT '
		    'FROM ''on'') EXECUTE FUNCTION crm.records_counted()',
		    t || '_records', t);
	END LOOP;
END
$$;

GRANT EXECUTE ON FUNCTION crm.records_used(uuid),
    crm.records_room(uuid, bigint), crm.records_add(uuid, int)
    TO crm_app, crm_worker;
