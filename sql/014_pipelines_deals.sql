-- 014_pipelines_deals.sql: sales pipelines with their stages, deals, the
-- contacts of a deal and its stage history.
--
-- A pipeline's stages travel as one JSON array (the descriptor's ENT_ARRAY
-- field `stages`) but live in a real table too, crm.stages, so that a deal
-- can point at (pipeline, stage) with one composite foreign key: a stage
-- of another pipeline, or of another tenant, cannot be referenced.  The
-- array is the client's view; triggers validate it, give new stages ids
-- and positions, and keep crm.stages in step.  The same holds for a deal's
-- `contacts` and crm.deal_contacts.

CREATE TABLE crm.pipelines (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	id		uuid NOT NULL,
	name		text NOT NULL CHECK (btrim(name) <> ''),
	description	text,
	is_default	boolean NOT NULL DEFAULT false,
	currency	text CONSTRAINT pipelines_currency_check
			    CHECK (currency ~ '^[A-Z]{3}$'),
	stages		jsonb NOT NULL DEFAULT '[]',
	custom		jsonb NOT NULL DEFAULT '{}',
	owner_id	uuid NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	created_by	uuid,
	updated_by	uuid,
	version		bigint NOT NULL DEFAULT 1,
	deleted_at	timestamptz,
	search		tsvector GENERATED ALWAYS AS (to_tsvector('simple',
			    coalesce(name, ''))) STORED,
	PRIMARY KEY (tenant_id, id),
	FOREIGN KEY (tenant_id, owner_id) REFERENCES crm.users (tenant_id, id)
) PARTITION BY HASH (tenant_id);

-- At most one default pipeline per tenant; a second one is a 409.
CREATE UNIQUE INDEX pipelines_default_key ON crm.pipelines (tenant_id)
    WHERE is_default AND deleted_at IS NULL;
CREATE INDEX pipelines_search_idx ON crm.pipelines USING gin
    (tenant_id, search) WHERE deleted_at IS NULL;
SELECT crm_meta.make_hash_partitions('crm.pipelines', 16);
SELECT crm_meta.protect_tenant_table('crm.pipelines');

GRANT SELECT, INSERT, UPDATE ON crm.pipelines TO crm_app;
GRANT SELECT ON crm.pipelines TO crm_worker;

-- Small (a few rows per pipeline), so not partitioned.  The unique key on
-- (tenant_id, pipeline_id, id) is what deals reference.
CREATE TABLE crm.stages (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	pipeline_id	uuid NOT NULL,
	id		uuid NOT NULL,
	name		text NOT NULL CHECK (btrim(name) <> ''),
	probability	int NOT NULL CHECK (probability BETWEEN 0 AND 100),
	kind		text NOT NULL CHECK (kind IN ('open', 'won', 'lost')),
	position	int NOT NULL CHECK (position > 0),
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, pipeline_id, id),
	FOREIGN KEY (tenant_id, pipeline_id)
	    REFERENCES crm.pipelines (tenant_id, id)
);

SELECT crm_meta.protect_tenant_table('crm.stages');
GRANT SELECT, INSERT, UPDATE, DELETE ON crm.stages TO crm_app;
GRANT SELECT ON crm.stages TO crm_worker;

-- The stages array, checked and normalised: each element an object with
-- name (required), probability 0..100 (default 100 for won, 0 for lost,
-- else required), kind open|won|lost (default open), position (optional:
-- orders the array, then positions are renumbered 1..n) and id (optional:
-- an existing stage of this pipeline, which keeps its id; new stages get
-- one).  Errors name the element: stages[2].kind (0-based, like JSON).
CREATE FUNCTION crm.pipeline_stages_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
	e	jsonb;
	i	int := 0;
	f	text;
	k	text;
	p	int;
	sid	uuid;
	out	jsonb := '[]';
	seen	uuid[] := '{}';
	names	text[] := '{}';
	nopen	int := 0;
