"""Rate-limit accuracy (SECURITY.md T10, RES-04).

A burst far above the limit, from many concurrent clients, must admit
exactly what GCRA allows: the burst, plus what refills while the burst is
being served, and nothing more (the check and the update are one Lua
script, so concurrent requests cannot both take the last slot).  Every 429
carries Retry-After and RateLimit.  Limits come from the plan (free:
60/minute) times the operator's multiplier, as RateLimit-Policy says.
"""

import concurrent.futures
import time

import crmtest
from identity import rate_limit_policy, reset_limits, signup


def test_tenant_limit_admits_exactly_burst_plus_refill(http):
    a = signup(http, plan="free")
    reset_limits("rl:*")
    client = crmtest.Client(http.base_url)
    client.headers["Authorization"] = "Bearer " + a.access
    first = client.get("/v1/me")
    assert first.status_code == 200, first.text
    q = rate_limit_policy(first)["tenant"]["q"]
    burst = max(q // 10, 1)
    per_second = q / 60.0
    total = burst * 3 + 40

    def one(_):
        c = crmtest.Client(http.base_url)
        c.headers["Authorization"] = "Bearer " + a.access
        r = c.get("/v1/me")
        c.close()
        return r

    reset_limits("rl:*")
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(one, range(total)))
    elapsed = time.monotonic() - t0
    ok = [r for r in results if r.status_code == 200]
    limited = [r for r in results if r.status_code == 429]
    assert len(ok) + len(limited) == total, \
        sorted({r.status_code for r in results})
    # GCRA with burst B admits B+1 at once (the first request plus B
    # ahead of schedule), then one per emission interval.
    most = burst + 1 + int(per_second * elapsed) + 1
    assert burst <= len(ok) <= most, (len(ok), burst, most, elapsed)
    assert limited, "no request was limited"
    for r in limited:
        crmtest.assert_problem(r, 429, "rate_limited")
        assert int(r.headers["Retry-After"]) >= 1
        assert r.headers.get("RateLimit"), dict(r.headers)
    print("rate limit: q=%d burst=%d, %d of %d admitted in %.2f s "
          "(bound %d)" % (q, burst, len(ok), total, elapsed, most))
    client.close()
    a.close()
