"""Webhooks end to end (API.md "Jobs, imports, exports, webhooks";
SECURITY.md 2.8, 3.5, 3.7): subscriptions, signed deliveries made in the
writing transaction, retries with the same Crm-Delivery, dead letters,
redelivery, automatic disabling with its audit entry, the SSRF guard at
subscription time, tenant isolation, fairness between tenants, the
recycle-bin purge, and the queue's measured throughput and latency.

The test service runs the worker at test speed (tests/env.sh): lease 8 s,
backoff 200 ms..1 s, 4 attempts per delivery, disabling after 10
consecutive failures.
"""

import time
import uuid

import pytest

import identity as idn
from jobslib import (create_account, jobs, make_webhook, new_tenant,
                     owner_sql, wait_for, worker_sql)

ATTEMPTS = 4        # CRM_WEBHOOK_MAX_ATTEMPTS in tests/env.sh
DISABLE_AFTER = 10  # CRM_WEBHOOK_DISABLE_FAILURES


def stat(name, value):
    print("STAT %s: %s" % (name, value))


@pytest.fixture(scope="module")
def owner(mhttp):
    return new_tenant(mhttp)


def get(owner, path):
    return owner.client.get(owner.base_url + path)


# ------------------------------------------------------------ deliveries

def test_deliveries_are_exactly_the_writes_and_signed(owner, rec):
    hook = make_webhook(owner, rec, "/all", events=["account.*"])
    assert hook["secret"].startswith("whsec_")
    assert hook["enabled"] is True and hook["events"] == ["account.*"]
    g = get(owner, "/v1/webhooks/" + hook["id"])
    assert g.status_code == 200 and "secret" not in g.json()
    assert hook["secret"] not in g.text
    ids = [create_account(owner, "Hooked %d" % i)["id"] for i in range(3)]
    r = owner.client.patch(owner.base_url + "/v1/accounts/" + ids[0],
                           json={"industry": "Tools"})
    assert r.status_code == 200, r.text
    r = owner.client.delete(owner.base_url + "/v1/accounts/" + ids[1])
    assert r.status_code == 204, r.text
    want = {("account.created", i) for i in ids}
    want |= {("account.updated", ids[0]), ("account.deleted", ids[1])}
    assert wait_for(lambda: len(rec.on("/all")) >= 5, 15), rec.on("/all")
    time.sleep(0.5)     # nothing more may come
    got = rec.on("/all")
    assert len(got) == 5, [(g["event"], g["delivery"]) for g in got]
    assert all(g["sig_ok"] for g in got), "a signature did not verify"
    assert len({g["delivery"] for g in got}) == 5
    seen = set()
    for g in got:
        b = g["body"]
        assert set(b) == {"id", "type", "created_at", "data"}, b
        assert b["type"] == g["event"]
        assert abs(int(g["ts"]) - time.time()) < 60
        seen.add((b["type"], b["data"]["id"]))
    assert seen == want
    # The delivery log: newest first, all succeeded on the first attempt.
    d = get(owner, "/v1/webhooks/%s/deliveries?limit=3" % hook["id"])
    assert d.status_code == 200, d.text
    page = d.json()
    assert len(page["data"]) == 3 and page["next_cursor"]
    d2 = get(owner, "/v1/webhooks/%s/deliveries?cursor=%s"
             % (hook["id"], page["next_cursor"])).json()
    rows = page["data"] + d2["data"]
    assert len(rows) == 5 and d2["next_cursor"] is None
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows),
                                             reverse=True)
    assert {r["id"] for r in rows} == {g["delivery"] for g in got}
    assert all(r["status"] == "succeeded" and r["attempts"] == 1 and
               r["last_status"] == 200 for r in rows), rows
    owner.client.delete(owner.base_url + "/v1/webhooks/" + hook["id"])


