-- 019_jobs.sql: durable jobs (the outbox crm-worker drains) and webhook
-- subscriptions.
--
-- crm.jobs is the system of record for every background job (SECURITY.md
-- 3.7): a job row commits in the same transaction as the change that
-- causes it, so an acknowledged write always has its job and a rolled-back
-- one never does.  Redis only carries job ids (app/jobq.c); losing Redis
-- loses no job, since the worker republishes from here.
--
-- Life of a job (app/crm_worker.c, app/jobrun.c):
--
--   queued  --relay: dispatched_at set, id pushed to Redis-->  (in Redis)
--   queued  --claim: attempts + 1, lease, token-->  running
--   running --finish(token)-->  succeeded | failed | dead | queued (retry,
--                               run_at = now() + full-jitter backoff)
--   running --lease expired (worker died)-->  queued, or dead when the
--                               attempt budget is spent
--
-- 'failed' is a permanent failure that retrying cannot fix (the webhook
-- was deleted or disabled, the target resolves to a refused address);
-- 'dead' is a retryable failure whose attempt budget ran out.  Both keep
-- last_error and are listed by GET /v1/jobs?status=...
--
-- How crm_worker reaches jobs of every tenant without seeing their data:
-- it has the ordinary tenant policy only (protect_tenant_table), so it
-- reads or changes a job's row, payload or the tenant's records only in
-- that tenant's context (app.tenant_id set per transaction, exactly as
-- the request path does).  The cross-tenant steps (which jobs are due,
-- which leases expired, a job per tenant for the scheduled maintenance)
-- are four SECURITY DEFINER functions in schema auth, owned by crm_auth,
-- which alone has a policy spanning tenants on crm.jobs; they return job
-- ids and tenant ids, never a payload.  Only crm_worker may call them.
--
-- Triggers.  003 writes outbox rows from the application because Citus
-- refuses triggers on distributed tables (SECURITY.md finding 5).  The
-- webhook fan-out below is a trigger anyway: crm.events rows are written
-- by the entity engine in one statement per change (app/ent.c), and a
-- trigger is the only way to add the delivery jobs to that same
-- transaction without changing every writer.  The body is one function,
-- crm.webhook_jobs_for_event(), so on Citus the engine's statement can
-- call it in a CTE instead (the trigger then goes): the same rows, still
-- single-shard since jobs and events share tenant_id.

CREATE TABLE crm.webhooks (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	id		uuid NOT NULL,
	url		text NOT NULL CHECK (length(url) BETWEEN 8 AND 2048),
	events		text[] NOT NULL CHECK (cardinality(events) BETWEEN 1
			    AND 100),
	description	text CHECK (length(description) <= 500),
	enabled		boolean NOT NULL DEFAULT true,
	-- AES-256-GCM under CRM_KEYS_DIR/webhook-secret.key (app/jobseal.c):
	-- a database dump alone cannot forge signatures.
	secret_enc	bytea NOT NULL CHECK (length(secret_enc) BETWEEN 29 AND
			    256),
	secret_hint	text NOT NULL,
	consecutive_failures int NOT NULL DEFAULT 0,
	failing_since	timestamptz,
	disabled_at	timestamptz,
	disabled_reason	text,
	created_by	uuid,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id)
);

SELECT crm_meta.protect_tenant_table('crm.webhooks');
GRANT SELECT, INSERT, UPDATE, DELETE ON crm.webhooks TO crm_app;
GRANT SELECT, UPDATE ON crm.webhooks TO crm_worker;

