"""Schema suite: the tenancy rules on a live database (ISO-08, ISO-09).

- `crmctl check-schema` passes on the migrated schema, and fails, naming
  the table, for each way of breaking the rules (each broken object is
  made as crm_owner, checked, and dropped again);
- as crm_app, no tenant context sees zero rows, a tenant sees only its own
  row, and a write for another tenant fails WITH CHECK (ISO-09);
- the tenant policy leaves the (tenant_id, id) index usable under RLS;
- `crmctl migrate` refuses changed, missing, gapped and out-of-order
  migrations, and two migrators at once apply each file once (on a scratch
  database, when CRM_PG_SUPER_URL is given).

Needs CRM_OWNER_DATABASE_URL and CRM_DATABASE_URL (tests/run.sh exports
them; run alone, it starts a throw-away service through tests/lib).  Talks
to PostgreSQL through psql and build/crmctl only; passwords travel in the
environment (PGPASSWORD), never on a command line.
"""

import os
import subprocess
import sys
import urllib.parse
import uuid

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CRMCTL = os.path.join(ROOT, "build", "crmctl")
SQL_DIR = os.path.join(ROOT, "sql")


def _env():
    if not os.environ.get("CRM_OWNER_DATABASE_URL"):
        import crmtest
        crmtest.ensure_service()
    return os.environ


def pg_env(url):
    """libpq environment for a postgresql:// URL (no password in argv)."""
    u = urllib.parse.urlsplit(url)
    q = urllib.parse.parse_qs(u.query)  # ?host=/socket/dir&port=N
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update({
        "PGHOST": q.get("host", [u.hostname or "127.0.0.1"])[0],
        "PGPORT": q.get("port", [str(u.port or 5432)])[0],
        "PGUSER": urllib.parse.unquote(u.username or ""),
        "PGPASSWORD": urllib.parse.unquote(u.password or ""),
        "PGDATABASE": urllib.parse.unquote(u.path.lstrip("/")),
        "PGAPPNAME": "test_schema_check",
        "PGCONNECT_TIMEOUT": "10",
    })
    return env


def with_db(url, dbname):
    u = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(u._replace(path="/" + dbname))


