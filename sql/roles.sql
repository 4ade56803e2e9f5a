-- roles.sql: the database roles and extensions, run once per cluster by a
-- superuser (deploy/local/stack.sh locally, a DBA in production), on the
-- service's database, before the first `crmctl migrate`:
--
--   psql -X -v ON_ERROR_STOP=1 -d crm \
--	-v owner_password=... -v app_password=... -v worker_password=... \
--	-f sql/roles.sql
--
-- Everything else (schemas, tables, policies, grants) belongs to the
-- numbered migrations, which run as crm_owner and never as a superuser.
-- Running this file again is harmless: roles are created only when
-- missing, their attributes are reset to what is written here, and a
-- password is changed only when its variable is given (leave all three
-- out to re-run it on another database of the same cluster).
--
-- The roles (SECURITY.md 3.1.1):
--   crm_owner   owns the schemas, tables, policies; runs migrations and
--               crmctl.  Not a superuser and without BYPASSRLS, so FORCE
--               ROW LEVEL SECURITY binds it too.  NOINHERIT: it is a member
--               of crm_auth only so that migrations can hand functions to
--               crm_auth; it must not pick up crm_auth's privileges or
--               policies along the way.
--   crm_app     the Kore request path: DML on parent tables, owns nothing.
--   crm_worker  the job worker: like crm_app.
--   crm_auth    NOLOGIN; owns the narrow SECURITY DEFINER pre-tenant lookup
--               functions in schema auth (SECURITY.md 3.1.6).

\set ON_ERROR_STOP on
SET client_min_messages = warning;

DO $$
BEGIN
	IF current_setting('is_superuser') <> 'on' THEN
		RAISE EXCEPTION 'sql/roles.sql must be run by a superuser';
	END IF;
END
$$;

DO $$
DECLARE
	r	text;
BEGIN
	FOREACH r IN ARRAY ARRAY['crm_owner', 'crm_app', 'crm_worker', 'crm_auth']
	LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
			EXECUTE format('CREATE ROLE %I', r);
		END IF;
	END LOOP;
END
$$;

-- Attributes are set on every run, so a hand-made change is undone.
ALTER ROLE crm_owner LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE
    NOREPLICATION NOINHERIT;
ALTER ROLE crm_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE
    NOREPLICATION INHERIT;
ALTER ROLE crm_worker LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE
    NOREPLICATION INHERIT;
ALTER ROLE crm_auth NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE
    NOREPLICATION;

-- The request-path roles must not be members of anything: a membership in
-- crm_owner would make them owners of every table.
DO $$
DECLARE
	m	record;
BEGIN
	FOR m IN
		SELECT g.rolname AS grp, u.rolname AS usr
		FROM pg_auth_members a
		JOIN pg_roles g ON g.oid = a.roleid
		JOIN pg_roles u ON u.oid = a.member
		WHERE u.rolname IN ('crm_app', 'crm_worker')
	LOOP
		EXECUTE format('REVOKE %I FROM %I', m.grp, m.usr);
	END LOOP;
END
$$;

GRANT crm_auth TO crm_owner;

-- Passwords come in as psql variables and are never echoed.  psql does not
-- interpolate inside dollar quotes, hence plain statements here.
\if :{?owner_password}
ALTER ROLE crm_owner PASSWORD :'owner_password';
\endif
\if :{?app_password}
ALTER ROLE crm_app PASSWORD :'app_password';
\endif
\if :{?worker_password}
ALTER ROLE crm_worker PASSWORD :'worker_password';
\endif

-- The database: the owner creates the schemas; everyone else only connects.
-- PUBLIC loses CONNECT and TEMP so a stray role gets nothing here; no TEMP
-- for anyone (a temporary table is a place outside RLS).
DO $$
BEGIN
	EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC',
	    current_database());
	EXECUTE format('GRANT CONNECT, CREATE ON DATABASE %I TO crm_owner',
	    current_database());
	EXECUTE format('GRANT CONNECT ON DATABASE %I TO crm_app, crm_worker',
	    current_database());
END
$$;

-- PostgreSQL 15 already denies CREATE on public to PUBLIC; say it anyway so
-- an upgraded cluster (where the old default survives) is covered.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- Extensions, in schema public.  pg_trgm: name/email search; citext and
-- btree_gin: composite GIN indexes that lead with tenant_id, e.g.
-- (tenant_id, name gin_trgm_ops).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS citext;
CREATE EXTENSION IF NOT EXISTS btree_gin;

-- Full-text match (`search @@ query`, the `q` of lists and /v1/search) as
-- LEAKPROOF, so that under RLS the planner may use the (tenant_id, search)
-- GIN indexes instead of filtering every row the policy lets through
-- (SECURITY.md finding 4).  ts_match_vq only compares a tsvector with a
-- tsquery: it raises no error and calls nothing that could show a row's
-- value, which is what LEAKPROOF promises.  Only a superuser can say so.
ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF;