def test_filters_take_only_their_events(owner, rec):
    hook = make_webhook(owner, rec, "/deleted", events=["account.deleted"])
    a = create_account(owner, "Filtered")
    r = owner.client.delete(owner.base_url + "/v1/accounts/" + a["id"])
    assert r.status_code == 204
    assert wait_for(lambda: rec.on("/deleted"), 10)
    time.sleep(0.5)
    got = rec.on("/deleted")
    assert [g["event"] for g in got] == ["account.deleted"]
    owner.client.delete(owner.base_url + "/v1/webhooks/" + hook["id"])


def test_retry_keeps_the_delivery_id(owner, rec):
    rec.set("/flaky", statuses=[500, 503, 200])
    hook = make_webhook(owner, rec, "/flaky")
    create_account(owner, "Flaky")
    assert wait_for(lambda: len(rec.on("/flaky")) >= 3, 15)
    time.sleep(0.5)
    got = rec.on("/flaky")
    assert len(got) == 3, got
    assert len({g["delivery"] for g in got}) == 1
    assert [g["status"] for g in got] == [500, 503, 200]
    assert all(g["sig_ok"] for g in got)
    job = get(owner, "/v1/jobs/" + got[0]["delivery"]).json()
    assert job["status"] == "succeeded" and job["attempts"] == 3, job
    owner.client.delete(owner.base_url + "/v1/webhooks/" + hook["id"])


def test_dead_letter_after_the_attempt_budget(owner, rec):
    rec.set("/dead", statuses=[500])
    hook = make_webhook(owner, rec, "/dead")
    create_account(owner, "Doomed")

    def dead():
        return [j for j in jobs(owner, status="dead")
                if j["subject_id"] == hook["id"]]
    assert wait_for(dead, 20), "no dead job"
    j = dead()[0]
    assert j["attempts"] == ATTEMPTS and j["max_attempts"] == ATTEMPTS
    assert j["last_error"] == "HTTP 500" and j["last_status"] == 500
    assert j["finished_at"] is not None
    assert len(rec.on("/dead")) == ATTEMPTS
    one = get(owner, "/v1/jobs/" + j["id"]).json()
    assert one["status"] == "dead" and one["last_error"] == "HTTP 500"
    # The dead letter is redelivered once the target is fixed.
    rec.set("/dead", statuses=[200])
    r = owner.client.post(owner.base_url + "/v1/webhooks/%s/deliveries/%s/"
                          "redeliver" % (hook["id"], j["id"]))
    assert r.status_code == 202, r.text
    new = r.json()
    assert new["id"] != j["id"] and new["redelivery_of"] == j["id"]
    assert wait_for(lambda: [g for g in rec.on("/dead")
                             if g["delivery"] == new["id"]], 10)
    g = [g for g in rec.on("/dead") if g["delivery"] == new["id"]][0]
    first = rec.on("/dead")[0]
    assert g["body"]["id"] == first["body"]["id"], "same event id"
    assert g["sig_ok"]
    owner.client.delete(owner.base_url + "/v1/webhooks/" + hook["id"])


def test_sustained_failure_disables_with_an_audit_entry(mhttp, rec):
    t = new_tenant(mhttp, "Failing")
    rec.set("/down", statuses=[500])
    hook = make_webhook(t, rec, "/down")
    for i in range(3):
        create_account(t, "Down %d" % i)

    def disabled():
        w = get(t, "/v1/webhooks/" + hook["id"]).json()
        return w if not w["enabled"] else None
    w = wait_for(disabled, 30)
    assert w, "the webhook was not disabled"
    assert w["disabled_reason"] == "failing" and w["disabled_at"]
    assert w["consecutive_failures"] >= DISABLE_AFTER
    a = get(t, "/v1/audit-log?action=webhook.disabled").json()["data"]
    assert len(a) == 1 and a[0]["target_id"] == hook["id"], a
    assert a[0]["actor_kind"] == "system"
    # Later events make no deliveries; what was queued fails for good.
    n = len(rec.on("/down"))
    create_account(t, "After disable")
    time.sleep(2)
    assert len(rec.on("/down")) <= n + 1
    r = t.client.post(t.base_url + "/v1/webhooks/%s/deliveries/%s/redeliver"
                      % (hook["id"], rec.on("/down")[0]["delivery"]))
    assert r.status_code == 409, r.text
    # Enabling again clears the streak.
    r = t.client.patch(t.base_url + "/v1/webhooks/" + hook["id"],
                       json={"enabled": True})
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["enabled"] and b["consecutive_failures"] == 0
    assert b["disabled_at"] is None