BEGIN
	IF jsonb_typeof(NEW.stages) IS DISTINCT FROM 'array' THEN
		PERFORM crm.field_error('stages', 'invalid_type',
		    'stages must be an array');
	END IF;
	IF jsonb_array_length(NEW.stages) = 0 OR
	    jsonb_array_length(NEW.stages) > 50 THEN
		PERFORM crm.field_error('stages', 'out_of_range',
		    'a pipeline has 1 to 50 stages');
	END IF;
	FOR e IN SELECT x FROM jsonb_array_elements(NEW.stages) x LOOP
		f := format('stages[%s]', i);
		IF jsonb_typeof(e) IS DISTINCT FROM 'object' THEN
			PERFORM crm.field_error(f, 'invalid_type',
			    'a stage is an object');
		END IF;
		FOR k IN SELECT jsonb_object_keys(e) LOOP
			IF k NOT IN ('id', 'name', 'probability', 'kind',
			    'position') THEN
				PERFORM crm.field_error(f || '.' || k,
				    'unknown_field', 'a stage has id, name, '
				    'probability, kind and position');
			END IF;
		END LOOP;
		IF jsonb_typeof(e->'name') IS DISTINCT FROM 'string' OR
		    btrim(e->>'name') = '' OR length(e->>'name') > 100 THEN
			PERFORM crm.field_error(f || '.name', 'required',
			    'a stage needs a name of 1 to 100 characters');
		END IF;
		IF lower(e->>'name') = ANY (names) THEN
			PERFORM crm.field_error(f || '.name', 'duplicate_value',
			    'two stages have this name');
		END IF;
		names := names || lower(e->>'name');
		k := coalesce(e->>'kind', 'open');
		IF jsonb_typeof(coalesce(e->'kind', 'null')) NOT IN ('string',
		    'null') OR k NOT IN ('open', 'won', 'lost') THEN
			PERFORM crm.field_error(f || '.kind', 'invalid_value',
			    'kind is open, won or lost');
		END IF;
		nopen := nopen + (k = 'open')::int;
		IF e ? 'probability' AND e->'probability' <> 'null' THEN
			IF jsonb_typeof(e->'probability') <> 'number' OR
			    (e->>'probability')::numeric NOT BETWEEN 0 AND 100 OR
			    (e->>'probability')::numeric <>
			    trunc((e->>'probability')::numeric) THEN
				PERFORM crm.field_error(f || '.probability',
				    'out_of_range', 'probability is a whole '
				    'number from 0 to 100');
			END IF;
			p := (e->>'probability')::int;
		ELSIF k = 'open' THEN
			PERFORM crm.field_error(f || '.probability', 'required',
			    'an open stage needs a probability');
		ELSE
			p := CASE k WHEN 'won' THEN 100 ELSE 0 END;
		END IF;
		IF e ? 'position' AND e->'position' <> 'null' AND
		    (jsonb_typeof(e->'position') <> 'number' OR
		    (e->>'position')::numeric <> trunc((e->>'position')::numeric)
		    OR (e->>'position')::numeric NOT BETWEEN 1 AND 1000) THEN
			PERFORM crm.field_error(f || '.position', 'out_of_range',
			    'position is a whole number from 1 to 1000');
		END IF;
		sid := NULL;
		IF e ? 'id' AND e->'id' <> 'null' THEN
			BEGIN
				sid := (e->>'id')::uuid;
			EXCEPTION WHEN invalid_text_representation THEN
				PERFORM crm.field_error(f || '.id',
				    'invalid_format', 'id is a stage''s UUID');
			END;
			IF TG_OP = 'INSERT' OR sid = ANY (seen) OR NOT EXISTS
			    (SELECT 1 FROM crm.stages s WHERE
			    s.tenant_id = NEW.tenant_id AND
			    s.pipeline_id = NEW.id AND s.id = sid) THEN
				PERFORM crm.field_error(f || '.id', 'not_found',
				    'no such stage in this pipeline');
			END IF;
		END IF;
		sid := coalesce(sid, crm.uuid7());
		seen := seen || sid;
		out := out || jsonb_build_array(jsonb_build_object('id', sid,
		    'name', btrim(e->>'name'), 'probability', p, 'kind', k,
		    'position', coalesce((e->>'position')::int, 1000) * 1000 + i));
		i := i + 1;
	END LOOP;
	IF nopen = 0 THEN
		PERFORM crm.field_error('stages', 'invalid_value',
		    'a pipeline needs at least one open stage');
	END IF;
	-- Order by the given positions (then array order), number 1..n.
	SELECT jsonb_agg(x || jsonb_build_object('position', n) ORDER BY n)
	INTO NEW.stages
	FROM (SELECT x, row_number() OVER (ORDER BY (x->>'position')::int) n
	    FROM jsonb_array_elements(out) x) s;
	RETURN NEW;
