"""Pipelines, stages and deals, black-box (modules/crm/pipelines.c,
deals.c, sql/014_pipelines_deals.sql): the default pipeline of a new
tenant, the stages array (validation, stable ids, positions, a used stage
cannot go), deal defaults from pipeline and stage, probability following
the stage, closed_at, the stage history and deal.stage_changed events,
deal contacts, and tenant-wide pipelines for team-scoped sales users."""

import pytest

from crmtest import assert_json, assert_problem
from identity import make_user, signup, uid, unique_company
from records import (Entity, count, event_payloads, events, field_problem,
                     q, rand_uuid, sql)

P = Entity("/v1/pipelines")
D = Entity("/v1/deals")
A = Entity("/v1/accounts")
C = Entity("/v1/contacts")

SALES_STAGES = [("Qualification", 10, "open"), ("Needs analysis", 25, "open"),
                ("Proposal", 50, "open"), ("Negotiation", 75, "open"),
                ("Closed won", 100, "won"), ("Closed lost", 0, "lost")]


@pytest.fixture(scope="module")
def org(mhttp):
    a = signup(mhttp, company=unique_company("Deal"))
    yield a
    a.close()


@pytest.fixture(scope="module")
def other(mhttp):
    a = signup(mhttp, company=unique_company("DealB"))
    yield a
    a.close()


def default_pipeline(org):
    rows = sql("SELECT id FROM crm.pipelines WHERE tenant_id = %s AND "
               "is_default AND deleted_at IS NULL;" % q(org.tenant_id))
    assert len(rows) == 1, rows
    return P.get(org.client, rows[0][0])[0]


def new_pipeline(client, stages=None, **over):
    body = {"name": "Pipe " + uid(6), "stages": stages or [
        {"name": "Lead in", "probability": 5},
        {"name": "Demo", "probability": 40},
        {"name": "Won", "kind": "won"},
        {"name": "Lost", "kind": "lost"}]}
    body.update(over)
    return P.create(client, body)


def history(deal_id):
    return sql("SELECT coalesce(from_stage_id::text, '-'), to_stage_id, "
               "amount, changed_by FROM crm.deal_stage_history WHERE "
               "deal_id = %s ORDER BY changed_at, id;" % q(deal_id))


# ---------------------------------------------------------------- pipelines

def test_signup_seeds_the_default_sales_pipeline(org):
    p = default_pipeline(org)
    assert p["name"] == "Sales" and p["is_default"] is True
    got = [(s["name"], s["probability"], s["kind"]) for s in p["stages"]]
    assert got == SALES_STAGES
    assert [s["position"] for s in p["stages"]] == [1, 2, 3, 4, 5, 6]
    assert p["owner_id"] == org.user_id
    assert count("crm.stages", "pipeline_id = %s" % q(p["id"])) == 6


def test_pipeline_cycle(org):
    P.lifecycle(org.client, {"name": "Cycle " + uid(6), "stages": [
        {"name": "Only", "probability": 50}]},
        {"description": "renamed"}, "pipeline")


def test_stages_normalised_ids_stable_across_patch(org):
    c = org.client
    p = new_pipeline(c)
    ids = [s["id"] for s in p["stages"]]
    assert all(ids) and len(set(ids)) == 4
    assert [s["probability"] for s in p["stages"]] == [5, 40, 100, 0]
    assert [s["kind"] for s in p["stages"]] == ["open", "open", "won",
                                                "lost"]
    # Rename one, reorder by position, add one: old ids are kept.
    stages = [dict(s) for s in p["stages"]]
    stages[1]["name"] = "Live demo"
    stages.insert(1, {"name": "Call", "probability": 20, "position": 2})
    for i, s in enumerate(stages):
        s["position"] = i + 1
    r = P.patch_ok(c, p["id"], {"stages": stages})
    assert [s["name"] for s in r["stages"]] == ["Lead in", "Call",
                                                "Live demo", "Won", "Lost"]
    assert [s["id"] for s in r["stages"]][:1] + [s["id"] for s in
                                                 r["stages"]][2:] == ids
    assert r["stages"][1]["id"] not in ids
    rows = sql("SELECT name, position FROM crm.stages WHERE pipeline_id = "
               "%s ORDER BY position;" % q(p["id"]))
    assert rows == [["Lead in", "1"], ["Call", "2"], ["Live demo", "3"],
                    ["Won", "4"], ["Lost", "5"]]
    # Positions given out of order sort the stages.
    r = P.patch_ok(c, p["id"], {"stages": [
        {"id": ids[0], "name": "Lead in", "probability": 5, "position": 9},
        {"id": ids[1], "name": "Live demo", "probability": 40,
         "position": 1}]})
    assert [s["name"] for s in r["stages"]] == ["Live demo", "Lead in"]
    assert [s["position"] for s in r["stages"]] == [1, 2]


