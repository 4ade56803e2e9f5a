"""Activities, black-box (modules/crm/activities.c,
sql/015_activities.sql): types, the subject rule (optional for notes
only), ends_at >= starts_at, status and completed_at, the related records
(each must exist in the tenant; mirrored in crm.activity_links) and the
participants."""

import pytest

from crmtest import assert_problem
from identity import make_user, signup, uid, unique_company
from records import Entity, count, field_problem, q, rand_uuid, sql

T = Entity("/v1/activities")
A = Entity("/v1/accounts")
C = Entity("/v1/contacts")
L = Entity("/v1/leads")
D = Entity("/v1/deals")


@pytest.fixture(scope="module")
def org(mhttp):
    a = signup(mhttp, company=unique_company("Act"))
    yield a
    a.close()


@pytest.fixture(scope="module")
def other(mhttp):
    a = signup(mhttp, company=unique_company("ActB"))
    yield a
    a.close()


@pytest.fixture(scope="module")
def targets(org):
    c = org.client
    return {"accounts": A.create(c, {"name": "Rel " + uid(6)})["id"],
            "contacts": C.create(c, {"first_name": "Rel"})["id"],
            "leads": L.create(c, {"company": "Rel"})["id"],
            "deals": D.create(c, {"name": "Rel"})["id"]}


def links(activity_id):
    return sorted(tuple(r) for r in sql(
        "SELECT entity, record_id FROM crm.activity_links WHERE "
        "activity_id = %s;" % q(activity_id)))


def test_cycle(org):
    T.lifecycle(org.client, {"type": "task", "subject": "Call Bob"},
                {"subject": "Call Bob back", "priority": "high"}, "activity")


def test_meeting_with_everything(org, targets):
    c = org.client
    body = {"type": "meeting", "subject": "Kick-off", "body": "Agenda:\n1.",
            "starts_at": "2027-01-10T09:00:00Z",
            "ends_at": "2027-01-10T10:30:00Z", "location": "Room 4",
            "remind_at": "2027-01-10T08:45:00Z", "priority": "normal",
            "related": [{"entity": e, "id": i} for e, i in
                        sorted(targets.items())],
            "participants": [{"user_id": org.user_id},
                             {"contact_id": targets["contacts"]},
                             {"email": "guest@outside.example"}]}
    rec = T.create(c, body)
    assert rec["starts_at"] == "2027-01-10T09:00:00.000Z"
    assert rec["ends_at"] == "2027-01-10T10:30:00.000Z"
    assert rec["status"] == "open" and rec["all_day"] is False
    assert rec["completed_at"] is None
    assert rec["related"] == body["related"]
    assert rec["participants"] == body["participants"]
    assert links(rec["id"]) == sorted(targets.items())


def test_note_needs_no_subject_others_do(org):
    n = T.create(org.client, {"type": "note", "body": "Met at the fair"})
    assert n["subject"] is None
    for t in ("task", "call", "meeting", "email"):
        field_problem(T.post(org.client, {"type": t}), "subject")
        field_problem(T.post(org.client, {"type": t, "subject": "  "}),
                      "subject")
    # A note cannot become a call without a subject.
    field_problem(T.patch(org.client, n["id"], {"type": "call"}), "subject")


def test_ends_before_start_is_422_naming_ends_at(org):
    body = {"type": "meeting", "subject": "Backwards",
            "starts_at": "2027-01-10T10:00:00Z",
            "ends_at": "2027-01-10T09:59:59Z"}
    field_problem(T.post(org.client, body), "ends_at")
    ok = T.create(org.client, dict(body, ends_at="2027-01-10T10:00:00Z"))
    field_problem(T.patch(org.client, ok["id"],
                          {"starts_at": "2027-01-10T11:00:00+01:00",
                           "ends_at": "2027-01-10T09:00:00Z"}), "ends_at")
    assert T.get(org.client, ok["id"])[1] == 1


def test_completed_at_follows_status(org):
    t = T.create(org.client, {"type": "task", "subject": "Do it"})
    done = T.patch_ok(org.client, t["id"], {"status": "completed"})
    assert done["completed_at"] is not None
    again = T.patch_ok(org.client, t["id"], {"subject": "Did it"})
    assert again["completed_at"] == done["completed_at"]
    back = T.patch_ok(org.client, t["id"], {"status": "open"})
    assert back["completed_at"] is None
    field_problem(T.patch(org.client, t["id"], {"status": None}), "status")
    r = T.post(org.client, {"type": "task", "subject": "x",
                            "completed_at": "2027-01-01T00:00:00Z"})
    assert_problem(r, 400, "bad_request")


