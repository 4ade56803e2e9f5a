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

-- TG_ARGV[0] is the entity's route name ("price-books"), the name the
-- timeline route and the activity links use.
CREATE FUNCTION crm.timeline_record()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
	o	jsonb := '{}';
	n	jsonb := to_jsonb(NEW);
	skip	text[];
	money	text[];
	times	text[];
	m	text;
	act	text;
	diff	jsonb;
BEGIN
	SELECT array_agg(attname::text) FILTER (WHERE attgenerated <> ''),
	    array_agg(attname::text) FILTER (WHERE
	    format_type(atttypid, atttypmod) = 'numeric(15,2)'),
	    array_agg(attname::text) FILTER (WHERE
	    atttypid = 'timestamptz'::regtype)
	INTO skip, money, times FROM pg_attribute
	WHERE attrelid = TG_RELID AND attnum > 0 AND NOT attisdropped;
	skip := coalesce(skip, '{}') || ARRAY['tenant_id', 'id', 'created_at',
	    'created_by', 'updated_at', 'updated_by', 'version', 'deleted_at'];
	IF TG_OP = 'UPDATE' THEN
		o := to_jsonb(OLD);
	END IF;
	-- Values as the API shows them: money a decimal string, never a
	-- number; times in UTC with milliseconds and Z.
	FOR m IN SELECT unnest(coalesce(money, '{}')) LOOP
		IF n->>m IS NOT NULL THEN
			n := jsonb_set(n, ARRAY[m], to_jsonb(n->>m));
		END IF;
		IF o->>m IS NOT NULL THEN
			o := jsonb_set(o, ARRAY[m], to_jsonb(o->>m));
		END IF;
	END LOOP;
	FOR m IN SELECT unnest(coalesce(times, '{}')) LOOP
		IF n->>m IS NOT NULL THEN
			n := jsonb_set(n, ARRAY[m], to_jsonb(to_char((n->>m)::
			    timestamptz AT TIME ZONE 'UTC',
			    'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')));
		END IF;
		IF o->>m IS NOT NULL THEN
			o := jsonb_set(o, ARRAY[m], to_jsonb(to_char((o->>m)::
			    timestamptz AT TIME ZONE 'UTC',
			    'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')));
		END IF;
	END LOOP;
	act := CASE WHEN TG_OP = 'INSERT' THEN 'created'
	    WHEN OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL
		THEN 'deleted'
	    WHEN OLD.deleted_at IS NOT NULL AND NEW.deleted_at IS NULL
		THEN 'restored'
	    ELSE 'updated' END;
	SELECT coalesce(jsonb_object_agg(k, jsonb_build_object('from',
	    o->k, 'to', n->k)), '{}') INTO diff
	FROM jsonb_object_keys(n) k
	WHERE k <> ALL (skip) AND (o->k IS DISTINCT FROM n->k)
	    AND NOT (TG_OP = 'INSERT' AND n->k IN ('null', '[]', '{}'));
	IF act = 'updated' AND diff = '{}' THEN
		RETURN NULL;
	END IF;
	INSERT INTO crm.timeline (tenant_id, id, entity, record_id, actor_id,
	    action, changes)
	VALUES (NEW.tenant_id, crm.uuid7(), TG_ARGV[0], NEW.id,
	    CASE WHEN TG_OP = 'INSERT' THEN NEW.created_by
	    ELSE NEW.updated_by END, act, diff);
	RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION crm.timeline_record() FROM PUBLIC;

CREATE TRIGGER timeline AFTER INSERT OR UPDATE ON crm.accounts
    FOR EACH ROW EXECUTE FUNCTION crm.timeline_record('accounts');
CREATE TRIGGER timeline AFTER INSERT OR UPDATE ON crm.contacts
    FOR EACH ROW EXECUTE FUNCTION crm.timeline_record('contacts');
CREATE TRIGGER timeline AFTER INSERT OR UPDATE ON crm.leads
    FOR EACH ROW EXECUTE FUNCTION crm.timeline_record('leads');
CREATE TRIGGER timeline AFTER INSERT OR UPDATE ON crm.pipelines
    FOR EACH ROW EXECUTE FUNCTION crm.timeline_record('pipelines');
CREATE TRIGGER timeline AFTER INSERT OR UPDATE ON crm.deals
    FOR EACH ROW EXECUTE FUNCTION crm.timeline_record('deals');
CREATE TRIGGER timeline AFTER INSERT OR UPDATE ON crm.activities
    FOR EACH ROW EXECUTE FUNCTION crm.timeline_record('activities');
CREATE TRIGGER timeline AFTER INSERT OR UPDATE ON crm.products
    FOR EACH ROW EXECUTE FUNCTION crm.timeline_record('products');
CREATE TRIGGER timeline AFTER INSERT OR UPDATE ON crm.price_books
    FOR EACH ROW EXECUTE FUNCTION crm.timeline_record('price-books');