STAGE_BAD = [
    ("not-array", {"stages": {"name": "x"}}, "stages"),
    ("empty", {"stages": []}, "stages"),
    ("element", {"stages": ["Qualify"]}, "stages[0]"),
    ("no-name", {"stages": [{"probability": 5}]}, "stages[0].name"),
    ("blank-name", {"stages": [{"name": " ", "probability": 5}]},
     "stages[0].name"),
    ("dup-name", {"stages": [{"name": "A", "probability": 5},
                             {"name": "a", "probability": 6}]},
     "stages[1].name"),
    ("kind", {"stages": [{"name": "A", "probability": 5},
                         {"name": "B", "kind": "maybe"}]}, "stages[1].kind"),
    ("prob-high", {"stages": [{"name": "A", "probability": 101}]},
     "stages[0].probability"),
    ("prob-neg", {"stages": [{"name": "A", "probability": -1}]},
     "stages[0].probability"),
    ("prob-frac", {"stages": [{"name": "A", "probability": 2.5}]},
     "stages[0].probability"),
    ("prob-string", {"stages": [{"name": "A", "probability": "5"}]},
     "stages[0].probability"),
    ("prob-missing", {"stages": [{"name": "A"}]}, "stages[0].probability"),
    ("unknown-key", {"stages": [{"name": "A", "probability": 1,
                                 "colour": "red"}]}, "stages[0].colour"),
    ("unknown-id", {"stages": [{"id": "RANDOM", "name": "A",
                                "probability": 1}]}, "stages[0].id"),
    ("bad-id", {"stages": [{"id": "x", "name": "A", "probability": 1}]},
     "stages[0].id"),
    ("no-open", {"stages": [{"name": "W", "kind": "won"}]}, "stages"),
    ("position", {"stages": [{"name": "A", "probability": 1,
                              "position": 0}]}, "stages[0].position"),
]


@pytest.mark.parametrize("body,field", [(b, f) for _, b, f in STAGE_BAD],
                         ids=[i for i, _, _ in STAGE_BAD])
def test_stage_validation_422(org, body, field):
    for s in body["stages"] if isinstance(body["stages"], list) else []:
        if isinstance(s, dict) and s.get("id") == "RANDOM":
            s["id"] = rand_uuid()
    name = "Bad " + uid(8)
    field_problem(P.post(org.client, dict(body, name=name)), field)
    assert count("crm.pipelines", "name = %s" % q(name)) == 0
    p = new_pipeline(org.client)
    field_problem(P.patch(org.client, p["id"], body), field)
    got, tag = P.get(org.client, p["id"])
    assert tag == 1 and got["stages"] == p["stages"]


def test_stage_id_of_another_pipeline_is_refused(org):
    a, b = new_pipeline(org.client), new_pipeline(org.client)
    field_problem(P.patch(org.client, a["id"], {"stages": [
        {"id": b["stages"][0]["id"], "name": "Stolen", "probability": 5}]}),
        "stages[0].id")


def test_removing_a_used_stage_is_refused(org):
    c = org.client
    p = new_pipeline(c)
    demo = p["stages"][1]
    deal = D.create(c, {"name": "Uses demo", "pipeline_id": p["id"],
                        "stage_id": demo["id"]})
    keep = [s for s in p["stages"] if s["id"] != demo["id"]]
    r = P.patch(c, p["id"], {"stages": keep})
    body = assert_problem(r, 409, "conflict")
    assert "Demo" in body["detail"] and "deal" in body["detail"], body
    assert P.get(c, p["id"])[0]["stages"] == p["stages"]
    # In the recycle bin the deal still holds the stage.
    assert D.delete(c, deal["id"]).status_code == 204
    assert_problem(P.patch(c, p["id"], {"stages": keep}), 409, "conflict")
    # An unused stage goes.
    unused = [s for s in p["stages"] if s["name"] != "Lost"]
    r = P.patch_ok(c, p["id"], {"stages": unused})
    assert [s["name"] for s in r["stages"]] == ["Lead in", "Demo", "Won"]
    assert count("crm.stages", "pipeline_id = %s" % q(p["id"])) == 3


def test_one_default_pipeline(org):
    r = P.post(org.client, {"name": "Second default " + uid(6),
                            "is_default": True, "stages": [
                                {"name": "A", "probability": 1}]})
    assert_problem(r, 409, "conflict")
    field_problem(P.patch(org.client, new_pipeline(org.client)["id"],
                          {"is_default": None}), "is_default")


