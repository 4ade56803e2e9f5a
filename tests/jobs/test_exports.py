"""Exports end to end (API.md "Jobs, imports, exports, webhooks";
docs/jobs.md "Exports"): POST /v1/exports -> 202 {job}; crm-worker pages
through the same query a list runs (filter, sort, record scope) into a
mode-600 file; GET /v1/jobs/{id} shows progress and result_url; only the
user who asked downloads it (404 for anyone else, the same body as any
404); RFC 4180 quoting, custom.<name> columns, JSON lines, the audit
entries, expiry and the scheduled cleanup, and a measured 100k-row run.
"""

import csv
import io
import json
import os
import stat as st
import time

import pytest

import identity as idn
from jobslib import new_tenant, owner_sql, wait_for, worker_sql

EXP = "/v1/exports"


def stat(name, value):
    print("STAT %s: %s" % (name, value))


@pytest.fixture(scope="module")
def owner(mhttp):
    return new_tenant(mhttp, "Exports")


def post(acct, path, body):
    return idn.post_json(acct.client, path, body)


def job_of(acct, jid):
    r = acct.client.get("/v1/jobs/" + jid)
    assert r.status_code == 200, r.text
    return r.json()


def worker_rss_kib():
    """The largest VmRSS of the crm-worker processes on this machine's
    test stack (0 when /proc cannot tell)."""
    top = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if b"crm-worker" not in f.read().split(b"\0")[0]:
                    continue
            with open("/proc/%s/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        top = max(top, int(line.split()[1]))
        except OSError:
            continue
    return top


def run_export(acct, body, timeout=60, rss=None):
    r = post(acct, EXP, body)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["type"] == "export" and job["status"] == "queued"

    def finished():
        if rss is not None:
            rss.append(worker_rss_kib())
        return job_of(acct, job["id"])["status"] in ("succeeded", "failed",
                                                      "dead")
    done = wait_for(finished, timeout)
    assert done, "export did not finish"
    return job_of(acct, job["id"])


def download(acct, job):
    return acct.client.get(job["result_url"])


def rows_of(text):
    return list(csv.reader(io.StringIO(text, newline="")))


def make_contacts(owner, n, prefix, batch=5000):
    """n contacts, owned by the owner, in statements of batch rows (each
    psql call must end within its 30 s on a loaded machine)."""
    for lo in range(0, n, batch):
        _make_contacts(owner, lo + 1, min(n, lo + batch), prefix)


def _make_contacts(owner, lo, hi, prefix):
    owner_sql(owner.tenant_id,
              "INSERT INTO crm.contacts (tenant_id, id, first_name, "
              "last_name, email, owner_id, created_by, updated_by) "
              "SELECT current_setting('app.tenant_id')::uuid, crm.uuid7(), "
              "'%s' || g, 'Row' || g, '%s' || g || '@example.com', "
              "'%s', '%s', '%s' FROM generate_series(%d, %d) g;"
              % (prefix, prefix.lower(), owner.user_id, owner.user_id,
                 owner.user_id, lo, hi))


# ------------------------------------------------------------ the file

def test_csv_export_quoting_filter_sort_custom(owner):
    c = owner.client
    r = post(owner, "/v1/custom-fields", {"entity": "accounts",
             "name": "tier", "label": "Tier", "type": "text"})
    assert r.status_code == 201, r.text
    names = ['Acme, Inc', 'Say "Hi" Ltd', 'Two\nLines', 'Zoë Ünïcødé AS',
             'Plain']
    for i, n in enumerate(names):
        r = post(owner, "/v1/accounts", {"name": n.replace("\n", " "),
                 "employees": 10 + i,
                 "custom": {"tier": "gold" if i % 2 == 0 else "silver"}})
        assert r.status_code == 201, r.text
    # A one-line field through the API; a line break only from elsewhere
    # (an import, SQL), and the export must still quote it.
    owner_sql(owner.tenant_id, "UPDATE crm.accounts SET name = E'Two\\nLines'"
              " WHERE name = 'Two Lines';")
    post(owner, "/v1/accounts", {"name": "Small", "employees": 1})

    job = run_export(owner, {"entity": "accounts", "format": "csv",
                             "filter": {"employees": {"gte": 10}},
                             "sort": "-employees,name"})
    assert job["status"] == "succeeded", job
    assert job["progress"] == {"done": 5, "total": 5}
    assert job["result_url"] == "/v1/exports/%s/download" % job["id"]
    assert job["result"]["rows"] == 5 and "file" not in job["result"]
    r = download(owner, job)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    raw = r.content
    assert not raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8")
    assert '"Acme, Inc"' in text and '"Say ""Hi"" Ltd"' in text
    assert '"Two\nLines"' in text and "\r\n" in text
    rows = rows_of(text)
    head = rows[0]
    assert head[0] == "id" and "name" in head and "custom.tier" in head
    assert head[-3:] == ["owner_id", "created_at", "updated_at"]
    body = [dict(zip(head, x)) for x in rows[1:]]
    assert [b["name"] for b in body] == list(reversed(names))
    assert [b["employees"] for b in body] == ["14", "13", "12", "11", "10"]
    assert body[0]["custom.tier"] == "gold"
    assert body[1]["custom.tier"] == "silver"

    # The file itself: mode 600 in CRM_EXPORTS_DIR.
    d = os.environ.get("CRM_EXPORTS_DIR")
    if d:
        f = os.path.join(d, "%s.%s.csv" % (owner.tenant_id, job["id"]))
        assert st.S_IMODE(os.stat(f).st_mode) == 0o600

    # Audit: who asked, and who/entity/count once done.
    a = c.get("/v1/audit-log", params={"action": "export.completed"})
    assert a.status_code == 200, a.text
    ent = [e for e in a.json()["data"] if e["target_id"] == job["id"]]
    assert len(ent) == 1
    assert ent[0]["actor_id"] == owner.user_id
    assert ent[0]["detail"] == {"entity": "accounts", "format": "csv",
                                "count": 5}
    a = c.get("/v1/audit-log", params={"action": "export.requested"})
    assert any(e["target_id"] == job["id"] for e in a.json()["data"])


def test_jsonl_and_fields(owner):
    post(owner, "/v1/contacts", {"first_name": "Jay", "last_name": "Son",
                                 "email": "jay@example.com"})
    job = run_export(owner, {"entity": "contacts", "format": "jsonl",
                             "fields": ["id", "email", "last_name"],
                             "filter": {"email": {"eq": "jay@example.com"}}})
    assert job["status"] == "succeeded", job
    r = download(owner, job)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/x-ndjson")
    lines = r.text.splitlines()
    assert len(lines) == 1
    rec = json.loads(lines[0])
    assert list(rec) == ["id", "email", "last_name"]
    assert rec["email"] == "jay@example.com" and rec["last_name"] == "Son"


def test_empty_export_has_header(owner):
    job = run_export(owner, {"entity": "deals",
                             "filter": {"name": {"eq": "no such deal"}}})
    assert job["status"] == "succeeded", job
    assert job["progress"] == {"done": 0, "total": 0}
    rows = rows_of(download(owner, job).text)
    assert len(rows) == 1 and rows[0][0] == "id"


# ------------------------------------------------------------ bad input

@pytest.mark.parametrize("body,field", [
    ({}, "entity"),
    ({"entity": "users"}, "entity"),
    ({"entity": "accounts", "format": "xlsx"}, "format"),
    ({"entity": "accounts", "extra": 1}, "extra"),
    ({"entity": "accounts", "fields": ["nope"]}, "fields"),
    ({"entity": "accounts", "fields": "name"}, "fields"),
    ({"entity": "accounts", "filter": {"name": "x"}}, "filter.name"),
    ({"entity": "accounts", "filter": {"name": {"eq": None}}},
     "filter.name.eq"),
])
def test_bad_bodies_are_named(owner, body, field):
    r = post(owner, EXP, body)
    assert r.status_code in (400, 422), r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    idn.assert_names_field(r.json(), field)


@pytest.mark.parametrize("flt,sort,param", [
    ({"nope": {"eq": "1"}}, None, "filter[nope]"),
    ({"employees": {"gte": "many"}}, None, "filter[employees][gte]"),
    ({"name": {"between": "a"}}, None, "filter[name][between]"),
    (None, "-website", "sort"),
])
def test_bad_filters_are_400_naming_them(owner, flt, sort, param):
    body = {"entity": "accounts"}
    if flt is not None:
        body["filter"] = flt
    if sort is not None:
        body["sort"] = sort
    r = post(owner, EXP, body)
    assert r.status_code == 400, r.text
    idn.assert_names_field(r.json(), param)


# ------------------------------------------------------------ who

def test_permission_and_scope(owner):
    # sales has no export grant: 403 from the route (exports:create).
    sales = idn.make_user(owner, "sales")
    r = post(sales, EXP, {"entity": "contacts"})
    assert r.status_code == 403, r.text
    # marketing may export contacts and leads but not deals.
    mk = idn.make_user(owner, "marketing")
    r = post(mk, EXP, {"entity": "deals"})
    assert r.status_code == 403, r.text
    assert "deals:export" in r.json()["detail"]
    job = run_export(mk, {"entity": "contacts"})
    assert job["status"] == "succeeded", job
    # Another user of the same tenant: 404, the body of any 404.
    r1 = mk.client.get(job["result_url"])
    assert r1.status_code == 200
    r2 = owner.client.get(job["result_url"])
    assert r2.status_code == 404
    r3 = owner.client.get("/v1/exports/%s/download" %
                          "0190a0b0-0000-7000-8000-000000000001")
    assert r3.status_code == 404
    strip = idn.without_request_id
    assert strip(r2) == strip(r3)


def test_other_tenant_gets_404(owner, mhttp):
    job = run_export(owner, {"entity": "accounts"})
    other = new_tenant(mhttp, "ExportsOther")
    r = other.client.get(job["result_url"])
    assert r.status_code == 404
    r = other.client.get("/v1/jobs/" + job["id"])
    assert r.status_code == 404


def test_record_scope_own(owner):
    """A custom role with scope own exports only its own records."""
    r = post(owner, "/v1/roles", {"name": "exp_own_" + idn.uid(4).lower(),
             "grants": ["contacts:read", "contacts:create", "contacts:export",
                        "exports:create", "jobs:read"], "scope": "own"})
    assert r.status_code == 201, r.text
    role = r.json()["name"]
    u = idn.make_user(owner, role)
    mine = post(u, "/v1/contacts", {"first_name": "Mine",
                                    "last_name": "Own"})
    assert mine.status_code == 201, mine.text
    job = run_export(u, {"entity": "contacts"})
    assert job["status"] == "succeeded", job
    rows = rows_of(download(u, job).text)
    assert len(rows) == 2 and rows[1][0] == mine.json()["id"]


# ------------------------------------------------------------ expiry

def test_expired_file_is_404_and_cleaned(owner):
    job = run_export(owner, {"entity": "accounts"})
    assert download(owner, job).status_code == 200
    owner_sql(owner.tenant_id,
              "UPDATE crm.jobs SET result = jsonb_set(result, "
              "'{expires_at}', to_jsonb('2020-01-01T00:00:00Z'::text)) "
              "WHERE id = '%s';" % job["id"])
    assert owner.client.get(job["result_url"]).status_code == 404
    assert job_of(owner, job["id"])["result_url"] is not None
    d = os.environ.get("CRM_EXPORTS_DIR")
    f = os.path.join(d or "", "%s.%s.csv" % (owner.tenant_id, job["id"]))
    worker_sql("SELECT auth.jobs_schedule('cleanup_exports');")
    assert wait_for(lambda: job_of(owner, job["id"])["result_url"] is None,
                    30)
    assert "removed_at" in job_of(owner, job["id"])["result"]
    if d:
        assert not os.path.exists(f)


# ------------------------------------------------------------ measured

def test_measure_100k_rows(owner, mhttp):
    t = new_tenant(mhttp, "ExportsBig")
    t0 = time.time()
    make_contacts(t, 100000, "Big")
    stat("insert 100k contacts by SQL: seconds", round(time.time() - t0, 1))
    rss = [worker_rss_kib()]
    t0 = time.time()
    job = run_export(t, {"entity": "contacts"}, timeout=600, rss=rss)
    took = time.time() - t0
    assert job["status"] == "succeeded", job
    assert job["progress"] == {"done": 100000, "total": 100000}
    r = download(t, job)
    assert r.status_code == 200
    lines = r.content.count(b"\r\n")
    assert lines == 100001
    stat("export 100k contacts: seconds", round(took, 1))
    stat("export rows/s", int(100000 / took))
    stat("export bytes", len(r.content))
    stat("crm-worker max RSS KiB before / during", "%d / %d" %
         (rss[0], max(rss)))
    # Streaming: a page of 1,000 rows, never the table (~25 MB here).
    assert max(rss) < rss[0] + 32 * 1024


# ------------------------------------------------------------ keys, replay

def test_api_key_needs_export_scope(owner):
    b, key = idn.make_key(owner, ["exports:create", "contacts:read",
                                  "jobs:read"])
    try:
        r = key.post(key.base_url + EXP, json={"entity": "contacts"})
        assert r.status_code == 403, r.text
        assert "contacts:export" in r.json()["detail"]
    finally:
        key.close()
    b, key = idn.make_key(owner, ["exports:create", "contacts:read",
                                  "contacts:export", "jobs:read"])
    try:
        r = key.post(key.base_url + EXP, json={"entity": "contacts",
                                              "format": "jsonl"})
        assert r.status_code == 202, r.text
        jid = r.json()["id"]
        assert wait_for(lambda: key.get(key.base_url + "/v1/jobs/" + jid)
                        .json()["status"] == "succeeded", 60)
        job = key.get(key.base_url + "/v1/jobs/" + jid).json()
        # The key acts for its creator: the creator may download it.
        assert key.get(key.base_url + job["result_url"]).status_code == 200
        assert owner.client.get(job["result_url"]).status_code == 200
    finally:
        key.close()
    a = owner.client.get("/v1/audit-log",
                         params={"action": "export.completed"}).json()
    ent = [e for e in a["data"] if e["target_id"] == jid]
    assert ent and ent[0]["actor_kind"] == "api_key"
    assert ent[0]["actor_id"] == b["id"]


def test_idempotent_replay(owner):
    h = {"Idempotency-Key": "exp-" + idn.uid(10)}
    body = {"entity": "accounts", "format": "csv"}
    r1 = owner.client.post(owner.base_url + EXP, json=body, headers=h)
    r2 = owner.client.post(owner.base_url + EXP, json=body, headers=h)
    assert r1.status_code == r2.status_code == 202, r2.text
    assert r1.json()["id"] == r2.json()["id"]
