"""Rate-limit accuracy (SECURITY.md T10, RES-04).

A burst far above the limit, from many concurrent clients, must admit
what GCRA allows: the burst, plus what refills while the burst is being
served, and nothing more (the check and the update are one Lua script, so
concurrent requests cannot both take the last slot).  Every 429 carries
Retry-After and RateLimit.  Limits come from the plan (free: 60/minute,
team: 600/minute) times the operator's multiplier, as RateLimit-Policy
says.  On the team plan the burst is large enough for workers to lease
tokens in advance and keep refusals (app/lease.c): the bound must hold
all the same, with far fewer limiter calls than requests.
"""

import concurrent.futures
import time

import crmtest
from identity import rate_limit_policy, redis_cmd, reset_limits, signup


def _limiter_calls():
    """EVALSHA + EVAL calls Redis has served (INFO commandstats)."""
    n = 0
    for line in redis_cmd("INFO", "commandstats").splitlines():
        if line.startswith(("cmdstat_evalsha:", "cmdstat_eval:")):
            n += int(line.split("calls=")[1].split(",")[0])
    return n


def _flood(http, plan):
    a = signup(http, plan=plan)
    client = crmtest.Client(http.base_url)
    client.headers["Authorization"] = "Bearer " + a.access
    first = client.get("/v1/me")
    assert first.status_code == 200, first.text
    q = rate_limit_policy(first)["tenant"]["q"]
    burst = max(q // 10, 1)
    total = burst * 3 + 40

    def one(_):
        c = crmtest.Client(http.base_url)
        c.headers["Authorization"] = "Bearer " + a.access
        r = c.get("/v1/me")
        c.close()
        return r

    reset_limits("rl:*")
    calls = _limiter_calls()
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(one, range(total)))
    elapsed = time.monotonic() - t0
    calls = _limiter_calls() - calls
    ok = [r for r in results if r.status_code == 200]
    limited = [r for r in results if r.status_code == 429]
    assert len(ok) + len(limited) == total, \
        sorted({r.status_code for r in results})
    # GCRA with burst B admits B at once, then one per emission interval.
    most = burst + 1 + int(q / 60.0 * elapsed) + 1
    assert burst <= len(ok) <= most, (len(ok), burst, most, elapsed)
    assert limited, "no request was limited"
    for r in limited:
        crmtest.assert_problem(r, 429, "rate_limited")
        assert int(r.headers["Retry-After"]) >= 1
        assert r.headers.get("RateLimit"), dict(r.headers)
    print("rate limit (%s): q=%d burst=%d, %d of %d admitted in %.2f s "
          "(bound %d), %d limiter calls" % (plan, q, burst, len(ok), total,
                                            elapsed, most, calls))
    client.close()
    a.close()
    return total, calls


def test_tenant_limit_admits_exactly_burst_plus_refill(http):
    _flood(http, "free")


def test_leased_tokens_keep_the_bound_with_fewer_limiter_calls(http):
    total, calls = _flood(http, "team")
    # Near the limit grants are single tokens and refusals are kept only
    # until the next token is due (10 ms here), so the saving is mostly in
    # the burst and in the flood's refused tail; measured 0.42-0.48.
    assert calls < total * 0.8, (calls, total)
