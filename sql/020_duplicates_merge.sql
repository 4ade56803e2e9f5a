-- 020_duplicates_merge.sql: finding duplicate records and merging them.
--
-- GET /v1/{accounts,contacts,leads}/{id}/duplicates calls
-- crm.<singular>_duplicates(); POST .../{id}/merge calls crm.merge_records()
-- (modules/crm/dedupe.c).  Both take the caller's record scope: a record
-- out of it is treated like one that does not exist, as everywhere.
--
-- Matching is done on normalised values computed here rather than in new
-- generated columns: the timeline trigger (018) fixed its list of skipped
-- columns when it was made, so a generated column added now would show up
-- in every record's history.  The e-mail rules use the existing email_lc
-- columns and their (tenant_id, email_lc) indexes; the other rules read the
-- tenant's live rows.  A trigram index would not help under RLS: pg_trgm's
-- operators are not leakproof, so the planner may not use them as index
-- conditions ahead of the tenant policy (SECURITY.md finding 4).

-- A merge writes its own timeline entry on the survivor.
ALTER TABLE crm.timeline DROP CONSTRAINT timeline_action_check;
ALTER TABLE crm.timeline ADD CONSTRAINT timeline_action_check
    CHECK (action IN ('created', 'updated', 'deleted', 'restored',
    'merged'));

-- The one change to the append-only timeline: a merge moves the merged
-- records' entries to the survivor, so its history shows theirs.  Only the
-- record column may change.
GRANT UPDATE (record_id) ON crm.timeline TO crm_app;

-- "https://www.Acme.com/about" -> "acme.com"; NULL when empty.
CREATE FUNCTION crm.domain_key(p text)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
	SELECT nullif(regexp_replace(lower(btrim(p)),
	    '^([a-z][a-z0-9+.-]*://)?(www\.)?([^/:?#]*).*$', '\3'), '')
$$;

-- The digits of a phone number, NULL under 7 of them (extensions and
-- junk such as "0" must not make everybody a duplicate).
CREATE FUNCTION crm.phone_key(p text)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
	SELECT CASE WHEN length(d) >= 7 THEN d END
	FROM (SELECT regexp_replace(coalesce(p, ''), '[^0-9]', '', 'g') d) x
$$;

-- A company name without its legal form, so "Acme Inc" and "ACME
-- Incorporated" compare as the same name.
CREATE FUNCTION crm.company_key(p text)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
	SELECT nullif(btrim(regexp_replace(lower(coalesce(p, '')),
	    '\m(inc|incorporated|corp|corporation|co|company|ltd|limited|llc|'
	    'gmbh|ag|sa|sas|srl|bv|nv|plc|pty|oy|ab)\M\.?|[,.]', ' ', 'g')), '')
$$;

-- Independent signals combined: 1 - product of (1 - weight).
CREATE FUNCTION crm.dup_score(p_weights numeric[])
RETURNS numeric
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
	SELECT round(1 - exp(sum(ln(greatest(1 - w, 0.000001)))), 3)
	FROM unnest(p_weights) w
	WHERE w > 0
$$;

-- Names are similar when their trigram similarity reaches this.
CREATE FUNCTION crm.dup_name_threshold()
RETURNS real
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
	SELECT 0.5::real
$$;

-- The owners whose records p_scope lets p_user see: NULL for all.  The
-- same rule as crm.in_scope() (008), computed once: called per row over a
-- whole tenant, in_scope() costs more than the matching itself.
CREATE FUNCTION crm.scope_owners(p_tenant uuid, p_user uuid, p_scope text)
RETURNS uuid[]
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
	SELECT CASE WHEN p_scope = 'all' THEN NULL ELSE ARRAY(
	    SELECT p_user UNION SELECT b.user_id FROM crm.team_members a
	    JOIN crm.team_members b ON b.tenant_id = a.tenant_id
	        AND b.team_id = a.team_id
	    WHERE p_scope = 'team' AND a.tenant_id = p_tenant
	        AND a.user_id = p_user) END
$$;

