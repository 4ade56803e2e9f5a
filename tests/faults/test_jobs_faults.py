"""The job runtime under faults (SECURITY.md FLT-05, FLT-06, FLT-08, T7):
a steady stream of account writes with a webhook subscribed, while
crm-worker processes are killed with -9 (the supervisor's children, and
the supervisor itself, restarted by tests/env.sh worker-start), Redis is
killed and restarted (its AOF may lose the last second), and PostgreSQL
is stopped with -m immediate and started again.

Afterwards, with the receiver deduplicating by Crm-Delivery:
  * every account the tenant has (every committed write, which includes
    every acknowledged one) has exactly one delivery of its
    account.created event: 0 lost;
  * every delivery is of an account that exists: 0 phantom;
  * no job is left running, and the dead-letter list is empty (the
    receiver never fails, so nothing really failed).
Bounded: the load runs ~30 s, convergence may take up to 60 s.
"""

import os
import signal
import subprocess
import sys
import threading
import time

import crmtest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "jobs"))
import jobslib  # noqa: E402
from jobslib import make_webhook, new_tenant, owner_sql  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
ENV_SH = os.path.join(ROOT, "tests", "env.sh")
LOAD_SECONDS = 30
CONVERGE = 60


def stat(name, value):
    print("STAT %s: %s" % (name, value))


def worker_pids():
    d = os.environ["CRM_STACK_DIR"]
    try:
        sup = int(open(os.path.join(d, "crm-worker.pid")).read().strip())
    except (OSError, ValueError):
        return None, []
    r = subprocess.run(["pgrep", "-P", str(sup)], stdout=subprocess.PIPE,
                       text=True)
    return sup, [int(p) for p in r.stdout.split()]


def kill9(pids):
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def worker_start():
    r = subprocess.run([ENV_SH, "worker-start", os.environ["CRM_STACK_DIR"]],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stdout


class Writer:
    """Creates accounts one after another until stopped."""

    def __init__(self, owner):
        self.owner = owner
        self.acked = set()
        self.unknown = 0        # 5xx, timeouts, resets: indeterminate
        self.refused = 0        # definite 4xx
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        c = jobslib.idn.bearer_client(self.owner.base_url, self.owner.access)
        c.timeout = 15
        i = 0
        while not self.stop_ev.is_set():
            i += 1
            try:
                r = c.post(self.owner.base_url + "/v1/accounts",
                           json={"name": "Fault %d" % i})
                if r.status_code == 201:
                    self.acked.add(r.json()["id"])
                elif r.status_code >= 500:
                    self.unknown += 1
                else:
                    self.refused += 1
            except Exception:
                self.unknown += 1
            self.stop_ev.wait(0.03)
        c.close()


def test_jobs_survive_worker_redis_and_postgres_faults(http, service_env):
    rec = jobslib.Receiver()
    owner = new_tenant(http, "Faults")
    hook = make_webhook(owner, rec, "/fault", events=["account.created"])
    w = Writer(owner)
    w.t.start()
    kills = 0
    try:
        time.sleep(3)
        # 1. The whole worker, supervisor included: restarted from outside.
        sup, kids = worker_pids()
        kill9([sup] + kids)
        kills += 1 + len(kids)
        time.sleep(1)
        worker_start()
        time.sleep(3)
        # 2. Only the children: the supervisor respawns them.
        _, kids = worker_pids()
        kill9(kids)
        kills += len(kids)
        time.sleep(3)
        _, kids = worker_pids()
        assert kids, "the supervisor did not respawn its children"
        kill9(kids[:1])
        kills += 1
        # 3. Redis killed (-9) and back.
        crmtest.stack("redis-stop")
        time.sleep(2)
        crmtest.stack("redis-start")
        time.sleep(3)
        # 4. PostgreSQL stopped hard and back.
        crmtest.stack("pg-stop", "immediate")
        time.sleep(3)
        crmtest.stack("pg-start")
        time.sleep(3)
        # 5. Workers again, right after the recovery.
        sup, kids = worker_pids()
        kill9([sup] + kids)
        kills += 1 + len(kids)
        time.sleep(1)
        worker_start()
        rest = LOAD_SECONDS - 25
        if rest > 0:
            time.sleep(rest)
    finally:
        w.stop_ev.set()
        w.t.join(30)
        worker_start()      # whatever happened, leave a worker running

    def db_ids():
        rows = owner_sql(owner.tenant_id, "SELECT id FROM crm.accounts "
                         "WHERE tenant_id = '%s';" % owner.tenant_id)
        return {r[0] for r in rows if len(r[0]) == 36}

    def delivered():
        got = {}
        for g in rec.on("/fault"):
            if g["body"] and g["sig_ok"]:
                got.setdefault(g["body"]["data"]["id"], set()).add(
                    g["delivery"])
        return got

    def converged():
        return db_ids() <= set(delivered())
    t0 = time.monotonic()
    crmtest.wait_for(converged, CONVERGE, 0.5)
    stat("convergence after the load", "%.1f s" % (time.monotonic() - t0))

    def running():
        return int(owner_sql(owner.tenant_id, "SELECT count(*) FROM crm.jobs "
                             "WHERE tenant_id = '%s' AND status IN "
                             "('running', 'queued');"
                             % owner.tenant_id)[-1][0])
    crmtest.wait_for(lambda: running() == 0, 30, 0.5)
    ids = db_ids()
    got = delivered()
    raw = rec.on("/fault")
    lost = ids - set(got)
    phantom = set(got) - ids
    multi = {k: v for k, v in got.items() if len(v) > 1}
    unsigned = [g for g in raw if not g["sig_ok"]]
    dead = owner_sql(owner.tenant_id, "SELECT id, last_error FROM crm.jobs "
                     "WHERE tenant_id = '%s' AND status IN ('dead', "
                     "'failed');" % owner.tenant_id)
    stat("writes", "%d acknowledged, %d indeterminate, %d refused, "
         "%d committed" % (len(w.acked), w.unknown, w.refused, len(ids)))
    stat("deliveries", "%d received, %d distinct deliveries, %d accounts; "
         "lost %d, phantom %d, accounts with >1 delivery id %d, "
         "redelivered duplicates %d" % (
             len(raw), len({g["delivery"] for g in raw}), len(got),
             len(lost), len(phantom), len(multi),
             len(raw) - len({g["delivery"] for g in raw})))
    stat("faults", "%d worker processes killed -9, Redis -9 once, "
         "PostgreSQL immediate stop once" % kills)
    stat("jobs left", "running or queued %d, dead or failed %d"
         % (running(), len(dead)))
    rec.close()
    owner.client.delete(owner.base_url + "/v1/webhooks/" + hook["id"])
    assert len(w.acked) > 100, "too few writes to mean anything"
    assert w.acked <= ids, "acknowledged writes lost: %s" % (w.acked - ids)
    assert not lost, "accounts without a delivery: %s" % sorted(lost)[:5]
    assert not phantom, "deliveries of no account: %s" % sorted(phantom)[:5]
    assert not multi, "an event delivered under two delivery ids"
    assert not unsigned
    assert running() == 0, "jobs stuck"
    assert not dead, "dead or failed jobs: %s" % dead[:5]
