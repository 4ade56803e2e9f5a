-- 015_activities.sql: tasks, calls, meetings, notes and e-mails, and the
-- records they are about.
--
-- `related` ([{entity, id}]) is the client's view of crm.activity_links,
-- which a trigger keeps in step: a record's timeline (016) and "activities
-- of this deal" read the link table by (tenant_id, entity, record_id).  A
-- link cannot be a foreign key (it points at one of four tables), so the
-- trigger checks that each record exists in the tenant when it is linked.
--
-- subject is required except for notes, whose text is the body: a note
-- without a subject is the common case, every other type is listed by its
-- subject.

CREATE TABLE crm.activities (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	id		uuid NOT NULL,
	type		text NOT NULL,
	subject		text,
	body		text,
	status		text NOT NULL DEFAULT 'open',
	priority	text,
	due_at		timestamptz,
	starts_at	timestamptz,
	ends_at		timestamptz,
	all_day		boolean NOT NULL DEFAULT false,
	location	text,
	related		jsonb NOT NULL DEFAULT '[]',
	participants	jsonb NOT NULL DEFAULT '[]',
	remind_at	timestamptz,
	completed_at	timestamptz,
	custom		jsonb NOT NULL DEFAULT '{}',
	owner_id	uuid NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	created_by	uuid,
	updated_by	uuid,
	version		bigint NOT NULL DEFAULT 1,
	deleted_at	timestamptz,
	search		tsvector GENERATED ALWAYS AS (to_tsvector('simple',
			    coalesce(subject, '') || ' ' ||
			    coalesce(location, ''))) STORED,
	PRIMARY KEY (tenant_id, id),
	CONSTRAINT activities_subject_check CHECK (type = 'note' OR
	    btrim(coalesce(subject, '')) <> ''),
	CONSTRAINT activities_ends_at_check CHECK (ends_at >= starts_at),
	FOREIGN KEY (tenant_id, owner_id) REFERENCES crm.users (tenant_id, id)
) PARTITION BY HASH (tenant_id);

-- A user's calendar and task list ("my day").
CREATE INDEX activities_owner_starts_idx ON crm.activities
    (tenant_id, owner_id, starts_at) WHERE deleted_at IS NULL;
CREATE INDEX activities_owner_due_idx ON crm.activities
    (tenant_id, owner_id, due_at) WHERE deleted_at IS NULL;
CREATE INDEX activities_type_status_idx ON crm.activities
    (tenant_id, type, status) WHERE deleted_at IS NULL;
CREATE INDEX activities_search_idx ON crm.activities USING gin
    (tenant_id, search) WHERE deleted_at IS NULL;
SELECT crm_meta.make_hash_partitions('crm.activities', 16);
SELECT crm_meta.protect_tenant_table('crm.activities');

GRANT SELECT, INSERT, UPDATE ON crm.activities TO crm_app;
GRANT SELECT ON crm.activities TO crm_worker;

CREATE TABLE crm.activity_links (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	activity_id	uuid NOT NULL,
	entity		text NOT NULL CHECK (entity IN ('accounts', 'contacts',
			    'leads', 'deals')),
	record_id	uuid NOT NULL,
	PRIMARY KEY (tenant_id, activity_id, entity, record_id),
	FOREIGN KEY (tenant_id, activity_id)
	    REFERENCES crm.activities (tenant_id, id)
) PARTITION BY HASH (tenant_id);

CREATE INDEX activity_links_record_idx ON crm.activity_links
    (tenant_id, entity, record_id);
SELECT crm_meta.make_hash_partitions('crm.activity_links', 16);
SELECT crm_meta.protect_tenant_table('crm.activity_links');
GRANT SELECT, INSERT, DELETE ON crm.activity_links TO crm_app;
GRANT SELECT ON crm.activity_links TO crm_worker;

-- Does this live record exist in the tenant?  The table name comes from a
-- closed list, never from the client's text.
CREATE FUNCTION crm.record_exists(p_tenant uuid, p_entity text, p_id uuid)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
	ok	boolean;