END
$$;

-- crm.stages follows the normalised array.  A stage some deal still uses
-- (in the recycle bin too: its row keeps the reference) cannot go: 409,
-- naming the stage, before the foreign key would refuse it less clearly.
CREATE FUNCTION crm.pipeline_stages_sync()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
	gone	record;
BEGIN
	IF TG_OP = 'UPDATE' AND NEW.stages = OLD.stages THEN
		RETURN NULL;
	END IF;
	SELECT s.id, s.name, count(*) AS n INTO gone
	FROM crm.stages s
	JOIN crm.deals d ON d.tenant_id = s.tenant_id AND d.stage_id = s.id
	WHERE s.tenant_id = NEW.tenant_id AND s.pipeline_id = NEW.id
	    AND s.id NOT IN (SELECT (x->>'id')::uuid
	    FROM jsonb_array_elements(NEW.stages) x)
	GROUP BY s.id, s.name
	LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'CR409', MESSAGE = format(
		    'stage "%s" is used by %s deal(s) (the recycle bin '
		    'included): move them to another stage first', gone.name,
		    gone.n);
	END IF;
	DELETE FROM crm.stages s
	WHERE s.tenant_id = NEW.tenant_id AND s.pipeline_id = NEW.id
	    AND s.id NOT IN (SELECT (x->>'id')::uuid
	    FROM jsonb_array_elements(NEW.stages) x);
	INSERT INTO crm.stages (tenant_id, pipeline_id, id, name, probability,
	    kind, position)
	SELECT NEW.tenant_id, NEW.id, (x->>'id')::uuid, x->>'name',
	    (x->>'probability')::int, x->>'kind', (x->>'position')::int
	FROM jsonb_array_elements(NEW.stages) x
	ON CONFLICT (tenant_id, id) DO UPDATE SET name = EXCLUDED.name,
	    probability = EXCLUDED.probability, kind = EXCLUDED.kind,
	    position = EXCLUDED.position;
	RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION crm.pipeline_stages_check() FROM PUBLIC;
REVOKE ALL ON FUNCTION crm.pipeline_stages_sync() FROM PUBLIC;

CREATE TRIGGER pipelines_require BEFORE INSERT OR UPDATE ON crm.pipelines
    FOR EACH ROW EXECUTE FUNCTION crm.require_fields('is_default');
CREATE TRIGGER pipelines_stages_check BEFORE INSERT OR UPDATE OF stages
    ON crm.pipelines FOR EACH ROW
    EXECUTE FUNCTION crm.pipeline_stages_check();

CREATE TABLE crm.deals (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	id		uuid NOT NULL,
	name		text NOT NULL CHECK (btrim(name) <> ''),
	account_id	uuid,
	pipeline_id	uuid NOT NULL,
	stage_id	uuid NOT NULL,
	amount		numeric(15, 2) CONSTRAINT deals_amount_check
			    CHECK (amount >= 0),
	currency	text CONSTRAINT deals_currency_check
			    CHECK (currency ~ '^[A-Z]{3}$'),
	expected_close_date date,
	probability	bigint NOT NULL CONSTRAINT deals_probability_check
			    CHECK (probability BETWEEN 0 AND 100),
	type		text,
	source		text,
	lost_reason	text,
	next_step	text,
	description	text,
	contacts	jsonb NOT NULL DEFAULT '[]',
	closed_at	timestamptz,
	custom		jsonb NOT NULL DEFAULT '{}',
	owner_id	uuid NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	created_by	uuid,
	updated_by	uuid,
	version		bigint NOT NULL DEFAULT 1,
	deleted_at	timestamptz,
	search		tsvector GENERATED ALWAYS AS (to_tsvector('simple',
			    coalesce(name, '') || ' ' ||
			    coalesce(next_step, ''))) STORED,
	PRIMARY KEY (tenant_id, id),
	CONSTRAINT deals_account_id_fkey FOREIGN KEY (tenant_id, account_id)
	    REFERENCES crm.accounts (tenant_id, id),
	CONSTRAINT deals_pipeline_id_fkey FOREIGN KEY (tenant_id, pipeline_id)
	    REFERENCES crm.pipelines (tenant_id, id),
	-- Named for stage_id: a stage of another pipeline is a 422 naming
	-- stage_id (the engine names the first field inside the name).
	CONSTRAINT deals_stage_id_fkey FOREIGN KEY (tenant_id, pipeline_id,
	    stage_id) REFERENCES crm.stages (tenant_id, pipeline_id, id),
	FOREIGN KEY (tenant_id, owner_id) REFERENCES crm.users (tenant_id, id)
) PARTITION BY HASH (tenant_id);