-- Below, candidates are the tenant's live rows, each tested with cheap
-- expressions written out (no per-row calls of helpers with their own
-- search_path); the costly trigram similarity runs only on rows whose raw
-- names are somewhat alike already (pg_trgm's default 0.3).

-- Accounts: the same domain (case and a leading "www." ignored), or a
-- similar name.  Score: domain 0.9, name its similarity.
CREATE FUNCTION crm.account_duplicates(p_tenant uuid, p_id uuid,
    p_user uuid, p_scope text)
RETURNS TABLE (dup_id uuid, dup_score numeric, dup_reasons text[])
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
	me	crm.accounts;
	dom	text;
	nm	text;
	owners	uuid[] := crm.scope_owners(p_tenant, p_user, p_scope);
	thr	real := crm.dup_name_threshold();
BEGIN
	SELECT * INTO me FROM crm.accounts a
	WHERE a.tenant_id = p_tenant AND a.id = p_id AND a.deleted_at IS NULL
	    AND crm.in_scope(p_tenant, a.owner_id, p_user, p_scope);
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such resource' USING ERRCODE = 'CR404';
	END IF;
	dom := crm.domain_key(me.domain);
	nm := crm.company_key(me.name);
	RETURN QUERY
	SELECT x.id, crm.dup_score(ARRAY[CASE WHEN x.d THEN 0.9 END,
	    CASE WHEN x.s >= thr THEN x.s::numeric END]),
	    array_remove(ARRAY[CASE WHEN x.d THEN 'domain' END,
	    CASE WHEN x.s >= thr THEN 'name' END], NULL)
	FROM (SELECT a.id, coalesce(lower(a.domain) IN (dom, 'www.' || dom),
	    false) AS d, CASE WHEN nm IS NOT NULL AND
	    public.similarity(a.name, me.name) >= 0.3 THEN
	    public.similarity(crm.company_key(a.name), nm) END AS s
	    FROM crm.accounts a
	    WHERE a.tenant_id = p_tenant AND a.deleted_at IS NULL
	        AND a.id <> p_id
	        AND (owners IS NULL OR a.owner_id = ANY (owners))) x
	WHERE x.d OR x.s >= thr;
END
$$;

-- Contacts: the same e-mail (email_lc), the same phone by its digits
-- (phone or mobile, either way), the same first and last name whatever
-- the case.  Scores: e-mail 0.9, phone 0.7, name 0.6.
CREATE FUNCTION crm.contact_duplicates(p_tenant uuid, p_id uuid,
    p_user uuid, p_scope text)
RETURNS TABLE (dup_id uuid, dup_score numeric, dup_reasons text[])
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
	me	crm.contacts;
	phones	text[];
	fn	text;
	lname	text;
	owners	uuid[] := crm.scope_owners(p_tenant, p_user, p_scope);
BEGIN
	SELECT * INTO me FROM crm.contacts c
	WHERE c.tenant_id = p_tenant AND c.id = p_id AND c.deleted_at IS NULL
	    AND crm.in_scope(p_tenant, c.owner_id, p_user, p_scope);
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such resource' USING ERRCODE = 'CR404';
	END IF;
	phones := array_remove(ARRAY[crm.phone_key(me.phone),
	    crm.phone_key(me.mobile)], NULL);
	fn := nullif(lower(btrim(me.first_name)), '');
	lname := nullif(lower(btrim(me.last_name)), '');
	RETURN QUERY
	SELECT x.id, crm.dup_score(ARRAY[CASE WHEN x.e THEN 0.9 END,
	    CASE WHEN x.p THEN 0.7 END, CASE WHEN x.n THEN 0.6 END]),
	    array_remove(ARRAY[CASE WHEN x.e THEN 'email' END,
	    CASE WHEN x.p THEN 'phone' END, CASE WHEN x.n THEN 'name' END],
	    NULL)
	FROM (SELECT c.id, coalesce(c.email_lc = me.email_lc, false) AS e,
	    CASE WHEN cardinality(phones) > 0 AND (c.phone IS NOT NULL OR
	    c.mobile IS NOT NULL) THEN ARRAY[regexp_replace(coalesce(c.phone,
	    ''), '[^0-9]', '', 'g'), regexp_replace(coalesce(c.mobile, ''),
	    '[^0-9]', '', 'g')] && phones ELSE false END AS p,
	    coalesce(lower(btrim(c.first_name)) = fn AND
	    lower(btrim(c.last_name)) = lname, false) AS n
	    FROM crm.contacts c
	    WHERE c.tenant_id = p_tenant AND c.deleted_at IS NULL
	        AND c.id <> p_id
	        AND (owners IS NULL OR c.owner_id = ANY (owners))) x
	WHERE x.e OR x.p OR x.n;
END
$$;

-- Leads: the same e-mail, or a similar company name (reason "name").
-- Scores: e-mail 0.9, company 0.8 times its similarity.
CREATE FUNCTION crm.lead_duplicates(p_tenant uuid, p_id uuid,
    p_user uuid, p_scope text)
RETURNS TABLE (dup_id uuid, dup_score numeric, dup_reasons text[])
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
	me	crm.leads;
	co	text;
	owners	uuid[] := crm.scope_owners(p_tenant, p_user, p_scope);
	thr	real := crm.dup_name_threshold();
BEGIN
	SELECT * INTO me FROM crm.leads l
	WHERE l.tenant_id = p_tenant AND l.id = p_id AND l.deleted_at IS NULL
	    AND crm.in_scope(p_tenant, l.owner_id, p_user, p_scope);
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such resource' USING ERRCODE = 'CR404';
	END IF;
	co := crm.company_key(me.company);
	RETURN QUERY
	SELECT x.id, crm.dup_score(ARRAY[CASE WHEN x.e THEN 0.9 END,
	    CASE WHEN x.s >= thr THEN
	    0.8 * x.s::numeric END]),
	    array_remove(ARRAY[CASE WHEN x.e THEN 'email' END,
	    CASE WHEN x.s >= thr THEN 'name' END], NULL)
	FROM (SELECT l.id, coalesce(l.email_lc = me.email_lc, false) AS e,
	    CASE WHEN co IS NOT NULL AND l.company IS NOT NULL AND
	    public.similarity(l.company, me.company) >= 0.3 THEN
	    public.similarity(crm.company_key(l.company), co) END AS s
	    FROM crm.leads l
	    WHERE l.tenant_id = p_tenant AND l.deleted_at IS NULL
	        AND l.id <> p_id
	        AND (owners IS NULL OR l.owner_id = ANY (owners))) x
	WHERE x.e OR x.s >= thr;
END
$$;

-- Is this jsonb value empty (absent, null, blank text, {} or [])?
CREATE FUNCTION crm.merge_empty(p jsonb)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
	SELECT p IS NULL OR p IN ('null', '{}', '[]') OR
	    (jsonb_typeof(p) = 'string' AND btrim(p #>> '{}') = '')
$$;

-- One live record of the entity in the caller's scope, locked, as jsonb;
-- NULL when there is none.
CREATE FUNCTION crm.merge_lock(p_entity text, p_tenant uuid, p_id uuid,
    p_user uuid, p_scope text)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
DECLARE
	r	jsonb;
BEGIN
	EXECUTE format('SELECT to_jsonb(t) FROM crm.%I t WHERE tenant_id = $1 '
	    'AND id = $2 AND deleted_at IS NULL AND crm.in_scope($1, owner_id, '
	    '$3, $4) FOR UPDATE', p_entity)
	INTO r USING p_tenant, p_id, p_user, p_scope;
	RETURN r;
END
$$;

-- The survivor's empty fields (of p_fill) and custom fields, filled from
-- the merged records in the order given: the first one with a value wins.
-- A reference to the survivor or to a merged record is never taken (an
-- account would become its own parent).
CREATE FUNCTION crm.merge_fill(p_entity text, p_tenant uuid, p_id uuid,
    p_user uuid, p_from uuid[], p_fill text[], p_survivor jsonb,
    p_merged jsonb[])
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
DECLARE
	patch	jsonb := '{}';
	cust	jsonb := '{}';
	m	jsonb;
	k	text;
	sets	text;
	ids	text[] := array_append(p_from::text[], p_id::text);
BEGIN
	FOREACH m IN ARRAY p_merged LOOP
		FOREACH k IN ARRAY p_fill LOOP
			IF crm.merge_empty(p_survivor -> k) AND NOT patch ? k AND
			    NOT crm.merge_empty(m -> k) AND
			    NOT (m ->> k = ANY (ids)) THEN
				patch := patch || jsonb_build_object(k, m -> k);
			END IF;
		END LOOP;
		cust := jsonb_strip_nulls(coalesce(m -> 'custom', '{}')) || cust;
	END LOOP;
	cust := cust || jsonb_strip_nulls(p_survivor -> 'custom');
	SELECT string_agg(format('%I = r.%I', key, key), ', ') INTO sets
	FROM jsonb_object_keys(patch) key;
	EXECUTE format('UPDATE crm.%I t SET %s custom = $4, updated_at = now(), '
	    'updated_by = $5, version = t.version + 1 FROM '
	    'jsonb_populate_record(NULL::crm.%I, $3) r WHERE t.tenant_id = $1 '
	    'AND t.id = $2', p_entity, coalesce(sets || ',', ''), p_entity)
	USING p_tenant, p_id, patch, cust, p_user;
END
$$;

-- Activities about a merged record are about the survivor: `related`
-- rewritten (a record listed twice keeps its first place); the activity
-- triggers (015) check it and rewrite crm.activity_links.
CREATE FUNCTION crm.merge_activities(p_entity text, p_tenant uuid,
    p_id uuid, p_user uuid, p_from uuid[])
RETURNS void
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog
AS $$
	UPDATE crm.activities a SET related = (
	    SELECT coalesce(jsonb_agg(jsonb_build_object('entity', z.entity,
	        'id', z.rid) ORDER BY z.ord), '[]')
	    FROM (SELECT DISTINCT ON (y.entity, y.rid) y.entity, y.rid, y.ord
	        FROM (SELECT x->>'entity' AS entity, CASE WHEN
	            x->>'entity' = p_entity AND (x->>'id')::uuid = ANY (p_from)
	            THEN p_id ELSE (x->>'id')::uuid END AS rid, o AS ord
	            FROM jsonb_array_elements(a.related) WITH ORDINALITY e(x, o))
	            y
	        ORDER BY y.entity, y.rid, y.ord) z),
	    updated_at = now(), updated_by = p_user, version = a.version + 1
	WHERE a.tenant_id = p_tenant AND a.id IN (SELECT l.activity_id
	    FROM crm.activity_links l WHERE l.tenant_id = p_tenant AND
	    l.entity = p_entity AND l.record_id = ANY (p_from));
$$;

-- Deals with a merged contact among their `contacts` list the survivor
-- instead (once, in the first place and role either had); the deal
-- triggers (014) check the list and rewrite crm.deal_contacts.
CREATE FUNCTION crm.merge_deal_contacts(p_tenant uuid, p_id uuid,
    p_user uuid, p_from uuid[])
RETURNS void
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog
AS $$
	UPDATE crm.deals d SET contacts = (
	    SELECT coalesce(jsonb_agg(jsonb_build_object('contact_id', z.cid,
	        'role', z.role) ORDER BY z.ord), '[]')
	    FROM (SELECT DISTINCT ON (y.cid) y.cid, y.role, y.ord
	        FROM (SELECT CASE WHEN (x->>'contact_id')::uuid = ANY (p_from)
	            THEN p_id ELSE (x->>'contact_id')::uuid END AS cid,
	            x->'role' AS role, o AS ord
	            FROM jsonb_array_elements(d.contacts) WITH ORDINALITY e(x, o))
	            y
	        ORDER BY y.cid, y.ord) z),
	    updated_at = now(), updated_by = p_user, version = d.version + 1
	WHERE d.tenant_id = p_tenant AND d.id IN (SELECT c.deal_id
	    FROM crm.deal_contacts c WHERE c.tenant_id = p_tenant AND
	    c.contact_id = ANY (p_from));
$$;

-- What points at a merged account points at the survivor: contacts,
-- deals, child accounts (the survivor itself loses a merged parent) and
-- converted leads.  Rows in the recycle bin too, so that a restored one
-- points at a live account.
CREATE FUNCTION crm.merge_account_refs(p_tenant uuid, p_id uuid,
    p_user uuid, p_from uuid[])
RETURNS void
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog
AS $$
	UPDATE crm.contacts SET account_id = p_id, updated_at = now(),
	    updated_by = p_user, version = version + 1
	WHERE tenant_id = p_tenant AND account_id = ANY (p_from);
	UPDATE crm.deals SET account_id = p_id, updated_at = now(),
	    updated_by = p_user, version = version + 1
	WHERE tenant_id = p_tenant AND account_id = ANY (p_from);
	UPDATE crm.accounts SET parent_id = CASE WHEN id = p_id THEN NULL
	    ELSE p_id END, updated_at = now(), updated_by = p_user,
	    version = version + 1
	WHERE tenant_id = p_tenant AND parent_id = ANY (p_from)
	    AND NOT (id = ANY (p_from));
	UPDATE crm.leads SET converted_account_id = p_id, updated_at = now(),
	    updated_by = p_user, version = version + 1
	WHERE tenant_id = p_tenant AND converted_account_id = ANY (p_from);
$$;

CREATE FUNCTION crm.merge_contact_refs(p_tenant uuid, p_id uuid,
    p_user uuid, p_from uuid[])
RETURNS void
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog
AS $$
	SELECT crm.merge_deal_contacts(p_tenant, p_id, p_user, p_from);
	UPDATE crm.leads SET converted_contact_id = p_id, updated_at = now(),
	    updated_by = p_user, version = version + 1
	WHERE tenant_id = p_tenant AND converted_contact_id = ANY (p_from);
$$;

-- POST /v1/{entity}/{id}/merge {from_ids}: the survivor p_id takes over
-- everything related to each record of p_from, fills its empty fields
-- (p_fill: the descriptor's writable scalar fields) and custom fields from
-- them, takes over their timeline; then they go to the recycle bin (30
-- days to restore, like DELETE).  Events: <singular>.deleted for each
-- merged record, <singular>.merged {id, merged_ids} for the survivor; a
-- timeline entry "merged" {merged_ids} on the survivor.  Errors:
--   CR404  no such survivor (missing, deleted, other tenant, out of scope)
--   CR403  p_lacks: the caller may not delete (checked once it is found)
--   CR422  from_ids[i] not_found: a merged record the caller cannot see
--   CR409  an activity or deal to re-point lists a record in the bin
CREATE FUNCTION crm.merge_records(p_entity text, p_tenant uuid, p_id uuid,
    p_user uuid, p_scope text, p_from uuid[], p_fill text[], p_lacks text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
DECLARE
	one	text := CASE p_entity WHEN 'accounts' THEN 'account'
		    WHEN 'contacts' THEN 'contact' WHEN 'leads' THEN 'lead' END;
	s	jsonb;
	m	jsonb;
	merged	jsonb[] := '{}';
	col	text;
	i	int;
BEGIN
	IF one IS NULL THEN
		RAISE EXCEPTION 'no merge for %', p_entity;
	END IF;
	s := crm.merge_lock(p_entity, p_tenant, p_id, p_user, p_scope);
	IF s IS NULL THEN
		RAISE EXCEPTION 'no such resource' USING ERRCODE = 'CR404';
	END IF;
	IF p_lacks IS NOT NULL THEN
		RAISE EXCEPTION 'this credential lacks %', p_lacks
		    USING ERRCODE = 'CR403';
	END IF;
	FOR i IN 1 .. coalesce(array_length(p_from, 1), 0) LOOP
		m := CASE WHEN p_from[i] <> p_id THEN crm.merge_lock(p_entity,
		    p_tenant, p_from[i], p_user, p_scope) END;
		IF m IS NULL THEN
			PERFORM crm.field_error(format('from_ids[%s]', i - 1),
			    'not_found', 'no such record');
		END IF;
		merged := merged || m;
	END LOOP;
	PERFORM crm.merge_fill(p_entity, p_tenant, p_id, p_user, p_from,
	    p_fill, s, merged);
	-- Rewriting an activity's related or a deal's contacts makes their
	-- triggers check every entry again, and one may name a record that
	-- went to the recycle bin after it was linked: that is a conflict to
	-- resolve first, not a 422 about a field the request does not have.
	BEGIN
		IF p_entity = 'accounts' THEN
			PERFORM crm.merge_account_refs(p_tenant, p_id, p_user,
			    p_from);
		ELSIF p_entity = 'contacts' THEN
			PERFORM crm.merge_contact_refs(p_tenant, p_id, p_user,
			    p_from);
		END IF;
		PERFORM crm.merge_activities(p_entity, p_tenant, p_id, p_user,
		    p_from);
	EXCEPTION WHEN SQLSTATE 'CR422' THEN
		GET STACKED DIAGNOSTICS col = COLUMN_NAME;
		RAISE EXCEPTION USING ERRCODE = 'CR409', MESSAGE = format(
		    'an activity or deal of a merged record lists a record '
		    'that is in the recycle bin (%s): restore that record or '
		    'remove it from the list, then merge again', col);
	END;
	-- Their history first, so that their "deleted" entries stay theirs.
	UPDATE crm.timeline SET record_id = p_id
	WHERE tenant_id = p_tenant AND entity = p_entity
	    AND record_id = ANY (p_from);
	EXECUTE format('UPDATE crm.%I SET deleted_at = now(), updated_by = $3, '
	    'version = version + 1 WHERE tenant_id = $1 AND id = ANY ($2)',
	    p_entity) USING p_tenant, p_from, p_user;
	INSERT INTO crm.timeline (tenant_id, id, entity, record_id, actor_id,
	    action, changes)
	VALUES (p_tenant, crm.uuid7(), p_entity, p_id, p_user, 'merged',
	    jsonb_build_object('merged_ids', to_jsonb(p_from)));
	INSERT INTO crm.events (tenant_id, id, type, entity, entity_id, payload)
	SELECT p_tenant, crm.uuid7(), one || '.deleted', p_entity, f,
	    jsonb_build_object('id', f, 'merged_into', p_id)
	FROM unnest(p_from) f;
	INSERT INTO crm.events (tenant_id, id, type, entity, entity_id, payload)
	VALUES (p_tenant, crm.uuid7(), one || '.merged', p_entity, p_id,
	    jsonb_build_object('id', p_id, 'merged_ids', to_jsonb(p_from)));
END
$$;

DO $$
DECLARE
	f	text;
BEGIN
	FOREACH f IN ARRAY ARRAY[
	    'crm.domain_key(text)', 'crm.phone_key(text)',
	    'crm.company_key(text)', 'crm.dup_score(numeric[])',
	    'crm.dup_name_threshold()',
	    'crm.scope_owners(uuid, uuid, text)',
	    'crm.account_duplicates(uuid, uuid, uuid, text)',
	    'crm.contact_duplicates(uuid, uuid, uuid, text)',
	    'crm.lead_duplicates(uuid, uuid, uuid, text)',
	    'crm.merge_empty(jsonb)',
	    'crm.merge_lock(text, uuid, uuid, uuid, text)',
	    'crm.merge_fill(text, uuid, uuid, uuid, uuid[], text[], jsonb, '
	    'jsonb[])',
	    'crm.merge_activities(text, uuid, uuid, uuid, uuid[])',
	    'crm.merge_deal_contacts(uuid, uuid, uuid, uuid[])',
	    'crm.merge_account_refs(uuid, uuid, uuid, uuid[])',
	    'crm.merge_contact_refs(uuid, uuid, uuid, uuid[])',
	    'crm.merge_records(text, uuid, uuid, uuid, text, uuid[], text[], '
	    'text)']
	LOOP
		EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
		EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO crm_app', f);
	END LOOP;
END
$$;