# ------------------------------------------------------------ validation

SSRF_URLS = [
    "http://10.0.0.1/hook", "http://169.254.169.254/latest/meta-data",
    "http://[::1]/", "http://0.0.0.0/", "http://[::]/",
    "http://167772161/",        # 10.0.0.1 as one decimal number
    "http://012.0.0.1/",        # octal
    "http://0xa.1/",            # hex, short form
    "http://10.1/",             # short form
    "http://0x0a000001/",
    "http://[::ffff:127.0.0.1]/", "http://[::ffff:10.0.0.1]/",
    "http://[fe80::1]/", "http://[fd00::1]/", "http://100.64.0.1/",
    "http://192.168.1.1/", "http://172.16.0.1/", "http://224.0.0.1/",
    "https://198.18.0.1/", "http://255.255.255.255/", "http://[ff02::1]/",
    "http://[64:ff9b::a00:1]/",
]


@pytest.mark.parametrize("url", SSRF_URLS)
def test_ssrf_targets_are_refused(owner, url):
    r = owner.client.post(owner.base_url + "/v1/webhooks",
                          json={"url": url, "events": ["*"]})
    assert r.status_code == 422, (url, r.status_code, r.text)
    assert idn.error_fields(r.json()) == ["url"], r.text


@pytest.mark.parametrize("url,field", [
    ("ftp://example.com/x", "url"), ("http://user:pw@example.com/", "url"),
    ("example.com/hook", "url"), ("http://exa mple.com/", "url"),
    ("http://example.com:0/", "url"), ("http://example.com:99999/", "url"),
    ("http://1.2.3.4.5/", "url"), ("http:///x", "url"),
])
def test_bad_urls_are_422(owner, url, field):
    r = owner.client.post(owner.base_url + "/v1/webhooks",
                          json={"url": url, "events": ["*"]})
    assert r.status_code == 422, (url, r.text)
    assert idn.error_fields(r.json()) == [field]


@pytest.mark.parametrize("events", [
    [], ["contact.exploded"], ["foo.*"], ["*.created"], ["account"], [1],
    "account.created",
])
def test_bad_event_filters_are_422(owner, rec, events):
    r = owner.client.post(owner.base_url + "/v1/webhooks",
                          json={"url": rec.url("/x"), "events": events})
    assert r.status_code == 422, (events, r.text)
    assert idn.error_fields(r.json()) == ["events"]


def test_known_filters_and_other_fields(owner, rec):
    ok = ["*", "contact.*", "price_book.restored", "deal.stage_changed",
          "lead.converted", "activity.deleted", "pipeline.updated"]
    r = owner.client.post(owner.base_url + "/v1/webhooks",
                          json={"url": "https://hooks.example.com/in",
                                "events": ok, "description": "all",
                                "enabled": False})
    assert r.status_code == 201, r.text
    b = r.json()
    assert b["enabled"] is False and b["events"] == ok
    r = owner.client.post(owner.base_url + "/v1/webhooks",
                          json={"url": rec.url("/x"), "events": ["*"],
                                "tenant_id": str(uuid.uuid4())})
    assert r.status_code == 400, r.text
    r = owner.client.post(owner.base_url + "/v1/webhooks",
                          json={"url": rec.url("/x"), "events": ["*"],
                                "enabled": "yes"})
    assert r.status_code == 422 and \
        idn.error_fields(r.json()) == ["enabled"]
    r = owner.client.patch(owner.base_url + "/v1/webhooks/" + b["id"],
                           json={"url": "http://10.0.0.1/"})
    assert r.status_code == 422 and idn.error_fields(r.json()) == ["url"]
    r = owner.client.get(owner.base_url + "/v1/jobs?status=bogus")
    assert r.status_code == 400 and "status" in r.text
    r = owner.client.get(owner.base_url + "/v1/jobs?limit=0")
    assert r.status_code == 400
    lst = get(owner, "/v1/webhooks").json()["data"]
    assert b["id"] in [w["id"] for w in lst]
    assert all("secret" not in w for w in lst)
    r = owner.client.delete(owner.base_url + "/v1/webhooks/" + b["id"])
    assert r.status_code == 204
    r = owner.client.delete(owner.base_url + "/v1/webhooks/" + b["id"])
    assert r.status_code == 404
    a = get(owner, "/v1/audit-log?action=webhook.deleted").json()["data"]
    assert b["id"] in [x["target_id"] for x in a]


