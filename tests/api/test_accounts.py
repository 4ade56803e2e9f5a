"""Accounts, black-box: the first CRM entity through the generic entity
engine (API.md "CRM records"; SECURITY.md T1-T3).

    POST   /v1/accounts                 accounts:create  201 Location ETag
    GET    /v1/accounts/{id}            accounts:read    200 ETag
    PATCH  /v1/accounts/{id}            accounts:update  merge-patch, If-Match
    DELETE /v1/accounts/{id}            accounts:delete  204 (recycle bin)
    POST   /v1/accounts/{id}/restore    accounts:delete  200

Every write also leaves one crm.events row (account.created / .updated /
.deleted / .restored) committed with the change; those are read with
psql as the superuser (CRM_PG_SUPER_URL).

Tenants and users are module fixtures (sign-up and invitations hash
passwords); every test makes the records it changes.
"""

import json
import re
import uuid

import pytest

import crmtest
from crmtest import assert_json, assert_problem
from identity import (USER_AGENT, UUID_RE, assert_names_field,
                      error_fields, make_key, make_user, patch_json,
                      post_json, psql, signup, sql_quote, super_url, uid,
                      unique_company)

PATH = "/v1/accounts"
MS_TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ETAG_RE = re.compile(r'^"(\d+)"$')

SYSTEM_KEYS = {"id", "custom", "owner_id", "created_at", "updated_at",
               "created_by", "updated_by"}
FIELD_KEYS = {"name", "domain", "industry", "employees", "annual_revenue",
              "currency", "phone", "website", "billing_address",
              "shipping_address", "parent_id"}
# Never settable by a client: 400 bad_request naming the field.
READ_ONLY = ("id", "tenant_id", "owner_id", "created_at", "updated_at",
             "created_by", "updated_by", "version", "deleted_at")

FULL = {
    "name": "Acme GmbH",
    "domain": "acme.example",
    "industry": "Manufacturing",
    "employees": 250,
    "annual_revenue": "1234.5",
    "currency": "EUR",
    "phone": "+49 30 1234567",
    "website": "https://www.acme.example/",
    "billing_address": {"street": "Hauptstr. 1", "city": "Berlin",
                        "postal_code": "10115", "country": "DE"},
    "shipping_address": {"street": "Lagerweg 9", "city": "Potsdam",
                         "postal_code": "14467", "country": "DE"},
}


# ================================================================ fixtures

@pytest.fixture(scope="module")
def org(mhttp):
    """Tenant A and its owner."""
    a = signup(mhttp, company=unique_company("Acct"))
    yield a
    a.close()


@pytest.fixture(scope="module")
def other(mhttp):
    """Tenant B and its owner."""
    a = signup(mhttp, company=unique_company("AcctB"))
    yield a
    a.close()


def _user(org, role):
    a = make_user(org, role)
    return a


@pytest.fixture(scope="module")
def manager(org):
    a = _user(org, "manager")
    yield a
    a.close()


@pytest.fixture(scope="module")
def read_only(org):
    a = _user(org, "read_only")
    yield a
    a.close()


@pytest.fixture(scope="module")
def sales_pair(org):
    a1, a2 = _user(org, "sales"), _user(org, "sales")
    yield a1, a2
    a1.close()
    a2.close()


@pytest.fixture(scope="module")
def read_key(org):
    b, c = make_key(org, ["accounts:read"])
    yield c
    c.close()


# ================================================================ helpers

def create(client, body=None, **over):
    b = {"name": "Account " + uid(8)}
    if body is not None:
        b = dict(body)
    b.update(over)
    r = post_json(client, PATH, b)
    return assert_json(r, 201), r


def new_id(client, **over):
    return create(client, **over)[0]["id"]


def etag_of(r):
    tag = r.headers.get("ETag")
    assert tag is not None, "no ETag on %s %s: %r" % (
        r.request.method, r.request.path_url, dict(r.headers))
    m = ETAG_RE.match(tag)
    assert m, "ETag %r is not a strong quoted integer" % tag
    return int(m.group(1))


def get(client, id_):
    return client.get("%s/%s" % (PATH, id_))


