"""Duplicates, black-box (modules/crm/dedupe.c, sql/020_duplicates_merge.sql):

    GET /v1/{accounts,contacts,leads}/{id}/duplicates    <entity>:read

Each rule finds what it should, never the record itself, nor deleted,
other tenants' or out-of-scope records; best score first, at most 20;
each candidate carries the record as GET shows it; 404 exactly like a
missing record when the record is not visible."""

import pytest

from crmtest import assert_json, assert_problem
from identity import make_user, signup, uid, unique_company
from records import Entity, rand_uuid, strip_rid

A = Entity("/v1/accounts")
C = Entity("/v1/contacts")
L = Entity("/v1/leads")


@pytest.fixture(scope="module")
def org(mhttp):
    a = signup(mhttp, company=unique_company("Dup"))
    yield a
    a.close()


@pytest.fixture(scope="module")
def other(mhttp):
    a = signup(mhttp, company=unique_company("DupB"))
    yield a
    a.close()


def dups(client, entity, id_):
    body = assert_json(client.get(entity.url(id_, "/duplicates")), 200)
    assert set(body) == {"data", "next_cursor"} and \
        body["next_cursor"] is None, body
    for d in body["data"]:
        assert set(d) == {"id", "score", "reasons", "record"}, d
        assert 0 < d["score"] <= 1, d
        assert d["record"]["id"] == d["id"]
        assert d["id"] != id_
    scores = [d["score"] for d in body["data"]]
    assert scores == sorted(scores, reverse=True), scores
    return {d["id"]: d for d in body["data"]}


def test_account_domain_ignores_case_and_www(org):
    c = org.client
    dom = "dup%s.example" % uid(8).lower()
    a = A.create(c, {"name": "Northwind " + uid(6), "domain": dom})
    b = A.create(c, {"name": "Something else " + uid(6),
                     "domain": "WWW." + dom.upper()})
    z = A.create(c, {"name": "Unrelated " + uid(6), "domain": "x" + dom})
    got = dups(c, A, a["id"])
    assert b["id"] in got and z["id"] not in got, got
    assert got[b["id"]]["reasons"] == ["domain"]
    assert got[b["id"]]["record"] == A.get(c, b["id"])[0]
    assert a["id"] in dups(c, A, b["id"])


def test_account_similar_name(org):
    c = org.client
    w = "Zq%sx" % uid(6)
    a = A.create(c, {"name": "%s Logistics Inc" % w})
    b = A.create(c, {"name": "%s Logistics Corporation" % w.upper()})
    n = A.create(c, {"name": "Totally Different Trading " + uid(6)})
    got = dups(c, A, a["id"])
    assert b["id"] in got and n["id"] not in got, got
    assert got[b["id"]]["reasons"] == ["name"]
    assert got[b["id"]]["score"] >= 0.9


def test_account_both_rules_score_higher(org):
    c = org.client
    w = "Qv%sz" % uid(6)
    dom = "both%s.example" % uid(8).lower()
    a = A.create(c, {"name": w + " Foods", "domain": dom})
    both = A.create(c, {"name": w + " Foods Ltd", "domain": dom})
    only = A.create(c, {"name": "Other " + uid(8), "domain": dom})
    got = dups(c, A, a["id"])
    assert set(got[both["id"]]["reasons"]) == {"domain", "name"}
    assert got[both["id"]]["score"] > got[only["id"]]["score"]
    assert list(got)[0] == both["id"]


def test_contact_rules(org):
    c = org.client
    last = "Dupson" + uid(6)
    em = "dup.%s@example.com" % uid(8).lower()
    me = C.create(c, {"first_name": "Ann", "last_name": last, "email": em,
                      "phone": "+1 (555) 010-7788"})
    by_email = C.create(c, {"first_name": "X", "last_name": "Y" + uid(6),
                            "email": em.upper()})
    by_phone = C.create(c, {"first_name": "P", "last_name": "Q" + uid(6),
                            "mobile": "15550107788"})
    by_name = C.create(c, {"first_name": "ANN", "last_name": last.lower()})
    other_first = C.create(c, {"first_name": "Bob", "last_name": last})
    short = C.create(c, {"last_name": "S" + uid(6),
                         "phone": "+44 20 7946 0000"})
    got = dups(c, C, me["id"])
    assert got[by_email["id"]]["reasons"] == ["email"]
    assert got[by_phone["id"]]["reasons"] == ["phone"]
    assert got[by_name["id"]]["reasons"] == ["name"]
    assert other_first["id"] not in got and short["id"] not in got
    assert got[by_email["id"]]["score"] > got[by_phone["id"]]["score"] > \
        got[by_name["id"]]["score"]


