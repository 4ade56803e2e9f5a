"""Merge, black-box (modules/crm/dedupe.c, sql/020_duplicates_merge.sql):

    POST /v1/{accounts,contacts,leads}/{id}/merge {"from_ids": [...]}
        <entity>:update, and <entity>:delete checked by the handler

In one transaction the survivor takes over what pointed at each merged
record (contacts, deals, child accounts, activities and their links, deal
contacts, converted leads, timeline entries), fills its empty fields and
custom fields from them, and the merged records go to the recycle bin
(restorable).  Events <singular>.merged and <singular>.deleted; a timeline
entry "merged".  A bad from_id rolls everything back."""

import pytest

from crmtest import assert_json, assert_problem
from identity import make_user, post_json, signup, uid, unique_company
from records import (Entity, count, event_payloads, events, field_problem,
                     q, rand_uuid, sql, strip_rid)

A = Entity("/v1/accounts")
C = Entity("/v1/contacts")
L = Entity("/v1/leads")
D = Entity("/v1/deals")
T = Entity("/v1/activities")


@pytest.fixture(scope="module")
def org(mhttp):
    a = signup(mhttp, company=unique_company("Mrg"))
    yield a
    a.close()


@pytest.fixture(scope="module")
def other(mhttp):
    a = signup(mhttp, company=unique_company("MrgB"))
    yield a
    a.close()


def merge(client, entity, id_, from_ids):
    return post_json(client, entity.url(id_, "/merge"),
                     {"from_ids": from_ids})


def merge_ok(client, entity, id_, from_ids):
    r = merge(client, entity, id_, from_ids)
    body = assert_json(r, 200)
    assert body.pop("merged") == from_ids
    got, tag = entity.get(client, id_)
    assert body == got, (body, got)
    assert r.headers.get("ETag") == '"%d"' % tag
    return body


def timeline(client, entity, id_):
    return assert_json(client.get(entity.url(id_, "/timeline"),
                                  params={"limit": 200}), 200)["data"]


def test_accounts_merge_moves_everything(org):
    c = org.client
    cf = "mrg_tier_" + uid(6).lower()
    assert_json(post_json(c, "/v1/custom-fields", {
        "entity": "accounts", "name": cf, "label": "Tier", "type": "text"}),
        201)
    cf2 = "mrg_code_" + uid(6).lower()
    assert_json(post_json(c, "/v1/custom-fields", {
        "entity": "accounts", "name": cf2, "label": "Code", "type": "text"}),
        201)
    keep = A.create(c, {"name": "Keep " + uid(6), "industry": "Retail",
                        "custom": {cf: "gold"}})
    m1 = A.create(c, {"name": "Dup one " + uid(6), "industry": "Mining",
                      "phone": "+1 555 0100", "domain": "m1.example",
                      "custom": {cf: "silver", cf2: "X1"}})
    m2 = A.create(c, {"name": "Dup two " + uid(6), "phone": "+1 555 0199",
                      "website": "https://m2.example/",
                      "employees": 40})
    A.patch_ok(c, m1["id"], {"employees": 12})
    con = C.create(c, {"first_name": "Worker", "account_id": m1["id"]})
    gone_con = C.create(c, {"first_name": "Binned", "account_id": m2["id"]})
    assert C.delete(c, gone_con["id"]).status_code == 204
    deal = D.create(c, {"name": "Deal " + uid(6), "account_id": m2["id"]})
    child = A.create(c, {"name": "Child " + uid(6), "parent_id": m1["id"]})
    act = T.create(c, {"type": "task", "subject": "Call " + uid(6),
                       "related": [{"entity": "accounts", "id": m1["id"]},
                                   {"entity": "accounts",
                                    "id": keep["id"]},
                                   {"entity": "contacts",
                                    "id": con["id"]}]})
    act2 = T.create(c, {"type": "note", "body": "n",
                        "related": [{"entity": "accounts",
                                     "id": m2["id"]}]})

    body = merge_ok(c, A, keep["id"], [m1["id"], m2["id"]])
    # Empty fields filled, first merged record first; set ones kept.
    assert body["industry"] == "Retail"
    assert body["phone"] == "+1 555 0100"
    assert body["domain"] == "m1.example"
    assert body["employees"] == 12
    assert body["website"] == "https://m2.example/"
    assert body["custom"] == {cf: "gold", cf2: "X1"}
    # Related records point at the survivor.
    assert C.get(c, con["id"])[0]["account_id"] == keep["id"]
    assert D.get(c, deal["id"])[0]["account_id"] == keep["id"]
    assert A.get(c, child["id"])[0]["parent_id"] == keep["id"]
    assert sql("SELECT account_id FROM crm.contacts WHERE id = %s;"
               % q(gone_con["id"])) == [[keep["id"]]]
    a = T.get(c, act["id"])[0]
    assert a["related"] == [{"entity": "accounts", "id": keep["id"]},
                            {"entity": "contacts", "id": con["id"]}]
    assert T.get(c, act2["id"])[0]["related"] == [
        {"entity": "accounts", "id": keep["id"]}]
    assert count("crm.activity_links", "record_id IN (%s, %s)" % (
        q(m1["id"]), q(m2["id"]))) == 0
    assert count("crm.activity_links", "record_id = %s" % q(keep["id"])) \
        == 2
    # Merged records are in the recycle bin.
    for m in (m1, m2):
        A.missing(c, "GET", m["id"])
    # The survivor's timeline has the merged history and the merge.
    tl = timeline(c, A, keep["id"])
    changes = [e for e in tl if e["kind"] == "change"]
    assert changes[0]["action"] == "merged"
    assert changes[0]["changes"] == {"merged_ids": [m1["id"], m2["id"]]}
    created = [e for e in changes if e["action"] == "created"]
    assert len(created) == 3, changes
    assert any(e["changes"].get("employees") == {"from": None, "to": 12}
               for e in changes)
    assert {e["id"] for e in tl if e["kind"] == "activity"} == \
        {act["id"], act2["id"]}
    # Each merged record keeps only its "deleted" entry.
    assert count("crm.timeline", "record_id = %s" % q(m1["id"])) == 1
    # Events.
    assert events(keep["id"])[-1] == "account.merged"
    p = event_payloads(keep["id"], "account.merged")
    assert p == [{"id": keep["id"], "merged_ids": [m1["id"], m2["id"]]}]
    assert events(m1["id"])[-1] == "account.deleted"
    # Restorable.
    back = assert_json(A.restore(c, m2["id"]), 200)
    assert back["id"] == m2["id"]


