"""Leads and their conversion, black-box (modules/crm/leads.c,
sql/013_contacts_leads.sql, sql/017_lead_convert.sql).

    POST /v1/leads/{id}/convert {account_id?, create_deal?, deal?}
        -> 200 {account, contact, deal?}     leads:update (+ create rights)
"""

import pytest

from crmtest import assert_json, assert_problem
from identity import make_key, make_user, post_json, signup, uid, \
    unique_company
from records import (Entity, count, event_payloads, events, field_problem,
                     q, rand_uuid, sql, unknown_and_read_only)

L = Entity("/v1/leads")
A = Entity("/v1/accounts")
C = Entity("/v1/contacts")
D = Entity("/v1/deals")
P = Entity("/v1/pipelines")


@pytest.fixture(scope="module")
def org(mhttp):
    a = signup(mhttp, company=unique_company("Lead"))
    yield a
    a.close()


@pytest.fixture(scope="module")
def other(mhttp):
    a = signup(mhttp, company=unique_company("LeadB"))
    yield a
    a.close()


def convert(client, id_, body=None):
    return post_json(client, L.url(id_, "/convert"), body or {})


def new_lead(client, **over):
    body = {"first_name": "Lin", "last_name": "Park " + uid(6),
            "company": "Park Co " + uid(8), "email": "lin@park.example",
            "phone": "+44 20 7946 0000", "title": "CTO", "source": "web",
            "industry": "Software", "annual_revenue": "1000000.00",
            "currency": "GBP", "employees": 40,
            "address": {"city": "London"}}
    body.update(over)
    return L.create(client, body)


def lead_state(id_):
    return sql("SELECT status, converted_at IS NULL, version FROM crm.leads "
               "WHERE id = %s;" % q(id_))[0]


# ---------------------------------------------------------------- the cycle

def test_cycle(org):
    rec = L.lifecycle(org.client, {"company": "Cycle " + uid(6)},
                      {"status": "working", "rating": "hot"}, "lead")
    assert rec["status"] == "working" and rec["converted_at"] is None


def test_defaults(org):
    rec = L.create(org.client, {"last_name": "Default"})
    assert rec["status"] == "new"
    for k in ("converted_at", "converted_account_id",
              "converted_contact_id", "converted_deal_id"):
        assert rec[k] is None, (k, rec)


@pytest.mark.parametrize("body", [{"first_name": "A"}, {"last_name": "B"},
                                  {"company": "C"}])
def test_any_one_of_the_names_is_enough(org, body):
    assert L.create(org.client, body)["status"] == "new"


@pytest.mark.parametrize("body", [{}, {"email": "x@y.example"},
                                  {"company": " ", "first_name": ""}])
def test_one_of_names_required(org, body):
    tag = "none " + uid(8)
    field_problem(L.post(org.client, dict(body, description=tag)),
                  "first_name")
    assert count("crm.leads", "description = %s" % q(tag)) == 0


BAD = [({"status": "won"}, "status"), ({"status": "converted"}, "status"),
       ({"rating": "lukewarm"}, "rating"), ({"email": "nope"}, "email"),
       ({"annual_revenue": "-1.00"}, "annual_revenue"),
       ({"annual_revenue": 12.5}, "annual_revenue"),
       ({"employees": -1}, "employees"), ({"currency": "eur"}, "currency"),
       ({"website": "javascript:alert(1)"}, "website"),
       ({"company": "c" * 201}, "company")]


@pytest.mark.parametrize("over,field", BAD, ids=[f + str(i) for i, (_, f)
                                                 in enumerate(BAD)])
def test_validation_422(org, over, field):
    field_problem(L.post(org.client, dict(over, last_name="V")), field)
    rec = L.create(org.client, {"last_name": "V"})
    field_problem(L.patch(org.client, rec["id"], over), field)


def test_read_only_fields_400(org):
    unknown_and_read_only(L, org.client, {"company": "RO"},
                          ["converted_at", "converted_account_id",
                           "converted_contact_id", "converted_deal_id",
                           "owner_id", "nonsense"])


# ---------------------------------------------------------------- convert

def test_convert_creates_account_contact_and_links(org):
    c = org.client
    lead = new_lead(c)
    r = convert(c, lead["id"])
    out = assert_json(r, 200)
    assert set(out) == {"account", "contact"}, out
    acc, con = out["account"], out["contact"]
    # Same shape as GET.
    assert A.get(c, acc["id"])[0] == acc
    assert C.get(c, con["id"])[0] == con
    assert acc["name"] == lead["company"]
    assert acc["industry"] == "Software" and acc["currency"] == "GBP"
    assert acc["annual_revenue"] == "1000000.00" and acc["employees"] == 40
    assert acc["billing_address"] == {"city": "London"}
    assert con["first_name"] == "Lin" and con["last_name"] == lead[
        "last_name"]
    assert con["email"] == "lin@park.example" and con["title"] == "CTO"
    assert con["account_id"] == acc["id"] and con["lead_source"] == "web"
    for rec in (acc, con):
        assert rec["owner_id"] == lead["owner_id"]
        assert rec["created_by"] == org.user_id
    got, tag = L.get(c, lead["id"])
    assert got["status"] == "converted" and got["converted_at"]
    assert got["converted_account_id"] == acc["id"]
    assert got["converted_contact_id"] == con["id"]
    assert got["converted_deal_id"] is None and tag == 2
    assert events(acc["id"]) == ["account.created"]
    assert events(con["id"]) == ["contact.created"]
    assert events(lead["id"]) == ["lead.created", "lead.converted"]
    ev = event_payloads(lead["id"], "lead.converted")[0]
    assert ev["account_id"] == acc["id"] and ev["contact_id"] == con["id"]
    assert ev["deal_id"] is None and ev["account_created"] is True
    # The event of the created account carries the record as GET shows it.
    assert event_payloads(acc["id"], "account.created") == [acc]


