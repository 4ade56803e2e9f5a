"""Contacts, black-box (modules/crm/contacts.c, sql/013_contacts_leads.sql):
the engine's cycle, the one-of-names rule, the flags that default to false
and may not be null, the account reference (same tenant only), the
lower-cased e-mail kept for dedupe, and record scope."""

import pytest

from crmtest import assert_json, assert_problem
from identity import make_user, signup, uid, unique_company
from records import Entity, count, field_problem, q, rand_uuid, sql, \
    unknown_and_read_only

C = Entity("/v1/contacts")
A = Entity("/v1/accounts")

FIELDS = {"first_name", "last_name", "email", "phone", "mobile", "title",
          "department", "account_id", "address", "preferred_channel",
          "do_not_email", "do_not_call", "birthday", "lead_source",
          "linkedin_url", "description"}


@pytest.fixture(scope="module")
def org(mhttp):
    a = signup(mhttp, company=unique_company("Cont"))
    yield a
    a.close()


@pytest.fixture(scope="module")
def other(mhttp):
    a = signup(mhttp, company=unique_company("ContB"))
    yield a
    a.close()


def test_cycle(org):
    rec = C.lifecycle(org.client, {"first_name": "Ada", "last_name":
                                   "Lovelace " + uid(6)},
                      {"title": "Analyst", "do_not_call": True}, "contact")
    assert set(rec) >= FIELDS, set(rec)


def test_full_record_and_defaults(org):
    c = org.client
    acc = A.create(c, {"name": "Employer " + uid(6)})
    body = {"first_name": "Grace", "last_name": "Hopper",
            "email": "Grace.Hopper@Navy.example", "phone": "+1 555 0100",
            "mobile": "+1 555 0101", "title": "Rear Admiral",
            "department": "R&D", "account_id": acc["id"],
            "address": {"city": "Arlington", "country": "US"},
            "preferred_channel": "email", "birthday": "1906-12-09",
            "lead_source": "conference",
            "linkedin_url": "https://linkedin.example/in/grace",
            "description": "line one\nline two"}
    rec = C.create(c, body)
    for k, v in body.items():
        assert rec[k] == v, (k, rec[k], v)
    assert rec["do_not_email"] is False and rec["do_not_call"] is False
    # The dedupe column holds the lower-cased address.
    rows = sql("SELECT email_lc FROM crm.contacts WHERE id = %s;"
               % q(rec["id"]))
    assert rows == [["grace.hopper@navy.example"]]


@pytest.mark.parametrize("body", [{"first_name": "Only"},
                                  {"last_name": "Only"}])
def test_one_name_is_enough(org, body):
    rec = C.create(org.client, body)
    assert rec["first_name"] == body.get("first_name")


@pytest.mark.parametrize("body", [{}, {"email": "x@y.example"},
                                  {"first_name": "  ", "last_name": ""},
                                  {"first_name": None, "last_name": None}])
def test_a_name_is_required(org, body):
    tag = "noname-%s@x.example" % uid(8)
    r = C.post(org.client, dict(body, description=tag))
    field_problem(r, "first_name")
    assert count("crm.contacts", "description = %s" % q(tag)) == 0


def test_patch_cannot_remove_the_last_name(org):
    rec = C.create(org.client, {"last_name": "Solo"})
    field_problem(C.patch(org.client, rec["id"], {"last_name": None}),
                  "first_name")
    got, tag = C.get(org.client, rec["id"])
    assert got["last_name"] == "Solo" and tag == 1
    # With a first name set in the same patch it is fine.
    p = C.patch_ok(org.client, rec["id"], {"last_name": None,
                                           "first_name": "Han"})
    assert p["first_name"] == "Han" and p["last_name"] is None


@pytest.mark.parametrize("field", ["do_not_email", "do_not_call"])
def test_flags_cannot_be_null(org, field):
    rec = C.create(org.client, {"first_name": "Flag"})
    field_problem(C.patch(org.client, rec["id"], {field: None}), field)
    field_problem(C.post(org.client, {"first_name": "F", field: None}),
                  field)
    assert C.get(org.client, rec["id"])[0][field] is False


BAD = [
    ({"email": "not-an-email"}, "email"),
    ({"email": 5}, "email"),
    ({"phone": "call me"}, "phone"),
    ({"mobile": "x"}, "mobile"),
    ({"first_name": "n" * 101}, "first_name"),
    ({"title": "t" * 101}, "title"),
    ({"preferred_channel": "pigeon"}, "preferred_channel"),
    ({"do_not_email": "yes"}, "do_not_email"),
    ({"birthday": "1990-02-30"}, "birthday"),
    ({"birthday": "yesterday"}, "birthday"),
    ({"address": "Main St 1"}, "address"),
    ({"linkedin_url": "ftp://x.example"}, "linkedin_url"),
    ({"account_id": "not-a-uuid"}, "account_id"),
    ({"account_id": "RANDOM"}, "account_id"),
]


@pytest.mark.parametrize("over,field", BAD, ids=[f for _, f in BAD])
def test_validation_422(org, over, field):
    over = {k: (rand_uuid() if v == "RANDOM" else v) for k, v in over.items()}
    name = "Val " + uid(8)
    field_problem(C.post(org.client, dict(over, last_name=name)), field)
    assert count("crm.contacts", "last_name = %s" % q(name)) == 0
    rec = C.create(org.client, {"last_name": "Patch " + uid(6)})
    field_problem(C.patch(org.client, rec["id"], over), field)
    assert C.get(org.client, rec["id"])[1] == 1


def test_unknown_and_read_only_fields_400(org):
    unknown_and_read_only(C, org.client, {"first_name": "RO"},
                          ["id", "owner_id", "version", "deleted_at",
                           "email_lc", "search", "name", "bogus"])


def test_account_of_another_tenant_is_not_found(org, other):
    foreign = A.create(other.client, {"name": "Foreign " + uid(6)})
    p = field_problem(C.post(org.client, {"first_name": "X", "account_id":
                                          foreign["id"]}), "account_id")
    assert p["errors"][0]["code"] == "not_found", p
    mine = A.create(org.client, {"name": "Mine " + uid(6)})
    rec = C.create(org.client, {"first_name": "Y", "account_id": mine["id"]})
    assert rec["account_id"] == mine["id"]


def test_other_tenant_sees_nothing(org, other):
    rec = C.create(org.client, {"first_name": "Private"})
    for m in ("GET", "PATCH", "DELETE", "RESTORE", "TIMELINE"):
        C.missing(other.client, m, rec["id"], body={"title": "pwned"})
    got, tag = C.get(org.client, rec["id"])
    assert got["title"] is None and tag == 1


def test_sales_scope(org):
    s1, s2 = make_user(org, "sales"), make_user(org, "sales")
    try:
        mine = C.create(s1.client, {"first_name": "Mine"})
        theirs = C.create(s2.client, {"first_name": "Theirs"})
        assert mine["owner_id"] == s1.user_id
        C.get(s1.client, mine["id"])
        for m in ("GET", "PATCH", "TIMELINE"):
            C.missing(s1.client, m, theirs["id"], body={"title": "x"})
        # Sales may not delete contacts.
        assert_problem(C.delete(s1.client, mine["id"]), 403, "forbidden")
    finally:
        s1.close()
        s2.close()