def test_sales_user_reads_every_pipeline_but_cannot_change_them(org):
    s = make_user(org, "sales")
    try:
        p = default_pipeline(org)
        got, _ = P.get(s.client, p["id"])
        assert got == p
        assert_problem(P.patch(s.client, p["id"], {"name": "x"}), 403,
                       "forbidden")
        assert_problem(P.post(s.client, {"name": "x", "stages": [
            {"name": "A", "probability": 1}]}), 403, "forbidden")
        r = s.client.get(P.url(p["id"], "/timeline"))
        assert assert_json(r, 200)["data"][-1]["action"] == "created"
    finally:
        s.close()


def test_other_tenant_pipeline_404(org, other):
    p = default_pipeline(org)
    for m in ("GET", "PATCH", "DELETE", "TIMELINE"):
        P.missing(other.client, m, p["id"], body={"name": "pwned"})


# ---------------------------------------------------------------- deals

def test_deal_cycle(org):
    D.lifecycle(org.client, {"name": "Cycle " + uid(6)},
                {"next_step": "Call back", "amount": "10.00"}, "deal")


def test_deal_defaults_from_default_pipeline(org):
    p = default_pipeline(org)
    d = D.create(org.client, {"name": "Defaults", "amount": "1200.50",
                              "currency": "EUR"})
    assert d["pipeline_id"] == p["id"]
    assert d["stage_id"] == p["stages"][0]["id"]
    assert d["probability"] == 10 and d["closed_at"] is None
    assert d["contacts"] == [] and d["amount"] == "1200.50"


def test_pipeline_from_stage_and_first_stage_of_pipeline(org):
    c = org.client
    p = new_pipeline(c)
    d = D.create(c, {"name": "By stage", "stage_id": p["stages"][1]["id"]})
    assert d["pipeline_id"] == p["id"] and d["probability"] == 40
    d = D.create(c, {"name": "By pipe", "pipeline_id": p["id"]})
    assert d["stage_id"] == p["stages"][0]["id"] and d["probability"] == 5
    d = D.create(c, {"name": "Own prob", "pipeline_id": p["id"],
                     "probability": 33})
    assert d["probability"] == 33


def test_probability_follows_the_stage_unless_given(org):
    c = org.client
    p = new_pipeline(c)
    st = {s["name"]: s["id"] for s in p["stages"]}
    d = D.create(c, {"name": "Follow", "pipeline_id": p["id"]})
    r = D.patch_ok(c, d["id"], {"stage_id": st["Demo"]})
    assert r["probability"] == 40
    r = D.patch_ok(c, d["id"], {"probability": 55})
    assert r["probability"] == 55 and r["stage_id"] == st["Demo"]
    r = D.patch_ok(c, d["id"], {"stage_id": st["Lead in"],
                                "probability": 70})
    assert r["probability"] == 70
    r = D.patch_ok(c, d["id"], {"name": "Follow 2"})
    assert r["probability"] == 70
    r = D.patch_ok(c, d["id"], {"probability": None})
    assert r["probability"] == 5        # the stage's again


def test_closed_at_and_reopen(org):
    c = org.client
    p = new_pipeline(c)
    st = {s["name"]: s["id"] for s in p["stages"]}
    d = D.create(c, {"name": "Closer", "pipeline_id": p["id"]})
    won = D.patch_ok(c, d["id"], {"stage_id": st["Won"]})
    assert won["closed_at"] and won["probability"] == 100
    reopened = D.patch_ok(c, d["id"], {"stage_id": st["Demo"]})
    assert reopened["closed_at"] is None and reopened["probability"] == 40
    lost = D.patch_ok(c, d["id"], {"stage_id": st["Lost"],
                                   "lost_reason": "price"})
    assert lost["closed_at"] and lost["probability"] == 0
    created = D.create(c, {"name": "Won at once", "stage_id": st["Won"]})
    assert created["closed_at"] is not None