def test_convert_with_deal_into_a_given_account(org):
    c = org.client
    acc = A.create(c, {"name": "Existing " + uid(6)})
    lead = new_lead(c)
    pipe = P.create(c, {"name": "Conv " + uid(6), "stages": [
        {"name": "One", "probability": 20},
        {"name": "Two", "probability": 60}]})
    two = pipe["stages"][1]["id"]
    out = assert_json(convert(c, lead["id"], {
        "account_id": acc["id"], "create_deal": True,
        "deal": {"name": "Big one", "amount": "5000.00", "currency": "EUR",
                 "pipeline_id": pipe["id"], "stage_id": two,
                 "expected_close_date": "2027-03-31"}}), 200)
    assert out["account"] == A.get(c, acc["id"])[0]
    deal = out["deal"]
    assert D.get(c, deal["id"])[0] == deal
    assert deal["name"] == "Big one" and deal["amount"] == "5000.00"
    assert deal["pipeline_id"] == pipe["id"] and deal["stage_id"] == two
    assert deal["probability"] == 60 and deal["account_id"] == acc["id"]
    assert deal["contacts"] == [{"contact_id": out["contact"]["id"],
                                 "role": None}]
    assert deal["expected_close_date"] == "2027-03-31"
    assert out["contact"]["account_id"] == acc["id"]
    # No account was created, so no account.created event.
    assert events(acc["id"]) == ["account.created"]
    assert events(deal["id"]) == ["deal.created"]
    assert L.get(c, lead["id"])[0]["converted_deal_id"] == deal["id"]
    ev = event_payloads(lead["id"], "lead.converted")[0]
    assert ev["account_created"] is False and ev["deal_id"] == deal["id"]


def test_convert_deal_defaults(org):
    c = org.client
    lead = new_lead(c)
    out = assert_json(convert(c, lead["id"], {"create_deal": True}), 200)
    deal = out["deal"]
    assert deal["name"] == lead["company"] + " deal"
    default = sql("SELECT id FROM crm.pipelines WHERE tenant_id = %s AND "
                  "is_default;" % q(org.tenant_id))[0][0]
    assert deal["pipeline_id"] == default
    assert deal["probability"] == 10      # Qualification
    # A deal object alone means a deal too.
    lead2 = new_lead(c)
    out2 = assert_json(convert(c, lead2["id"], {"deal": {"amount": "1.00"}}),
                       200)
    assert out2["deal"]["amount"] == "1.00"


def test_convert_twice_is_409_and_changes_nothing(org):
    c = org.client
    lead = new_lead(c)
    assert_json(convert(c, lead["id"]), 200)
    before = count("crm.accounts", "tenant_id = %s" % q(org.tenant_id))
    assert_problem(convert(c, lead["id"]), 409, "conflict")
    assert_problem(convert(c, lead["id"], {"create_deal": True}), 409,
                   "conflict")
    assert count("crm.accounts", "tenant_id = %s" % q(org.tenant_id)) == \
        before
    assert events(lead["id"]).count("lead.converted") == 1


def test_converted_status_cannot_be_patched(org):
    c = org.client
    lead = new_lead(c)
    assert_json(convert(c, lead["id"]), 200)
    field_problem(L.patch(c, lead["id"], {"status": "working"}), "status")
    assert L.get(c, lead["id"])[0]["status"] == "converted"


@pytest.mark.parametrize("deal,field", [
    ({"stage_id": "RANDOM"}, "deal.stage_id"),
    ({"pipeline_id": "RANDOM"}, "deal.pipeline_id"),
    ({"amount": "-5.00"}, "deal.amount"),
    ({"amount": 5}, "deal.amount"),
    ({"currency": "euro"}, "deal.currency"),
    ({"expected_close_date": "2027-13-01"}, "deal.expected_close_date"),
], ids=["stage", "pipeline", "negative", "number", "currency", "date"])
def test_invalid_deal_rolls_everything_back(org, deal, field):
    c = org.client
    lead = new_lead(c)
    deal = {k: (rand_uuid() if v == "RANDOM" else v) for k, v in
            deal.items()}
    before = lead_state(lead["id"])
    field_problem(convert(c, lead["id"], {"deal": deal}), field)
    assert lead_state(lead["id"]) == before
    assert count("crm.accounts", "name = %s" % q(lead["company"])) == 0
    assert count("crm.contacts", "last_name = %s" % q(lead["last_name"])) \
        == 0
    assert events(lead["id"]) == ["lead.created"]
    # And it converts fine afterwards.
    assert_json(convert(c, lead["id"]), 200)


