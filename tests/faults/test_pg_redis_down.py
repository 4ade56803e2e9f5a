"""PostgreSQL or Redis goes away under load (ARCHITECTURE.md "Failure
behaviour"): the service answers 503 `unavailable` with Retry-After, never
hangs past its request timeout (10 s), never fails any other way, and
recovers by itself, without a restart of Kore, when the server returns.

Drives deploy/local/stack.sh pg-stop/pg-start/redis-stop/redis-start on
CRM_STACK_DIR, the throw-away stack tests/run.sh (or the fixture) started.
"""

import threading
import time

import pytest

import crmtest
from crmtest import assert_problem

THREADS = 8
REQUEST_TIMEOUT = 10.0      # CRM_REQUEST_TIMEOUT_MS default
SLACK = 1.0                 # scheduling, connect, reading the reply
RECOVERY = 15.0
# Each thread pauses between requests: /v1/plans is a public route, limited
# per client IP (100/s on the test stack), and this test is about the
# database, not about the limiter.
PACE = 0.05


class Load:
    """THREADS threads looping over GET paths until stopped."""

    def __init__(self, base_url, paths):
        self.base_url = base_url
        self.paths = paths
        self.results = []       # (t_start, elapsed, path, status, resp|exc)
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i,),
                                         daemon=True)
                        for i in range(THREADS)]

    def run(self, n):
        s = crmtest.Client(self.base_url, timeout=REQUEST_TIMEOUT + 10)
        i = n
        while not self.stop_ev.is_set():
            path = self.paths[i % len(self.paths)]
            i += 1
            t0 = time.monotonic()
            try:
                r = s.get(path)
                item = (t0, time.monotonic() - t0, path, r.status_code, r)
            except Exception as e:      # a hang or a dropped connection
                item = (t0, time.monotonic() - t0, path, None, e)
            with self.lock:
                self.results.append(item)
            self.stop_ev.wait(PACE)
        s.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        for t in self.threads:
            t.join(REQUEST_TIMEOUT + 15)

    def since(self, t):
        with self.lock:
            return [x for x in self.results if x[0] >= t]


def describe(item):
    t0, el, path, status, r = item
    if status is None:
        return "%s: %s after %.1fs" % (path, r, el)
    return "%s: %d after %.1fs: %s" % (path, status, el, r.text[:200])


def check_outage_replies(items):
    """Every reply is 200 or a proper 503; none is slow; none is dropped."""
    slow = [x for x in items if x[1] > REQUEST_TIMEOUT + SLACK]
    assert not slow, "requests slower than %.0fs:\n%s" % (
        REQUEST_TIMEOUT + SLACK, "\n".join(map(describe, slow[:5])))
    dropped = [x for x in items if x[3] is None]
    assert not dropped, "requests without a reply:\n%s" % "\n".join(
        map(describe, dropped[:5]))
    other = [x for x in items if x[3] not in (200, 503)]
    assert not other, "unexpected statuses:\n%s" % "\n".join(
        map(describe, other[:5]))
    for x in items:
        if x[3] == 503:
            assert_problem(x[4], 503, "unavailable")
            assert x[4].headers.get("Retry-After"), describe(x)


@pytest.fixture
def restore_stack(service_env):
    """Whatever happens, PostgreSQL and Redis run again afterwards."""
    yield
    crmtest.stack("pg-start")
    crmtest.stack("redis-start")


def ready(http):
    return http.get("/readyz").status_code == 200


def test_postgres_down_under_load(http, base_url, restore_stack):
    assert crmtest.wait_for(lambda: ready(http), 30), "not ready at start"
    r = http.get("/v1/plans")
    assert r.status_code == 200, \
        "GET /v1/plans must answer 200 before the fault: %d %s" % (
            r.status_code, r.text[:200])
    kore_before = crmtest.kore_pid_alive()

    with Load(base_url, ["/readyz", "/v1/plans"]) as load:
        time.sleep(2)
        healthy = load.since(0)
        t_stop = time.monotonic()
        crmtest.stack("pg-stop", "immediate")
        time.sleep(6)
        t_start = time.monotonic()
        crmtest.stack("pg-start")
        back = crmtest.wait_for(
            lambda: http.get("/v1/plans").status_code == 200, RECOVERY)
        t_back = time.monotonic()
        time.sleep(1)

    assert healthy, "no request finished before the fault"
    assert all(x[3] == 200 for x in healthy), "\n".join(
        describe(x) for x in healthy if x[3] != 200)

    during = load.since(t_stop)
    check_outage_replies(during)
    # Requests that began well after the stop (1 s for connections to
    # notice) and before the restart must all be 503 unavailable.
    down = [x for x in during if t_stop + 1 <= x[0] and
            x[0] + x[1] < t_start]
    assert down, "no request completed while PostgreSQL was down"
    for path in ("/readyz", "/v1/plans"):
        seen = [x for x in down if x[2] == path]
        assert seen, "no %s request completed during the outage" % path
        assert all(x[3] == 503 for x in seen), "\n".join(
            describe(x) for x in seen if x[3] != 503)

    assert back, "/v1/plans not 200 within %.0fs of PostgreSQL's return" \
        % RECOVERY
    print("PostgreSQL back: /v1/plans 200 after %.1fs" % (t_back - t_start))
    if kore_before is not None:
        assert crmtest.kore_pid_alive(), "Kore's parent process is gone"
    assert crmtest.wait_for(lambda: ready(http), RECOVERY), \
        "/readyz not 200 again after PostgreSQL's return"


def test_redis_down(http, restore_stack):
    assert crmtest.wait_for(lambda: ready(http), 30), "not ready at start"
    kore_before = crmtest.kore_pid_alive()

    crmtest.stack("redis-stop")
    t0 = time.monotonic()
    seen_503 = None
    while time.monotonic() - t0 < 5:
        h = http.get("/healthz")
        assert h.status_code == 200, "healthz %d with Redis down" % \
            h.status_code
        r = http.get("/readyz")
        assert r.status_code in (200, 503), describe(
            (0, 0, "/readyz", r.status_code, r))
        if r.status_code == 503:
            seen_503 = r
            break
        time.sleep(0.2)
    assert seen_503 is not None, "/readyz still 200 5 s after Redis died"
    assert_problem(seen_503, 503, "unavailable")
    assert seen_503.headers.get("Retry-After")

    # Liveness does not depend on Redis, for a while either.
    for _ in range(5):
        assert http.get("/healthz").status_code == 200
        time.sleep(0.2)

    crmtest.stack("redis-start")
    t1 = time.monotonic()
    assert crmtest.wait_for(lambda: ready(http), RECOVERY), \
        "/readyz not 200 within %.0fs of Redis' return" % RECOVERY
    print("Redis back: /readyz 200 after %.1fs" % (time.monotonic() - t1))
    if kore_before is not None:
        assert crmtest.kore_pid_alive(), "Kore's parent process is gone"
