"""Record timelines, black-box (modules/crm/timeline.c,
sql/018_timeline.sql):

    GET /v1/{entity}/{id}/timeline?limit=&cursor=   <entity>:read

Field changes ({field: {from, to}}) written by one trigger on every entity
table, merged with the activities linked to the record, newest first,
keyset-paged; 404 exactly like a missing record when the record is not
visible to the caller."""

import base64

import pytest

from crmtest import assert_json, assert_problem
from identity import make_key, make_user, post_json, signup, uid, \
    unique_company
from records import TIME_RE, Entity, rand_uuid

A = Entity("/v1/accounts")
C = Entity("/v1/contacts")
D = Entity("/v1/deals")
T = Entity("/v1/activities")
L = Entity("/v1/leads")


@pytest.fixture(scope="module")
def org(mhttp):
    a = signup(mhttp, company=unique_company("Tl"))
    yield a
    a.close()


@pytest.fixture(scope="module")
def other(mhttp):
    a = signup(mhttp, company=unique_company("TlB"))
    yield a
    a.close()


def timeline(client, entity, id_, **params):
    return client.get(entity.url(id_, "/timeline"), params=params)


def entries(client, entity, id_, **params):
    return assert_json(timeline(client, entity, id_, **params), 200)["data"]


def test_changes_from_to_after_patch(org):
    c = org.client
    acc = A.create(c, {"name": "Before", "industry": "Retail"})
    A.patch_ok(c, acc["id"], {"name": "After", "employees": 12,
                              "annual_revenue": "99.5"})
    A.patch_ok(c, acc["id"], {"industry": None})
    data = entries(c, A, acc["id"])
    assert [e["action"] for e in data] == ["updated", "updated", "created"]
    assert all(e["kind"] == "change" and e["actor_id"] == org.user_id and
               TIME_RE.match(e["at"]) for e in data), data
    assert data[0]["changes"] == {"industry": {"from": "Retail",
                                               "to": None}}
    assert data[1]["changes"] == {
        "name": {"from": "Before", "to": "After"},
        "employees": {"from": None, "to": 12},
        "annual_revenue": {"from": None, "to": "99.50"}}
    created = data[2]["changes"]
    assert created["name"] == {"from": None, "to": "Before"}
    # Bookkeeping and generated columns never show.
    for e in data:
        for k in ("updated_at", "updated_by", "version", "search",
                  "tenant_id", "id", "created_at", "deleted_at"):
            assert k not in e["changes"], (k, e)


def test_no_change_no_entry_delete_restore(org):
    c = org.client
    con = C.create(c, {"first_name": "Same"})
    C.patch_ok(c, con["id"], {"first_name": "Same"})
    assert len(entries(c, C, con["id"])) == 1
    assert C.delete(c, con["id"]).status_code == 204
    assert C.restore(c, con["id"]).status_code == 200
    assert [e["action"] for e in entries(c, C, con["id"])] == [
        "restored", "deleted", "created"]


def test_actor_is_who_changed_it(org):
    m = make_user(org, "manager")
    try:
        d = D.create(org.client, {"name": "Actor"})
        D.patch_ok(m.client, d["id"], {"next_step": "Send offer"})
        data = entries(org.client, D, d["id"])
        assert data[0]["actor_id"] == m.user_id
        assert data[0]["changes"]["next_step"] == {"from": None,
                                                   "to": "Send offer"}
        assert data[-1]["actor_id"] == org.user_id
    finally:
        m.close()


def test_activities_are_merged_newest_first(org):
    c = org.client
    d = D.create(c, {"name": "Merge"})
    rel = [{"entity": "deals", "id": d["id"]}]
    early = T.create(c, {"type": "meeting", "subject": "Early",
                         "starts_at": "2020-01-01T10:00:00Z",
                         "related": rel})
    late = T.create(c, {"type": "call", "subject": "Future",
                        "due_at": "2099-01-01T10:00:00Z", "related": rel})
    note = T.create(c, {"type": "note", "body": "Said yes", "related": rel})
    D.patch_ok(c, d["id"], {"amount": "10.00"})
    gone = T.create(c, {"type": "task", "subject": "Deleted",
                        "related": rel})
    assert T.delete(c, gone["id"]).status_code == 204
    data = entries(c, D, d["id"])
    kinds = [(e["kind"], e.get("subject") or e.get("action")) for e in data]
    assert kinds[0] == ("activity", "Future")
    assert kinds[-1] == ("activity", "Early")
    assert ("change", "created") in kinds and ("change", "updated") in kinds
    assert all(e.get("id") != gone["id"] for e in data)
    at = [e["at"] for e in data]
    assert at == sorted(at, reverse=True)
    n = [e for e in data if e["kind"] == "activity" and e["type"] == "note"]
    assert n[0]["body"] == "Said yes" and n[0]["id"] == note["id"]
    assert early["id"] in [e["id"] for e in data]
    assert late["id"] == data[0]["id"]