def test_survivor_loses_a_merged_parent(org):
    c = org.client
    parent = A.create(c, {"name": "Parent " + uid(6)})
    keep = A.create(c, {"name": "Keep " + uid(6), "parent_id": parent["id"]})
    body = merge_ok(c, A, keep["id"], [parent["id"]])
    assert body["parent_id"] is None


def test_contacts_merge(org):
    c = org.client
    acc = A.create(c, {"name": "Employer " + uid(6)})
    keep = C.create(c, {"first_name": "Ada", "last_name": "L" + uid(6)})
    m1 = C.create(c, {"first_name": "Ada", "email": "ada%s@example.com"
                      % uid(6).lower(), "title": "CTO",
                      "account_id": acc["id"], "do_not_call": True})
    m2 = C.create(c, {"first_name": "A.", "phone": "+1 555 0142",
                      "title": "Boss"})
    d1 = D.create(c, {"name": "D1 " + uid(6), "contacts": [
        {"contact_id": m1["id"], "role": "buyer"}]})
    d2 = D.create(c, {"name": "D2 " + uid(6), "contacts": [
        {"contact_id": keep["id"], "role": "champion"},
        {"contact_id": m2["id"], "role": "user"},
        {"contact_id": m1["id"], "role": None}]})
    act = T.create(c, {"type": "call", "subject": "Ring " + uid(6),
                       "related": [{"entity": "contacts", "id": m2["id"]}]})
    lead = L.create(c, {"last_name": "Conv " + uid(6)})
    conv = assert_json(post_json(c, L.url(lead["id"], "/convert"), {}), 200)
    m3 = conv["contact"]

    body = merge_ok(c, C, keep["id"], [m1["id"], m2["id"], m3["id"]])
    assert body["email"] == m1["email"] and body["title"] == "CTO"
    assert body["phone"] == "+1 555 0142"
    assert body["account_id"] == acc["id"]
    assert body["last_name"] == keep["last_name"]
    assert body["do_not_call"] is False     # flags are never "empty"
    assert D.get(c, d1["id"])[0]["contacts"] == [
        {"contact_id": keep["id"], "role": "buyer"}]
    assert D.get(c, d2["id"])[0]["contacts"] == [
        {"contact_id": keep["id"], "role": "champion"}]
    assert sql("SELECT contact_id::text, role FROM crm.deal_contacts WHERE "
               "deal_id = %s;" % q(d2["id"])) == [[keep["id"], "champion"]]
    assert T.get(c, act["id"])[0]["related"] == [
        {"entity": "contacts", "id": keep["id"]}]
    assert L.get(c, lead["id"])[0]["converted_contact_id"] == keep["id"]
    for m in (m1, m2, m3):
        C.missing(c, "GET", m["id"])
    assert events(keep["id"])[-1] == "contact.merged"
    assert count("crm.timeline", "record_id = %s AND action = 'created'"
                 % q(keep["id"])) == 4