def test_stage_history_and_events(org):
    c = org.client
    p = new_pipeline(c)
    st = {s["name"]: s["id"] for s in p["stages"]}
    d = D.create(c, {"name": "History", "pipeline_id": p["id"],
                     "amount": "100.00"})
    assert history(d["id"]) == [["-", st["Lead in"], "100.00",
                                 org.user_id]]
    D.patch_ok(c, d["id"], {"amount": "250.00"})
    assert len(history(d["id"])) == 1       # no stage change, no row
    D.patch_ok(c, d["id"], {"stage_id": st["Demo"]})
    D.patch_ok(c, d["id"], {"stage_id": st["Won"]})
    D.patch_ok(c, d["id"], {"stage_id": st["Demo"]})     # reopened
    assert history(d["id"]) == [
        ["-", st["Lead in"], "100.00", org.user_id],
        [st["Lead in"], st["Demo"], "250.00", org.user_id],
        [st["Demo"], st["Won"], "250.00", org.user_id],
        [st["Won"], st["Demo"], "250.00", org.user_id]]
    ev = events(d["id"])
    assert ev.count("deal.stage_changed") == 3, ev
    assert ev[0] == "deal.created"
    pay = event_payloads(d["id"], "deal.stage_changed")
    assert [(x["from_stage_id"], x["to_stage_id"]) for x in pay] == [
        (st["Lead in"], st["Demo"]), (st["Demo"], st["Won"]),
        (st["Won"], st["Demo"])]
    assert all(x["pipeline_id"] == p["id"] and x["id"] == d["id"]
               for x in pay)


def test_stage_history_route(org, other):
    c = org.client
    p = new_pipeline(c)
    st = {s["name"]: s["id"] for s in p["stages"]}
    d = D.create(c, {"name": "Read history", "pipeline_id": p["id"],
                     "amount": "7.00"})
    D.patch_ok(c, d["id"], {"stage_id": st["Demo"], "amount": "8.00"})
    b = assert_json(c.get(D.url(d["id"], "/stage-history")), 200)
    assert [(h["from_stage_id"], h["to_stage_id"], h["amount"],
             h["probability"]) for h in b["data"]] == [
        (st["Lead in"], st["Demo"], "8.00", 40),
        (None, st["Lead in"], "7.00", 5)]
    assert all(h["pipeline_id"] == p["id"] and
               h["changed_by"] == org.user_id for h in b["data"])
    rows = history(d["id"])
    assert [h["to_stage_id"] for h in reversed(b["data"])] == \
        [r[1] for r in rows]
    # Visible deals only: 404 like a missing one otherwise.
    for client, id_ in ((other.client, d["id"]), (c, rand_uuid()),
                        (c, "nope")):
        assert_problem(client.get(D.url(id_, "/stage-history")), 404,
                       "not_found")
    assert D.delete(c, d["id"]).status_code == 204
    assert_problem(c.get(D.url(d["id"], "/stage-history")), 404,
                   "not_found")
    s = make_user(org, "sales")
    try:
        mine = D.create(s.client, {"name": "Sales history"})
        assert len(assert_json(s.client.get(
            D.url(mine["id"], "/stage-history")), 200)["data"]) == 1
        theirs = D.create(c, {"name": "Owner's"})
        assert_problem(s.client.get(D.url(theirs["id"], "/stage-history")),
                       404, "not_found")
    finally:
        s.close()


def test_failed_stage_change_leaves_no_history(org):
    c = org.client
    p, other = new_pipeline(c), new_pipeline(c)
    d = D.create(c, {"name": "Strict", "pipeline_id": p["id"]})
    field_problem(D.patch(c, d["id"], {"stage_id": other["stages"][1]["id"]}),
                  "stage_id")
    field_problem(D.patch(c, d["id"], {"stage_id": rand_uuid()}), "stage_id")
    assert len(history(d["id"])) == 1
    assert "deal.stage_changed" not in events(d["id"])


def test_moving_to_another_pipeline_takes_its_first_stage(org):
    c = org.client
    p, p2 = new_pipeline(c), new_pipeline(c)
    d = D.create(c, {"name": "Mover", "pipeline_id": p["id"]})
    r = D.patch_ok(c, d["id"], {"pipeline_id": p2["id"]})
    assert r["stage_id"] == p2["stages"][0]["id"]
    assert event_payloads(d["id"], "deal.stage_changed")[0][
        "from_pipeline_id"] == p["id"]


DEAL_BAD = [
    ({"name": None}, "name"), ({"name": " "}, "name"),
    ({"amount": "-1.00"}, "amount"), ({"amount": 10}, "amount"),
    ({"amount": "1.234"}, "amount"), ({"probability": 101}, "probability"),
    ({"probability": -1}, "probability"), ({"probability": "5"},
                                           "probability"),
    ({"currency": "usd"}, "currency"), ({"currency": "USX"}, "currency"),
    ({"expected_close_date": "2027-02-29"}, "expected_close_date"),
    ({"type": "gift"}, "type"), ({"account_id": "RANDOM"}, "account_id"),
    ({"pipeline_id": "RANDOM"}, "pipeline_id"),
    ({"stage_id": "RANDOM"}, "stage_id"),
    ({"contacts": {"contact_id": "x"}}, "contacts"),
    ({"contacts": [{"contact_id": "RANDOM"}]}, "contacts[0].contact_id"),
    ({"contacts": [{"id": "x"}]}, "contacts[0]"),
    ({"contacts": [{"contact_id": "RANDOM", "role": 5}]},
     "contacts[0].contact_id"),
]


