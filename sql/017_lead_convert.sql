-- 017_lead_convert.sql: a lead becomes an account (or joins a given one),
-- a contact and, if asked, a deal, in one call: all of it commits or none
-- of it does.  modules/crm/leads.c calls it, then renders the records and
-- writes their events in the same transaction.
--
-- p_scope is the caller's record scope: a lead or a given account out of
-- it is treated like one that does not exist.  p_lacks names a create
-- permission the caller lacks for what this conversion would create; it
-- is checked after the lead is found, so an id the caller cannot see is
-- a 404 whatever the caller holds, as on every other route.  The new records belong to
-- the lead's owner (the person who worked the lead keeps them); the
-- caller is their author.  Errors:
--   CR404  no such lead (missing, deleted, other tenant, out of scope)
--   CR403  the caller may not create what the conversion creates
--   CR409  the lead is converted already
--   CR422  account_id unknown; the lead has no person name; a deal field
--          (named deal.<field>)

-- The deal of a conversion; errors name deal.<field>, since the fields
-- of the request body are account_id, create_deal and deal.
CREATE FUNCTION crm.convert_lead_deal(p_tenant uuid, p_user uuid,
    p_owner uuid, p_account uuid, p_contact uuid, p_default_name text,
    p_source text, p_deal jsonb)
RETURNS uuid
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
DECLARE
	did	uuid := crm.uuid7();
	col	text;
	con	text;
	msg	text;
	st	text;
BEGIN
	INSERT INTO crm.deals (tenant_id, id, name, account_id, pipeline_id,
	    stage_id, amount, currency, expected_close_date, source, contacts,
	    owner_id, created_by, updated_by)
	VALUES (p_tenant, did, coalesce(p_deal->>'name', p_default_name),
	    p_account, (p_deal->>'pipeline_id')::uuid,
	    (p_deal->>'stage_id')::uuid, (p_deal->>'amount')::numeric,
	    p_deal->>'currency', (p_deal->>'expected_close_date')::date,
	    p_source, jsonb_build_array(jsonb_build_object('contact_id',
	    p_contact, 'role', NULL)), p_owner, p_user, p_user);
	RETURN did;
EXCEPTION WHEN SQLSTATE 'CR422' OR foreign_key_violation OR
    check_violation THEN
	GET STACKED DIAGNOSTICS col = COLUMN_NAME, con = CONSTRAINT_NAME,
	    msg = MESSAGE_TEXT, st = RETURNED_SQLSTATE;
	IF st <> 'CR422' THEN
		col := substring(con FROM '^deals_(.*)_(?:fkey|check)$');
		con := CASE WHEN st = '23503' THEN 'not_found'
		    ELSE 'invalid_value' END;
		msg := CASE WHEN st = '23503' THEN 'no such record'
		    ELSE 'this value is not allowed' END;
	END IF;
	RAISE EXCEPTION USING ERRCODE = 'CR422', MESSAGE = msg,
	    COLUMN = 'deal.' || coalesce(col, 'name'), CONSTRAINT = con;
END
$$;

CREATE FUNCTION crm.convert_lead(p_tenant uuid, p_lead uuid, p_user uuid,
    p_scope text, p_account uuid, p_deal jsonb, p_lacks text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
DECLARE
	l	crm.leads;
	aid	uuid := p_account;
	cid	uuid := crm.uuid7();
	did	uuid;
	person	text;
BEGIN
	SELECT * INTO l FROM crm.leads
	WHERE tenant_id = p_tenant AND id = p_lead AND deleted_at IS NULL
	    AND crm.in_scope(p_tenant, owner_id, p_user, p_scope)
	FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such resource' USING ERRCODE = 'CR404';
	END IF;
	IF p_lacks IS NOT NULL THEN
		RAISE EXCEPTION 'this credential lacks %', p_lacks
		    USING ERRCODE = 'CR403';
	END IF;
	IF l.converted_at IS NOT NULL THEN
		RAISE EXCEPTION 'this lead was converted on %',
		    to_char(l.converted_at AT TIME ZONE 'UTC',
		    'YYYY-MM-DD"T"HH24:MI:SS"Z"') USING ERRCODE = 'CR409';
	END IF;
	person := nullif(btrim(concat_ws(' ', btrim(l.first_name),
	    btrim(l.last_name))), '');
	IF person IS NULL THEN
		PERFORM crm.field_error('last_name', 'required', 'the lead has '
		    'no first or last name, which a contact needs: set one '
		    'first');
	END IF;
	IF aid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM crm.accounts
	    WHERE tenant_id = p_tenant AND id = aid AND deleted_at IS NULL
	    AND crm.in_scope(p_tenant, owner_id, p_user, p_scope)) THEN
		PERFORM crm.field_error('account_id', 'not_found',
		    'no such account');
	END IF;
	IF aid IS NULL THEN
		aid := crm.uuid7();
		INSERT INTO crm.accounts (tenant_id, id, name, industry,
		    employees, annual_revenue, currency, phone, website,
		    billing_address, owner_id, created_by, updated_by)
		VALUES (p_tenant, aid, left(coalesce(nullif(btrim(l.company),
		    ''), person), 200), l.industry, l.employees,
		    l.annual_revenue, l.currency, l.phone, l.website, l.address,
		    l.owner_id, p_user, p_user);
	END IF;
	INSERT INTO crm.contacts (tenant_id, id, first_name, last_name, email,
	    phone, mobile, title, account_id, address, lead_source,
	    description, owner_id, created_by, updated_by)
	VALUES (p_tenant, cid, l.first_name, l.last_name, l.email, l.phone,
	    l.mobile, l.title, aid, l.address, l.source, l.description,
	    l.owner_id, p_user, p_user);
	IF p_deal IS NOT NULL THEN
		did := crm.convert_lead_deal(p_tenant, p_user, l.owner_id, aid,
		    cid, left(coalesce(nullif(btrim(l.company), ''), person),
		    190) || ' deal', l.source, p_deal);
	END IF;
	UPDATE crm.leads SET status = 'converted', converted_at = now(),
	    converted_account_id = aid, converted_contact_id = cid,
	    converted_deal_id = did, updated_at = now(), updated_by = p_user,
	    version = version + 1
	WHERE tenant_id = p_tenant AND id = p_lead;
END
$$;

REVOKE ALL ON FUNCTION crm.convert_lead_deal(uuid, uuid, uuid, uuid, uuid,
    text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION crm.convert_lead(uuid, uuid, uuid, text, uuid, jsonb,
    text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.convert_lead_deal(uuid, uuid, uuid, uuid, uuid,
    text, text, jsonb) TO crm_app;
GRANT EXECUTE ON FUNCTION crm.convert_lead(uuid, uuid, uuid, text, uuid,
    jsonb, text) TO crm_app;

-- The deal a lead became, as a link like the account and the contact.
ALTER TABLE crm.leads ADD CONSTRAINT leads_converted_deal_id_fkey
    FOREIGN KEY (tenant_id, converted_deal_id)
    REFERENCES crm.deals (tenant_id, id);