CREATE TABLE crm.jobs (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	id		uuid NOT NULL,
	type		text NOT NULL CHECK (type ~ '^[a-z][a-z0-9_]*$'),
	payload		jsonb NOT NULL DEFAULT '{}'
			    CHECK (jsonb_typeof(payload) = 'object'),
	-- what the job is about, for listing: the webhook of a delivery
	subject_id	uuid,
	status		text NOT NULL DEFAULT 'queued'
			    CHECK (status IN ('queued', 'running', 'succeeded',
			    'failed', 'dead')),
	attempts	int NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	max_attempts	int NOT NULL DEFAULT 8 CHECK (max_attempts BETWEEN 1
			    AND 100),
	run_at		timestamptz NOT NULL DEFAULT now(),
	-- when the relay last pushed the id to Redis; NULL: push it
	dispatched_at	timestamptz,
	locked_until	timestamptz,
	-- the claim's fencing token: only its holder may finish the job
	locked_by	text,
	last_error	text CHECK (length(last_error) <= 1000),
	last_status	int,
	progress	jsonb NOT NULL DEFAULT '{"done": 0, "total": 0}',
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	finished_at	timestamptz,
	PRIMARY KEY (tenant_id, id)
) PARTITION BY HASH (tenant_id);

-- The relay's and the reaper's cross-tenant scans (auth functions below):
-- small partial indexes, since almost every row is finished.
CREATE INDEX jobs_relay_idx ON crm.jobs (tenant_id, run_at)
    WHERE status = 'queued' AND dispatched_at IS NULL;
CREATE INDEX jobs_queued_idx ON crm.jobs (tenant_id, dispatched_at)
    WHERE status = 'queued';
CREATE INDEX jobs_lease_idx ON crm.jobs (locked_until)
    WHERE status = 'running';
-- Per tenant: a webhook's deliveries, lists by status, clean-up by age.
CREATE INDEX jobs_subject_idx ON crm.jobs (tenant_id, subject_id, id)
    WHERE subject_id IS NOT NULL;
CREATE INDEX jobs_status_idx ON crm.jobs (tenant_id, status, id);
CREATE INDEX jobs_finished_idx ON crm.jobs (tenant_id, finished_at)
    WHERE finished_at IS NOT NULL;

SELECT crm_meta.make_hash_partitions('crm.jobs', 16);

GRANT SELECT, INSERT ON crm.jobs TO crm_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON crm.jobs TO crm_worker;

-- crm_auth's view across tenants, for the three functions below only
-- (crm_auth cannot log in).
GRANT SELECT, INSERT, UPDATE (status, dispatched_at, locked_until,
    locked_by, last_error, updated_at, finished_at) ON crm.jobs TO crm_auth;
CREATE POLICY auth_dispatch ON crm.jobs AS PERMISSIVE FOR ALL
    TO crm_auth USING (true) WITH CHECK (true);

-- Any job insert wakes the workers (LISTEN crm_jobs) at its COMMIT;
-- NOTIFY is transactional, so a rolled-back insert wakes nobody.
CREATE FUNCTION crm.jobs_notify()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
	PERFORM pg_notify('crm_jobs', '');
	RETURN NULL;
END
$$;

CREATE TRIGGER jobs_notify AFTER INSERT ON crm.jobs
    FOR EACH STATEMENT EXECUTE FUNCTION crm.jobs_notify();

-- Does a subscription's event list take this event type?  Exact names,
-- '*', and '<entity>.*' (validated by the API, app/jobspec.c).
CREATE FUNCTION crm.webhook_wants(p_events text[], p_type text)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
	SELECT p_events && ARRAY['*', p_type,
	    split_part(p_type, '.', 1) || '.*']
$$;

-- One delivery job per enabled subscription that wants the event.  The
-- job id is the delivery id (Crm-Delivery), the same on every retry.
CREATE FUNCTION crm.webhook_jobs_for_event(p_tenant uuid, p_event uuid,
    p_type text)
RETURNS void
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog
AS $$
	INSERT INTO crm.jobs (tenant_id, id, type, payload, subject_id)
	SELECT w.tenant_id, crm.uuid7(), 'webhook', jsonb_build_object(
	    'event_id', p_event, 'webhook_id', w.id), w.id
	FROM crm.webhooks w
	WHERE w.tenant_id = p_tenant AND w.enabled
	    AND crm.webhook_wants(w.events, p_type)