def get_ok(client, id_):
    r = get(client, id_)
    return assert_json(r, 200), etag_of(r)


def patch(client, id_, body, if_match=None):
    h = {}
    if if_match is not None:
        h["If-Match"] = if_match
    return patch_json(client, "%s/%s" % (PATH, id_), body, headers=h)


def restore(client, id_):
    return post_json(client, "%s/%s/restore" % (PATH, id_), {})


def events(id_):
    rows = psql(super_url(), "SELECT type FROM crm.events WHERE entity_id = "
                "%s ORDER BY id;" % sql_quote(id_))
    return [r[0] for r in rows]


def event_rows(id_):
    rows = psql(super_url(), "SELECT type, entity, tenant_id FROM crm.events "
                "WHERE entity_id = %s ORDER BY id;" % sql_quote(id_))
    return [tuple(r) for r in rows]


def count_named(tenant_id, name):
    rows = psql(super_url(), "SELECT count(*) FROM crm.accounts WHERE "
                "tenant_id = %s AND name = %s;" % (sql_quote(tenant_id),
                                                    sql_quote(name)))
    return int(rows[0][0])


def strip(resp):
    """The body bytes without the request id (404 bodies must be
    byte-identical apart from it)."""
    body = resp.content
    rid = resp.headers.get("X-Request-Id")
    if rid:
        body = body.replace(rid.encode(), b"")
    return body


def rand_uuid():
    return str(uuid.uuid4())


def assert_not_found_like_random(client, method, id_, body=None):
    """id_ answers exactly like a never-existing id: 404 not_found, same
    body bytes apart from the request id."""
    def send(i):
        p = "%s/%s" % (PATH, i)
        if method == "GET":
            return client.get(p)
        if method == "DELETE":
            return client.delete(p)
        if method == "PATCH":
            return patch_json(client, p, body or {"industry": "x"})
        if method == "RESTORE":
            return post_json(client, p + "/restore", {})
        raise AssertionError(method)
    r = send(id_)
    base = send(rand_uuid())
    assert_problem(r, 404, "not_found")
    assert_problem(base, 404, "not_found")
    assert strip(r) == strip(base), "%s %s: %r vs never-existing %r" % (
        method, id_, strip(r), strip(base))
    return r


# ================================================================ the cycle

def test_full_cycle_with_etags_and_events(org):
    c = org.client
    body = dict(FULL, name="Cycle " + uid(8))
    r = post_json(c, PATH, body)
    rec = assert_json(r, 201)
    assert etag_of(r) == 1
    assert UUID_RE.match(rec["id"]), rec
    assert r.headers.get("Location") == "%s/%s" % (PATH, rec["id"]), \
        r.headers
    # Shape: every field and system key, nothing internal.
    assert set(rec) >= FIELD_KEYS | SYSTEM_KEYS, set(rec)
    for k in ("tenant_id", "version", "deleted_at"):
        assert k not in rec, "internal %r in the record: %r" % (k, rec)
    for k, v in body.items():
        if k != "annual_revenue":
            assert rec[k] == v, (k, rec[k], v)
    assert rec["annual_revenue"] == "1234.50", rec["annual_revenue"]
    assert rec["parent_id"] is None
    assert rec["custom"] == {}
    assert rec["owner_id"] == org.user_id
    assert rec["created_by"] == org.user_id
    assert rec["updated_by"] == org.user_id
    for k in ("created_at", "updated_at"):
        assert MS_TIME_RE.match(rec[k]), (k, rec[k])
    assert rec["created_at"] == rec["updated_at"]
    id_ = rec["id"]

    got, tag = get_ok(c, id_)
    assert tag == 1
    assert got == rec

    r = patch(c, id_, {"industry": "Retail", "phone": None,
                       "employees": 0, "annual_revenue": "99"})
    p = assert_json(r, 200)
    assert etag_of(r) == 2
    assert p["industry"] == "Retail" and p["phone"] is None, p
    assert p["employees"] == 0 and p["annual_revenue"] == "99.00", p
    assert p["name"] == body["name"] and p["domain"] == body["domain"], p
    assert p["created_at"] == rec["created_at"]
    assert MS_TIME_RE.match(p["updated_at"]) and \
        p["updated_at"] >= rec["updated_at"], p
    got, tag = get_ok(c, id_)
    assert tag == 2 and got == p

    r = c.delete("%s/%s" % (PATH, id_))
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert_not_found_like_random(c, "GET", id_)
    assert_not_found_like_random(c, "PATCH", id_)
    assert_not_found_like_random(c, "DELETE", id_)

    r = restore(c, id_)
    back = assert_json(r, 200)
    assert back["id"] == id_ and back["name"] == body["name"], back
    assert back["industry"] == "Retail", back
    got, tag = get_ok(c, id_)
    assert tag > 2
    assert got["id"] == id_
    if r.headers.get("ETag") is not None:
        assert etag_of(r) == tag
    # Restoring a record that is not deleted: 404.
    assert_not_found_like_random(c, "RESTORE", id_)

    rows = event_rows(id_)
    assert [t for t, _, _ in rows] == ["account.created", "account.updated",
                                       "account.deleted",
                                       "account.restored"], rows
    assert all(e == "accounts" and t == org.tenant_id
               for _, e, t in rows), rows