def test_activity_hidden_without_activities_read(org):
    c = org.client
    acc = A.create(c, {"name": "Keyed " + uid(6)})
    T.create(c, {"type": "task", "subject": "Secret task",
                 "related": [{"entity": "accounts", "id": acc["id"]}]})
    assert any(e["kind"] == "activity" for e in entries(c, A, acc["id"]))
    _, key = make_key(org, ["accounts:read"])
    try:
        data = entries(key, A, acc["id"])
        assert data and all(e["kind"] == "change" for e in data)
    finally:
        key.close()


def test_cursor_walk(org):
    c = org.client
    acc = A.create(c, {"name": "Walk 0"})
    for i in range(1, 8):
        A.patch_ok(c, acc["id"], {"name": "Walk %d" % i})
    T.create(c, {"type": "note", "body": "n",
                 "related": [{"entity": "accounts", "id": acc["id"]}]})
    full = entries(c, A, acc["id"], limit=200)
    assert len(full) == 9
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        b = assert_json(timeline(c, A, acc["id"], **params), 200)
        assert len(b["data"]) <= 2
        seen.extend(b["data"])
        pages += 1
        cursor = b["next_cursor"]
        if cursor is None:
            break
        assert pages < 10
    assert [e["id"] for e in seen] == [e["id"] for e in full]
    assert pages == 5
    # A full last page cannot know it is the last: its cursor leads to
    # an empty page that says null.
    b = assert_json(timeline(c, A, acc["id"], limit=9), 200)
    assert len(b["data"]) == 9 and b["next_cursor"]
    b = assert_json(timeline(c, A, acc["id"], limit=9,
                             cursor=b["next_cursor"]), 200)
    assert b == {"data": [], "next_cursor": None}


@pytest.mark.parametrize("params,code", [
    ({"limit": 0}, "invalid_query"), ({"limit": 201}, "invalid_query"),
    ({"limit": "x"}, "invalid_query"), ({"limit": -1}, "invalid_query"),
    ({"sort": "at"}, "invalid_query"), ({"cursor": "!!"}, "invalid_cursor"),
    ({"cursor": base64.urlsafe_b64encode(b"12:nope").decode().rstrip("=")},
     "invalid_cursor"),
    ({"cursor": base64.urlsafe_b64encode(b"x:" + rand_uuid().encode())
      .decode().rstrip("=")}, "invalid_cursor"),
])
def test_bad_query_400(org, params, code):
    acc = A.create(org.client, {"name": "Q " + uid(6)})
    assert_problem(timeline(org.client, A, acc["id"], **params), 400, code)


def test_not_visible_is_404_like_missing(org, other):
    c = org.client
    acc = A.create(c, {"name": "Hidden " + uid(6)})
    A.missing(other.client, "TIMELINE", acc["id"])
    gone = C.create(c, {"first_name": "Gone"})
    assert C.delete(c, gone["id"]).status_code == 204
    C.missing(c, "TIMELINE", gone["id"])
    C.missing(c, "TIMELINE", "not-a-uuid")
    s1, s2 = make_user(org, "sales"), make_user(org, "sales")
    try:
        theirs = L.create(s2.client, {"company": "Theirs"})
        L.missing(s1.client, "TIMELINE", theirs["id"])
        L.missing(s1.client, "TIMELINE", acc["id"])
        assert entries(s2.client, L, theirs["id"])[0]["action"] == \
            "created"
        # An activity of s2 linked to s1's lead stays out of s1's view.
        mine = L.create(s1.client, {"company": "Mine"})
        T.create(s2.client, {"type": "task", "subject": "Not yours",
                             "related": [{"entity": "leads",
                                          "id": mine["id"]}]})
        assert all(e["kind"] == "change" for e in
                   entries(s1.client, L, mine["id"]))
        assert any(e["kind"] == "activity" for e in
                   entries(org.client, L, mine["id"]))
    finally:
        s1.close()
        s2.close()


def test_conversion_shows_on_the_lead(org):
    c = org.client
    lead = L.create(c, {"first_name": "Tim", "company": "Tl " + uid(6)})
    out = assert_json(post_json(c, L.url(lead["id"], "/convert"), {}), 200)
    top = entries(c, L, lead["id"])[0]
    assert top["changes"]["status"] == {"from": "new", "to": "converted"}
    assert top["changes"]["converted_account_id"]["to"] == \
        out["account"]["id"]