@pytest.mark.parametrize("over,field", DEAL_BAD,
                         ids=[f + str(i) for i, (_, f) in
                              enumerate(DEAL_BAD)])
def test_deal_validation_422(org, over, field):
    def mat(v):
        if v == "RANDOM":
            return rand_uuid()
        if isinstance(v, list):
            return [{k: mat(x) for k, x in e.items()} for e in v]
        return v
    over = {k: mat(v) for k, v in over.items()}
    tag = "bad " + uid(8)
    body = dict({"name": "Bad deal"}, **over)
    if body["name"] is None:
        del body["name"]
    body["description"] = tag
    field_problem(D.post(org.client, body), field)
    assert count("crm.deals", "description = %s" % q(tag)) == 0
    d = D.create(org.client, {"name": "Target"})
    field_problem(D.patch(org.client, d["id"], over), field)
    assert D.get(org.client, d["id"])[1] == 1


def test_closed_at_is_read_only(org):
    r = D.post(org.client, {"name": "x", "closed_at": "2027-01-01T00:00:00Z"})
    assert "closed_at" in [e["field"] for e in
                           assert_problem(r, 400, "bad_request")["errors"]]


def test_deal_contacts_synced(org, other):
    c = org.client
    c1 = C.create(c, {"first_name": "Buyer"})
    c2 = C.create(c, {"first_name": "Champion"})
    d = D.create(c, {"name": "People", "contacts": [
        {"contact_id": c1["id"], "role": "decision maker"},
        {"contact_id": c2["id"]}]})
    assert d["contacts"] == [
        {"contact_id": c1["id"], "role": "decision maker"},
        {"contact_id": c2["id"], "role": None}]
    links = sql("SELECT contact_id, coalesce(role, '-') FROM "
                "crm.deal_contacts WHERE deal_id = %s ORDER BY role;"
                % q(d["id"]))
    assert sorted(links) == sorted([[c1["id"], "decision maker"],
                                    [c2["id"], "-"]])
    r = D.patch_ok(c, d["id"], {"contacts": [{"contact_id": c2["id"],
                                              "role": "champion"}]})
    assert r["contacts"] == [{"contact_id": c2["id"], "role": "champion"}]
    assert count("crm.deal_contacts", "deal_id = %s" % q(d["id"])) == 1
    field_problem(D.patch(c, d["id"], {"contacts": [
        {"contact_id": c1["id"]}, {"contact_id": c1["id"]}]}),
        "contacts[1].contact_id")
    foreign = C.create(other.client, {"first_name": "Foreign"})
    field_problem(D.patch(c, d["id"], {"contacts": [
        {"contact_id": foreign["id"]}]}), "contacts[0].contact_id")
    assert D.patch_ok(c, d["id"], {"contacts": None})["contacts"] == []
    assert count("crm.deal_contacts", "deal_id = %s" % q(d["id"])) == 0


def test_deal_of_another_tenants_pipeline_or_account(org, other):
    theirs = default_pipeline(other)
    field_problem(D.post(org.client, {"name": "x", "pipeline_id":
                                      theirs["id"]}), "pipeline_id")
    field_problem(D.post(org.client, {"name": "x", "stage_id":
                                      theirs["stages"][0]["id"]}),
                  "stage_id")
    acc = A.create(other.client, {"name": "Theirs " + uid(6)})
    field_problem(D.post(org.client, {"name": "x", "account_id":
                                      acc["id"]}), "account_id")


def test_deleted_pipeline_takes_no_new_deals(org):
    p = new_pipeline(org.client)
    assert P.delete(org.client, p["id"]).status_code == 204
    field_problem(D.post(org.client, {"name": "x", "pipeline_id": p["id"]}),
                  "pipeline_id")


def test_sales_deal_scope(org):
    s1, s2 = make_user(org, "sales"), make_user(org, "sales")
    try:
        mine = D.create(s1.client, {"name": "Mine"})
        theirs = D.create(s2.client, {"name": "Theirs"})
        assert mine["owner_id"] == s1.user_id
        for m in ("GET", "PATCH", "TIMELINE"):
            D.missing(s1.client, m, theirs["id"], body={"name": "x"})
        assert_problem(D.delete(s1.client, mine["id"]), 403, "forbidden")
    finally:
        s1.close()
        s2.close()
