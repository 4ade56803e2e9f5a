-- 003_audit_events.sql: the audit log and the outbox of domain events.
--
-- Both grow with every write of every tenant, so both are hash partitioned
-- by tenant_id (ARCHITECTURE.md, "Tenancy in PostgreSQL"); queries say
-- tenant_id = $1 so the planner prunes to one partition.  Their rows are
-- written by the application in the same transaction as the change, never
-- by triggers (Citus refuses triggers on distributed tables, SECURITY.md
-- finding 5).

-- Who did what to which record.  Append-only for the service: no UPDATE or
-- DELETE grant, so a compromised request path cannot rewrite history.
CREATE TABLE crm.audit_log (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	id		uuid NOT NULL,
	at		timestamptz NOT NULL DEFAULT now(),
	actor_id	uuid,
	actor_kind	text NOT NULL
			    CHECK (actor_kind IN ('user', 'api_key', 'portal',
			    'system', 'operator')),
	action		text NOT NULL CHECK (action <> ''),
	target_type	text,
	target_id	uuid,
	ip		inet,
	user_agent	text CHECK (length(user_agent) <= 512),
	detail		jsonb NOT NULL DEFAULT '{}'
			    CHECK (jsonb_typeof(detail) = 'object'),
	PRIMARY KEY (tenant_id, id)
) PARTITION BY HASH (tenant_id);

-- A record's history: ids are UUIDv7, so id order is time order.
CREATE INDEX audit_log_target_idx
    ON crm.audit_log (tenant_id, target_type, target_id, id);

SELECT crm_meta.make_hash_partitions('crm.audit_log', 16);

GRANT SELECT, INSERT ON crm.audit_log TO crm_app, crm_worker;

-- The transactional outbox: a change and its event commit together; the
-- job worker (jobs issue) turns events into webhooks and other jobs.
CREATE TABLE crm.events (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	id		uuid NOT NULL,
	type		text NOT NULL CHECK (type ~ '^[a-z][a-z0-9_.]*$'),
	entity		text,
	entity_id	uuid,
	payload		jsonb NOT NULL DEFAULT '{}',
	created_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id)
) PARTITION BY HASH (tenant_id);

SELECT crm_meta.make_hash_partitions('crm.events', 16);

GRANT SELECT, INSERT ON crm.events TO crm_app, crm_worker;