def psql(url, sql, check=True):
    """Runs SQL (one script, stops at the first error); returns the result."""
    r = subprocess.run(
        ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-f", "-"],
        input=sql, env=pg_env(url), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError("psql failed (%d): %s" % (r.returncode,
                                                      r.stderr))
    return r


def crmctl(*args, url=None, env_extra=None):
    env = dict(os.environ)
    if url is not None:
        env["CRM_OWNER_DATABASE_URL"] = url
    env.update(env_extra or {})
    return subprocess.run([CRMCTL] + list(args), env=env, cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def owner_url():
    return _env()["CRM_OWNER_DATABASE_URL"]


@pytest.fixture(scope="module")
def app_url():
    url = _env().get("CRM_DATABASE_URL")
    if not url:
        pytest.skip("CRM_DATABASE_URL (crm_app) not set")
    return url


# ------------------------------------------------------------ ISO-08


def test_check_schema_passes(owner_url):
    r = crmctl("check-schema", url=owner_url)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().endswith("partitions, 0 violations"), r.stdout


# name, DDL as crm_owner, what check-schema must say, clean-up.
BREAKAGE = [
    ("no_rls",
     "CREATE TABLE crm.zz_norls (tenant_id uuid NOT NULL, id uuid NOT NULL,"
     " PRIMARY KEY (tenant_id, id));",
     ["crm.zz_norls: row level security not enabled",
      "crm.zz_norls: no FOR ALL policy"],
     "DROP TABLE IF EXISTS crm.zz_norls;"),
    ("rls_not_forced",
     "CREATE TABLE crm.zz_noforce (tenant_id uuid NOT NULL, id uuid NOT NULL,"
     " PRIMARY KEY (tenant_id, id));"
     "SELECT crm_meta.protect_tenant_table('crm.zz_noforce');"
     "ALTER TABLE crm.zz_noforce NO FORCE ROW LEVEL SECURITY;",
     ["crm.zz_noforce: row level security not forced"],
     "DROP TABLE IF EXISTS crm.zz_noforce;"),
    ("partition_without_rls",
     "CREATE TABLE crm.zz_part (tenant_id uuid NOT NULL, id uuid NOT NULL,"
     " PRIMARY KEY (tenant_id, id)) PARTITION BY HASH (tenant_id);"
     "CREATE TABLE crm.zz_part_a PARTITION OF crm.zz_part"
     " FOR VALUES WITH (MODULUS 2, REMAINDER 0);"
     "SELECT crm_meta.protect_tenant_table('crm.zz_part');"
     "CREATE TABLE crm.zz_part_b PARTITION OF crm.zz_part"
     " FOR VALUES WITH (MODULUS 2, REMAINDER 1);",
     ["crm.zz_part_b: row level security not enabled",
      "crm.zz_part_b: no FOR ALL policy"],
     "DROP TABLE IF EXISTS crm.zz_part;"),
    ("global_unique",
     "CREATE TABLE crm.zz_glob (tenant_id uuid NOT NULL, id uuid NOT NULL,"
     " email text, PRIMARY KEY (tenant_id, id), UNIQUE (email));"
     "SELECT crm_meta.protect_tenant_table('crm.zz_glob');",
     ["crm.zz_glob: unique constraint zz_glob_email_key does not include "
      "tenant_id"],
     "DROP TABLE IF EXISTS crm.zz_glob;"),
    ("global_unique_index",
     "CREATE TABLE crm.zz_gidx (tenant_id uuid NOT NULL, id uuid NOT NULL,"
     " email text, PRIMARY KEY (tenant_id, id));"
     "CREATE UNIQUE INDEX zz_gidx_email ON crm.zz_gidx (lower(email));"
     "SELECT crm_meta.protect_tenant_table('crm.zz_gidx');",
     ["crm.zz_gidx: unique index zz_gidx_email does not include tenant_id"],
     "DROP TABLE IF EXISTS crm.zz_gidx;"),
    ("cross_tenant_fk",
     "CREATE TABLE crm.zz_fk (tenant_id uuid NOT NULL, id uuid NOT NULL,"
     " other_tenant uuid, PRIMARY KEY (tenant_id, id),"
     " FOREIGN KEY (other_tenant) REFERENCES crm.tenants (tenant_id));"
     "SELECT crm_meta.protect_tenant_table('crm.zz_fk');",
     ["crm.zz_fk: foreign key zz_fk_other_tenant_fkey must pair tenant_id"],
     "DROP TABLE IF EXISTS crm.zz_fk;"),
    ("tenant_id_not_first",
     "CREATE TABLE crm.zz_order (id uuid NOT NULL, tenant_id uuid NOT NULL,"
     " PRIMARY KEY (tenant_id, id));"
     "ALTER TABLE crm.zz_order ENABLE ROW LEVEL SECURITY;"
     "ALTER TABLE crm.zz_order FORCE ROW LEVEL SECURITY;",
     ["crm.zz_order: tenant_id is column 2, must be the first"],
     "DROP TABLE IF EXISTS crm.zz_order;"),
    ("no_tenant_id",
     "CREATE TABLE crm.zz_global (code text PRIMARY KEY);",
     ["crm.zz_global: no tenant_id column, and not on the global "
      "allow-list"],
     "DROP TABLE IF EXISTS crm.zz_global;"),
    ("grant_on_partition",
     "GRANT SELECT ON crm.audit_log_p03 TO crm_app;",
     ["crm.audit_log_p03: SELECT granted to crm_app on a partition"],
     "REVOKE ALL ON crm.audit_log_p03 FROM crm_app;"),
    ("permissive_policy",
     "CREATE POLICY zz_leak ON crm.events FOR SELECT TO crm_app"
     " USING (true);",
     ["crm.events: policy zz_leak admits crm_app/crm_worker"],
     "DROP POLICY IF EXISTS zz_leak ON crm.events;"),
    ("definer_view",
     "CREATE VIEW crm.zz_view AS SELECT tenant_id, slug FROM crm.tenants;",
     ["crm.zz_view: view without security_invoker = true"],
     "DROP VIEW IF EXISTS crm.zz_view;"),
    ("security_definer",
     "CREATE FUNCTION crm.zz_sd() RETURNS bigint LANGUAGE sql"
     " SECURITY DEFINER AS 'SELECT count(*) FROM crm.tenants';",
     ["function crm.zz_sd(): SECURITY DEFINER outside schema auth",
      "function crm.zz_sd(): SECURITY DEFINER without SET search_path"],
     "DROP FUNCTION IF EXISTS crm.zz_sd();"),
]


@pytest.mark.parametrize("name,ddl,expect,cleanup", BREAKAGE,
                         ids=[b[0] for b in BREAKAGE])
def test_check_schema_catches(owner_url, name, ddl, expect, cleanup):
    psql(owner_url, cleanup)
    try:
        psql(owner_url, ddl)
        r = crmctl("check-schema", url=owner_url)
        out = r.stdout + r.stderr
        assert r.returncode == 1, out
        for e in expect:
            assert e in out, "expected %r in:\n%s" % (e, out)
        assert "0 violations" not in out
    finally:
        psql(owner_url, cleanup)
    r = crmctl("check-schema", url=owner_url)
    assert r.returncode == 0, r.stdout + r.stderr


# ------------------------------------------------------------ ISO-09


def _slug():
    return "zz-iso-" + uuid.uuid4().hex[:10]


@pytest.fixture(scope="module")
def tenants(owner_url):
    """Two fresh tenants (id, slug); deleted with their rows afterwards."""
    made = []
    for _ in range(2):
        slug = _slug()
        r = crmctl("tenant", "create", "--name", "Isolation " + slug,
                   "--slug", slug, url=owner_url)
        assert r.returncode == 0, r.stderr
        made.append((r.stdout.strip(), slug))
    yield made
    for tid, _ in made:
        psql(owner_url, """
            BEGIN;
            SELECT set_config('app.tenant_id', '%s', true);
            DELETE FROM crm.audit_log WHERE tenant_id = '%s';
            DELETE FROM crm.events WHERE tenant_id = '%s';
            DELETE FROM crm.tenants WHERE tenant_id = '%s';
            COMMIT;""" % (tid, tid, tid, tid))


def as_tenant(tid, body):
    """A transaction with app.tenant_id set the way app/db.c sets it."""
    return ("BEGIN;\nSELECT set_config('app.tenant_id', '%s', true) "
            "\\g /dev/null\n%s\nCOMMIT;\n" % (tid, body))


def test_no_context_sees_nothing(app_url, tenants):
    r = psql(app_url, "SELECT count(*) FROM crm.tenants;"
                      "SELECT count(*) FROM crm.audit_log;"
                      "SELECT count(*) FROM crm.events;")
    assert r.stdout.split() == ["0", "0", "0"]


def test_empty_context_sees_nothing(app_url, tenants):
    r = psql(app_url, as_tenant("", "SELECT count(*) FROM crm.tenants;"))
    assert r.stdout.split() == ["0"]


def test_tenant_sees_only_itself(app_url, tenants):
    (a, _), (b, _) = tenants
    r = psql(app_url, as_tenant(a, "SELECT tenant_id FROM crm.tenants;"))
    assert r.stdout.split() == [a]
    r = psql(app_url, as_tenant(b, "SELECT tenant_id FROM crm.tenants;"))
    assert r.stdout.split() == [b]


def test_context_ends_with_transaction(app_url, tenants):
    (a, _), _ = tenants
    r = psql(app_url, as_tenant(a, "SELECT 1;") +
             "SELECT count(*) FROM crm.tenants;")
    assert r.stdout.split() == ["1", "0"]


def test_insert_for_other_tenant_fails(app_url, tenants):
    (a, _), (b, _) = tenants
    r = psql(app_url, as_tenant(a, (
        "INSERT INTO crm.tenants (tenant_id, name, slug, plan) "
        "VALUES ('%s', 'Intruder', '%s', 'free');") % (uuid.uuid4(),
                                                      _slug())),
             check=False)
    assert r.returncode != 0
    assert "violates row-level security policy" in r.stderr, r.stderr
    r = psql(app_url, as_tenant(a, (
        "INSERT INTO crm.audit_log (tenant_id, id, actor_kind, action) "
        "VALUES ('%s', '%s', 'system', 'zz.test');") % (b, uuid.uuid4())),
             check=False)
    assert r.returncode != 0
    assert "violates row-level security policy" in r.stderr, r.stderr


def test_update_of_other_tenant_touches_nothing(app_url, tenants):
    (a, _), (b, _) = tenants
    r = psql(app_url, as_tenant(a, (
        "UPDATE crm.tenants SET name = 'Renamed' WHERE tenant_id = '%s' "
        "RETURNING tenant_id;") % b))
    assert r.stdout.strip() == ""


def test_app_role_limits(app_url, tenants):
    (a, slug_a), _ = tenants
    r = psql(app_url, "SELECT tenant_id FROM auth.tenant_by_slug('%s');"
             % slug_a)
    assert r.stdout.split() == [a]
    for sql in ("SELECT * FROM crm_meta.schema_migrations;",
                as_tenant(a, "DELETE FROM crm.audit_log;"),
                as_tenant(a, "UPDATE crm.tenants SET status = 'active';"),
                "CREATE TABLE crm.zz_app (tenant_id uuid);"):
        r = psql(app_url, sql, check=False)
        assert r.returncode != 0, sql
        assert "permission denied" in r.stderr, (sql, r.stderr)


def test_tenant_key_index_used_under_rls(owner_url, app_url, tenants):
    """Finding 4: the policy must not stop the (tenant_id, id) index."""
    (a, _), _ = tenants
    psql(app_url, as_tenant(a, (
        "INSERT INTO crm.audit_log (tenant_id, id, actor_kind, action) "
        "SELECT '%s', gen_random_uuid(), 'system', 'zz.bench' "
        "FROM generate_series(1, 3000);") % a))
    psql(owner_url, "ANALYZE crm.audit_log;")
    r = psql(app_url, as_tenant(a, (
        "EXPLAIN SELECT * FROM crm.audit_log "
        "WHERE tenant_id = '%s' AND id = '%s';") % (a, uuid.uuid4())))
    plan = r.stdout
    assert "Index Cond: ((tenant_id = '%s'::uuid) AND (id = " % a in plan, \
        plan
    assert plan.count("audit_log_p") == 2, plan   # one partition: pruned


# ------------------------------------------------------------ crmctl


def test_crmctl_usage():
    r = crmctl()
    assert r.returncode == 2
    r = crmctl("--help")
    assert r.returncode == 0
    for cmd in ("migrate", "tenant", "seed-demo", "check-schema"):
        assert cmd in r.stdout
    assert crmctl("no-such-command").returncode == 2
    assert crmctl("migrate", "--bogus").returncode == 2
    assert crmctl("seed-demo", "--tenants", "0").returncode == 2
    r = crmctl("tenant", "create", "--name", "Ok", "--slug", "-bad-")
    assert r.returncode == 2 and "--slug" in r.stderr


def test_crmctl_needs_owner_url():
    r = crmctl("check-schema", env_extra={"CRM_OWNER_DATABASE_URL": ""})
    assert r.returncode == 1
    assert "CRM_OWNER_DATABASE_URL is not set" in r.stderr


def test_crmctl_never_prints_password(owner_url):
    secret = "zz" + uuid.uuid4().hex
    u = urllib.parse.urlsplit(owner_url)
    bad = urllib.parse.urlunsplit(u._replace(
        netloc="crm_owner:%s@%s:%s" % (secret, u.hostname, u.port)))
    for args in (["check-schema"], ["migrate"], ["seed-demo"]):
        r = crmctl(*args, url=bad)
        assert r.returncode == 1
        assert secret not in r.stdout + r.stderr
    r = crmctl("check-schema", url="postgresql://crm_owner:%s@h/d?x=%%zz"
               % secret)
    assert r.returncode == 1 and secret not in r.stdout + r.stderr


def test_seed_demo_is_idempotent(owner_url):
    r1 = crmctl("seed-demo", url=owner_url)
    r2 = crmctl("seed-demo", url=owner_url)
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr
    line = [x for x in r2.stdout.splitlines() if x.split()[1] == "demo"]
    assert line and line[0].endswith("exists"), r2.stdout
    assert line[0].split()[2] in r1.stdout


def test_tenant_slug_taken(owner_url, tenants):
    (_, slug), _ = tenants
    r = crmctl("tenant", "create", "--name", "Again", "--slug", slug,
               url=owner_url)
    assert r.returncode == 1 and "is taken" in r.stderr


# ------------------------------------------------------------ migrate


@pytest.fixture
def scratch_db(owner_url):
    """A fresh database prepared by sql/roles.sql; its owner URL."""
    super_url = os.environ.get("CRM_PG_SUPER_URL")
    if not super_url:
        pytest.skip("CRM_PG_SUPER_URL not set")
    name = "zz_migrate_" + uuid.uuid4().hex[:8]
    psql(super_url, "CREATE DATABASE %s;" % name)
    try:
        # Without password variables roles.sql leaves passwords alone.
        r = subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f",
             os.path.join(SQL_DIR, "roles.sql")],
            env=pg_env(with_db(super_url, name)), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        yield with_db(owner_url, name)
    finally:
        psql(super_url, "DROP DATABASE IF EXISTS %s WITH (FORCE);" % name)


def _migrations():
    return sorted(f for f in os.listdir(SQL_DIR) if f[0].isdigit())


def _copy_sql(tmp_path):
    for f in _migrations():
        with open(os.path.join(SQL_DIR, f)) as src:
            (tmp_path / f).write_text(src.read())
    return str(tmp_path)


def test_migrate_fresh_then_idempotent(scratch_db):
    r = crmctl("migrate", url=scratch_db)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("applied 0") == len(_migrations())
    r = crmctl("migrate", url=scratch_db)
    assert r.returncode == 0 and "0 applied now" in r.stdout
    r = crmctl("check-schema", url=scratch_db)
    assert r.returncode == 0, r.stdout


def test_migrate_two_at_once(scratch_db):
    env = dict(os.environ, CRM_OWNER_DATABASE_URL=scratch_db)
    procs = [subprocess.Popen([CRMCTL, "migrate"], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    assert all(o[2] == 0 for o in outs), outs
    applied = sum(o[0].count("applied 0") for o in outs)
    assert applied == len(_migrations()), outs
    r = psql(scratch_db, "SELECT count(*) FROM crm_meta.schema_migrations;")
    assert r.stdout.strip() == str(len(_migrations()))


def test_migrate_refuses_changed_file(scratch_db, tmp_path):
    d = _copy_sql(tmp_path)
    assert crmctl("migrate", "--dir", d, url=scratch_db).returncode == 0
    first = os.path.join(d, _migrations()[0])
    with open(first, "a") as f:
        f.write("-- edited after it was applied\n")
    for args in (["migrate", "--dir", d], ["migrate", "--dir", d,
                                           "--status"]):
        r = crmctl(*args, url=scratch_db)
        assert r.returncode == 1
        assert "changed after it was applied" in r.stderr, r.stderr


def test_migrate_refuses_gap_and_bad_name(scratch_db, tmp_path):
    d = _copy_sql(tmp_path)
    n = len(_migrations())
    (tmp_path / ("%03d_after_gap.sql" % (n + 2))).write_text("SELECT 1;\n")
    r = crmctl("migrate", "--dir", d, url=scratch_db)
    assert r.returncode == 1 and "migration %d is missing" % (n + 1) in \
        r.stderr, r.stderr
    os.unlink(os.path.join(d, "%03d_after_gap.sql" % (n + 2)))
    (tmp_path / "9-oops.sql").write_text("SELECT 1;\n")
    r = crmctl("migrate", "--dir", d, url=scratch_db)
    assert r.returncode == 1 and "9-oops.sql" in r.stderr
    r = psql(scratch_db, "SELECT to_regclass('crm.tenants') IS NULL;")
    assert r.stdout.strip() == "t"          # nothing was applied


def test_migrate_refuses_out_of_order(scratch_db):
    assert crmctl("migrate", url=scratch_db).returncode == 0
    psql(scratch_db, "DELETE FROM crm_meta.schema_migrations "
                     "WHERE version = 2;")
    r = crmctl("migrate", url=scratch_db)
    assert r.returncode == 1 and "out of order" in r.stderr, r.stderr


def test_migrate_failure_rolls_back(scratch_db, tmp_path):
    d = _copy_sql(tmp_path)
    n = len(_migrations())
    (tmp_path / ("%03d_broken.sql" % (n + 1))).write_text(
        "CREATE TABLE crm.zz_half (tenant_id uuid NOT NULL);\n"
        "\n"
        "SELECT no_such_column FROM crm.plans;\n")
    r = crmctl("migrate", "--dir", d, url=scratch_db)
    assert r.returncode == 1
    assert "%03d_broken.sql, line 3" % (n + 1) in r.stderr, r.stderr
    r = psql(scratch_db, "SELECT to_regclass('crm.zz_half') IS NULL, "
                         "max(version) FROM crm_meta.schema_migrations;")
    assert r.stdout.strip() == "t|%d" % n


def test_migrate_refuses_superuser(scratch_db):
    super_url = with_db(os.environ["CRM_PG_SUPER_URL"],
                        urllib.parse.urlsplit(scratch_db).path[1:])
    r = crmctl("migrate", url=super_url)
    assert r.returncode == 1 and "never as a superuser" in r.stderr


# ------------------------------------------------------------ Citus

# Stand-ins for the two Citus functions sql/citus/distribute.sql calls:
# they record each call, in order, in a table the test reads back.
_CITUS_STUBS = """
CREATE TABLE public.zz_dist (seq serial, rel text, how text, colocate text);
CREATE FUNCTION public.create_reference_table(r regclass) RETURNS void
LANGUAGE sql AS $$ INSERT INTO public.zz_dist (rel, how)
    VALUES (r::text, 'reference') $$;
CREATE FUNCTION public.create_distributed_table(r regclass, col text,
    colocate_with text DEFAULT 'default') RETURNS void
LANGUAGE sql AS $$ INSERT INTO public.zz_dist (rel, how, colocate)
    VALUES (r::text, col, colocate_with) $$;
"""

# The foreign keys of schema crm, as the catalog defines them (before and
# after the script, which drops and adds back those between the tables).
_CITUS_FKS = """
SELECT k.conrelid::regclass::text, k.conname, pg_get_constraintdef(k.oid)
FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace
WHERE n.nspname = 'crm' AND k.contype = 'f'
"""

# Every call, every tenant table, and the foreign keys that differ.
_CITUS_CHECK = """
SELECT 'call', rel, how, coalesce(colocate, '') FROM public.zz_dist
ORDER BY seq;
SELECT 'table', c.oid::regclass::text FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'crm' AND c.relkind IN ('r', 'p') AND
    NOT c.relispartition AND EXISTS (SELECT 1 FROM pg_attribute a
    WHERE a.attrelid = c.oid AND a.attname = 'tenant_id');
SELECT 'fks', count(*) FROM public.zz_fks;
SELECT 'fkdiff', count(*) FROM ((TABLE public.zz_fks EXCEPT (%s))
    UNION ALL ((%s) EXCEPT TABLE public.zz_fks)) d;
""" % (_CITUS_FKS, _CITUS_FKS)


def test_citus_distribution_covers_every_tenant_table(owner_url):
    su = os.environ.get("CRM_PG_SUPER_URL")
    if not su:
        pytest.skip("CRM_PG_SUPER_URL not set")
    dbname = urllib.parse.unquote(urllib.parse.urlsplit(owner_url).path[1:])
    with open(os.path.join(SQL_DIR, "citus", "distribute.sql")) as f:
        script = f.read()
    r = psql(with_db(su, dbname), "BEGIN;\n" + _CITUS_STUBS +
             "CREATE TABLE public.zz_fks AS " + _CITUS_FKS + ";\n" +
             script + _CITUS_CHECK + "ROLLBACK;\n")
    rows = [line.split("|") for line in r.stdout.splitlines() if line]
    calls = [x[1:] for x in rows if x[0] == "call"]
    tables = sorted(x[1] for x in rows if x[0] == "table")
    assert calls[0] == ["crm.plans", "reference", ""], calls[:2]
    assert calls[1] == ["crm.tenants", "tenant_id", "default"], calls[:2]
    rest = calls[2:]
    assert all(c[1:] == ["tenant_id", "crm.tenants"] for c in rest), rest
    assert sorted(c[0] for c in calls[1:]) == tables, (calls, tables)
    assert len(tables) >= 30 and "crm.tenant_records" in tables, tables
    # Every foreign key is back, as it was (the script drops those
    # between the tables and adds them again after distributing).
    assert [x[1] for x in rows if x[0] == "fks"] != ["0"], rows
    assert [x[1] for x in rows if x[0] == "fkdiff"] == ["0"], rows