def test_location_points_at_the_record(org):
    rec, r = create(org.client)
    r2 = org.client.get(r.headers["Location"])
    assert assert_json(r2, 200) == rec


def test_minimal_create_defaults(org):
    rec, r = create(org.client, {"name": "Min " + uid(6)})
    for k in FIELD_KEYS - {"name"}:
        assert rec[k] is None, (k, rec)
    assert rec["custom"] == {}


@pytest.mark.parametrize("sent,want", [("1234.50", "1234.50"),
                                       ("1234.5", "1234.50"),
                                       ("1234", "1234.00"),
                                       ("0", "0.00"),
                                       ("0.07", "0.07")])
def test_money_is_a_two_decimal_string(org, sent, want):
    rec, _ = create(org.client, annual_revenue=sent, currency="USD")
    assert rec["annual_revenue"] == want, rec
    assert get_ok(org.client, rec["id"])[0]["annual_revenue"] == want


def test_boundaries_accepted(org):
    d253 = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    assert len(d253) == 253
    rec, _ = create(org.client, name="n" * 200, domain=d253,
                    industry="i" * 100, employees=0,
                    website="http://plain.example")
    assert rec["name"] == "n" * 200 and rec["domain"] == d253, rec


# ================================================================ not found

def test_get_404_variants_are_identical(org, other):
    c = org.client
    id_ = new_id(c)
    gone = new_id(c)
    assert c.delete("%s/%s" % (PATH, gone)).status_code == 204
    foreign = new_id(other.client)
    base = get(c, rand_uuid())
    assert_problem(base, 404, "not_found")
    for what in (gone, foreign, "not-a-uuid", "123", id_[:-1],
                 id_ + "0", uuid.UUID(id_).hex):
        r = get(c, what)
        assert_problem(r, 404, "not_found")
        assert strip(r) == strip(base), (what, strip(r), strip(base))


def test_other_tenant_gets_404_identical_to_random(org, other):
    """Tenant B's owner (scope all) on A's account: every route answers
    like a never-existing id, and A's record does not change."""
    c = org.client
    id_ = new_id(c, industry="Original")
    before, tag = get_ok(c, id_)
    for m in ("GET", "PATCH", "DELETE", "RESTORE"):
        assert_not_found_like_random(other.client, m, id_,
                                     body={"industry": "pwned"})
    r = patch(other.client, id_, {"industry": "pwned"}, if_match="*")
    assert_problem(r, 404, "not_found")
    after, tag2 = get_ok(c, id_)
    assert after == before and tag2 == tag
    assert events(id_) == ["account.created"]


def test_patch_missing_with_if_match_is_404(org):
    r = patch(org.client, rand_uuid(), {"industry": "x"}, if_match='"1"')
    assert_problem(r, 404, "not_found")


# ================================================================ If-Match

