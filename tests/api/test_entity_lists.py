"""Entity lists per family, black-box (API.md "List query parameters"):
test_lists.py covers accounts in depth; this covers contacts, leads,
deals, activities and products with the field types each one has.

For each: every filter operator family on a field of each type the entity
has (enum `in`, money `gte`, date/time `lt`, ref `eq`, bool `eq`,
`is_null`, text), a sort walked page by page with cursors over a few
hundred rows (made with POST /v1/{entity}/batch, 100 per call), `q`
search and `fields`.  Expected answers are computed here from the rows
as created.  Then: the calendar "my day" query on activities (and its
plan: the (tenant_id, owner_id, starts_at) index), custom fields on
contacts, record scope on deals, and the tenant-wide pipelines and
products a sales user lists in full."""

import datetime
import os

import pytest

from crmtest import assert_json
from identity import make_user, post_json, psql, signup, sql_quote, uid, \
    unique_company

N = 240                 # rows per entity: three batch calls


@pytest.fixture(scope="module")
def org(mhttp):
    a = signup(mhttp, company=unique_company("EList"))
    yield a
    a.close()


def batch_create(client, path, bodies):
    ids = []
    for i in range(0, len(bodies), 100):
        r = post_json(client, path + "/batch", {"operations": [
            {"op": "create", "data": b} for b in bodies[i:i + 100]]})
        res = assert_json(r, 200)["results"]
        assert all(x["status"] == 201 for x in res)
        ids += [x["id"] for x in res]
    return ids


def page(client, path, **params):
    b = assert_json(client.get(path, params=params), 200)
    assert set(b) == {"data", "next_cursor"}
    return b


def walk(client, path, params):
    out, cursor, pages = [], None, 0
    while True:
        p = dict(params)
        if cursor:
            p["cursor"] = cursor
        b = page(client, path, **p)
        out += b["data"]
        pages += 1
        cursor = b["next_cursor"]
        if cursor is None:
            return out, pages
        assert pages < 100


def ids_of(client, path, **params):
    params.setdefault("limit", 200)
    rows, _ = walk(client, path, params)
    return {x["id"] for x in rows}


def fq(field, op, value):
    return {"filter[%s][%s]" % (field, op): value}


def check_sorted(rows, key, desc=False):
    """Sorted by key, NULL the largest (API.md), ties by id."""
    def k(x):
        v = key(x)
        return (v is None, v if v is not None else 0)
    keys = [k(x) for x in rows]
    assert keys == sorted(keys, reverse=desc), keys[:20]