def test_lead_rules(org):
    c = org.client
    em = "lead.%s@example.com" % uid(8).lower()
    w = "Kx%sy" % uid(6)
    me = L.create(c, {"last_name": "Lead", "email": em,
                      "company": w + " Robotics GmbH"})
    by_email = L.create(c, {"last_name": "Other", "email": em.title()})
    by_company = L.create(c, {"company": w + " Robotics"})
    neither = L.create(c, {"company": "Unrelated Bakery " + uid(6)})
    got = dups(c, L, me["id"])
    assert got[by_email["id"]]["reasons"] == ["email"]
    assert got[by_company["id"]]["reasons"] == ["name"]
    assert neither["id"] not in got


def test_deleted_and_foreign_records_are_not_candidates(org, other):
    c = org.client
    em = "gone.%s@example.com" % uid(8).lower()
    me = C.create(c, {"first_name": "Me", "email": em})
    gone = C.create(c, {"first_name": "Gone", "email": em})
    live = C.create(c, {"first_name": "Live", "email": em})
    foreign = C.create(other.client, {"first_name": "F", "email": em})
    assert C.delete(c, gone["id"]).status_code == 204
    got = dups(c, C, me["id"])
    assert set(got) == {live["id"]}, got
    assert foreign["id"] not in got
    # Deleted: the record itself answers 404 like a missing one.
    r, base = (c.get(C.url(gone["id"], "/duplicates")),
               c.get(C.url(rand_uuid(), "/duplicates")))
    assert_problem(r, 404, "not_found")
    assert strip_rid(r) == strip_rid(base)


def test_other_tenant_gets_404(org, other):
    rec = C.create(org.client, {"first_name": "Private"})
    for u in (C.url(rec["id"], "/duplicates"), C.url("not-a-uuid",
                                                     "/duplicates")):
        r = other.client.get(u)
        base = other.client.get(C.url(rand_uuid(), "/duplicates"))
        assert_problem(r, 404, "not_found")
        assert strip_rid(r) == strip_rid(base)


def test_record_scope(org):
    s1, s2 = make_user(org, "sales"), make_user(org, "sales")
    try:
        em = "scope.%s@example.com" % uid(8).lower()
        mine = C.create(s1.client, {"first_name": "Mine", "email": em})
        mine2 = C.create(s1.client, {"first_name": "Mine2", "email": em})
        theirs = C.create(s2.client, {"first_name": "Theirs", "email": em})
        got = dups(s1.client, C, mine["id"])
        assert set(got) == {mine2["id"]}, got
        # The owner (scope all) sees both.
        assert set(dups(org.client, C, mine["id"])) == {mine2["id"],
                                                         theirs["id"]}
        r = s1.client.get(C.url(theirs["id"], "/duplicates"))
        base = s1.client.get(C.url(rand_uuid(), "/duplicates"))
        assert_problem(r, 404, "not_found")
        assert strip_rid(r) == strip_rid(base)
    finally:
        s1.close()
        s2.close()


def test_at_most_20(org):
    c = org.client
    em = "many.%s@example.com" % uid(8).lower()
    r = c.post("/v1/contacts/batch", json={"operations": [
        {"op": "create", "data": {"first_name": "M%d" % i, "email": em}}
        for i in range(25)]})
    ids = [x["id"] for x in assert_json(r, 200)["results"]]
    got = dups(c, C, ids[0])
    assert len(got) == 20 and ids[0] not in got


def test_read_permission(org):
    ro = make_user(org, "read_only")
    try:
        rec = A.create(org.client, {"name": "RO " + uid(6)})
        assert_json(ro.client.get(A.url(rec["id"], "/duplicates")), 200)
    finally:
        ro.close()