CREATE INDEX deals_stage_amount_idx ON crm.deals (tenant_id, stage_id, amount)
    WHERE deleted_at IS NULL;
CREATE INDEX deals_owner_idx ON crm.deals (tenant_id, owner_id)
    WHERE deleted_at IS NULL;
CREATE INDEX deals_account_idx ON crm.deals (tenant_id, account_id)
    WHERE deleted_at IS NULL;
CREATE INDEX deals_pipeline_idx ON crm.deals (tenant_id, pipeline_id,
    stage_id);
CREATE INDEX deals_close_idx ON crm.deals (tenant_id, expected_close_date)
    WHERE deleted_at IS NULL;
CREATE INDEX deals_search_idx ON crm.deals USING gin (tenant_id, search)
    WHERE deleted_at IS NULL;
SELECT crm_meta.make_hash_partitions('crm.deals', 16);
SELECT crm_meta.protect_tenant_table('crm.deals');

GRANT SELECT, INSERT, UPDATE ON crm.deals TO crm_app;
GRANT SELECT ON crm.deals TO crm_worker;

CREATE TABLE crm.deal_contacts (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	deal_id		uuid NOT NULL,
	contact_id	uuid NOT NULL,
	role		text,
	PRIMARY KEY (tenant_id, deal_id, contact_id),
	FOREIGN KEY (tenant_id, deal_id) REFERENCES crm.deals (tenant_id, id),
	FOREIGN KEY (tenant_id, contact_id)
	    REFERENCES crm.contacts (tenant_id, id)
) PARTITION BY HASH (tenant_id);

-- "Deals of this contact".
CREATE INDEX deal_contacts_contact_idx ON crm.deal_contacts
    (tenant_id, contact_id);
SELECT crm_meta.make_hash_partitions('crm.deal_contacts', 16);
SELECT crm_meta.protect_tenant_table('crm.deal_contacts');
GRANT SELECT, INSERT, UPDATE, DELETE ON crm.deal_contacts TO crm_app;
GRANT SELECT ON crm.deal_contacts TO crm_worker;

-- Every stage a deal entered, with the amount at that moment: the data of
-- conversion rates, velocity and forecasts.  Append-only for the service.
CREATE TABLE crm.deal_stage_history (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	id		uuid NOT NULL,
	deal_id		uuid NOT NULL,
	pipeline_id	uuid NOT NULL,
	from_stage_id	uuid,
	to_stage_id	uuid NOT NULL,
	changed_at	timestamptz NOT NULL DEFAULT now(),
	changed_by	uuid,
	amount		numeric(15, 2),
	probability	int,
	PRIMARY KEY (tenant_id, id),
	FOREIGN KEY (tenant_id, deal_id) REFERENCES crm.deals (tenant_id, id)
) PARTITION BY HASH (tenant_id);

CREATE INDEX deal_stage_history_deal_idx ON crm.deal_stage_history
    (tenant_id, deal_id, changed_at);
CREATE INDEX deal_stage_history_stage_idx ON crm.deal_stage_history
    (tenant_id, to_stage_id, changed_at);
SELECT crm_meta.make_hash_partitions('crm.deal_stage_history', 16);
SELECT crm_meta.protect_tenant_table('crm.deal_stage_history');
GRANT SELECT, INSERT ON crm.deal_stage_history TO crm_app;
GRANT SELECT ON crm.deal_stage_history TO crm_worker;