def test_other_tenants_see_nothing(owner, mhttp, rec):
    hook = make_webhook(owner, rec, "/iso")
    create_account(owner, "Isolated")
    assert wait_for(lambda: rec.on("/iso"), 10)
    d = rec.on("/iso")[0]["delivery"]
    other = new_tenant(mhttp, "Other")
    for path in ("/v1/webhooks/" + hook["id"],
                 "/v1/webhooks/%s/deliveries" % hook["id"],
                 "/v1/jobs/" + d):
        assert get(other, path).status_code == 404, path
    r = other.client.post(other.base_url + "/v1/webhooks/%s/deliveries/%s/"
                          "redeliver" % (hook["id"], d))
    assert r.status_code == 404
    assert get(other, "/v1/jobs").json()["data"] == [] or all(
        j["id"] != d for j in get(other, "/v1/jobs").json()["data"])
    # The other tenant's own write reaches nobody of the first tenant.
    n = len(rec.on("/iso"))
    create_account(other, "Not yours")
    time.sleep(1)
    assert len(rec.on("/iso")) == n
    owner.client.delete(owner.base_url + "/v1/webhooks/" + hook["id"])


# ------------------------------------------------------------ runtime

def test_recycle_bin_purge(owner):
    a = create_account(owner, "Old rubbish")
    keep = create_account(owner, "Recent rubbish")
    for x in (a, keep):
        r = owner.client.delete(owner.base_url + "/v1/accounts/" + x["id"])
        assert r.status_code == 204
    owner_sql(owner.tenant_id, "UPDATE crm.accounts SET deleted_at = now() "
              "- interval '31 days' WHERE tenant_id = '%s' AND id = '%s';"
              % (owner.tenant_id, a["id"]))
    worker_sql("SELECT auth.jobs_schedule('purge_recycle_bin');")

    def gone():
        rows = owner_sql(owner.tenant_id, "SELECT count(*) FROM crm.accounts"
                         " WHERE tenant_id = '%s' AND id IN ('%s', '%s');"
                         % (owner.tenant_id, a["id"], keep["id"]))
        return rows[-1][0] == "1"
    assert wait_for(gone, 15), "the 31-day-old row was not purged"
    done = [j for j in jobs(owner, type_="purge_recycle_bin")
            if j["status"] == "succeeded" and j["progress"]["done"] >= 1]
    assert done, jobs(owner, type_="purge_recycle_bin")
    r = get(owner, "/v1/accounts/" + keep["id"])
    assert r.status_code in (200, 404)


