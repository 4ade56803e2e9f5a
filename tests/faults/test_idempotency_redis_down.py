"""Idempotency keys while Redis is away (app/idem.c): a POST that carries
an Idempotency-Key gets 503 unavailable with Retry-After, because the
service cannot keep the promise the key asks for; the same POST without a
key still succeeds (the limiter fails open, credentials are checked in
PostgreSQL).  When Redis returns, keys work again without a restart.
"""

import json
import uuid

import pytest

import crmtest
from crmtest import assert_json, assert_problem
from identity import post_json, signup, unique_company, uid

RECOVERY = 15.0


@pytest.fixture
def restore_redis(service_env):
    yield
    crmtest.stack("redis-start")


@pytest.fixture(scope="module")
def org(mhttp):
    a = signup(mhttp, company=unique_company("IdemDown"))
    yield a
    a.close()


def create(acct, key=None, name=None):
    headers = {"Idempotency-Key": key} if key else {}
    return post_json(acct.client, "/v1/accounts",
                     {"name": name or "Down " + uid(8)}, headers=headers)


def test_key_is_503_while_redis_is_down(http, org, restore_redis):
    assert_json(create(org, key="warm-" + uid(8)), 201)
    crmtest.stack("redis-stop")
    assert crmtest.wait_for(
        lambda: http.get("/readyz").status_code == 503, 10), \
        "/readyz still 200 with Redis stopped"

    r = create(org, key="down-" + uuid.uuid4().hex)
    p = assert_problem(r, 503, "unavailable")
    assert r.headers.get("Retry-After")
    assert "idempotency" in p["detail"].lower()
    assert_json(create(org), 201)

    crmtest.stack("redis-start")
    assert crmtest.wait_for(
        lambda: http.get("/readyz").status_code == 200, RECOVERY)
    # /readyz answered from one worker; each worker reconnects on its own
    # backoff (app/rds.c, 5 s at most), and a keyed POST that reaches one
    # still waiting gets 503 + Retry-After, which stores nothing.  So the
    # key is retried until it is taken, as a client would.
    k = "back-" + uuid.uuid4().hex
    name = "Back " + uid(8)
    box = {}

    def taken():
        box["r"] = create(org, key=k, name=name)
        assert box["r"].status_code in (201, 503), box["r"].text[:300]
        return box["r"].status_code == 201
    assert crmtest.wait_for(taken, RECOVERY), box["r"].text[:300]
    b1 = assert_json(box["r"], 201)
    r2 = create(org, key=k, name=name)
    assert r2.headers.get("Idempotent-Replayed") == "true"
    assert json.loads(r2.content)["id"] == b1["id"]


@pytest.fixture
def restore_pg(service_env):
    yield
    crmtest.stack("pg-start")


def test_a_5xx_releases_the_key(http, org, restore_pg):
    """PostgreSQL away: the create answers 503, which is not stored; the
    same key with the same body then runs for real once it is back."""
    assert_json(create(org, key="warm-" + uid(8)), 201)
    k = "pg-" + uuid.uuid4().hex
    name = "Pg down " + uid(8)
    crmtest.stack("pg-stop", "immediate")
    try:
        r = create(org, key=k, name=name)
        assert r.status_code == 503, r.text[:300]
        assert "Idempotent-Replayed" not in r.headers
    finally:
        crmtest.stack("pg-start")
    assert crmtest.wait_for(
        lambda: http.get("/readyz").status_code == 200, RECOVERY)
    r = None
    for _ in range(20):     # pooled connections notice the restart
        r = create(org, key=k, name=name)
        if r.status_code != 503:
            break
    b = assert_json(r, 201)
    assert "Idempotent-Replayed" not in r.headers
    r2 = create(org, key=k, name=name)
    assert r2.headers.get("Idempotent-Replayed") == "true"
    assert json.loads(r2.content)["id"] == b["id"]