$$;

CREATE FUNCTION crm.events_to_webhooks()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
	PERFORM crm.webhook_jobs_for_event(NEW.tenant_id, NEW.id, NEW.type);
	RETURN NULL;
END
$$;

CREATE TRIGGER events_to_webhooks AFTER INSERT ON crm.events
    FOR EACH ROW EXECUTE FUNCTION crm.events_to_webhooks();

REVOKE ALL ON FUNCTION crm.jobs_notify() FROM PUBLIC;
REVOKE ALL ON FUNCTION crm.webhook_wants(text[], text) FROM PUBLIC;
REVOKE ALL ON FUNCTION crm.webhook_jobs_for_event(uuid, uuid, text)
    FROM PUBLIC;
REVOKE ALL ON FUNCTION crm.events_to_webhooks() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.webhook_wants(text[], text)
    TO crm_app, crm_worker;
GRANT EXECUTE ON FUNCTION crm.webhook_jobs_for_event(uuid, uuid, text)
    TO crm_app, crm_worker;

-- The claim, in the job's tenant context (set by the caller's
-- transaction): queued and due, or running with an expired lease (its
-- worker died).  Returns nothing when someone else has it or it is done,
-- which is how a duplicate id from Redis is dropped.
-- p_budgets: each type's attempt budget, {"webhook": 8, ...} (the
-- worker's table and configuration, app/jobrun.c), so that the reaper
-- judges an abandoned job by the budget in force.
CREATE FUNCTION crm.job_claim(p_tenant uuid, p_id uuid, p_lease_s int,
    p_token text, p_budgets jsonb)
RETURNS TABLE (type text, payload jsonb, attempts int, max_attempts int)
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog
AS $$
	UPDATE crm.jobs j SET status = 'running', attempts = j.attempts + 1,
	    max_attempts = coalesce((p_budgets ->> j.type)::int,
	        j.max_attempts), locked_by = p_token,
	    locked_until = now() + make_interval(secs => p_lease_s),
	    updated_at = now()
	WHERE j.tenant_id = p_tenant AND j.id = p_id AND j.run_at <= now()
	    AND (j.status = 'queued' OR (j.status = 'running'
	    AND j.locked_until < now()))
	RETURNING j.type, j.payload, j.attempts, j.max_attempts
$$;

-- The end of an attempt, fenced by the claim's token: a worker whose
-- lease ran out (and whose job someone else took) changes nothing.
-- p_status: succeeded, failed, dead, or queued (retry after p_delay_ms).
CREATE FUNCTION crm.job_finish(p_tenant uuid, p_id uuid, p_token text,
    p_status text, p_error text, p_http int, p_delay_ms bigint)
RETURNS boolean
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog
AS $$
	WITH u AS (
		UPDATE crm.jobs j SET status = p_status,
		    last_error = left(p_error, 1000), last_status = p_http,
		    locked_until = NULL, locked_by = NULL, updated_at = now(),
		    run_at = CASE WHEN p_status = 'queued' THEN now() +
		        make_interval(secs => p_delay_ms / 1000.0)
		        ELSE j.run_at END,
		    dispatched_at = NULL,
		    finished_at = CASE WHEN p_status = 'queued' THEN NULL
		        ELSE now() END
		WHERE j.tenant_id = p_tenant AND j.id = p_id
		    AND j.status = 'running' AND j.locked_by = p_token
		RETURNING 1)
	SELECT EXISTS (SELECT 1 FROM u)
$$;

-- A delivery's outcome on its subscription: a success clears the failure
-- streak; a failure extends it, and a streak of at least p_failures that
-- has lasted at least p_after_s disables the subscription, with an audit
-- entry (actor: the system).  Returns true when this call disabled it.
CREATE FUNCTION crm.webhook_outcome(p_tenant uuid, p_webhook uuid,
    p_ok boolean, p_failures int, p_after_s int, p_audit_id uuid)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