def test_fairness_a_backlog_does_not_delay_another_tenant(mhttp, rec):
    """Tenant A has thousands of deliveries queued to a slow receiver;
    tenant B's delivery still arrives within seconds."""
    a = new_tenant(mhttp, "Backlog")
    b = new_tenant(mhttp, "Quiet")
    rec.set("/slowA", statuses=[200], delay=0.02)
    ha = make_webhook(a, rec, "/slowA")
    hb = make_webhook(b, rec, "/fastB")
    acc = create_account(a, "Backlog seed")
    assert wait_for(lambda: rec.on("/slowA"), 10)
    ev = rec.on("/slowA")[0]["body"]["id"]
    n = 3000
    owner_sql(a.tenant_id, "INSERT INTO crm.jobs (tenant_id, id, type, "
              "payload, subject_id) SELECT '%s', crm.uuid7(), 'webhook', "
              "jsonb_build_object('event_id', '%s', 'webhook_id', '%s'), "
              "'%s' FROM generate_series(1, %d);"
              % (a.tenant_id, ev, ha["id"], ha["id"], n))
    time.sleep(1.0)     # the backlog is flowing
    before = len(rec.on("/slowA"))
    t0 = time.monotonic()
    create_account(b, "Urgent")
    assert wait_for(lambda: rec.on("/fastB"), 20), "B never arrived"
    lat = rec.on("/fastB")[0]["at"] - t0
    during = len(rec.on("/slowA")) - before
    stat("fairness: B's delivery latency behind A's %d backlog" % n,
         "%.3f s (%d of A's delivered meanwhile)" % (lat, during))
    left = int(owner_sql(a.tenant_id, "SELECT count(*) FROM crm.jobs WHERE "
                         "tenant_id = '%s' AND status = 'queued';"
                         % a.tenant_id)[-1][0])
    assert left > n / 2, "A's backlog drained too fast to prove anything"
    assert lat < 3.0, "B waited %.2f s behind A's backlog" % lat
    # Drain A's backlog: the queued rows go, the ids Redis still holds
    # for them are dropped by the claim.
    owner_sql(a.tenant_id, "DELETE FROM crm.jobs WHERE tenant_id = '%s' "
              "AND status = 'queued';" % a.tenant_id)
    a.client.patch(a.base_url + "/v1/webhooks/" + ha["id"],
                   json={"enabled": False})
    assert wait_for(lambda: int(owner_sql(
        a.tenant_id, "SELECT count(*) FROM crm.jobs WHERE tenant_id = '%s' "
        "AND status IN ('queued', 'running');" % a.tenant_id)[-1][0]) == 0,
        30), "A's backlog did not drain"
    b.client.delete(b.base_url + "/v1/webhooks/" + hb["id"])
    del acc


def test_measure_throughput_and_latency(mhttp, rec):
    """Figures for the README: jobs/s through the queue (probe jobs, no
    handler cost) and write-acknowledged -> received latency."""
    t = new_tenant(mhttp, "Measure")
    n = 2000
    t0 = time.monotonic()
    owner_sql(t.tenant_id, "INSERT INTO crm.jobs (tenant_id, id, type) "
              "SELECT '%s', crm.uuid7(), 'probe' FROM generate_series(1, %d);"
              % (t.tenant_id, n))

    def done():
        return int(owner_sql(t.tenant_id, "SELECT count(*) FROM crm.jobs "
                             "WHERE tenant_id = '%s' AND type = 'probe' AND "
                             "status = 'succeeded';" % t.tenant_id)[-1][0]) \
            == n
    assert wait_for(done, 120, 0.05), "probe jobs did not finish"
    secs = time.monotonic() - t0
    stat("queue throughput", "%d probe jobs in %.2f s = %.0f jobs/s"
         % (n, secs, n / secs))
    hook = make_webhook(t, rec, "/lat")
    acks = {}
    for i in range(100):
        a = create_account(t, "Latency %d" % i)
        acks[a["id"]] = time.monotonic()
    assert wait_for(lambda: len(rec.on("/lat")) >= 100, 30)
    lats = sorted(g["at"] - acks[g["body"]["data"]["id"]]
                  for g in rec.on("/lat"))
    p50 = lats[len(lats) // 2] * 1000
    p99 = lats[min(len(lats) - 1, int(len(lats) * 0.99))] * 1000
    stat("webhook latency (ack -> received, 100 sequential writes)",
         "p50 %.1f ms, p99 %.1f ms" % (p50, p99))
    stat("latency max", "%.1f ms" % (lats[-1] * 1000))
    assert p99 < 2000
    t.client.delete(t.base_url + "/v1/webhooks/" + hook["id"])
