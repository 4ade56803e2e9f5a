"""POST /v1/{entity}/batch, black-box (API.md): up to 100 creates,
updates and deletes in one transaction; one failure undoes them all and
is named as operations[i]...; nothing is sent to the database while any
operation is malformed.
"""

import pytest

from crmtest import assert_json, assert_problem
from identity import (error_fields, make_user, post_json, psql, signup,
                      sql_quote, super_url, uid, unique_company)

ACC = "/v1/accounts"
BATCH = ACC + "/batch"


@pytest.fixture(scope="module")
def org(mhttp):
    a = signup(mhttp, company=unique_company("Batch"))
    yield a
    a.close()


def batch(org, ops):
    return post_json(org.client, BATCH, {"operations": ops})


def new(org, name=None):
    return assert_json(post_json(org.client, ACC,
                                 {"name": name or "Acc " + uid(6)}), 201)


def count(org):
    n, cursor = 0, None
    while True:
        params = {"limit": 200, "fields": "name"}
        if cursor:
            params["cursor"] = cursor
        b = assert_json(org.client.get(ACC, params=params), 200)
        n += len(b["data"])
        cursor = b["next_cursor"]
        if not cursor:
            return n


def test_mixed_operations_commit_together(org):
    a, b = new(org), new(org)
    r = batch(org, [
        {"op": "create", "data": {"name": "Batch new", "employees": 4}},
        {"op": "update", "id": a["id"], "data": {"industry": "Batching"}},
        {"op": "update", "id": b["id"], "data": {"name": "B renamed"},
         "version": 1},
        {"op": "delete", "id": a["id"]},
    ])
    res = assert_json(r, 200)["results"]
    assert [x["op"] for x in res] == ["create", "update", "update", "delete"]
    assert [x["status"] for x in res] == [201, 200, 200, 204]
    assert res[0]["record"]["name"] == "Batch new"
    assert res[0]["etag"] == '"1"' and res[0]["id"] == res[0]["record"]["id"]
    assert res[1]["record"]["industry"] == "Batching"
    assert res[2]["record"]["name"] == "B renamed" and res[2]["etag"] == '"2"'
    assert "record" not in res[3]
    got = assert_json(org.client.get(ACC + "/" + res[0]["id"]), 200)
    assert got["employees"] == 4
    assert_problem(org.client.get(ACC + "/" + a["id"]), 404, "not_found")
    # The deleted one is in the recycle bin, like a single DELETE.
    assert_json(org.client.post(ACC + "/" + a["id"] + "/restore"), 200)


def _unchanged(org, before_count, rec):
    assert count(org) == before_count
    got = assert_json(org.client.get(ACC + "/" + rec["id"]), 200)
    assert got["name"] == rec["name"] and got["industry"] == rec["industry"]


@pytest.mark.parametrize("bad,status,field", [
    ({"op": "update", "id": "01a20000-0000-7000-8000-000000000000",
      "data": {"name": "x"}}, 422, "operations[2].id"),
    ({"op": "delete", "id": "01a20000-0000-7000-8000-000000000000"}, 422,
     "operations[2].id"),
    ({"op": "create", "data": {"name": "p", "parent_id":
                               "01a20000-0000-7000-8000-000000000000"}},
     422, "operations[2].data.parent_id"),
])
def test_a_failing_operation_undoes_all(org, bad, status, field):
    rec = new(org)
    n = count(org)
    r = batch(org, [
        {"op": "create", "data": {"name": "would be " + uid(4)}},
        {"op": "update", "id": rec["id"], "data": {"industry": "changed"}},
        bad,
    ])
    p = assert_problem(r, status, "validation_failed")
    assert field in error_fields(p), p
    _unchanged(org, n, rec)


def test_version_mismatch_is_412_and_undoes_all(org):
    rec = new(org)
    n = count(org)
    r = batch(org, [
        {"op": "create", "data": {"name": "would be"}},
        {"op": "update", "id": rec["id"], "data": {"name": "x"},
         "version": 7},
    ])
    p = assert_problem(r, 412, "precondition_failed")
    assert "operations[1].version" in error_fields(p)
    _unchanged(org, n, rec)


