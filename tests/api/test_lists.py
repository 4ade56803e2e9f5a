"""Entity lists, black-box (API.md "List query parameters"), on accounts:
every filter operator, multi-key sort with the id tie-break, keyset
cursors (walked over thousands of rows while others insert), q full-text
search, sparse fieldsets, limits, and the 400s that name what was wrong.

The bulk rows of the cursor walk are inserted with psql as the superuser
(the API would take minutes for thousands of creates); everything else
goes through the API.
"""

import base64
import json
import threading
import uuid

import pytest

import crmtest
from crmtest import assert_json, assert_problem
from identity import (error_fields, make_user, post_json, psql, signup,
                      sql_quote, super_url, uid, unique_company)

PATH = "/v1/accounts"

ROWS = [
    # name, industry, employees, annual_revenue, domain, phone
    ("Acme Corp", "Manufacturing", 250, "1000.00", "acme.example",
     "+1 555 0100"),
    ("Acme Labs", "Research", 12, "250000.50", "labs.acme.example", None),
    ("Beta 100% Ltd", "Retail", None, None, None, "+44 20 7946 0000"),
    ("beta_under", "Retail", 40, "40.00", "beta.example", None),
    ("Gamma AG", None, 250, "999999.99", "gamma.example", None),
    ("Delta Oy", "Manufacturing", 0, "0.00", None, None),
    ("Epsilon", "Research", 7, None, "eps.example", None),
]


def _create(client, name, industry=None, employees=None, revenue=None,
            domain=None, phone=None):
    body = {"name": name}
    for k, v in (("industry", industry), ("employees", employees),
                 ("annual_revenue", revenue), ("domain", domain),
                 ("phone", phone)):
        if v is not None:
            body[k] = v
    return assert_json(post_json(client, PATH, body), 201)


@pytest.fixture(scope="module")
def org(mhttp):
    a = signup(mhttp, company=unique_company("Lists"))
    a.rows = [_create(a.client, *r) for r in ROWS]
    yield a
    a.close()


@pytest.fixture(scope="module")
def other(mhttp):
    a = signup(mhttp, company=unique_company("ListsB"))
    _create(a.client, "Acme Corp of tenant B", "Manufacturing", 250)
    yield a
    a.close()


def names(org, **params):
    r = org.client.get(PATH, params=params)
    b = assert_json(r, 200)
    assert set(b) == {"data", "next_cursor"}
    return [x["name"] for x in b["data"]]


def fq(field, op, value):
    return {"filter[%s][%s]" % (field, op): value}


# ======================================================== every operator

@pytest.mark.parametrize("field,op,value,want", [
    ("name", "eq", "Acme Corp", {"Acme Corp"}),
    ("industry", "ne", "Retail",
     {"Acme Corp", "Acme Labs", "Gamma AG", "Delta Oy", "Epsilon"}),
    ("employees", "lt", "12", {"Delta Oy", "Epsilon"}),
    ("employees", "lte", "12", {"Delta Oy", "Epsilon", "Acme Labs"}),
    ("employees", "gt", "40", {"Acme Corp", "Gamma AG"}),
    ("employees", "gte", "40", {"Acme Corp", "Gamma AG", "beta_under"}),
    ("annual_revenue", "gte", "1000", {"Acme Corp", "Acme Labs",
                                       "Gamma AG"}),
    ("annual_revenue", "lt", "40.01", {"beta_under", "Delta Oy"}),
    ("industry", "in", "Research,Retail",
     {"Acme Labs", "Beta 100% Ltd", "beta_under", "Epsilon"}),
    ("employees", "in", "0,7,250", {"Acme Corp", "Gamma AG", "Delta Oy",
                                    "Epsilon"}),
    ("name", "contains", "CME", {"Acme Corp", "Acme Labs"}),
    ("name", "contains", "100%", {"Beta 100% Ltd"}),
    ("name", "contains", "_", {"beta_under"}),
    ("name", "starts_with", "beta", {"Beta 100% Ltd", "beta_under"}),
    ("domain", "starts_with", "acme.", {"Acme Corp"}),
    ("industry", "is_null", "true", {"Gamma AG"}),
    ("employees", "is_null", "false",
     {"Acme Corp", "Acme Labs", "beta_under", "Gamma AG", "Delta Oy",
      "Epsilon"}),
])
def test_operator(org, field, op, value, want):
    assert set(names(org, limit=200, **fq(field, op, value))) == want


def test_filters_combine_with_and(org):
    got = names(org, **fq("industry", "eq", "Manufacturing"),
                **fq("employees", "gt", "100"))
    assert got == ["Acme Corp"]


def test_filter_on_system_fields(org):
    first = org.rows[0]
    assert names(org, **fq("id", "eq", first["id"])) == ["Acme Corp"]
    assert len(names(org, limit=200, **fq("owner_id", "eq",
                                          org.user_id))) == len(ROWS)
    ts = org.rows[3]["created_at"]
    later = names(org, limit=200, **fq("created_at", "gte", ts))
    assert set(later) >= {"beta_under", "Gamma AG", "Delta Oy", "Epsilon"}
    assert "Acme Corp" not in later