-- Deal defaults and rules, before the row is written:
--   pipeline: from the given stage, else the tenant's default pipeline
--     (else its oldest live one); a pipeline a deal enters must be live;
--     stage: the pipeline's first open stage;
--     a new pipeline without a new stage moves the deal to its first one;
--   probability: the stage's on insert, and again on every stage change
--     unless the same statement sets probability itself, or when cleared;
--   closed_at: set on entering a won or lost stage, cleared on reopening;
--   contacts: [{contact_id, role?}], each a live contact of the tenant.
CREATE FUNCTION crm.deal_before()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
	st	record;
	okind	text;
BEGIN
	IF NEW.pipeline_id IS NULL AND NEW.stage_id IS NOT NULL THEN
		SELECT pipeline_id INTO NEW.pipeline_id FROM crm.stages
		WHERE tenant_id = NEW.tenant_id AND id = NEW.stage_id;
	END IF;
	IF NEW.pipeline_id IS NULL THEN
		SELECT id INTO NEW.pipeline_id FROM crm.pipelines
		WHERE tenant_id = NEW.tenant_id AND deleted_at IS NULL
		ORDER BY is_default DESC, created_at, id LIMIT 1;
		IF NOT FOUND THEN
			PERFORM crm.field_error('pipeline_id', 'required',
			    'there is no pipeline to put the deal in');
		END IF;
	END IF;
	IF (TG_OP = 'INSERT' OR NEW.pipeline_id <> OLD.pipeline_id) AND
	    NOT EXISTS (SELECT 1 FROM crm.pipelines WHERE
	    tenant_id = NEW.tenant_id AND id = NEW.pipeline_id AND
	    deleted_at IS NULL) THEN
		PERFORM crm.field_error('pipeline_id', 'not_found',
		    'no such pipeline');
	END IF;
	IF NEW.stage_id IS NULL OR (TG_OP = 'UPDATE' AND
	    NEW.pipeline_id <> OLD.pipeline_id AND NEW.stage_id = OLD.stage_id)
	    THEN
		SELECT id INTO NEW.stage_id FROM crm.stages
		WHERE tenant_id = NEW.tenant_id AND pipeline_id = NEW.pipeline_id
		ORDER BY kind <> 'open', position LIMIT 1;
	END IF;
	SELECT probability, kind INTO st FROM crm.stages
	WHERE tenant_id = NEW.tenant_id AND pipeline_id = NEW.pipeline_id
	    AND id = NEW.stage_id;
	IF FOUND THEN
		IF TG_OP = 'INSERT' THEN
			NEW.probability := coalesce(NEW.probability,
			    st.probability);
			NEW.closed_at := CASE WHEN st.kind <> 'open' THEN now()
			    END;
		ELSIF NEW.stage_id <> OLD.stage_id THEN
			IF NEW.probability IS NOT DISTINCT FROM
			    OLD.probability THEN
				NEW.probability := st.probability;
			END IF;
			SELECT kind INTO okind FROM crm.stages
			WHERE tenant_id = OLD.tenant_id AND id = OLD.stage_id;
			NEW.closed_at := CASE WHEN st.kind = 'open' THEN NULL
			    WHEN st.kind IS DISTINCT FROM okind THEN now()
			    ELSE OLD.closed_at END;
		END IF;
	END IF;
	-- A cleared probability is the stage's again.  A stage the foreign
	-- key will refuse still needs one, or NOT NULL would hide the better
	-- error.
	NEW.probability := coalesce(NEW.probability, st.probability, 0);
	IF TG_OP = 'INSERT' OR NEW.contacts IS DISTINCT FROM OLD.contacts THEN
		NEW.contacts := crm.deal_contacts_check(NEW.tenant_id,
		    NEW.contacts);
	END IF;
	RETURN NEW;
END
$$;

-- The contacts array of a deal, checked and normalised.
CREATE FUNCTION crm.deal_contacts_check(p_tenant uuid, p_contacts jsonb)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
	e	jsonb;
	i	int := 0;
	f	text;
	cid	uuid;
	seen	uuid[] := '{}';
	out	jsonb := '[]';