def test_malformed_operations_are_all_named_and_nothing_runs(org):
    rec = new(org)
    n = count(org)
    r = batch(org, [
        {"op": "create", "data": {"name": ""}},
        {"op": "create", "data": {"name": "ok", "nosuch": 1}},
        {"op": "zap"},
        {"op": "update", "id": "nope", "data": {"name": "x"}},
        {"op": "update", "id": rec["id"], "data": {}},
        {"op": "delete", "id": rec["id"], "data": {"name": "x"}},
        {"op": "update", "id": rec["id"], "data": {"name": "x"},
         "version": "3"},
        {"op": "create", "data": {"name": "fine"}, "extra": 1},
        "not an object",
        {"op": "create", "data": {"name": "really fine"}},
    ])
    p = assert_problem(r, 422, "validation_failed")
    fields = error_fields(p)
    for want in ("operations[0].data.name", "operations[1].data.nosuch",
                 "operations[2].op", "operations[3].id",
                 "operations[4].data", "operations[5].data",
                 "operations[6].version", "operations[7].extra",
                 "operations[8]"):
        assert want in fields, (want, fields)
    assert not any(f.startswith("operations[9]") for f in fields)
    _unchanged(org, n, rec)


@pytest.mark.parametrize("body,field", [
    ({"operations": []}, "operations"),
    ({"operations": {}}, "operations"),
    ({}, "operations"),
    ({"operations": [{"op": "create", "data": {"name": "x"}}] * 101},
     "operations"),
    ({"operations": [{"op": "create", "data": {"name": "x"}}], "more": 1},
     "more"),
])
def test_batch_envelope(org, body, field):
    p = assert_problem(post_json(org.client, BATCH, body), 422,
                       "validation_failed")
    assert field in error_fields(p)


def test_hundred_creates(org):
    n = count(org)
    ops = [{"op": "create", "data": {"name": "Hundred %d" % i}}
           for i in range(100)]
    res = assert_json(batch(org, ops), 200)["results"]
    assert len(res) == 100 and len({x["id"] for x in res}) == 100
    assert count(org) == n + 100


def test_batch_writes_events_like_single_writes(org):
    rec = new(org)
    res = assert_json(batch(org, [
        {"op": "update", "id": rec["id"], "data": {"industry": "ev"}},
        {"op": "delete", "id": rec["id"]}]), 200)["results"]
    assert len(res) == 2
    out = psql(super_url(), "SELECT string_agg(type, ',' ORDER BY id) FROM "
               "crm.events WHERE tenant_id = %s AND entity_id = %s" % (
                   sql_quote(org.tenant_id), sql_quote(rec["id"])))
    assert out == [["account.created,account.updated,account.deleted"]]


def test_each_operation_needs_its_permission(org):
    sales = make_user(org, "sales")
    ro = make_user(org, "read_only")
    try:
        mine = new(sales)
        r = post_json(sales.client, BATCH, {"operations": [
            {"op": "create", "data": {"name": "s"}},
            {"op": "delete", "id": mine["id"]}]})
        assert_problem(r, 403, "forbidden")
        assert_json(sales.client.get(ACC + "/" + mine["id"]), 200)
        r = post_json(sales.client, BATCH, {"operations": [
            {"op": "create", "data": {"name": "s2"}},
            {"op": "update", "id": mine["id"], "data": {"name": "s3"}}]})
        assert_json(r, 200)
        # Out of a sales user's record scope: like a missing record.
        other = new(org)
        r = post_json(sales.client, BATCH, {"operations": [
            {"op": "update", "id": other["id"], "data": {"name": "x"}}]})
        p = assert_problem(r, 422, "validation_failed")
        assert error_fields(p) == ["operations[0].id"]
        r = post_json(ro.client, BATCH, {"operations": [
            {"op": "create", "data": {"name": "ro"}}]})
        assert_problem(r, 403, "forbidden")
    finally:
        sales.close()
        ro.close()


def test_batch_with_custom_fields(org):
    assert_json(post_json(org.client, "/v1/custom-fields", {
        "entity": "accounts", "name": "batch_tier", "label": "Tier",
        "type": "enum", "options": ["a", "b"]}), 201)
    res = assert_json(batch(org, [
        {"op": "create", "data": {"name": "c1",
                                  "custom": {"batch_tier": "a"}}}]),
        200)["results"]
    assert res[0]["record"]["custom"] == {"batch_tier": "a"}
    p = assert_problem(batch(org, [
        {"op": "create", "data": {"name": "c2",
                                  "custom": {"batch_tier": "z"}}}]),
        422, "validation_failed")
    assert error_fields(p) == ["operations[0].data.custom.batch_tier"]