def test_if_match(org):
    c = org.client
    id_ = new_id(c)
    r = patch(c, id_, {"industry": "a"}, if_match='"1"')
    assert assert_json(r, 200)["industry"] == "a"
    assert etag_of(r) == 2
    # Stale ETag: 412, nothing changes, no event.
    r = patch(c, id_, {"industry": "stale"}, if_match='"1"')
    assert_problem(r, 412, "precondition_failed")
    got, tag = get_ok(c, id_)
    assert tag == 2 and got["industry"] == "a", got
    r = patch(c, id_, {"industry": "future"}, if_match='"3"')
    assert_problem(r, 412, "precondition_failed")
    # Weak form of the current version.
    r = patch(c, id_, {"industry": "b"}, if_match='W/"2"')
    assert assert_json(r, 200)["industry"] == "b"
    assert etag_of(r) == 3
    r = patch(c, id_, {"industry": "c"}, if_match='W/"2"')
    assert_problem(r, 412, "precondition_failed")
    # Any version.
    r = patch(c, id_, {"industry": "d"}, if_match="*")
    assert assert_json(r, 200)["industry"] == "d"
    assert etag_of(r) == 4
    # A list with the current version among others matches (RFC 9110).
    r = patch(c, id_, {"industry": "e"}, if_match='"1", "4"')
    assert r.status_code in (200, 412), r.text
    if r.status_code == 200:
        assert etag_of(r) == 5
    got, tag = get_ok(c, id_)
    assert events(id_) == ["account.created"] + \
        ["account.updated"] * (tag - 1)


# ================================================================ merge-patch

def test_merge_patch_null_clears_and_nested_objects(org):
    c = org.client
    id_ = new_id(c, body=dict(FULL, name="Merge " + uid(6)))
    r = patch(c, id_, {"domain": None, "billing_address": None,
                       "annual_revenue": None})
    p = assert_json(r, 200)
    assert p["domain"] is None and p["billing_address"] is None, p
    assert p["annual_revenue"] is None, p
    assert p["shipping_address"] == FULL["shipping_address"], p
    assert p["industry"] == FULL["industry"], p
    r = patch(c, id_, {"billing_address": {"city": "Hamburg"}})
    assert assert_json(r, 200)["billing_address"] == {"city": "Hamburg"}


@pytest.mark.parametrize("body", [{"name": None}, {"name": ""},
                                  {"name": "n" * 201}])
def test_patch_required_field_cannot_be_cleared(org, body):
    c = org.client
    id_ = new_id(c)
    before, tag = get_ok(c, id_)
    p = assert_problem(patch(c, id_, body), 422, "validation_failed")
    assert_names_field(p, "name")
    after, tag2 = get_ok(c, id_)
    assert after == before and tag2 == tag
    assert events(id_) == ["account.created"]


@pytest.mark.parametrize("raw", ["[]", "\"x\"", "42", "null"])
def test_patch_body_must_be_an_object(org, raw):
    id_ = new_id(org.client)
    r = org.client.patch("%s/%s" % (PATH, id_), data=raw.encode(),
                         headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 422), r.text
    assert_problem(r, r.status_code, r.json().get("code"))
    assert get_ok(org.client, id_)[1] == 1


def test_invalid_json_and_media_type(org):
    r = org.client.post(PATH, data=b"{\"name\": ",
                        headers={"Content-Type": "application/json"})
    assert_problem(r, 400, "invalid_json")
    r = org.client.post(PATH, data=b"name=x",
                        headers={"Content-Type": "text/plain"})
    assert r.status_code == 415, r.text


# ================================================================ 400

@pytest.mark.parametrize("field", READ_ONLY + ("bogus", "Name", "custom_x"))
def test_post_unknown_or_read_only_field_400(org, field):
    name = "RO " + uid(8)
    r = post_json(org.client, PATH, {"name": name, field: "x"})
    p = assert_problem(r, 400, "bad_request")
    assert field in error_fields(p), p
    assert count_named(org.tenant_id, name) == 0


def test_post_names_every_bad_field(org):
    name = "Many " + uid(8)
    r = post_json(org.client, PATH, {"name": name, "id": rand_uuid(),
                                     "tenant_id": rand_uuid(),
                                     "version": 7, "colour": "red"})
    p = assert_problem(r, 400, "bad_request")
    assert set(error_fields(p)) >= {"id", "tenant_id", "version",
                                    "colour"}, p
    assert count_named(org.tenant_id, name) == 0