BEGIN
	IF p_contacts IS NULL THEN
		RETURN '[]';
	END IF;
	IF jsonb_typeof(p_contacts) <> 'array' OR
	    jsonb_array_length(p_contacts) > 100 THEN
		PERFORM crm.field_error('contacts', 'invalid_type',
		    'contacts is an array of at most 100 {contact_id, role}');
	END IF;
	FOR e IN SELECT x FROM jsonb_array_elements(p_contacts) x LOOP
		f := format('contacts[%s]', i);
		IF jsonb_typeof(e) <> 'object' OR EXISTS (SELECT 1
		    FROM jsonb_object_keys(e) k
		    WHERE k NOT IN ('contact_id', 'role')) THEN
			PERFORM crm.field_error(f, 'invalid_type',
			    'each contact is {contact_id, role}');
		END IF;
		BEGIN
			cid := (e->>'contact_id')::uuid;
		EXCEPTION WHEN invalid_text_representation THEN
			cid := NULL;
		END;
		IF cid IS NULL OR jsonb_typeof(e->'contact_id') <> 'string' THEN
			PERFORM crm.field_error(f || '.contact_id', 'required',
			    'contact_id is a contact''s UUID');
		END IF;
		IF NOT EXISTS (SELECT 1 FROM crm.contacts WHERE
		    tenant_id = p_tenant AND id = cid AND deleted_at IS NULL) THEN
			PERFORM crm.field_error(f || '.contact_id', 'not_found',
			    'no such contact');
		END IF;
		IF cid = ANY (seen) THEN
			PERFORM crm.field_error(f || '.contact_id',
			    'duplicate_value', 'this contact is listed twice');
		END IF;
		IF e ? 'role' AND e->'role' <> 'null' AND
		    (jsonb_typeof(e->'role') <> 'string' OR
		    length(e->>'role') > 100) THEN
			PERFORM crm.field_error(f || '.role', 'invalid_type',
			    'role is a text of at most 100 characters');
		END IF;
		seen := seen || cid;
		out := out || jsonb_build_array(jsonb_build_object(
		    'contact_id', cid, 'role', e->'role'));
		i := i + 1;
	END LOOP;
	RETURN out;
END
$$;

-- After the row: the link table, the stage history and the
-- deal.stage_changed event, in the writing statement's transaction.
CREATE FUNCTION crm.deal_after()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
	-- Only what changed: most writes touch neither contacts nor stage,
	-- and every statement here is a round through the executor.
	IF TG_OP = 'UPDATE' AND NEW.contacts IS DISTINCT FROM OLD.contacts THEN
		DELETE FROM crm.deal_contacts
		WHERE tenant_id = NEW.tenant_id AND deal_id = NEW.id;
	END IF;
	IF (TG_OP = 'INSERT' OR NEW.contacts IS DISTINCT FROM OLD.contacts)
	    AND jsonb_array_length(NEW.contacts) > 0 THEN
		INSERT INTO crm.deal_contacts (tenant_id, deal_id, contact_id,
		    role)
		SELECT NEW.tenant_id, NEW.id, (x->>'contact_id')::uuid,
		    x->>'role'
		FROM jsonb_array_elements(NEW.contacts) x;
	END IF;
	IF TG_OP = 'INSERT' OR NEW.stage_id <> OLD.stage_id THEN
		INSERT INTO crm.deal_stage_history (tenant_id, id, deal_id,
		    pipeline_id, from_stage_id, to_stage_id, changed_by, amount,
		    probability)
		VALUES (NEW.tenant_id, crm.uuid7(), NEW.id, NEW.pipeline_id,
		    CASE WHEN TG_OP = 'UPDATE' THEN OLD.stage_id END,
		    NEW.stage_id, NEW.updated_by, NEW.amount, NEW.probability);
	END IF;
	IF TG_OP = 'UPDATE' AND NEW.stage_id <> OLD.stage_id THEN
		INSERT INTO crm.events (tenant_id, id, type, entity, entity_id,
		    payload)
		VALUES (NEW.tenant_id, crm.uuid7(), 'deal.stage_changed',
		    'deals', NEW.id, jsonb_build_object('id', NEW.id,
		    'from_stage_id', OLD.stage_id, 'to_stage_id', NEW.stage_id,
		    'from_pipeline_id', OLD.pipeline_id,
		    'pipeline_id', NEW.pipeline_id,
		    'probability', NEW.probability, 'amount', NEW.amount::text,
		    'closed_at', NEW.closed_at, 'changed_by', NEW.updated_by));
	END IF;
	RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION crm.deal_before() FROM PUBLIC;