def test_leads_merge(org):
    c = org.client
    keep = L.create(c, {"company": "Lead Co " + uid(6)})
    m1 = L.create(c, {"company": "Lead Co", "email": "l%s@example.com"
                      % uid(6).lower(), "rating": "hot",
                      "annual_revenue": "1200.50"})
    act = T.create(c, {"type": "task", "subject": "Follow " + uid(6),
                       "related": [{"entity": "leads", "id": m1["id"]}]})
    body = merge_ok(c, L, keep["id"], [m1["id"]])
    assert body["company"] == keep["company"]
    assert body["email"] == m1["email"] and body["rating"] == "hot"
    assert body["annual_revenue"] == "1200.50"
    assert T.get(c, act["id"])[0]["related"] == [
        {"entity": "leads", "id": keep["id"]}]
    L.missing(c, "GET", m1["id"])
    assert events(keep["id"])[-1] == "lead.merged"


def test_one_bad_id_rolls_everything_back(org, other):
    c = org.client
    keep = A.create(c, {"name": "Keep " + uid(6)})
    m1 = A.create(c, {"name": "M1 " + uid(6), "industry": "Oil"})
    con = C.create(c, {"first_name": "Stay", "account_id": m1["id"]})
    foreign = A.create(other.client, {"name": "Foreign " + uid(6)})
    gone = A.create(c, {"name": "Gone " + uid(6)})
    assert A.delete(c, gone["id"]).status_code == 204
    for bad in (rand_uuid(), foreign["id"], gone["id"]):
        p = field_problem(merge(c, A, keep["id"], [m1["id"], bad]),
                          "from_ids[1]")
        assert p["errors"][0]["code"] == "not_found", p
        assert bad not in str(p)
    got, tag = A.get(c, keep["id"])
    assert tag == 1 and got["industry"] is None
    assert A.get(c, m1["id"])[1] == 1
    assert C.get(c, con["id"])[0]["account_id"] == m1["id"]
    assert "account.merged" not in events(keep["id"])
    assert A.get(other.client, foreign["id"])[1] == 1


BAD_BODIES = [
    ({}, "from_ids", 422),
    ({"from_ids": []}, "from_ids", 422),
    ({"from_ids": "x"}, "from_ids", 422),
    ({"from_ids": ["RAND"] * 11}, "from_ids", 422),
    ({"from_ids": ["not-a-uuid"]}, "from_ids[0]", 422),
    ({"from_ids": [5]}, "from_ids[0]", 422),
    ({"from_ids": ["RAND", "SELF"]}, "from_ids[1]", 422),
    ({"from_ids": ["R1", "R1"]}, "from_ids[1]", 422),
    ({"from_ids": ["RAND"], "extra": 1}, "extra", 400),
]


@pytest.mark.parametrize("body,field,status", BAD_BODIES,
                         ids=[str(i) for i in range(len(BAD_BODIES))])
def test_bad_bodies(org, body, field, status):
    c = org.client
    keep = A.create(c, {"name": "Keep " + uid(6)})
    r1 = rand_uuid()

    def sub(v):
        return {"RAND": rand_uuid(), "SELF": keep["id"], "R1": r1}.get(v, v)
    if isinstance(body.get("from_ids"), list):
        body = dict(body, from_ids=[sub(v) for v in body["from_ids"]])
    field_problem(post_json(c, A.url(keep["id"], "/merge"), body), field,
                  status)
    assert A.get(c, keep["id"])[1] == 1


