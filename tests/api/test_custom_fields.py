"""Custom fields, black-box (API.md "custom-fields"): definitions per
tenant and entity, values under `custom` checked by the engine's type
table, filterable and sortable in lists, and never stale across workers
(every write proves its definitions are current: sql/011).
"""

import pytest

from crmtest import assert_json, assert_problem
from identity import (error_fields, make_user, patch_json, post_json,
                      signup, uid, unique_company)

CF = "/v1/custom-fields"
ACC = "/v1/accounts"


@pytest.fixture(scope="module")
def org(mhttp):
    a = signup(mhttp, company=unique_company("Custom"))
    yield a
    a.close()


@pytest.fixture(scope="module")
def other(mhttp):
    a = signup(mhttp, company=unique_company("CustomB"))
    yield a
    a.close()


def define(org, name, type_, **extra):
    body = {"entity": "accounts", "name": name, "label": name.title(),
            "type": type_}
    body.update(extra)
    return assert_json(post_json(org.client, CF, body), 201)


def create(org, custom, name=None):
    return post_json(org.client, ACC, {"name": name or "Acc " + uid(6),
                                       "custom": custom})


# One field of each type: (type, extra, good value, stored, bad value)
TYPES = [
    ("text", {}, "hello", "hello", 5),
    ("long_text", {}, "line1\nline2", "line1\nline2", ["x"]),
    ("number", {}, 12.5, "12.5", "twelve"),
    ("money", {}, "1234.50", "1234.50", "1.234"),
    ("date", {}, "2026-02-28", "2026-02-28", "2026-02-30"),
    ("datetime", {}, "2026-11-23T10:15:00Z", "2026-11-23T10:15:00Z",
     "tomorrow"),
    ("boolean", {}, True, True, "yes"),
    ("enum", {"options": ["gold", "silver"]}, "gold", "gold", "bronze"),
    ("multi_enum", {"options": ["a", "b", "c"]}, ["a", "c"], ["a", "c"],
     ["a", "z"]),
    ("email", {}, "ada@example.com", "ada@example.com", "not-an-email"),
    ("phone", {}, "+1 555 0100", "+1 555 0100", "call me"),
    ("url", {}, "https://x.example/", "https://x.example/", "ftp://x"),
]


@pytest.fixture(scope="module")
def typed(org):
    for t, extra, *_ in TYPES:
        define(org, "f_" + t, t, **extra)
    return org


@pytest.mark.parametrize("t,extra,good,stored,bad", TYPES)
def test_every_type_accepts_and_refuses(typed, t, extra, good, stored, bad):
    rec = assert_json(create(typed, {"f_" + t: good}), 201)
    assert rec["custom"] == {"f_" + t: stored}
    got = assert_json(typed.client.get(ACC + "/" + rec["id"]), 200)
    assert got["custom"] == {"f_" + t: stored}
    p = assert_problem(create(typed, {"f_" + t: bad}), 422,
                       "validation_failed")
    assert error_fields(p) == ["custom.f_" + t]


def test_ref_field_checks_the_record_exists_in_the_tenant(org, other):
    define(org, "partner", "ref", ref_entity="accounts")
    target = assert_json(create(org, {}), 201)
    rec = assert_json(create(org, {"partner": target["id"]}), 201)
    assert rec["custom"]["partner"] == target["id"]
    foreign = assert_json(post_json(other.client, ACC, {"name": "B"}), 201)
    p = assert_problem(create(org, {"partner": foreign["id"]}), 422,
                       "validation_failed")
    assert error_fields(p) == ["custom.partner"]
    p = assert_problem(create(org, {"partner": "nope"}), 422,
                       "validation_failed")
    assert error_fields(p) == ["custom.partner"]


def test_unknown_custom_field_is_400(org):
    p = assert_problem(create(org, {"nosuch": 1}), 400, "bad_request")
    assert "custom.nosuch" in error_fields(p)
    p = assert_problem(post_json(org.client, ACC, {"name": "x",
                                                   "custom": [1]}),
                       422, "validation_failed")
    assert error_fields(p) == ["custom"]