REVOKE ALL ON FUNCTION crm.deal_after() FROM PUBLIC;
REVOKE ALL ON FUNCTION crm.deal_contacts_check(uuid, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.deal_contacts_check(uuid, jsonb)
    TO crm_app, crm_worker;

-- crmctl seed-demo's bulk load (as crm_owner, crm.bulk_load on in its
-- transaction) writes what these derive itself, set-based: probability
-- and closed_at from the stage, the stage history (app/crmctl.c).  Row by
-- row they would take most of the load's time.  The service's roles never
-- skip them.
CREATE TRIGGER deals_before BEFORE INSERT OR UPDATE ON crm.deals
    FOR EACH ROW WHEN (current_user <> 'crm_owner' OR
    current_setting('crm.bulk_load', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION crm.deal_before();
CREATE TRIGGER deals_after AFTER INSERT OR UPDATE ON crm.deals
    FOR EACH ROW WHEN (current_user <> 'crm_owner' OR
    current_setting('crm.bulk_load', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION crm.deal_after();

-- Created after crm.deals, which its stage check reads.
CREATE TRIGGER pipelines_stages_sync AFTER INSERT OR UPDATE OF stages
    ON crm.pipelines FOR EACH ROW
    EXECUTE FUNCTION crm.pipeline_stages_sync();

-- The default "Sales" pipeline of a tenant, created with its first user
-- (sign-up, crmctl seed-demo, or the first invitation accepted in a tenant
-- made by crmctl tenant create): a pipeline has an owner, and a tenant
-- row alone has no user to own it.  ON CONFLICT on the one-default index
-- makes two first users at once harmless.
CREATE FUNCTION crm.seed_pipeline(p_tenant uuid, p_owner uuid)
RETURNS void
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog
AS $$
	INSERT INTO crm.pipelines (tenant_id, id, name, is_default, stages,
	    owner_id, created_by, updated_by)
	SELECT p_tenant, crm.uuid7(), 'Sales', true,
	    '[{"name": "Qualification", "probability": 10},
	      {"name": "Needs analysis", "probability": 25},
	      {"name": "Proposal", "probability": 50},
	      {"name": "Negotiation", "probability": 75},
	      {"name": "Closed won", "probability": 100, "kind": "won"},
	      {"name": "Closed lost", "probability": 0, "kind": "lost"}]',
	    p_owner, p_owner, p_owner
	WHERE NOT EXISTS (SELECT 1 FROM crm.pipelines
	    WHERE tenant_id = p_tenant)
	ON CONFLICT (tenant_id) WHERE is_default AND deleted_at IS NULL
	    DO NOTHING
$$;

CREATE FUNCTION crm.user_seed_pipeline()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
	PERFORM crm.seed_pipeline(NEW.tenant_id, NEW.id);
	RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION crm.seed_pipeline(uuid, uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION crm.user_seed_pipeline() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.seed_pipeline(uuid, uuid) TO crm_app;

CREATE TRIGGER users_seed_pipeline AFTER INSERT ON crm.users
    FOR EACH ROW EXECUTE FUNCTION crm.user_seed_pipeline();

-- Backfill: every existing tenant with users gets its pipeline, owned by
-- its first owner.  crm_owner sees tenants only through their context
-- (forced RLS), so the list comes through crm_auth's lookup policy.
DO $$
DECLARE
	ids	uuid[];
	t	uuid;
	u	uuid;
BEGIN
	SET LOCAL ROLE crm_auth;
	SELECT array_agg(tenant_id) INTO ids FROM crm.tenants;
	RESET ROLE;
	FOREACH t IN ARRAY coalesce(ids, '{}') LOOP
		PERFORM set_config('app.tenant_id', t::text, true);
		SELECT u2.id INTO u FROM crm.users u2
		JOIN crm.roles r ON r.tenant_id = u2.tenant_id
		    AND r.id = u2.role_id
		WHERE u2.tenant_id = t
		ORDER BY r.name <> 'owner', u2.created_at LIMIT 1;
		IF u IS NOT NULL THEN
			PERFORM crm.seed_pipeline(t, u);
		END IF;
	END LOOP;
	PERFORM set_config('app.tenant_id', '', true);
END
$$;