def test_stage_of_another_pipeline_rolls_back(org):
    c = org.client
    lead = new_lead(c)
    other = P.create(c, {"name": "Other " + uid(6), "stages": [
        {"name": "Elsewhere", "probability": 5}]})
    default = sql("SELECT id FROM crm.pipelines WHERE tenant_id = %s AND "
                  "is_default;" % q(org.tenant_id))[0][0]
    field_problem(convert(c, lead["id"], {"deal": {
        "pipeline_id": default, "stage_id": other["stages"][0]["id"]}}),
        "deal.stage_id")
    assert count("crm.accounts", "name = %s" % q(lead["company"])) == 0
    assert lead_state(lead["id"])[0] == "new"


def test_unknown_account_is_422_naming_account_id(org, other):
    c = org.client
    lead = new_lead(c)
    foreign = A.create(other.client, {"name": "Foreign " + uid(6)})
    for aid in (rand_uuid(), foreign["id"]):
        p = field_problem(convert(c, lead["id"], {"account_id": aid}),
                          "account_id")
        assert p["errors"][0]["code"] == "not_found"
    field_problem(convert(c, lead["id"], {"account_id": "nope"}),
                  "account_id")
    assert lead_state(lead["id"])[0] == "new"
    assert count("crm.contacts", "last_name = %s" % q(lead["last_name"])) \
        == 0


def test_bad_bodies(org):
    lead = new_lead(org.client)
    r = convert(org.client, lead["id"], {"bogus": 1})
    assert_problem(r, 400, "bad_request")
    r = convert(org.client, lead["id"], {"deal": {"stage": "x"}})
    assert_problem(r, 400, "bad_request")
    field_problem(convert(org.client, lead["id"], {"create_deal": "yes"}),
                  "create_deal")
    field_problem(convert(org.client, lead["id"], {"deal": []}), "deal")
    field_problem(convert(org.client, lead["id"], {
        "create_deal": False, "deal": {"name": "x"}}), "deal")
    assert lead_state(lead["id"])[0] == "new"


def test_lead_without_person_cannot_become_a_contact(org):
    lead = L.create(org.client, {"company": "Only Co " + uid(6)})
    field_problem(convert(org.client, lead["id"]), "last_name")
    assert count("crm.accounts", "name = %s" % q(lead["company"])) == 0


def test_missing_deleted_foreign_and_out_of_scope_are_404(org, other):
    c = org.client
    gone = new_lead(c)
    assert L.delete(c, gone["id"]).status_code == 204
    foreign = new_lead(other.client)
    base = convert(c, rand_uuid())
    assert_problem(base, 404, "not_found")
    for id_ in (gone["id"], foreign["id"], "not-a-uuid"):
        r = convert(c, id_)
        assert_problem(r, 404, "not_found")
        assert r.json()["detail"] == base.json()["detail"]
    assert lead_state(foreign["id"])[0] == "new"
    s1, s2 = make_user(org, "sales"), make_user(org, "sales")
    try:
        theirs = new_lead(s2.client)
        assert_problem(convert(s1.client, theirs["id"]), 404, "not_found")
        mine = new_lead(s1.client)
        out = assert_json(convert(s1.client, mine["id"], {
            "create_deal": True}), 200)
        assert out["deal"]["owner_id"] == s1.user_id
    finally:
        s1.close()
        s2.close()


def test_convert_needs_create_rights(org):
    """marketing holds leads:update and contacts:* but not accounts or
    deals:create; a key with leads:* only cannot create contacts."""
    c = org.client
    m = make_user(org, "marketing")
    try:
        # A lead the caller cannot see is a 404 before any 403.
        assert_problem(convert(m.client, rand_uuid()), 404, "not_found")
        lead = new_lead(c)
        r = convert(m.client, lead["id"])
        p = assert_problem(r, 403, "forbidden")
        assert "accounts:create" in p["detail"]
        acc = A.create(c, {"name": "For marketing " + uid(6)})
        r = convert(m.client, lead["id"], {"account_id": acc["id"],
                                           "create_deal": True})
        assert "deals:create" in assert_problem(r, 403, "forbidden")[
            "detail"]
        out = assert_json(convert(m.client, lead["id"],
                                  {"account_id": acc["id"]}), 200)
        assert out["contact"]["account_id"] == acc["id"]
    finally:
        m.close()
    _, key = make_key(org, ["leads:*"])
    try:
        lead = new_lead(c)
        assert_problem(convert(key, lead["id"]), 403, "forbidden")
        assert lead_state(lead["id"])[0] == "new"
    finally:
        key.close()
    ro = make_user(org, "read_only")
    try:
        assert_problem(convert(ro.client, new_lead(c)["id"]), 403,
                       "forbidden")
    finally:
        ro.close()