def test_required_on_create_and_not_nullable_on_patch(mhttp):
    org = signup(mhttp, company=unique_company("CustomReq"))
    try:
        before = assert_json(create(org, {}), 201)
        define(org, "tier", "enum", options=["gold", "silver"],
               required=True)
        # Every worker must see the new definition at once.
        for _ in range(6):
            p = assert_problem(create(org, {}), 422, "validation_failed")
            assert error_fields(p) == ["custom.tier"]
        rec = assert_json(create(org, {"tier": "gold"}), 201)
        # Existing records stay valid; a patch not touching custom works.
        assert_json(patch_json(org.client, ACC + "/" + before["id"],
                               {"industry": "x"}), 200)
        p = assert_problem(patch_json(org.client, ACC + "/" + rec["id"],
                                      {"custom": {"tier": None}}),
                           422, "validation_failed")
        assert error_fields(p) == ["custom.tier"]
    finally:
        org.close()


def test_patch_merges_and_null_removes(org):
    define(org, "note_a", "text")
    define(org, "note_b", "text")
    rec = assert_json(create(org, {"note_a": "1", "note_b": "2"}), 201)
    r = patch_json(org.client, ACC + "/" + rec["id"],
                   {"custom": {"note_b": None, "note_a": "one"}})
    assert assert_json(r, 200)["custom"] == {"note_a": "one"}
    r = patch_json(org.client, ACC + "/" + rec["id"], {"name": "renamed"})
    assert assert_json(r, 200)["custom"] == {"note_a": "one"}


def test_new_definition_usable_at_once_on_every_worker(org):
    for i in range(4):
        name = "fresh_%d_%s" % (i, uid(4))
        define(org, name, "number")
        for _ in range(3):       # hits every worker with some luck
            rec = assert_json(create(org, {name: i}), 201)
            assert rec["custom"][name] == str(i)
            b = assert_json(org.client.get(ACC, params={
                "filter[custom.%s][eq]" % name: str(i)}), 200)
            assert rec["id"] in [x["id"] for x in b["data"]]


def test_list_filter_and_sort_on_custom(mhttp):
    org = signup(mhttp, company=unique_company("CustomList"))
    try:
        define(org, "score", "number")
        define(org, "tags", "multi_enum", options=["x", "y", "z"])
        define(org, "since", "date")
        for n, s, tags, d in (("a", 5, ["x"], "2026-01-01"),
                              ("b", 12.5, ["y", "z"], "2025-06-30"),
                              ("c", -3, ["x", "z"], None)):
            c = {"score": s, "tags": tags}
            if d:
                c["since"] = d
            assert_json(create(org, c, name=n), 201)

        def names(**params):
            b = assert_json(org.client.get(ACC, params=params), 200)
            return [x["name"] for x in b["data"]]

        assert names(**{"filter[custom.score][gt]": "0"}, sort="name") == \
            ["a", "b"]
        assert names(sort="-custom.score") == ["b", "a", "c"]
        assert names(sort="custom.score") == ["c", "a", "b"]
        assert set(names(**{"filter[custom.tags][contains]": "z"})) == \
            {"b", "c"}
        assert set(names(**{"filter[custom.tags][in]": "y,x"})) == \
            {"a", "b", "c"}
        assert names(**{"filter[custom.since][lt]": "2026-01-01"}) == ["b"]
        assert names(**{"filter[custom.since][is_null]": "true"}) == ["c"]
        p = assert_problem(org.client.get(ACC, params={
            "filter[custom.nope][eq]": "1"}), 400, "invalid_filter")
        assert "filter[custom.nope]" in error_fields(p)
        p = assert_problem(org.client.get(ACC, params={
            "filter[custom.score][eq]": "abc"}), 400, "invalid_filter")
        p = assert_problem(org.client.get(ACC, params={
            "sort": "custom.tags"}), 400, "invalid_filter")
        # Pages over a custom sort key.
        b = assert_json(org.client.get(ACC, params={
            "sort": "custom.score", "limit": 1}), 200)
        b2 = assert_json(org.client.get(ACC, params={
            "sort": "custom.score", "limit": 1,
            "cursor": b["next_cursor"]}), 200)
        assert [x["name"] for x in b["data"] + b2["data"]] == ["c", "a"]
    finally:
        org.close()


