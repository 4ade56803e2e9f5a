-- 013_contacts_leads.sql: people.  Contacts (people at accounts) and
-- leads (people not yet qualified), both entity tables shaped like
-- crm.accounts (008): own columns in descriptor order (modules/crm/
-- contacts.c, leads.c), then the system columns, hash partitioned.
--
-- Rules only the database can check raise CR422 naming the field, or are
-- check constraints whose name contains the field's name: app/db.c and
-- app/engine.c turn both into a 422 that names it.

-- crm.field_error(column, code, message): raises the CR422 every trigger
-- of the entity tables uses, so the messages have one shape.  plpgsql,
-- called from plpgsql; crm_app runs it inside its own statements.
CREATE FUNCTION crm.field_error(p_column text, p_code text, p_message text)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
SET search_path = pg_catalog
AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'CR422', MESSAGE = p_message,
	    COLUMN = p_column, CONSTRAINT = p_code;
END
$$;

REVOKE ALL ON FUNCTION crm.field_error(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.field_error(text, text, text)
    TO crm_app, crm_worker;

-- crm.require_fields(): a BEFORE trigger naming, by TG_ARGV, columns
-- that have a default but must not be set to null (flags such as
-- do_not_email).  NOT NULL alone would answer a 422 naming no field, and
-- a check constraint named after do_not_email would be reported as the
-- field "email" (the engine matches field names inside constraint names).
CREATE FUNCTION crm.require_fields()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
	r	jsonb := to_jsonb(NEW);
	i	int;
BEGIN
	FOR i IN 0 .. TG_NARGS - 1 LOOP
		IF r->TG_ARGV[i] IS NULL OR r->TG_ARGV[i] = 'null' THEN
			PERFORM crm.field_error(TG_ARGV[i], 'required',
			    'this field cannot be null');
		END IF;
	END LOOP;
	RETURN NEW;
END
$$;

REVOKE ALL ON FUNCTION crm.require_fields() FROM PUBLIC;
CREATE TABLE crm.contacts (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	id		uuid NOT NULL,
	first_name	text,
	last_name	text,
	email		text,
	phone		text,
	mobile		text,
	title		text,
	department	text,
	account_id	uuid,
	address		jsonb,
	preferred_channel text,
	do_not_email	boolean NOT NULL DEFAULT false,
	do_not_call	boolean NOT NULL DEFAULT false,
	birthday	date,
	lead_source	text,
	linkedin_url	text,
	description	text,
	custom		jsonb NOT NULL DEFAULT '{}',
	owner_id	uuid NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	created_by	uuid,
	updated_by	uuid,
	version		bigint NOT NULL DEFAULT 1,
	deleted_at	timestamptz,
	-- Dedupe and "find by e-mail" compare this column: lower() in an
	-- index expression is not leakproof and would not be used under
	-- RLS (SECURITY.md finding 4).
	email_lc	text GENERATED ALWAYS AS (lower(email)) STORED,
	search		tsvector GENERATED ALWAYS AS (to_tsvector('simple',
			    coalesce(first_name, '') || ' ' ||
			    coalesce(last_name, '') || ' ' ||
			    coalesce(email, '') || ' ' || coalesce(phone, '') ||
			    ' ' || coalesce(mobile, '') || ' ' ||
			    coalesce(title, ''))) STORED,
	PRIMARY KEY (tenant_id, id),
	-- Named for the first field, so the 422 names first_name.
	CONSTRAINT contacts_first_name_or_last_name_check CHECK
	    (btrim(coalesce(first_name, '')) <> '' OR
	    btrim(coalesce(last_name, '')) <> ''),
	CONSTRAINT contacts_account_id_fkey FOREIGN KEY (tenant_id, account_id)
	    REFERENCES crm.accounts (tenant_id, id),
	FOREIGN KEY (tenant_id, owner_id) REFERENCES crm.users (tenant_id, id)
) PARTITION BY HASH (tenant_id);

CREATE INDEX contacts_owner_idx ON crm.contacts (tenant_id, owner_id)
    WHERE deleted_at IS NULL;
CREATE INDEX contacts_account_idx ON crm.contacts (tenant_id, account_id)
    WHERE deleted_at IS NULL;
CREATE INDEX contacts_email_lc_idx ON crm.contacts (tenant_id, email_lc)
    WHERE deleted_at IS NULL;
CREATE INDEX contacts_name_idx ON crm.contacts (tenant_id, last_name,
    first_name) WHERE deleted_at IS NULL;
CREATE INDEX contacts_search_idx ON crm.contacts USING gin (tenant_id, search)
    WHERE deleted_at IS NULL;
CREATE TRIGGER contacts_require BEFORE INSERT OR UPDATE ON crm.contacts
    FOR EACH ROW EXECUTE FUNCTION crm.require_fields('do_not_email',
    'do_not_call');
SELECT crm_meta.make_hash_partitions('crm.contacts', 16);
SELECT crm_meta.protect_tenant_table('crm.contacts');

GRANT SELECT, INSERT, UPDATE ON crm.contacts TO crm_app;
GRANT SELECT ON crm.contacts TO crm_worker;

-- Leads.  status 'converted' and converted_at go together: only
-- crm.convert_lead() (015) sets them, and a converted lead stays
-- converted (a PATCH of status answers 422 naming status).  The
-- converted_* links are plain composite foreign keys.
CREATE TABLE crm.leads (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	id		uuid NOT NULL,
	first_name	text,
	last_name	text,
	company		text,
	title		text,
	email		text,
	phone		text,
	mobile		text,
	website		text,
	industry	text,
	source		text,
	status		text NOT NULL DEFAULT 'new',
	rating		text,
	annual_revenue	numeric(15, 2) CHECK (annual_revenue >= 0),
	currency	text CONSTRAINT leads_currency_check
			    CHECK (currency ~ '^[A-Z]{3}$'),
	employees	bigint CONSTRAINT leads_employees_check
			    CHECK (employees >= 0),
	address		jsonb,
	description	text,
	converted_at	timestamptz,
	converted_account_id uuid,
	converted_contact_id uuid,
	converted_deal_id uuid,
	custom		jsonb NOT NULL DEFAULT '{}',
	owner_id	uuid NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	created_by	uuid,
	updated_by	uuid,
	version		bigint NOT NULL DEFAULT 1,
	deleted_at	timestamptz,
	email_lc	text GENERATED ALWAYS AS (lower(email)) STORED,
	search		tsvector GENERATED ALWAYS AS (to_tsvector('simple',
			    coalesce(first_name, '') || ' ' ||
			    coalesce(last_name, '') || ' ' ||
			    coalesce(company, '') || ' ' ||
			    coalesce(email, '') || ' ' ||
			    coalesce(phone, ''))) STORED,
	PRIMARY KEY (tenant_id, id),
	CONSTRAINT leads_first_name_last_name_or_company_check CHECK
	    (btrim(coalesce(first_name, '')) <> '' OR
	    btrim(coalesce(last_name, '')) <> '' OR
	    btrim(coalesce(company, '')) <> ''),
	CONSTRAINT leads_status_check CHECK (status IN ('new', 'working',
	    'qualified', 'unqualified', 'converted') AND
	    (status = 'converted') = (converted_at IS NOT NULL)),
	CONSTRAINT leads_converted_account_id_fkey
	    FOREIGN KEY (tenant_id, converted_account_id)
	    REFERENCES crm.accounts (tenant_id, id),
	CONSTRAINT leads_converted_contact_id_fkey
	    FOREIGN KEY (tenant_id, converted_contact_id)
	    REFERENCES crm.contacts (tenant_id, id),
	FOREIGN KEY (tenant_id, owner_id) REFERENCES crm.users (tenant_id, id)
) PARTITION BY HASH (tenant_id);

CREATE INDEX leads_owner_idx ON crm.leads (tenant_id, owner_id)
    WHERE deleted_at IS NULL;
CREATE INDEX leads_status_idx ON crm.leads (tenant_id, status, created_at)
    WHERE deleted_at IS NULL;
CREATE INDEX leads_email_lc_idx ON crm.leads (tenant_id, email_lc)
    WHERE deleted_at IS NULL;
CREATE INDEX leads_search_idx ON crm.leads USING gin (tenant_id, search)
    WHERE deleted_at IS NULL;
SELECT crm_meta.make_hash_partitions('crm.leads', 16);
SELECT crm_meta.protect_tenant_table('crm.leads');

GRANT SELECT, INSERT, UPDATE ON crm.leads TO crm_app;
GRANT SELECT ON crm.leads TO crm_worker;