def test_values_travel_as_parameters(org):
    for evil in ("' OR '1'='1", "x'); DROP TABLE crm.accounts; --",
                 "\\' OR 1=1 --"):
        assert names(org, **fq("name", "eq", evil)) == []
        assert names(org, **fq("name", "contains", evil)) == []
    assert len(names(org, limit=200)) == len(ROWS)


# ================================================================= sort

def _key_asc(v):
    return (v is None, v)


def test_sort_multi_with_nulls_largest(org):
    r = org.client.get(PATH, params={"sort": "-employees,name",
                                     "limit": 200})
    data = assert_json(r, 200)["data"]
    got = [(x["employees"], x["name"]) for x in data]
    # Descending: NULL (the largest) first, then 250, 250 by name asc.
    assert got[0] == (None, "Beta 100% Ltd")
    assert got[1:3] == [(250, "Acme Corp"), (250, "Gamma AG")]
    assert [e for e, _ in got[3:]] == [40, 12, 7, 0]


def test_sort_ascending_text_and_money(org):
    data = assert_json(org.client.get(PATH, params={
        "sort": "annual_revenue", "limit": 200}), 200)["data"]
    rev = [x["annual_revenue"] for x in data]
    nonnull = [float(v) for v in rev if v is not None]
    assert nonnull == sorted(nonnull)
    assert rev[-2:] == [None, None]


def test_default_order_is_newest_first(org):
    got = names(org, limit=200)
    assert got == [r[0] for r in reversed(ROWS)]


# ========================================================= fields, limit

def test_sparse_fields(org):
    b = assert_json(org.client.get(PATH, params={
        "fields": "name,employees", "limit": 3}), 200)
    for rec in b["data"]:
        assert set(rec) == {"id", "name", "employees"}


def test_limit_and_next_cursor(org):
    b = assert_json(org.client.get(PATH, params={"limit": 3}), 200)
    assert len(b["data"]) == 3 and isinstance(b["next_cursor"], str)
    b = assert_json(org.client.get(PATH, params={"limit": 200}), 200)
    assert len(b["data"]) == len(ROWS) and b["next_cursor"] is None


# ===================================================================== q

def test_q_prefix_and_all_words(org):
    assert set(names(org, q="acm")) == {"Acme Corp", "Acme Labs"}
    assert names(org, q="acme lab") == ["Acme Labs"]
    assert names(org, q="gamma.example") == ["Gamma AG"]
    assert names(org, q="nothingmatches") == []


def test_q_and_filter_and_sort(org):
    assert names(org, q="acme", sort="name",
                 **fq("employees", "lt", "100")) == ["Acme Labs"]


def test_deleted_records_leave_lists_and_search(org):
    rec = _create(org.client, "Zeta Vanishing", "Retail", 3)
    assert names(org, q="vanishing") == ["Zeta Vanishing"]
    assert org.client.delete(PATH + "/" + rec["id"]).status_code == 204
    assert names(org, q="vanishing") == []
    assert "Zeta Vanishing" not in names(org, limit=200)
    r = org.client.post(PATH + "/" + rec["id"] + "/restore")
    assert_json(r, 200)
    assert names(org, q="vanishing") == ["Zeta Vanishing"]
    assert org.client.delete(PATH + "/" + rec["id"]).status_code == 204


# ============================================================ isolation

def test_other_tenant_sees_none(org, other):
    got = assert_json(other.client.get(PATH, params={"limit": 200}),
                      200)["data"]
    assert [x["name"] for x in got] == ["Acme Corp of tenant B"]
    ids = {r["id"] for r in org.rows}
    assert not ids & {x["id"] for x in got}
    assert names(other, q="acme") == ["Acme Corp of tenant B"]


def test_sales_user_lists_own_records_only(org):
    sales = make_user(org, "sales")
    try:
        mine = _create(sales.client, "Sales own " + uid(6))
        got = assert_json(sales.client.get(PATH, params={"limit": 200}),
                          200)["data"]
        assert [x["id"] for x in got] == [mine["id"]]
        assert names(sales, q="acme") == []
    finally:
        sales.close()


# ================================================================ errors