DECLARE
	w	crm.webhooks%ROWTYPE;
BEGIN
	IF p_ok THEN
		UPDATE crm.webhooks SET consecutive_failures = 0,
		    failing_since = NULL
		WHERE tenant_id = p_tenant AND id = p_webhook
		    AND consecutive_failures <> 0;
		RETURN false;
	END IF;
	UPDATE crm.webhooks SET consecutive_failures =
	    consecutive_failures + 1,
	    failing_since = coalesce(failing_since, now())
	WHERE tenant_id = p_tenant AND id = p_webhook AND enabled
	RETURNING * INTO w;
	IF NOT FOUND OR w.consecutive_failures < p_failures OR
	    w.failing_since > now() - make_interval(secs => p_after_s) THEN
		RETURN false;
	END IF;
	UPDATE crm.webhooks SET enabled = false, disabled_at = now(),
	    disabled_reason = 'failing', updated_at = now()
	WHERE tenant_id = p_tenant AND id = p_webhook;
	INSERT INTO crm.audit_log (tenant_id, id, actor_kind, action,
	    target_type, target_id, detail)
	VALUES (p_tenant, p_audit_id, 'system', 'webhook.disabled', 'webhook',
	    p_webhook, jsonb_build_object('reason', 'failing',
	    'consecutive_failures', w.consecutive_failures, 'failing_since',
	    w.failing_since));
	RETURN true;
END
$$;

-- What a record owns goes with it: a deal's stage history and contact
-- links, an activity's links, a pipeline's stages, a price book's
-- entries, and every record's timeline.  Rows other records hold (a contact a live deal lists) are
-- foreign keys, and keep the record in the bin.
CREATE FUNCTION crm.purge_owned(p_tenant uuid, p_table regclass, p_id uuid)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
BEGIN
	CASE p_table
	WHEN 'crm.deals'::regclass THEN
		DELETE FROM crm.deal_stage_history
		WHERE tenant_id = p_tenant AND deal_id = p_id;
		DELETE FROM crm.deal_contacts
		WHERE tenant_id = p_tenant AND deal_id = p_id;
	WHEN 'crm.activities'::regclass THEN
		DELETE FROM crm.activity_links
		WHERE tenant_id = p_tenant AND activity_id = p_id;
	WHEN 'crm.pipelines'::regclass THEN
		DELETE FROM crm.stages
		WHERE tenant_id = p_tenant AND pipeline_id = p_id;
	WHEN 'crm.price_books'::regclass THEN
		DELETE FROM crm.price_book_entries
		WHERE tenant_id = p_tenant AND price_book_id = p_id;
	ELSE
		NULL;
	END CASE;
	DELETE FROM crm.timeline WHERE tenant_id = p_tenant AND
	    record_id = p_id;
END
$$;

