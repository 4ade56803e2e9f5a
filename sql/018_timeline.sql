-- 018_timeline.sql: every record's history, field by field.
--
-- One generic AFTER trigger on every entity table compares the row before
-- and after (as jsonb) and writes what changed: {field: {from, to}}.  The
-- engine's statements stay as they are, and a table added later gets its
-- timeline with one CREATE TRIGGER.  Columns nobody edits are left out:
-- the keys, the bookkeeping (updated_at, updated_by, version), deleted_at
-- (it becomes the action, deleted or restored) and generated columns
-- (search vectors, lower-cased copies), which only echo other fields.
--
-- GET /v1/{entity}/{id}/timeline (modules/crm/timeline.c) reads it by
-- (tenant_id, entity, record_id), merged with the record's activities.

CREATE TABLE crm.timeline (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	id		uuid NOT NULL,
	entity		text NOT NULL,
	record_id	uuid NOT NULL,
	at		timestamptz NOT NULL DEFAULT now(),
	actor_id	uuid,
	action		text NOT NULL CHECK (action IN ('created', 'updated',
			    'deleted', 'restored')),
	changes		jsonb NOT NULL DEFAULT '{}',
	PRIMARY KEY (tenant_id, id)
) PARTITION BY HASH (tenant_id);

CREATE INDEX timeline_record_idx ON crm.timeline
    (tenant_id, entity, record_id, at, id);
SELECT crm_meta.make_hash_partitions('crm.timeline', 16);

-- Append-only for the service, like the audit log.
GRANT SELECT, INSERT ON crm.timeline TO crm_app;
GRANT SELECT ON crm.timeline TO crm_worker;

-- The trigger's arguments, fixed per table when the trigger is made (below,
-- from the catalog), so a write never reads the catalog: [0] the entity's
-- route name ("price-books", as the timeline route and activity links
-- name it), [1] the columns left out (comma-separated), [2] the money
-- columns, shown as decimal strings, [3] the timestamptz columns, shown in
-- UTC with milliseconds and Z (values as the API shows them).
CREATE FUNCTION crm.timeline_record()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
	n	jsonb := to_jsonb(NEW) - string_to_array(TG_ARGV[1], ',');
	o	jsonb := '{}';
	act	text := 'created';
	diff	jsonb;
	k	text;
BEGIN
	IF TG_OP = 'UPDATE' THEN
		o := to_jsonb(OLD) - string_to_array(TG_ARGV[1], ',');
		act := CASE WHEN OLD.deleted_at IS NULL AND
		    NEW.deleted_at IS NOT NULL THEN 'deleted'
		    WHEN OLD.deleted_at IS NOT NULL AND NEW.deleted_at IS NULL
		    THEN 'restored' ELSE 'updated' END;
	END IF;
	SELECT coalesce(jsonb_object_agg(e.key, jsonb_build_object('from',
	    o -> e.key, 'to', e.value)), '{}') INTO diff
	FROM jsonb_each(n) e
	WHERE (o -> e.key) IS DISTINCT FROM e.value AND NOT (TG_OP = 'INSERT'
	    AND e.value IN ('null', '[]', '{}'));
	IF act = 'updated' AND diff = '{}' THEN
		RETURN NULL;
	END IF;
	FOR k IN SELECT unnest(string_to_array(TG_ARGV[2], ',')) LOOP
		IF diff ? k THEN
			diff := jsonb_set(diff, ARRAY[k], jsonb_build_object(
			    'from', to_jsonb(diff #>> ARRAY[k, 'from']),
			    'to', to_jsonb(diff #>> ARRAY[k, 'to'])));
		END IF;
	END LOOP;
	FOR k IN SELECT unnest(string_to_array(TG_ARGV[3], ',')) LOOP
		IF diff ? k THEN
			diff := jsonb_set(diff, ARRAY[k], jsonb_build_object(
			    'from', to_jsonb(to_char((diff #>> ARRAY[k, 'from'])::
			    timestamptz AT TIME ZONE 'UTC',
			    'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
			    'to', to_jsonb(to_char((diff #>> ARRAY[k, 'to'])::
			    timestamptz AT TIME ZONE 'UTC',
			    'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))));
		END IF;
	END LOOP;
	INSERT INTO crm.timeline (tenant_id, id, entity, record_id, actor_id,
	    action, changes)
	VALUES (NEW.tenant_id, crm.uuid7(), TG_ARGV[0], NEW.id,
	    CASE WHEN TG_OP = 'INSERT' THEN NEW.created_by
	    ELSE NEW.updated_by END, act, diff);
	RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION crm.timeline_record() FROM PUBLIC;

-- One trigger per entity table, its arguments read from the catalog here,
-- once.  A NULL "from" of a time stays NULL (to_char of NULL).  crmctl
-- seed-demo's bulk load (crm.bulk_load set in its transaction) writes the
-- "created" entries itself, set-based: the WHEN keeps the function from
-- even being called, which is most of its cost.
DO $$
DECLARE
	t	record;
	skip	text;
	money	text;
	times	text;
BEGIN
	FOR t IN SELECT * FROM (VALUES ('crm.accounts', 'accounts'),
	    ('crm.contacts', 'contacts'), ('crm.leads', 'leads'),
	    ('crm.pipelines', 'pipelines'), ('crm.deals', 'deals'),
	    ('crm.activities', 'activities'), ('crm.products', 'products'),
	    ('crm.price_books', 'price-books')) v(rel, entity)
	LOOP
		SELECT string_agg(attname, ',') FILTER (WHERE attgenerated <> ''
		    OR attname IN ('tenant_id', 'id', 'created_at', 'created_by',
		    'updated_at', 'updated_by', 'version', 'deleted_at')),
		    coalesce(string_agg(attname, ',') FILTER (WHERE
		    format_type(atttypid, atttypmod) = 'numeric(15,2)'), ''),
		    coalesce(string_agg(attname, ',') FILTER (WHERE
		    atttypid = 'timestamptz'::regtype AND attname NOT IN
		    ('created_at', 'updated_at', 'deleted_at')), '')
		INTO skip, money, times FROM pg_attribute
		WHERE attrelid = t.rel::regclass AND attnum > 0
		    AND NOT attisdropped;
		EXECUTE format('CREATE TRIGGER timeline AFTER INSERT OR UPDATE '
		    'ON %s FOR EACH ROW WHEN (current_user <> ''crm_owner'' OR '
		    'current_setting(''crm.bulk_load'', true) IS DISTINCT FROM '
		    '''on'') EXECUTE FUNCTION '
		    'crm.timeline_record(%L, %L, %L, %L)', t.rel, t.entity, skip,
		    money, times);
	END LOOP;
END
$$;