def test_survivor_not_visible_is_404(org, other):
    mine = A.create(org.client, {"name": "Mine " + uid(6)})
    foreign = A.create(other.client, {"name": "Theirs " + uid(6)})
    for sid in (foreign["id"], "not-a-uuid"):
        r = merge(org.client, A, sid, [mine["id"]])
        base = merge(org.client, A, rand_uuid(), [mine["id"]])
        assert_problem(r, 404, "not_found")
        assert strip_rid(r) == strip_rid(base)
    assert A.get(other.client, foreign["id"])[1] == 1
    assert A.get(org.client, mine["id"])[1] == 1


def test_permissions(org):
    s1, ro = make_user(org, "sales"), make_user(org, "read_only")
    try:
        keep = A.create(s1.client, {"name": "S keep " + uid(6)})
        m = A.create(s1.client, {"name": "S dup " + uid(6)})
        # sales may update accounts but not delete them.
        assert_problem(merge(s1.client, A, keep["id"], [m["id"]]), 403,
                       "forbidden")
        # ... and an id it cannot see is still a 404 first.
        r = merge(s1.client, A, rand_uuid(), [m["id"]])
        assert_problem(r, 404, "not_found")
        assert_problem(merge(ro.client, A, keep["id"], [m["id"]]), 403,
                       "forbidden")
        assert A.get(org.client, m["id"])[1] == 1
        # sales may not merge contacts either (contacts:delete).
        k2 = C.create(s1.client, {"first_name": "K"})
        m2 = C.create(s1.client, {"first_name": "M"})
        assert_problem(merge(s1.client, C, k2["id"], [m2["id"]]), 403,
                       "forbidden")
    finally:
        s1.close()
        ro.close()


def test_out_of_scope_from_id_is_not_found(org):
    """A role with contacts:* but scope own: another user's contact is
    a from_id that does not exist, and the own survivor is untouched."""
    role = "merger_" + uid(6).lower()
    assert_json(post_json(org.client, "/v1/roles", {
        "name": role, "grants": ["contacts:*"], "scope": "own"}), 201)
    u1, u2 = make_user(org, role), make_user(org, role)
    try:
        mine = C.create(u1.client, {"first_name": "Mine"})
        mine2 = C.create(u1.client, {"first_name": "Mine2",
                                     "title": "Kept"})
        theirs = C.create(u2.client, {"first_name": "Theirs"})
        p = field_problem(merge(u1.client, C, mine["id"],
                                [mine2["id"], theirs["id"]]), "from_ids[1]")
        assert p["errors"][0]["code"] == "not_found"
        assert C.get(u2.client, theirs["id"])[1] == 1
        assert C.get(u1.client, mine2["id"])[1] == 1
        # A survivor out of scope is a 404 like a missing one.
        r = merge(u1.client, C, theirs["id"], [mine["id"]])
        base = merge(u1.client, C, rand_uuid(), [mine["id"]])
        assert_problem(r, 404, "not_found")
        assert strip_rid(r) == strip_rid(base)
        body = merge_ok(u1.client, C, mine["id"], [mine2["id"]])
        assert body["title"] == "Kept"
    finally:
        u1.close()
        u2.close()


def test_link_to_a_binned_record_is_a_conflict(org):
    """An activity of a merged record that also lists a record in the
    recycle bin cannot be rewritten (its trigger checks every entry):
    409 naming why, and nothing changes."""
    c = org.client
    keep = A.create(c, {"name": "Keep " + uid(6)})
    m1 = A.create(c, {"name": "M1 " + uid(6)})
    binned = C.create(c, {"first_name": "Binned"})
    act = T.create(c, {"type": "task", "subject": "Both " + uid(6),
                       "related": [{"entity": "accounts", "id": m1["id"]},
                                   {"entity": "contacts",
                                    "id": binned["id"]}]})
    assert C.delete(c, binned["id"]).status_code == 204
    r = merge(c, A, keep["id"], [m1["id"]])
    p = assert_problem(r, 409, "conflict")
    assert "recycle bin" in p["detail"], p
    assert A.get(c, m1["id"])[1] == 1 and A.get(c, keep["id"])[1] == 1
    assert T.get(c, act["id"])[1] == 1
    # Restored, the merge goes through.
    assert_json(C.restore(c, binned["id"]), 200)
    merge_ok(c, A, keep["id"], [m1["id"]])
    assert T.get(c, act["id"])[0]["related"][0]["id"] == keep["id"]