@pytest.mark.parametrize("field", READ_ONLY + ("bogus",))
def test_patch_unknown_or_read_only_field_400(org, other, field):
    c = org.client
    id_ = new_id(c)
    before, tag = get_ok(c, id_)
    val = {"tenant_id": other.tenant_id, "owner_id": other.user_id,
           "id": rand_uuid(), "version": 99}.get(field, "x")
    r = patch(c, id_, {"industry": "changed", field: val})
    p = assert_problem(r, 400, "bad_request")
    assert field in error_fields(p), p
    after, tag2 = get_ok(c, id_)
    assert after == before and tag2 == tag
    assert events(id_) == ["account.created"]


# ================================================================ 422

_D254 = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 62])

BAD = [
    ("name-missing", {"name": None}, "name"),
    ("name-empty", {"name": ""}, "name"),
    ("name-blank", {"name": "   "}, "name"),
    ("name-201", {"name": "n" * 201}, "name"),
    ("name-number", {"name": 42}, "name"),
    ("domain-254", {"domain": _D254}, "domain"),
    ("domain-number", {"domain": 7}, "domain"),
    ("industry-101", {"industry": "i" * 101}, "industry"),
    ("employees-negative", {"employees": -1}, "employees"),
    ("employees-string", {"employees": "5"}, "employees"),
    ("employees-fraction", {"employees": 1.5}, "employees"),
    ("employees-bool", {"employees": True}, "employees"),
    ("revenue-number", {"annual_revenue": 1234.5}, "annual_revenue"),
    ("revenue-int", {"annual_revenue": 1234}, "annual_revenue"),
    ("revenue-text", {"annual_revenue": "lots"}, "annual_revenue"),
    ("revenue-exp", {"annual_revenue": "1e3"}, "annual_revenue"),
    # Money is exact: a third decimal is refused, never rounded away.
    ("revenue-3-decimals", {"annual_revenue": "1.235"}, "annual_revenue"),
    ("revenue-14-digits", {"annual_revenue": "12345678901234"},
     "annual_revenue"),
    ("currency-long", {"currency": "EURO"}, "currency"),
    ("currency-digits", {"currency": "978"}, "currency"),
    ("currency-number", {"currency": 978}, "currency"),
    ("currency-not-iso-4217", {"currency": "XYZ"}, "currency"),
    ("phone-number", {"phone": 4930123}, "phone"),
    ("website-ftp", {"website": "ftp://files.example"}, "website"),
    ("website-js", {"website": "javascript:alert(1)"}, "website"),
    ("website-text", {"website": "not a url"}, "website"),
    ("billing-string", {"billing_address": "Berlin"}, "billing_address"),
    ("billing-array", {"billing_address": ["Berlin"]}, "billing_address"),
    ("billing-member-number", {"billing_address": {"postal_code": 10115}},
     "billing_address"),
    ("shipping-nested", {"shipping_address": {"city": {"x": "y"}}},
     "shipping_address"),
    ("parent-not-uuid", {"parent_id": "not-a-uuid"}, "parent_id"),
    ("parent-random", {"parent_id": "RANDOM"}, "parent_id"),
    ("parent-number", {"parent_id": 5}, "parent_id"),
]


def _materialise(over):
    return {k: (rand_uuid() if v == "RANDOM" else v) for k, v in over.items()}


@pytest.mark.parametrize("over,field", [(o, f) for _, o, f in BAD],
                         ids=[i for i, _, _ in BAD])
def test_post_validation_422(org, over, field):
    name = "Val " + uid(8)
    body = {"name": name}
    body.update(_materialise(over))
    if body["name"] is None:
        del body["name"]
    r = post_json(org.client, PATH, body)
    p = assert_problem(r, 422, "validation_failed")
    assert_names_field(p, field)
    if body.get("name") == name:
        assert count_named(org.tenant_id, name) == 0


PATCH_BAD = [b for b in BAD if not b[0].startswith("name-missing")]


@pytest.mark.parametrize("over,field", [(o, f) for _, o, f in PATCH_BAD],
                         ids=[i for i, _, _ in PATCH_BAD])
