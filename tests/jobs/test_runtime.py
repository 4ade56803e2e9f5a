"""The job runtime beyond webhooks' happy path: a rolled-back write makes
no job, the scheduled clean-up jobs (sessions, old jobs), a graceful stop
that finishes the job in hand, and the worker's metrics file."""

import os
import subprocess
import time

import pytest

import identity as idn
from jobslib import (create_account, jobs, make_webhook, new_tenant,
                     owner_sql, wait_for, worker_sql)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


@pytest.fixture(scope="module")
def owner(mhttp):
    return new_tenant(mhttp, "Runtime")


def count(tenant, sql):
    return int(owner_sql(tenant, sql)[-1][0])


def test_a_rolled_back_write_makes_no_job(owner, rec):
    hook = make_webhook(owner, rec, "/rollback", events=["account.*"])
    before = count(owner.tenant_id, "SELECT count(*) FROM crm.jobs WHERE "
                   "tenant_id = '%s' AND type = 'webhook';" % owner.tenant_id)
    # The parent does not exist: the foreign key fails inside the
    # statement that also wrote the event, so both roll back.
    r = owner.client.post(owner.base_url + "/v1/accounts",
                          json={"name": "Orphan", "parent_id":
                                "01a20000-0000-7000-8000-000000000001"})
    assert 400 <= r.status_code < 500, r.text
    time.sleep(1)
    after = count(owner.tenant_id, "SELECT count(*) FROM crm.jobs WHERE "
                  "tenant_id = '%s' AND type = 'webhook';" % owner.tenant_id)
    assert after == before
    assert rec.on("/rollback") == []
    owner.client.delete(owner.base_url + "/v1/webhooks/" + hook["id"])


def test_cleanup_of_sessions_and_old_jobs(mhttp):
    t = new_tenant(mhttp, "Cleanup")
    tid = t.tenant_id
    # A second session of the owner, expired two days ago.
    other = idn.login_ok(mhttp, t.email, t.password,
                         tenant=t.tenant.get("slug"))
    other.close()
    n = count(tid, "SELECT count(*) FROM crm.sessions WHERE tenant_id = "
              "'%s';" % tid)
    assert n >= 2
    owner_sql(tid, "UPDATE crm.sessions SET expires_at = now() - "
              "interval '2 days' WHERE tenant_id = '%s' AND id = (SELECT id "
              "FROM crm.sessions WHERE tenant_id = '%s' ORDER BY created_at "
              "DESC LIMIT 1);" % (tid, tid))
    # An old finished job and a recent one.
    owner_sql(tid, "INSERT INTO crm.jobs (tenant_id, id, type, status, "
              "finished_at) VALUES ('%s', crm.uuid7(), 'probe', 'succeeded', "
              "now() - interval '31 days'), ('%s', crm.uuid7(), 'probe', "
              "'succeeded', now());" % (tid, tid))
    worker_sql("SELECT auth.jobs_schedule('cleanup_sessions'); "
               "SELECT auth.jobs_schedule('cleanup_jobs');")

    def done():
        s = count(tid, "SELECT count(*) FROM crm.sessions WHERE tenant_id = "
                  "'%s';" % tid)
        j = count(tid, "SELECT count(*) FROM crm.jobs WHERE tenant_id = '%s'"
                  " AND finished_at < now() - interval '30 days';" % tid)
        return s == n - 1 and j == 0
    assert wait_for(done, 15), "clean-up jobs did not run"
    assert count(tid, "SELECT count(*) FROM crm.jobs WHERE tenant_id = '%s' "
                 "AND type = 'probe';" % tid) == 1
    # The owner's own (live) session still works.
    assert t.client.get(t.base_url + "/v1/me").status_code == 200
    assert {j["type"] for j in jobs(t, status="succeeded")} >= {
        "cleanup_sessions", "cleanup_jobs"}


def env_sh(cmd):
    r = subprocess.run([os.path.join(ROOT, "tests", "env.sh"), cmd,
                        os.environ["CRM_STACK_DIR"]], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=60)
    assert r.returncode == 0, r.stdout


def test_sigterm_finishes_the_job_in_hand(owner, rec):
    rec.set("/slow", statuses=[200], delay=2.0)
    hook = make_webhook(owner, rec, "/slow")
    create_account(owner, "Slow")
    assert wait_for(lambda: rec.on("/slow"), 10)
    t0 = time.monotonic()
    env_sh("worker-stop")       # SIGTERM, while the POST is in flight
    stopped = time.monotonic() - t0
    try:
        d = rec.on("/slow")[0]["delivery"]
        job = owner.client.get(owner.base_url + "/v1/jobs/" + d).json()
        assert job["status"] == "succeeded", job
        assert job["attempts"] == 1
        assert stopped < 9, "stop took %.1f s" % stopped
    finally:
        env_sh("worker-start")
    time.sleep(3)
    assert len(rec.on("/slow")) == 1, "delivered again after the restart"
    owner.client.delete(owner.base_url + "/v1/webhooks/" + hook["id"])


def test_metrics_file():
    path = os.environ.get("CRM_WORKER_METRICS_FILE")
    assert path, "tests/env.sh sets CRM_WORKER_METRICS_FILE"
    assert wait_for(lambda: os.path.exists(path), 5)
    text = open(path).read()
    for name in ('crm_jobs_total{outcome="succeeded"}',
                 'crm_jobs_total{outcome="retried"}',
                 'crm_jobs_total{outcome="dead"}', "crm_jobs_queued",
                 "crm_jobs_oldest_age_seconds", "crm_worker_processes 2"):
        assert name in text, (name, text)