def test_definition_crud_and_validation(org):
    d = define(org, "crud_" + uid(4).lower(), "enum", options=["a"])
    assert d["entity"] == "accounts" and d["required"] is False
    got = assert_json(org.client.get(CF + "/" + d["id"]), 200)
    assert got == d
    r = patch_json(org.client, CF + "/" + d["id"],
                   {"label": "Renamed", "options": ["a", "b"]})
    assert assert_json(r, 200)["options"] == ["a", "b"]
    rec = assert_json(create(org, {d["name"]: "b"}), 201)
    r = patch_json(org.client, CF + "/" + d["id"], {"type": "text"})
    assert_problem(r, 400, "bad_request")
    listed = assert_json(org.client.get(CF, params={"entity": "accounts"}),
                         200)["data"]
    assert d["id"] in [x["id"] for x in listed]
    assert org.client.delete(CF + "/" + d["id"]).status_code == 204
    assert_problem(org.client.get(CF + "/" + d["id"]), 404, "not_found")
    got = assert_json(org.client.get(ACC + "/" + rec["id"]), 200)
    assert d["name"] not in got["custom"]
    assert_problem(create(org, {d["name"]: "a"}), 400, "bad_request")


@pytest.mark.parametrize("body,field,status", [
    ({"entity": "nope", "name": "x", "label": "X", "type": "text"},
     "entity", 422),
    ({"entity": "accounts", "name": "Bad Name", "label": "X",
      "type": "text"}, "name", 422),
    ({"entity": "accounts", "name": "x1", "label": "X", "type": "blob"},
     "type", 422),
    ({"entity": "accounts", "name": "x2", "label": "X", "type": "enum"},
     "options", 422),
    ({"entity": "accounts", "name": "x3", "label": "X", "type": "text",
      "options": ["a"]}, "options", 422),
    ({"entity": "accounts", "name": "x4", "label": "X", "type": "ref"},
     "ref_entity", 422),
    ({"entity": "accounts", "name": "x5", "label": "", "type": "text"},
     "label", 422),
    ({"entity": "accounts", "name": "x6", "label": "X", "type": "enum",
      "options": ["a,b"]}, "options", 422),
    ({"entity": "accounts", "name": "x7", "label": "X", "type": "text",
      "colour": "red"}, "colour", 400),
])
def test_bad_definitions(org, body, field, status):
    r = post_json(org.client, CF, body)
    p = assert_problem(r, status, "validation_failed" if status == 422
                       else "bad_request")
    assert field in error_fields(p)


def test_duplicate_name_is_409(org):
    define(org, "dup", "text")
    r = post_json(org.client, CF, {"entity": "accounts", "name": "dup",
                                   "label": "Again", "type": "number"})
    assert_problem(r, 409, "conflict")


def test_definitions_are_per_tenant(org, other):
    define(org, "mine_only", "text")
    listed = assert_json(other.client.get(CF), 200)["data"]
    assert "mine_only" not in [x["name"] for x in listed]
    r = post_json(other.client, ACC, {"name": "x",
                                      "custom": {"mine_only": "v"}})
    assert_problem(r, 400, "bad_request")
    d = assert_json(org.client.get(CF, params={"entity": "accounts"}),
                    200)["data"][0]
    assert_problem(other.client.get(CF + "/" + d["id"]), 404, "not_found")
    assert other.client.delete(CF + "/" + d["id"]).status_code == 404


def test_only_admins_define_fields(org):
    sales = make_user(org, "sales")
    try:
        r = post_json(sales.client, CF, {"entity": "accounts",
                                         "name": "s", "label": "S",
                                         "type": "text"})
        assert_problem(r, 403, "forbidden")
        assert_json(sales.client.get(CF), 200)
    finally:
        sales.close()