def test_patch_validation_422(org, over, field):
    c = org.client
    id_ = new_id(c)
    before, tag = get_ok(c, id_)
    r = patch(c, id_, _materialise(over))
    p = assert_problem(r, 422, "validation_failed")
    assert_names_field(p, field)
    after, tag2 = get_ok(c, id_)
    assert after == before and tag2 == tag


def test_422_names_each_bad_field(org):
    r = post_json(org.client, PATH, {"name": "Multi " + uid(6),
                                     "employees": -3,
                                     "website": "gopher://x",
                                     "currency": "euros"})
    p = assert_problem(r, 422, "validation_failed")
    for f in ("employees", "website", "currency"):
        assert_names_field(p, f)


# ================================================================ parent_id

def test_parent_same_tenant_ok(org):
    c = org.client
    parent = new_id(c)
    rec, _ = create(c, parent_id=parent)
    assert rec["parent_id"] == parent
    child = rec["id"]
    other_parent = new_id(c)
    r = patch(c, child, {"parent_id": other_parent})
    assert assert_json(r, 200)["parent_id"] == other_parent
    r = patch(c, child, {"parent_id": None})
    assert assert_json(r, 200)["parent_id"] is None


def test_parent_of_other_tenant_is_422_and_nothing_created(org, other):
    foreign = new_id(other.client)
    name = "Foreign parent " + uid(8)
    r = post_json(org.client, PATH, {"name": name, "parent_id": foreign})
    p = assert_problem(r, 422, "validation_failed")
    assert_names_field(p, "parent_id")
    assert count_named(org.tenant_id, name) == 0
    # The same answer as a never-existing parent (no existence oracle).
    rnd = rand_uuid()
    r2 = post_json(org.client, PATH, {"name": name, "parent_id": rnd})
    p2 = assert_problem(r2, 422, "validation_failed")
    assert json.dumps(p["errors"]).replace(foreign, "<p>") == \
        json.dumps(p2["errors"]).replace(rnd, "<p>"), (p, p2)
    assert count_named(org.tenant_id, name) == 0
    # By PATCH too.
    id_ = new_id(org.client)
    r = patch(org.client, id_, {"parent_id": foreign})
    assert_names_field(assert_problem(r, 422, "validation_failed"),
                       "parent_id")
    assert get_ok(org.client, id_)[0]["parent_id"] is None
    assert events(id_) == ["account.created"]


def test_money_as_number_creates_nothing(org):
    name = "Float " + uid(8)
    r = post_json(org.client, PATH, {"name": name, "annual_revenue": 10.25,
                                     "currency": "EUR"})
    assert_names_field(assert_problem(r, 422, "validation_failed"),
                       "annual_revenue")
    assert count_named(org.tenant_id, name) == 0


# ================================================================ scope

def test_sales_team_scope(org, sales_pair, manager):
    a1, a2 = sales_pair
    own1, _ = create(a1.client)
    own2, _ = create(a2.client)
    assert own1["owner_id"] == a1.user_id and own2["owner_id"] == a2.user_id
    # Each sees their own.
    get_ok(a1.client, own1["id"])
    get_ok(a2.client, own2["id"])
    # Not each other's, nor the owner's: 404 like a never-existing id.
    by_owner = new_id(org.client)
    for m in ("GET", "PATCH"):
        assert_not_found_like_random(a1.client, m, own2["id"])
        assert_not_found_like_random(a1.client, m, by_owner)
    assert get_ok(a2.client, own2["id"])[1] == 1      # unchanged
    # Sales may not delete, not even their own.
    r = a1.client.delete("%s/%s" % (PATH, own1["id"]))
    assert_problem(r, 403, "forbidden")
    r = restore(a1.client, own1["id"])
    assert_problem(r, 403, "forbidden")
    # The manager (scope all) sees and changes both.
    for rec in (own1, own2):
        got, _ = get_ok(manager.client, rec["id"])
        assert got["id"] == rec["id"]
    r = patch(manager.client, own2["id"], {"industry": "by manager"})
    assert assert_json(r, 200)["updated_by"] == manager.user_id
    # One team for both: A1 now sees and changes A2's account.
    t = assert_json(post_json(org.client, "/v1/teams",
                              {"name": "Acct team " + uid(6)}), 201)
    for a in (a1, a2):
        r = post_json(org.client, "/v1/teams/%s/members" % t["id"],
                      {"user_id": a.user_id})
        assert r.status_code in (200, 201, 204), r.text
    got, tag = get_ok(a1.client, own2["id"])
    assert got["industry"] == "by manager"
    r = patch(a1.client, own2["id"], {"industry": "by teammate"},
              if_match='"%d"' % tag)
    p = assert_json(r, 200)
    assert p["updated_by"] == a1.user_id and p["owner_id"] == a2.user_id
    # Still not the owner's (the owner is in no team with them).
    assert_not_found_like_random(a1.client, "GET", by_owner)
    # Out of the team again: out of sight again.
    r = org.client.delete("/v1/teams/%s/members/%s" % (t["id"],
                                                        a2.user_id))
    assert r.status_code in (200, 204), r.text
    assert_not_found_like_random(a1.client, "GET", own2["id"])


