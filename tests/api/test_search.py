"""GET /v1/search, black-box: one query across the entities the caller
may read, within its record scope, ranked; never another tenant's, never
a deleted record, never an entity the credential cannot read."""

import pytest

from crmtest import assert_json, assert_problem
from identity import (make_key, make_user, post_json, signup, uid,
                      unique_company)

S = "/v1/search"


@pytest.fixture(scope="module")
def org(mhttp):
    a = signup(mhttp, company=unique_company("Search"))
    a.word = "zq" + uid(6).lower()
    a.recs = [assert_json(post_json(a.client, "/v1/accounts", {
        "name": "%s %s" % (a.word, n), "domain": n + ".example"}), 201)
        for n in ("rockets", "labs", "foods")]
    yield a
    a.close()


def hits(client, **params):
    b = assert_json(client.get(S, params=params), 200)
    assert b["next_cursor"] is None
    return b["data"]


def test_finds_by_prefix_across_words(org):
    got = hits(org.client, q=org.word[:5])
    assert {h["id"] for h in got} == {r["id"] for r in org.recs}
    assert all(h["entity"] == "accounts" for h in got)
    assert all(h["title"].startswith(org.word) for h in got)
    got = hits(org.client, q=org.word + " lab")
    assert [h["title"] for h in got] == [org.word + " labs"]
    assert hits(org.client, q="rockets.example") != []
    assert len(hits(org.client, q=org.word, limit=2)) == 2
    assert len(hits(org.client, q=org.word, entity="accounts")) == 3


def test_other_tenant_and_deleted_are_invisible(org, mhttp):
    b = signup(mhttp, company=unique_company("SearchB"))
    try:
        assert hits(b.client, q=org.word) == []
    finally:
        b.close()
    gone = assert_json(post_json(org.client, "/v1/accounts", {
        "name": org.word + " vanishing"}), 201)
    assert len(hits(org.client, q=org.word + " vanishing")) == 1
    assert org.client.delete("/v1/accounts/" + gone["id"]).status_code == 204
    assert hits(org.client, q=org.word + " vanishing") == []


def test_record_scope_and_entity_permissions(org):
    sales = make_user(org, "sales")
    try:
        assert hits(sales.client, q=org.word) == []
        mine = assert_json(post_json(sales.client, "/v1/accounts", {
            "name": org.word + " mine"}), 201)
        assert [h["id"] for h in hits(sales.client, q=org.word)] == \
            [mine["id"]]
    finally:
        sales.close()
    body, key = make_key(org, ["contacts:read", "search:read"])
    try:
        assert hits(key, q=org.word) == []
    finally:
        key.close()


@pytest.mark.parametrize("params", [{}, {"q": "  "}, {"q": "a", "limit": 0},
                                    {"q": "a", "limit": 51},
                                    {"q": "a", "entity": "nope"},
                                    {"q": "a", "page": 2}])
def test_bad_queries(org, params):
    assert_problem(org.client.get(S, params=params), 400, "invalid_query")
