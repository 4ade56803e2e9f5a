"""The connection pool's transaction guard (SECURITY.md finding 2, ISO-07).

A test-only route opens a transaction, sets a tenant in it and answers
without ending it.  The pool must roll that transaction back before the
connection serves anyone else: no later request may see the tenant, or be
inside someone else's transaction.  The guard counter in /metrics proves the
guard really ran, so this test fails if the route stops leaving transactions
open (it would then prove nothing).
"""

import concurrent.futures
import re


def guard_rollbacks(http):
    text = http.get("/metrics").text
    m = re.search(r"^crm_db_guard_rollbacks_total (\d+)$", text, re.M)
    assert m, "guard counter missing from /metrics"
    return int(m.group(1))


def context(http):
    r = http.get("/v1/_test/context")
    assert r.status_code == 200, r.text
    return r.json()


def test_left_open_transaction_never_reaches_the_next_request(http):
    before = guard_rollbacks(http)
    rounds = 60
    seen = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(rounds):
            r = http.post("/v1/_test/leave-open")
            assert r.status_code == 200, r.text
            leaked = r.json()["tenant"]
            assert re.fullmatch(r"[0-9a-f-]{36}", leaked)
            for ctx in pool.map(lambda _: context(http), range(6)):
                seen.append((leaked, ctx))
    for leaked, ctx in seen:
        assert ctx["tenant"] == "", "a request saw tenant %s" % ctx["tenant"]
    assert len(seen) == rounds * 6
    assert guard_rollbacks(http) - before >= rounds