def test_related_synced_on_patch(org, targets):
    c = org.client
    t = T.create(c, {"type": "call", "subject": "Link",
                     "related": [{"entity": "accounts",
                                  "id": targets["accounts"]}]})
    assert links(t["id"]) == [("accounts", targets["accounts"])]
    T.patch_ok(c, t["id"], {"related": [{"entity": "deals",
                                         "id": targets["deals"]}]})
    assert links(t["id"]) == [("deals", targets["deals"])]
    T.patch_ok(c, t["id"], {"related": None})
    assert links(t["id"]) == []


RELATED_BAD = [
    ({"related": {"entity": "accounts"}}, "related"),
    ({"related": ["x"]}, "related[0]"),
    ({"related": [{"entity": "users", "id": "RANDOM"}]},
     "related[0].entity"),
    ({"related": [{"entity": "accounts", "id": "nope"}]}, "related[0].id"),
    ({"related": [{"entity": "accounts", "id": "RANDOM"}]},
     "related[0].id"),
    ({"related": [{"entity": "accounts", "id": "ACCOUNT"},
                  {"entity": "deals", "id": "RANDOM"}]}, "related[1].id"),
    ({"related": [{"entity": "accounts", "id": "ACCOUNT"},
                  {"entity": "accounts", "id": "ACCOUNT"}]},
     "related[1].id"),
    ({"related": [{"entity": "contacts", "id": "ACCOUNT"}]},
     "related[0].id"),
    ({"related": [{"entity": "accounts", "id": "ACCOUNT", "x": 1}]},
     "related[0]"),
    ({"participants": [{"user_id": "RANDOM"}]},
     "participants[0].user_id"),
    ({"participants": [{"contact_id": "RANDOM"}]},
     "participants[0].contact_id"),
    ({"participants": [{"email": "not an email"}]},
     "participants[0].email"),
    ({"participants": [{"email": "a@b.example", "user_id": "RANDOM"}]},
     "participants[0]"),
    ({"participants": [{"phone": "123"}]}, "participants[0]"),
    ({"type": "visit"}, "type"), ({"status": "done"}, "status"),
    ({"due_at": "tomorrow"}, "due_at"), ({"all_day": "no"}, "all_day"),
    ({"subject": "s" * 301}, "subject"),
]


@pytest.mark.parametrize("over,field", RELATED_BAD,
                         ids=[f + str(i) for i, (_, f) in
                              enumerate(RELATED_BAD)])
def test_validation_422(org, targets, over, field):
    def mat(v):
        if v == "RANDOM":
            return rand_uuid()
        if v == "ACCOUNT":
            return targets["accounts"]
        if isinstance(v, list):
            return [{k: mat(x) for k, x in e.items()}
                    if isinstance(e, dict) else e for e in v]
        return v
    over = {k: mat(v) for k, v in over.items()}
    tag = "bad " + uid(8)
    field_problem(T.post(org.client, dict({"type": "task", "subject": tag},
                                          **over)), field)
    assert count("crm.activities", "subject = %s" % q(tag)) == 0
    t = T.create(org.client, {"type": "task", "subject": "Target"})
    field_problem(T.patch(org.client, t["id"], over), field)
    assert T.get(org.client, t["id"])[1] == 1


def test_related_record_of_another_tenant_or_deleted_is_not_found(org,
                                                                  other):
    foreign = A.create(other.client, {"name": "Foreign " + uid(6)})["id"]
    gone = A.create(org.client, {"name": "Gone " + uid(6)})["id"]
    assert A.delete(org.client, gone).status_code == 204
    for rid in (foreign, gone):
        p = field_problem(T.post(org.client, {
            "type": "task", "subject": "x",
            "related": [{"entity": "accounts", "id": rid}]}),
            "related[0].id")
        assert p["errors"][0]["code"] == "not_found"


def test_sales_sees_only_own_activities(org):
    s1, s2 = make_user(org, "sales"), make_user(org, "sales")
    try:
        mine = T.create(s1.client, {"type": "task", "subject": "Mine"})
        theirs = T.create(s2.client, {"type": "task", "subject": "Theirs"})
        T.get(s1.client, mine["id"])
        for m in ("GET", "PATCH", "DELETE"):
            T.missing(s1.client, m, theirs["id"], body={"subject": "x"})
        # Sales hold activities:* and may delete their own.
        assert T.delete(s1.client, mine["id"]).status_code == 204
    finally:
        s1.close()
        s2.close()