BEGIN
	IF p_entity NOT IN ('accounts', 'contacts', 'leads', 'deals') THEN
		RETURN false;
	END IF;
	EXECUTE format('SELECT EXISTS (SELECT 1 FROM crm.%I WHERE '
	    'tenant_id = $1 AND id = $2 AND deleted_at IS NULL)', p_entity)
	    INTO ok USING p_tenant, p_id;
	RETURN ok;
END
$$;

REVOKE ALL ON FUNCTION crm.record_exists(uuid, text, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.record_exists(uuid, text, uuid)
    TO crm_app, crm_worker;

-- The related array: [{entity, id}], each a live record of the tenant,
-- no duplicates, at most 50.  Errors name related[i].entity or .id.
CREATE FUNCTION crm.activity_related_check(p_tenant uuid, p_related jsonb)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
	e	jsonb;
	i	int := 0;
	f	text;
	rid	uuid;
	out	jsonb := '[]';
BEGIN
	IF p_related IS NULL THEN
		RETURN '[]';
	END IF;
	IF jsonb_typeof(p_related) <> 'array' OR
	    jsonb_array_length(p_related) > 50 THEN
		PERFORM crm.field_error('related', 'invalid_type',
		    'related is an array of at most 50 {entity, id}');
	END IF;
	FOR e IN SELECT x FROM jsonb_array_elements(p_related) x LOOP
		f := format('related[%s]', i);
		IF jsonb_typeof(e) <> 'object' OR EXISTS (SELECT 1
		    FROM jsonb_object_keys(e) k WHERE k NOT IN ('entity', 'id'))
		    THEN
			PERFORM crm.field_error(f, 'invalid_type',
			    'each related record is {entity, id}');
		END IF;
		IF coalesce(e->>'entity', '') NOT IN ('accounts', 'contacts',
		    'leads', 'deals') OR jsonb_typeof(e->'entity') <> 'string'
		    THEN
			PERFORM crm.field_error(f || '.entity', 'invalid_value',
			    'entity is accounts, contacts, leads or deals');
		END IF;
		BEGIN
			rid := (e->>'id')::uuid;
		EXCEPTION WHEN invalid_text_representation THEN
			rid := NULL;
		END;
		IF rid IS NULL OR jsonb_typeof(e->'id') <> 'string' THEN
			PERFORM crm.field_error(f || '.id', 'invalid_format',
			    'id is a record''s UUID');
		END IF;
		IF NOT crm.record_exists(p_tenant, e->>'entity', rid) THEN
			PERFORM crm.field_error(f || '.id', 'not_found',
			    'no such record');
		END IF;
		IF out @> jsonb_build_array(jsonb_build_object('entity',
		    e->>'entity', 'id', rid)) THEN
			PERFORM crm.field_error(f || '.id', 'duplicate_value',
			    'this record is listed twice');
		END IF;
		out := out || jsonb_build_array(jsonb_build_object('entity',
		    e->>'entity', 'id', rid));
		i := i + 1;
	END LOOP;
	RETURN out;
END
$$;

-- Participants: [{user_id} | {contact_id} | {email}], exactly one key
-- each; users and contacts must exist in the tenant.
CREATE FUNCTION crm.activity_participants_check(p_tenant uuid, p_list jsonb)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
	e	jsonb;
	i	int := 0;
	f	text;
	k	text;
	v	text;
	out	jsonb := '[]';
BEGIN
	IF p_list IS NULL THEN
		RETURN '[]';
	END IF;
	IF jsonb_typeof(p_list) <> 'array' OR jsonb_array_length(p_list) > 100
	    THEN
		PERFORM crm.field_error('participants', 'invalid_type',
		    'participants is an array of at most 100 entries');
	END IF;
	FOR e IN SELECT x FROM jsonb_array_elements(p_list) x LOOP
		f := format('participants[%s]', i);
		IF jsonb_typeof(e) <> 'object' OR (SELECT count(*)
		    FROM jsonb_object_keys(e)) <> 1 THEN
			PERFORM crm.field_error(f, 'invalid_type', 'each '
			    'participant is {user_id}, {contact_id} or {email}');
		END IF;
		k := (SELECT jsonb_object_keys(e) LIMIT 1);
		v := e->>k;
		IF k NOT IN ('user_id', 'contact_id', 'email') OR
		    jsonb_typeof(e->k) <> 'string' THEN
			PERFORM crm.field_error(f, 'invalid_type', 'each '
			    'participant is {user_id}, {contact_id} or {email}');
		END IF;
		IF k = 'email' AND (length(v) > 254 OR
		    v !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$') THEN
			PERFORM crm.field_error(f || '.email', 'invalid_format',
			    'not an e-mail address');
		END IF;
		IF k <> 'email' AND v !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-'
		    '[0-9a-f]{4}-[0-9a-f]{12}$' THEN
			PERFORM crm.field_error(f || '.' || k, 'invalid_format',
			    'not a UUID');
		END IF;
		IF (k = 'user_id' AND NOT EXISTS (SELECT 1 FROM crm.users
		    WHERE tenant_id = p_tenant AND id = v::uuid)) OR
		    (k = 'contact_id' AND NOT crm.record_exists(p_tenant,
		    'contacts', v::uuid)) THEN
			PERFORM crm.field_error(f || '.' || k, 'not_found',
			    'no such record');
		END IF;
		out := out || jsonb_build_array(jsonb_build_object(k,
		    CASE WHEN k = 'email' THEN v ELSE lower(v) END));
		i := i + 1;
	END LOOP;
	RETURN out;
END
$$;

REVOKE ALL ON FUNCTION crm.activity_related_check(uuid, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION crm.activity_participants_check(uuid, jsonb)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.activity_related_check(uuid, jsonb)
    TO crm_app, crm_worker;
GRANT EXECUTE ON FUNCTION crm.activity_participants_check(uuid, jsonb)
    TO crm_app, crm_worker;

-- completed_at follows status: set when it becomes completed, cleared
-- when it leaves it.
CREATE FUNCTION crm.activity_before()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
	IF TG_OP = 'INSERT' OR NEW.related IS DISTINCT FROM OLD.related THEN
		NEW.related := crm.activity_related_check(NEW.tenant_id,
		    NEW.related);
	END IF;
	IF TG_OP = 'INSERT' OR
	    NEW.participants IS DISTINCT FROM OLD.participants THEN
		NEW.participants := crm.activity_participants_check(
		    NEW.tenant_id, NEW.participants);
	END IF;
	IF NEW.status = 'completed' AND (TG_OP = 'INSERT' OR
	    OLD.status <> 'completed') THEN
		NEW.completed_at := now();
	ELSIF NEW.status IS DISTINCT FROM 'completed' THEN
		NEW.completed_at := NULL;
	END IF;
	RETURN NEW;
END
$$;

CREATE FUNCTION crm.activity_after()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
	IF TG_OP = 'UPDATE' AND NEW.related = OLD.related THEN
		RETURN NULL;
	END IF;
	IF TG_OP = 'UPDATE' THEN
		DELETE FROM crm.activity_links
		WHERE tenant_id = NEW.tenant_id AND activity_id = NEW.id;
	END IF;
	INSERT INTO crm.activity_links (tenant_id, activity_id, entity,
	    record_id)
	SELECT NEW.tenant_id, NEW.id, x->>'entity', (x->>'id')::uuid
	FROM jsonb_array_elements(NEW.related) x;
	RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION crm.activity_before() FROM PUBLIC;
REVOKE ALL ON FUNCTION crm.activity_after() FROM PUBLIC;

-- Skipped during crmctl seed-demo's bulk load, which writes completed_at
-- and the links itself, set-based (see deals_before in 014).
CREATE TRIGGER activities_before BEFORE INSERT OR UPDATE ON crm.activities
    FOR EACH ROW WHEN (current_user <> 'crm_owner' OR
    current_setting('crm.bulk_load', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION crm.activity_before();
CREATE TRIGGER activities_require BEFORE INSERT OR UPDATE ON crm.activities
    FOR EACH ROW EXECUTE FUNCTION crm.require_fields('all_day', 'status');
CREATE TRIGGER activities_after AFTER INSERT OR UPDATE ON crm.activities
    FOR EACH ROW WHEN (current_user <> 'crm_owner' OR
    current_setting('crm.bulk_load', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION crm.activity_after();