@pytest.mark.parametrize("params,code,field", [
    ({"filter[nope][eq]": "1"}, "invalid_filter", "filter[nope]"),
    ({"filter[name][like]": "a"}, "invalid_filter", "filter[name][like]"),
    ({"filter[currency][gt]": "EUR"}, "invalid_filter",
     "filter[currency][gt]"),
    ({"filter[website][eq]": "x"}, "invalid_filter", "filter[website]"),
    ({"filter[employees][eq]": "many"}, "invalid_filter",
     "filter[employees][eq]"),
    ({"filter[employees][eq]": "1.5"}, "invalid_filter",
     "filter[employees][eq]"),
    ({"filter[created_at][gt]": "yesterday"}, "invalid_filter",
     "filter[created_at][gt]"),
    ({"filter[parent_id][eq]": "not-a-uuid"}, "invalid_filter",
     "filter[parent_id][eq]"),
    ({"filter[name][is_null]": "maybe"}, "invalid_filter",
     "filter[name][is_null]"),
    ({"filter[name]": "x"}, "invalid_filter", "filter[name]"),
    ({"sort": "domain"}, "invalid_filter", "sort"),
    ({"sort": "name;drop"}, "invalid_filter", "sort"),
    ({"sort": "-nope"}, "invalid_filter", "sort"),
    ({"fields": "name,secret"}, "invalid_filter", "fields"),
    ({"fields": "tenant_id"}, "invalid_filter", "fields"),
    ({"limit": "0"}, "invalid_query", "limit"),
    ({"limit": "201"}, "invalid_query", "limit"),
    ({"limit": "ten"}, "invalid_query", "limit"),
    ({"q": "   "}, "invalid_query", "q"),
    ({"page": "2"}, "invalid_query", "page"),
    ({"cursor": "!!!"}, "invalid_cursor", "cursor"),
])
def test_bad_queries_name_the_parameter(org, params, code, field):
    r = org.client.get(PATH, params=params)
    p = assert_problem(r, 400, code)
    assert field in error_fields(p), p


def _b64(obj):
    raw = json.dumps(obj).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_forged_and_foreign_cursors(org):
    b = assert_json(org.client.get(PATH, params={"limit": 2,
                                                 "sort": "name"}), 200)
    cur = b["next_cursor"]
    # The same cursor under another sort order is refused.
    r = org.client.get(PATH, params={"cursor": cur, "sort": "-name"})
    assert_problem(r, 400, "invalid_cursor")
    for forged in (["name", "x"], ["name", "x", "not-a-uuid"],
                   ["name", 5, str(uuid.uuid4())], {"a": 1},
                   ["name", "x", str(uuid.uuid4()), "extra"]):
        r = org.client.get(PATH, params={"cursor": _b64(forged),
                                         "sort": "name"})
        assert_problem(r, 400, "invalid_cursor")
    # A well-formed cursor for a row that does not exist is just a place.
    r = org.client.get(PATH, params={"sort": "name", "cursor": _b64(
        ["name", "Beta", str(uuid.uuid4())])})
    got = [x["name"] for x in assert_json(r, 200)["data"]]
    assert got == sorted(got) and got[0] == "Beta 100% Ltd"


# ====================================================== the cursor walk

BULK = 3000


@pytest.fixture(scope="module")
def bulk(mhttp):
    """A tenant with BULK accounts, inserted in SQL; employees has many
    ties and NULLs, so keyset pages must rely on the id tie-break."""
    a = signup(mhttp, company=unique_company("Bulk"))
    psql(super_url(), (
        "INSERT INTO crm.accounts (tenant_id, id, name, employees, "
        "owner_id, created_by, updated_by) SELECT %s, gen_random_uuid(), "
        "'Bulk ' || g, CASE WHEN g %% 7 = 0 THEN NULL ELSE g %% 13 END, "
        "%s, %s, %s FROM generate_series(1, %d) g") % (
        sql_quote(a.tenant_id), sql_quote(a.user_id),
        sql_quote(a.user_id), sql_quote(a.user_id), BULK))
    yield a
    a.close()


def _walk(client, params):
    seen, cursor, pages = [], None, 0
    while True:
        p = dict(params)
        if cursor:
            p["cursor"] = cursor
        b = assert_json(client.get(PATH, params=p), 200)
        seen.extend(b["data"])
        pages += 1
        cursor = b["next_cursor"]
        if not cursor:
            return seen, pages
        assert pages < 1000


@pytest.mark.parametrize("sort", ["-employees,name", "employees",
                                  "-id", "name"])
def test_cursor_walk_no_duplicates_no_gaps(bulk, sort):
    before = {x["id"] for x in _walk(bulk.client, {"limit": 200,
                                                   "fields": "name"})[0]}
    assert len(before) >= BULK
    stop = threading.Event()
    added = []

    def writer():
        c = crmtest.Client(bulk.base_url)
        c.headers["Authorization"] = "Bearer " + bulk.access
        while not stop.is_set() and len(added) < 200:
            r = post_json(c, PATH, {"name": "Concurrent " + uid(6),
                                    "employees": len(added) % 13})
            if r.status_code == 201:
                added.append(r.json()["id"])
        c.close()

    t = threading.Thread(target=writer)
    t.start()
    try:
        seen, pages = _walk(bulk.client, {"limit": 97, "sort": sort,
                                          "fields": "name,employees"})
    finally:
        stop.set()
        t.join()
    ids = [x["id"] for x in seen]
    assert len(ids) == len(set(ids)), "a row was served twice"
    assert before <= set(ids), "a row that existed was skipped"
    assert set(ids) <= before | set(added)
    assert pages >= BULK // 97
    if sort == "employees":
        keys = [x["employees"] for x in seen]
        nonnull = [k for k in keys if k is not None]
        assert nonnull == sorted(nonnull)
        assert keys[len(nonnull):] == [None] * (len(keys) - len(nonnull))