def test_read_only_role(org, read_only):
    id_ = new_id(org.client)
    get_ok(read_only.client, id_)
    name = "RO user " + uid(8)
    r = post_json(read_only.client, PATH, {"name": name})
    assert_problem(r, 403, "forbidden")
    assert count_named(org.tenant_id, name) == 0
    assert_problem(patch(read_only.client, id_, {"industry": "x"}), 403,
                   "forbidden")
    assert_problem(read_only.client.delete("%s/%s" % (PATH, id_)), 403,
                   "forbidden")
    assert_problem(restore(read_only.client, id_), 403, "forbidden")
    assert get_ok(org.client, id_)[1] == 1


def test_read_key(org, read_key):
    id_ = new_id(org.client)
    got, tag = get_ok(read_key, id_)
    assert got["id"] == id_ and tag == 1
    name = "Key " + uid(8)
    r = post_json(read_key, PATH, {"name": name})
    assert_problem(r, 403, "forbidden")
    assert count_named(org.tenant_id, name) == 0
    assert_problem(patch(read_key, id_, {"industry": "x"}), 403,
                   "forbidden")
    assert_problem(read_key.delete("%s/%s" % (PATH, id_)), 403, "forbidden")


def test_anonymous_401(mhttp, org):
    id_ = new_id(org.client)
    for r in (mhttp.get("%s/%s" % (PATH, id_)),
              post_json(mhttp, PATH, {"name": "anon"}),
              patch_json(mhttp, "%s/%s" % (PATH, id_), {"name": "anon"}),
              mhttp.delete("%s/%s" % (PATH, id_)),
              post_json(mhttp, "%s/%s/restore" % (PATH, id_), {})):
        assert_problem(r, 401, "unauthenticated")
        assert r.headers.get("WWW-Authenticate", "").lower().startswith(
            "bearer")
    assert get_ok(org.client, id_)[1] == 1


# ================================================================ events

def test_failed_writes_leave_no_events(org):
    c = org.client
    id_ = new_id(c)
    assert_problem(patch(c, id_, {"industry": "x"}, if_match='"9"'), 412,
                   "precondition_failed")
    assert_problem(patch(c, id_, {"employees": -1}), 422,
                   "validation_failed")
    assert_problem(patch(c, id_, {"bogus": 1}), 400, "bad_request")
    assert_problem(restore(c, id_), 404, "not_found")
    assert events(id_) == ["account.created"]
    assert c.delete("%s/%s" % (PATH, id_)).status_code == 204
    assert_problem(c.delete("%s/%s" % (PATH, id_)), 404, "not_found")
    assert assert_json(restore(c, id_), 200)["id"] == id_
    assert_problem(restore(c, id_), 404, "not_found")
    assert events(id_) == ["account.created", "account.deleted",
                           "account.restored"]


def test_account_cannot_be_its_own_parent(org):
    id_ = new_id(org.client)
    before = get_ok(org.client, id_)
    r = patch(org.client, id_, {"parent_id": id_})
    assert_names_field(assert_problem(r, 422, "validation_failed"),
                       "parent_id")
    assert get_ok(org.client, id_) == before