REVOKE ALL ON FUNCTION crm.purge_owned(uuid, regclass, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.purge_owned(uuid, regclass, uuid)
    TO crm_worker;

-- Recycle bin purge of one table in the current tenant: rows deleted
-- more than p_days ago, at most p_limit a run.  Row by row in a
-- subtransaction, so a row still referenced by another record (a foreign
-- key) stays in the bin instead of failing the whole purge.  The table
-- name comes from the worker's own table (app/jobrun.c), never from input.
CREATE FUNCTION crm.purge_deleted(p_tenant uuid, p_table regclass,
    p_days int, p_limit int)
RETURNS int
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog
AS $$
DECLARE
	rid	uuid;
	n	int := 0;
BEGIN
	FOR rid IN EXECUTE format('SELECT id FROM %s WHERE tenant_id = $1 '
	    'AND deleted_at < now() - make_interval(days => $2) '
	    'ORDER BY deleted_at LIMIT $3', p_table)
	    USING p_tenant, p_days, p_limit
	LOOP
		BEGIN
			PERFORM crm.purge_owned(p_tenant, p_table, rid);
			EXECUTE format('DELETE FROM %s WHERE tenant_id = $1 '
			    'AND id = $2', p_table) USING p_tenant, rid;
			n := n + 1;
		EXCEPTION WHEN foreign_key_violation THEN
			NULL;
		END;
	END LOOP;
	RETURN n;
END
$$;

GRANT DELETE ON crm.accounts, crm.contacts, crm.leads, crm.pipelines,
    crm.deals, crm.activities, crm.products, crm.price_books,
    crm.deal_stage_history, crm.deal_contacts, crm.activity_links,
    crm.price_book_entries, crm.stages, crm.timeline TO crm_worker;

REVOKE ALL ON FUNCTION crm.job_claim(uuid, uuid, int, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION crm.job_finish(uuid, uuid, text, text, text, int,
    bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION crm.webhook_outcome(uuid, uuid, boolean, int, int,
    uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION crm.purge_deleted(uuid, regclass, int, int)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.job_claim(uuid, uuid, int, text, jsonb)
    TO crm_worker;
GRANT EXECUTE ON FUNCTION crm.job_finish(uuid, uuid, text, text, text, int,
    bigint) TO crm_worker;
GRANT EXECUTE ON FUNCTION crm.webhook_outcome(uuid, uuid, boolean, int, int,
    uuid) TO crm_worker;
GRANT EXECUTE ON FUNCTION crm.purge_deleted(uuid, regclass, int, int)
    TO crm_worker;

-- auth.jobs_relay(per_tenant, max, stale_s): the relay's one statement.
-- First the reaper: running jobs whose lease expired go back to queued,
-- or to dead once their attempt budget is spent; queued jobs pushed to
-- Redis more than stale_s ago are marked for pushing again (Redis lost
-- them without our noticing, or they still wait in a slow tenant's list:
-- a duplicate id is harmless, the claim drops it).  Then it takes due,
-- unpushed jobs such that no tenant has more than per_tenant ids in
-- Redis at once, and max in all, marks them pushed and returns their
-- ids.  The cap keeps a tenant's backlog in PostgreSQL, not in Redis: it
-- bounds both Redis memory and the duplicates a stale sweep can make,
-- and it is what lets Redis's round robin (app/jobq.c) serve a quiet
-- tenant next to a busy one.  SKIP LOCKED lets every worker run it at
-- once.
CREATE FUNCTION auth.jobs_relay(p_per_tenant int, p_max int, p_stale_s int)
RETURNS TABLE (tenant_id uuid, id uuid)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE crm.jobs j SET status = CASE WHEN j.attempts >= j.max_attempts
	    THEN 'dead' ELSE 'queued' END,
	    last_error = CASE WHEN j.attempts >= j.max_attempts
	    THEN 'lease expired (worker died) on the last attempt'
	    ELSE j.last_error END,
	    finished_at = CASE WHEN j.attempts >= j.max_attempts THEN now()
	    END,
	    locked_until = NULL, locked_by = NULL, dispatched_at = NULL,
	    updated_at = now()
	WHERE j.status = 'running' AND j.locked_until < now();
	UPDATE crm.jobs j SET dispatched_at = NULL
	WHERE j.status = 'queued'
	    AND j.dispatched_at < now() - make_interval(secs => p_stale_s);
	RETURN QUERY
	WITH inflight AS (
		SELECT j.tenant_id, count(*) AS n FROM crm.jobs j
		WHERE j.status = 'queued' AND j.dispatched_at IS NOT NULL
		GROUP BY j.tenant_id
	), tenants AS (
		SELECT DISTINCT j.tenant_id FROM crm.jobs j
		WHERE j.status = 'queued' AND j.dispatched_at IS NULL
		    AND j.run_at <= now()
	), pick AS (
		SELECT x.tenant_id, x.id
		FROM tenants t
		LEFT JOIN inflight f ON f.tenant_id = t.tenant_id
		CROSS JOIN LATERAL (
			SELECT j.tenant_id, j.id FROM crm.jobs j
			WHERE j.tenant_id = t.tenant_id AND j.status = 'queued'
			    AND j.dispatched_at IS NULL AND j.run_at <= now()
			ORDER BY j.run_at
			LIMIT greatest(p_per_tenant - coalesce(f.n, 0), 0)
			FOR UPDATE OF j SKIP LOCKED) x
		LIMIT p_max
	)
	UPDATE crm.jobs j SET dispatched_at = now()
	FROM pick p
	WHERE j.tenant_id = p.tenant_id AND j.id = p.id
	RETURNING j.tenant_id, j.id;
END
$$;

-- auth.jobs_redispatch(): Redis came back empty (restart without its
-- data): every queued job is to be pushed again.
CREATE FUNCTION auth.jobs_redispatch()
RETURNS bigint
LANGUAGE sql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	WITH u AS (UPDATE crm.jobs j SET dispatched_at = NULL
	    WHERE j.status = 'queued' AND j.dispatched_at IS NOT NULL
	    RETURNING 1)
	SELECT count(*) FROM u
$$;

-- auth.jobs_stats(): queue depth and the age of the oldest due job, for
-- the worker's metrics; counts only.
CREATE FUNCTION auth.jobs_stats()
RETURNS TABLE (queued bigint, running bigint, oldest_s double precision)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT count(*) FILTER (WHERE j.status = 'queued'),
	    count(*) FILTER (WHERE j.status = 'running'),
	    coalesce(extract(epoch FROM now() - min(j.run_at)
	        FILTER (WHERE j.status = 'queued' AND j.run_at <= now())), 0)
	FROM crm.jobs j
	WHERE j.status IN ('queued', 'running')
$$;

-- auth.jobs_schedule(type): one job of a scheduled maintenance type for
-- every tenant that has none of that type waiting; the job itself then
-- runs in its tenant's context.  Returns how many were made.
CREATE FUNCTION auth.jobs_schedule(p_type text)
RETURNS bigint
LANGUAGE sql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	WITH ins AS (
		INSERT INTO crm.jobs (tenant_id, id, type, max_attempts)
		SELECT t.tenant_id, crm.uuid7(), p_type, 3
		FROM crm.tenants t
		WHERE t.status <> 'closed' AND NOT EXISTS (SELECT 1
		    FROM crm.jobs j WHERE j.tenant_id = t.tenant_id
		    AND j.type = p_type AND j.status IN ('queued', 'running'))
		RETURNING 1)
	SELECT count(*) FROM ins
$$;

-- crm_auth mints ids with crm.uuid7() inside jobs_schedule.
GRANT EXECUTE ON FUNCTION crm.uuid7() TO crm_auth;

ALTER FUNCTION auth.jobs_relay(int, int, int) OWNER TO crm_auth;
ALTER FUNCTION auth.jobs_redispatch() OWNER TO crm_auth;
ALTER FUNCTION auth.jobs_stats() OWNER TO crm_auth;
ALTER FUNCTION auth.jobs_schedule(text) OWNER TO crm_auth;
SET LOCAL ROLE crm_auth;
REVOKE ALL ON FUNCTION auth.jobs_relay(int, int, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION auth.jobs_redispatch() FROM PUBLIC;
REVOKE ALL ON FUNCTION auth.jobs_stats() FROM PUBLIC;
REVOKE ALL ON FUNCTION auth.jobs_schedule(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth.jobs_relay(int, int, int) TO crm_worker;
GRANT EXECUTE ON FUNCTION auth.jobs_redispatch() TO crm_worker;
GRANT EXECUTE ON FUNCTION auth.jobs_stats() TO crm_worker;
GRANT EXECUTE ON FUNCTION auth.jobs_schedule(text) TO crm_worker;
RESET ROLE;