def check_walk(client, path, sort, key, want_ids, limit=37, desc=False):
    rows, pages = walk(client, path, {"sort": sort, "limit": limit})
    ids = [x["id"] for x in rows]
    assert len(ids) == len(set(ids)), "a row was served twice"
    assert set(ids) == want_ids
    assert pages == -(-len(want_ids) // limit) + \
        (1 if len(want_ids) % limit == 0 else 0)
    check_sorted(rows, key, desc)


# ============================================================== contacts

CHANNELS = ["email", "phone", "sms", None]


@pytest.fixture(scope="module")
def contacts(org):
    c = org.client
    acc = [assert_json(post_json(c, "/v1/accounts", {"name": "CoL %d %s"
                                                     % (i, uid(4))}),
                       201)["id"] for i in range(2)]
    tag = uid(6).lower()
    rows = []
    for i in range(N):
        b = {"first_name": "First%d" % i, "last_name": "Lst%03d%s" % (i, tag),
             "do_not_email": i % 2 == 0}
        if i % 3:
            b["email"] = "c%d.%s@list.example" % (i, tag)
        if CHANNELS[i % 4]:
            b["preferred_channel"] = CHANNELS[i % 4]
        if i % 5:
            b["birthday"] = str(datetime.date(1970, 1, 1) +
                                datetime.timedelta(days=97 * i))
        if i % 4 < 2:
            b["account_id"] = acc[i % 4]
        if i % 10 == 0:
            b["title"] = "Engineer"
        rows.append(b)
    ids = batch_create(c, "/v1/contacts", rows)
    for r, i in zip(rows, ids):
        r["id"] = i
    return {"rows": rows, "acc": acc, "tag": tag}


def want(rows, pred):
    return {r["id"] for r in rows if pred(r)}


def test_contacts_filters(org, contacts):
    c, rows = org.client, contacts["rows"]
    P = "/v1/contacts"
    cases = [
        (fq("preferred_channel", "in", "email,sms"),
         lambda r: r.get("preferred_channel") in ("email", "sms")),
        (fq("preferred_channel", "is_null", "true"),
         lambda r: "preferred_channel" not in r),
        (fq("birthday", "lt", "1990-01-01"),
         lambda r: r.get("birthday") is not None and
         r["birthday"] < "1990-01-01"),
        (fq("birthday", "is_null", "true"), lambda r: "birthday" not in r),
        (fq("account_id", "eq", contacts["acc"][1]),
         lambda r: r.get("account_id") == contacts["acc"][1]),
        (fq("account_id", "is_null", "false"), lambda r: "account_id" in r),
        (fq("do_not_email", "eq", "true"), lambda r: r["do_not_email"]),
        (fq("do_not_email", "ne", "true"), lambda r: not r["do_not_email"]),
        (fq("title", "eq", "Engineer"), lambda r: "title" in r),
        (fq("last_name", "starts_with", "lst01"),
         lambda r: r["last_name"].startswith("Lst01")),
        (fq("email", "contains", "5." + contacts["tag"]),
         lambda r: "5." + contacts["tag"] in r.get("email", "")),
    ]
    for params, pred in cases:
        got = ids_of(c, P, **params)
        assert got & want(rows, lambda r: True) == want(rows, pred), params
    # Combined: AND.
    got = ids_of(c, P, **fq("do_not_email", "eq", "true"),
                 **fq("preferred_channel", "in", "email"))
    assert got == want(rows, lambda r: r["do_not_email"] and
                       r.get("preferred_channel") == "email")


def test_contacts_sort_walk(org, contacts):
    rows = contacts["rows"]
    mine = {r["id"] for r in rows}
    # Only this module's contacts exist in the tenant besides none.
    check_walk(org.client, "/v1/contacts", "-birthday,last_name",
               lambda x: x["birthday"], mine, desc=True)
    check_walk(org.client, "/v1/contacts", "last_name",
               lambda x: x["last_name"], mine, limit=50)


def test_contacts_q_and_fields(org, contacts):
    tag = contacts["tag"]
    b = page(org.client, "/v1/contacts", q="lst042" + tag)
    assert [x["last_name"] for x in b["data"]] == ["Lst042" + tag]
    b = page(org.client, "/v1/contacts", q="c7.%s@list.example" % tag)
    assert [x["first_name"] for x in b["data"]] == ["First7"]
    b = page(org.client, "/v1/contacts", fields="email,do_not_email",
             limit=5)
    for x in b["data"]:
        assert set(x) == {"id", "email", "do_not_email"}, x


def test_contacts_custom_fields(org, contacts):
    c = org.client
    name = "lscore_" + uid(5).lower()
    assert_json(post_json(c, "/v1/custom-fields", {
        "entity": "contacts", "name": name, "label": "Score",
        "type": "number"}), 201)
    tier = "ltier_" + uid(5).lower()
    assert_json(post_json(c, "/v1/custom-fields", {
        "entity": "contacts", "name": tier, "label": "Tier",
        "type": "enum", "options": ["gold", "silver"]}), 201)
    sub = contacts["rows"][:120]
    ops = [{"op": "update", "id": r["id"], "data": {"custom": {
        name: i % 17, tier: "gold" if i % 3 == 0 else "silver"}}}
        for i, r in enumerate(sub) if i % 6]
    for i in range(0, len(ops), 100):
        assert_json(post_json(c, "/v1/contacts/batch",
                              {"operations": ops[i:i + 100]}), 200)
    vals = {r["id"]: (i % 17, "gold" if i % 3 == 0 else "silver")
            for i, r in enumerate(sub) if i % 6}
    got = ids_of(c, "/v1/contacts", **fq("custom." + name, "gte", "10"))
    assert got == {k for k, v in vals.items() if v[0] >= 10}
    got = ids_of(c, "/v1/contacts", **fq("custom." + tier, "in", "gold"),
                 **fq("custom." + name, "lt", "5"))
    assert got == {k for k, v in vals.items() if v[1] == "gold" and
                   v[0] < 5}
    got = ids_of(c, "/v1/contacts", **fq("custom." + name, "is_null",
                                         "true"))
    assert got == {r["id"] for r in contacts["rows"]} - set(vals)
    rows, _ = walk(c, "/v1/contacts", {"sort": "-custom." + name,
                                       "limit": 29, **fq("custom." + name,
                                                          "is_null",
                                                          "false")})
    # Number custom fields read back as decimal strings.
    assert [float(x["custom"][name]) for x in rows] == sorted(
        (float(v[0]) for v in vals.values()), reverse=True)
    assert {x["id"] for x in rows} == set(vals)
    assert len(rows) == len(vals)


# ================================================================= leads

STATUSES = ["new", "working", "qualified", "unqualified"]


@pytest.fixture(scope="module")
def leads(org):
    tag = uid(6).lower()
    rows = []
    for i in range(N):
        b = {"company": "LeadCo %d %s" % (i, tag),
             "status": STATUSES[i % 4]}
        if i % 3:
            b["rating"] = ["hot", "warm", "cold"][i % 3]
        if i % 4:
            b["annual_revenue"] = "%d.%02d" % (i * 1000, i % 100)
        if i % 5:
            b["employees"] = i % 50
        b["source"] = "web" if i % 2 else "fair"
        rows.append(b)
    ids = batch_create(org.client, "/v1/leads", rows)
    for r, i in zip(rows, ids):
        r["id"] = i
    return {"rows": rows, "tag": tag}


def test_leads_filters(org, leads):
    c, rows = org.client, leads["rows"]
    cases = [
        (fq("status", "in", "new,qualified"),
         lambda r: r["status"] in ("new", "qualified")),
        (fq("rating", "eq", "hot"), lambda r: r.get("rating") == "hot"),
        (fq("rating", "is_null", "true"), lambda r: "rating" not in r),
        (fq("annual_revenue", "gte", "120000"),
         lambda r: "annual_revenue" in r and
         float(r["annual_revenue"]) >= 120000),
        (fq("annual_revenue", "lt", "5000.5"),
         lambda r: "annual_revenue" in r and
         float(r["annual_revenue"]) < 5000.5),
        (fq("employees", "gt", "45"), lambda r: r.get("employees", -1) > 45),
        (fq("source", "eq", "fair"), lambda r: r["source"] == "fair"),
        (fq("converted_at", "is_null", "true"), lambda r: True),
        (fq("converted_account_id", "is_null", "false"), lambda r: False),
        (fq("company", "contains", "co 1"),
         lambda r: r["company"].lower().find("co 1") >= 0),
    ]
    for params, pred in cases:
        assert ids_of(c, "/v1/leads", **params) == want(rows, pred), params


def test_leads_sort_walk_q_fields(org, leads):
    rows = leads["rows"]
    check_walk(org.client, "/v1/leads", "-annual_revenue",
               lambda x: float(x["annual_revenue"])
               if x["annual_revenue"] is not None else None,
               {r["id"] for r in rows}, desc=True)
    b = page(org.client, "/v1/leads", q="leadco 217 " + leads["tag"])
    assert [x["company"] for x in b["data"]] == ["LeadCo 217 " + leads["tag"]]
    b = page(org.client, "/v1/leads", fields="status,annual_revenue",
             limit=3)
    assert all(set(x) == {"id", "status", "annual_revenue"}
               for x in b["data"])


# ================================================================= deals

@pytest.fixture(scope="module")
def deals(org):
    c = org.client
    pipes = page(c, "/v1/pipelines")["data"]
    pipe = [p for p in pipes if p["is_default"]][0]
    stages = [s for s in pipe["stages"] if s["kind"] == "open"]
    acc = assert_json(post_json(c, "/v1/accounts", {
        "name": "DealAcc " + uid(4)}), 201)["id"]
    tag = uid(6).lower()
    rows = []
    for i in range(N):
        b = {"name": "Deal %d %s" % (i, tag),
             "stage_id": stages[i % len(stages)]["id"],
             "type": ["new_business", "renewal", "upsell"][i % 3]}
        if i % 4:
            b["amount"] = "%d.50" % (i * 250)
        if i % 3:
            b["expected_close_date"] = str(datetime.date(2026, 1, 1) +
                                           datetime.timedelta(days=i))
        if i % 2:
            b["account_id"] = acc
        rows.append(b)
    ids = batch_create(c, "/v1/deals", rows)
    for r, i in zip(rows, ids):
        r["id"] = i
    return {"rows": rows, "acc": acc, "stages": stages, "tag": tag}


def test_deals_filters(org, deals):
    c, rows = org.client, deals["rows"]
    s0 = deals["stages"][0]["id"]
    # A deal takes its stage's probability.
    prob = {s["id"]: s["probability"] for s in deals["stages"]}
    cases = [
        (fq("type", "in", "renewal,upsell"),
         lambda r: r["type"] in ("renewal", "upsell")),
        (fq("amount", "gte", "30000"),
         lambda r: "amount" in r and float(r["amount"]) >= 30000),
        (fq("amount", "is_null", "true"), lambda r: "amount" not in r),
        (fq("expected_close_date", "lt", "2026-03-01"),
         lambda r: r.get("expected_close_date", "9") < "2026-03-01"),
        (fq("stage_id", "eq", s0), lambda r: r["stage_id"] == s0),
        (fq("account_id", "eq", deals["acc"]), lambda r: "account_id" in r),
        (fq("closed_at", "is_null", "false"), lambda r: False),
        (fq("probability", "gte", "50"),
         lambda r: prob[r["stage_id"]] >= 50),
        (fq("probability", "lte", "25"),
         lambda r: prob[r["stage_id"]] <= 25),
        (fq("currency", "is_null", "true"), lambda r: True),
        (fq("name", "starts_with", "deal 1"),
         lambda r: r["name"].startswith("Deal 1")),
    ]
    for params, pred in cases:
        assert ids_of(c, "/v1/deals", **params) == want(rows, pred), params


def test_deals_sort_walk_q_fields(org, deals):
    rows = deals["rows"]
    check_walk(org.client, "/v1/deals", "expected_close_date",
               lambda x: x["expected_close_date"], {r["id"] for r in rows})
    check_walk(org.client, "/v1/deals", "-amount",
               lambda x: float(x["amount"]) if x["amount"] else None,
               {r["id"] for r in rows}, limit=61, desc=True)
    b = page(org.client, "/v1/deals", q="deal 42 " + deals["tag"])
    assert [x["name"] for x in b["data"]] == ["Deal 42 " + deals["tag"]]
    b = page(org.client, "/v1/deals", fields="amount,stage_id", limit=3)
    assert all(set(x) == {"id", "amount", "stage_id"} for x in b["data"])


def test_deals_record_scope(org):
    s1, s2, s3 = (make_user(org, "sales") for _ in range(3))
    try:
        team = assert_json(post_json(org.client, "/v1/teams", {
            "name": "Deal team " + uid(6)}), 201)
        for s in (s1, s2):
            r = post_json(org.client, "/v1/teams/%s/members" % team["id"],
                          {"user_id": s.user_id})
            assert r.status_code in (200, 201, 204), r.text
        own = batch_create(s1.client, "/v1/deals", [
            {"name": "S1 deal %d" % i} for i in range(3)])
        mate = batch_create(s2.client, "/v1/deals", [
            {"name": "S2 deal %d" % i} for i in range(2)])
        batch_create(s3.client, "/v1/deals", [{"name": "S3 deal"}])
        got = ids_of(s1.client, "/v1/deals")
        assert got == set(own + mate), got
        got = ids_of(s3.client, "/v1/deals")
        assert len(got) == 1
        # The owner (scope all) sees them all, with the module's deals.
        assert set(own + mate) <= ids_of(org.client, "/v1/deals")
        # Filters never widen the scope.
        assert ids_of(s3.client, "/v1/deals", **fq(
            "owner_id", "eq", s1.user_id)) == set()
    finally:
        for s in (s1, s2, s3):
            s.close()


# ============================================================ activities

DAY = datetime.date(2026, 12, 2)


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.fixture(scope="module")
def activities(org):
    tag = uid(6).lower()
    rows = []
    base = datetime.datetime(2026, 11, 28, 6, 0)
    for i in range(N):
        start = base + datetime.timedelta(hours=3 * i + (i % 3))
        b = {"type": ["meeting", "call", "task"][i % 3],
             "subject": "Act %d %s" % (i, tag),
             "all_day": i % 7 == 0,
             "status": "open" if i % 5 else "completed"}
        if b["type"] != "task":
            b["starts_at"] = iso(start)
            b["ends_at"] = iso(start + datetime.timedelta(minutes=30))
        else:
            b["due_at"] = iso(start)
        if i % 4 == 0:
            b["priority"] = "high"
        rows.append(b)
    ids = batch_create(org.client, "/v1/activities", rows)
    for r, i in zip(rows, ids):
        r["id"] = i
    return {"rows": rows, "tag": tag}


def test_activities_filters(org, activities):
    c, rows = org.client, activities["rows"]
    cases = [
        (fq("type", "in", "meeting,call"),
         lambda r: r["type"] in ("meeting", "call")),
        (fq("all_day", "eq", "true"), lambda r: r["all_day"]),
        (fq("status", "eq", "completed"),
         lambda r: r["status"] == "completed"),
        (fq("due_at", "lt", "2026-12-05T00:00:00Z"),
         lambda r: r.get("due_at", "9") < "2026-12-05T00:00:00"),
        (fq("starts_at", "is_null", "true"), lambda r: "starts_at" not in r),
        (fq("priority", "is_null", "false"), lambda r: "priority" in r),
        (fq("completed_at", "is_null", "false"),
         lambda r: r["status"] == "completed"),
        (fq("owner_id", "eq", org.user_id), lambda r: True),
    ]
    for params, pred in cases:
        assert ids_of(c, "/v1/activities", **params) == want(rows, pred), \
            params


def test_activities_sort_walk_q_fields(org, activities):
    rows = activities["rows"]
    check_walk(org.client, "/v1/activities", "starts_at",
               lambda x: x["starts_at"], {r["id"] for r in rows})
    check_walk(org.client, "/v1/activities", "-due_at,subject",
               lambda x: x["due_at"], {r["id"] for r in rows}, desc=True)
    b = page(org.client, "/v1/activities",
             q="act 33 " + activities["tag"])
    assert [x["subject"] for x in b["data"]] == [
        "Act 33 " + activities["tag"]]
    b = page(org.client, "/v1/activities", fields="type,starts_at",
             limit=3)
    assert all(set(x) == {"id", "type", "starts_at"} for x in b["data"])


def test_my_day(org, activities):
    """The calendar: one user's meetings of one day, in order; another
    user's meetings that day and this user's of other days stay out."""
    c = org.client
    start = datetime.datetime.combine(DAY, datetime.time())
    end = start + datetime.timedelta(days=1)
    mate = make_user(org, "sales")
    try:
        theirs = batch_create(mate.client, "/v1/activities", [
            {"type": "meeting", "subject": "Mate %d" % i,
             "starts_at": iso(start + datetime.timedelta(hours=9 + i))}
            for i in range(3)])
        params = {"filter[owner_id][eq]": org.user_id,
                  "filter[starts_at][gte]": iso(start),
                  "filter[starts_at][lt]": iso(end),
                  "sort": "starts_at", "limit": 200}
        got = page(c, "/v1/activities", **params)["data"]
        exp = sorted((r for r in activities["rows"] if "starts_at" in r and
                      iso(start) <= r["starts_at"] < iso(end)),
                     key=lambda r: r["starts_at"])
        assert exp, "the fixture has meetings that day"
        assert [x["id"] for x in got] == [r["id"] for r in exp]
        assert not set(theirs) & {x["id"] for x in got}
        # The owner lists the mate's day by its owner_id.
        got = page(c, "/v1/activities", **dict(
            params, **{"filter[owner_id][eq]": mate.user_id}))["data"]
        assert [x["id"] for x in got] == theirs
    finally:
        mate.close()


def test_my_day_uses_the_owner_starts_index(org, activities):
    """EXPLAIN as the schema owner with app.tenant_id set (RLS binds the
    owner too): the (tenant_id, owner_id, starts_at) index serves the
    query the engine writes for "my day"."""
    t, u = sql_quote(org.tenant_id), sql_quote(org.user_id)
    start = datetime.datetime.combine(DAY, datetime.time())
    q = ("SET app.tenant_id = %s;\n"
         "ANALYZE crm.activities;\n"
         "EXPLAIN SELECT id FROM crm.activities WHERE tenant_id = %s "
         "AND deleted_at IS NULL AND crm.in_scope(%s, owner_id, %s, 'all') "
         "AND owner_id = %s AND starts_at >= %s::timestamptz "
         "AND starts_at < %s::timestamptz ORDER BY starts_at ASC, id ASC "
         "LIMIT 201;") % (t, t, t, u, u, sql_quote(iso(start)),
                          sql_quote(iso(start + datetime.timedelta(1))))
    url = os.environ.get("CRM_OWNER_DATABASE_URL")
    if not url:
        pytest.skip("no CRM_OWNER_DATABASE_URL")
    plan = "\n".join(r[0] for r in psql(url, q))
    assert "owner_id_starts_at_idx" in plan, plan
    assert "Seq Scan" not in plan, plan


# ============================================= products, pipelines: shared

@pytest.fixture(scope="module")
def products(org):
    tag = uid(6).lower()
    rows = []
    for i in range(N):
        b = {"name": "Prod %d %s" % (i, tag), "sku": "SKU-%s-%03d" % (tag, i),
             "active": i % 3 != 0, "category": ["hw", "sw", "svc"][i % 3]}
        if i % 4:
            b["unit_price"] = "%d.99" % (i * 3)
        if i % 2:
            b["tax_rate"] = str([7, 19, 20.5][i % 3])
            b["currency"] = "EUR"
        rows.append(b)
    ids = batch_create(org.client, "/v1/products", rows)
    for r, i in zip(rows, ids):
        r["id"] = i
    return {"rows": rows, "tag": tag}


def test_products_filters(org, products):
    c, rows = org.client, products["rows"]
    cases = [
        (fq("unit_price", "gte", "300"),
         lambda r: "unit_price" in r and float(r["unit_price"]) >= 300),
        (fq("active", "eq", "false"), lambda r: not r["active"]),
        (fq("tax_rate", "gt", "19"),
         lambda r: float(r.get("tax_rate", 0)) > 19),
        (fq("currency", "in", "EUR,USD"), lambda r: "currency" in r),
        (fq("currency", "is_null", "true"), lambda r: "currency" not in r),
        (fq("category", "eq", "svc"), lambda r: r["category"] == "svc"),
        (fq("sku", "starts_with", "sku-%s-01" % products["tag"]),
         lambda r: r["sku"].lower().startswith("sku-%s-01"
                                               % products["tag"])),
    ]
    for params, pred in cases:
        assert ids_of(c, "/v1/products", **params) == want(rows, pred), \
            params


def test_products_sort_walk_q_fields(org, products):
    rows = products["rows"]
    check_walk(org.client, "/v1/products", "-unit_price,name",
               lambda x: float(x["unit_price"]) if x["unit_price"] else None,
               {r["id"] for r in rows}, desc=True)
    b = page(org.client, "/v1/products", q="prod 101 " + products["tag"])
    assert [x["name"] for x in b["data"]] == ["Prod 101 " + products["tag"]]
    b = page(org.client, "/v1/products", fields="sku,active", limit=3)
    assert all(set(x) == {"id", "sku", "active"} for x in b["data"])


def test_sales_lists_every_product_and_pipeline(org, products):
    sales = make_user(org, "sales")
    try:
        mine = ids_of(org.client, "/v1/products")
        assert ids_of(sales.client, "/v1/products") == mine
        assert {r["id"] for r in products["rows"]} <= mine
        extra = assert_json(post_json(org.client, "/v1/pipelines", {
            "name": "Partner " + uid(6), "stages": [
                {"name": "Open", "probability": 10}]}), 201)
        pipes = ids_of(sales.client, "/v1/pipelines")
        assert pipes == ids_of(org.client, "/v1/pipelines")
        assert extra["id"] in pipes and len(pipes) >= 2
        # ... and the filters still apply.
        got = ids_of(sales.client, "/v1/products",
                     **fq("active", "eq", "false"))
        assert got == want(products["rows"], lambda r: not r["active"])
    finally:
        sales.close()
