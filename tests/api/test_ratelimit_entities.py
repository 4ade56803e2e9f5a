"""Rate limits on the entity engine's routes (SECURITY.md T10).

Every kind of entity route (get, list, create, update, delete, restore,
batch) is refused with 429 once the caller is over its limit, and a
refused write commits nothing: no row, no version bump, no event.  This
pins the guarantee for bench/'s optimisations of the request path (the
limiter's Redis round trip must never let a write through, whatever it
overlaps with).
"""

import crmtest
from identity import (leases_expire, rate_limit_policy, redis_cmd,
                      reset_limits, signup)

PATH = "/v1/accounts"


def _exhaust(client, rid):
    """GETs until refused; returns the first 429."""
    for _ in range(5000):
        r = client.get(PATH + "/" + rid)
        if r.status_code == 429:
            return r
        assert r.status_code == 200, r.text
    raise AssertionError("never limited")


def test_every_entity_route_is_limited_and_refused_writes_commit_nothing(
        http):
    a = signup(http, plan="free")
    # Not a.client: it clears the limits and retries on 429.
    c = crmtest.Client(http.base_url)
    c.headers["Authorization"] = "Bearer " + a.access
    r = c.post(PATH, json={"name": "Limited Ltd", "industry": "Retail"})
    acc = crmtest.assert_json(r, 201)
    assert rate_limit_policy(r)["tenant"]["q"] > 0
    etag = r.headers["ETag"]

    reset_limits("rl:*")
    crmtest.assert_problem(_exhaust(c, acc["id"]), 429, "rate_limited")
    # GCRA refills a slot every emission interval, so a sequence of
    # requests after the first 429 could be admitted again.  Move the
    # tenant's theoretical arrival time an hour ahead instead (the
    # script's state, keys.h RK_RL_TENANT): every request is over.
    sec, usec = [int(x) for x in redis_cmd("TIME").split()]
    redis_cmd("SET", "rl:t:" + a.tenant_id,
              (sec + 3600) * 1000000 + usec, "PX", 3700 * 1000)
    leases_expire()
    refused = [
        c.get(PATH + "/" + acc["id"]),
        c.get(PATH, params={"limit": 20, "filter[industry][eq]": "Retail",
                            "sort": "-annual_revenue"}),
        c.post(PATH, json={"name": "Must Not Exist"}),
        c.patch(PATH + "/" + acc["id"], json={"name": "Must Not Change"}),
        c.delete(PATH + "/" + acc["id"]),
        c.post(PATH + "/" + acc["id"] + "/restore"),
        c.post(PATH + "/batch", json={"operations": [
            {"op": "create", "data": {"name": "Must Not Exist Either"}}]}),
    ]
    for r in refused:
        crmtest.assert_problem(r, 429, "rate_limited")
        assert int(r.headers["Retry-After"]) >= 1, dict(r.headers)

    reset_limits("rl:*")
    r = c.get(PATH + "/" + acc["id"])
    got = crmtest.assert_json(r, 200)
    assert got["name"] == "Limited Ltd"
    assert r.headers["ETag"] == etag
    names = [x["name"] for x in crmtest.assert_json(
        c.get(PATH, params={"limit": 100}), 200)["data"]]
    assert names == ["Limited Ltd"], names
    c.close()
    a.close()
