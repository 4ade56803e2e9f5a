"""Tenant isolation and BOLA (SECURITY.md T1, T2, ISO-01..06, ISO-13).

Three tenants made through sign-up (conftest.world).  Every route of the
live table (GET /v1/_test/routes) that takes an id in its path is probed
with every method it declares, by every principal of every tenant, with
ids of the other tenants (of the route's kind, then of any kind), random
never-existing UUIDs, neighbours of the prober's own ids (UUIDv7 with the
last hex digits changed) and upper-cased foreign ids.

For each probe the reply must be exactly what the same principal gets for
a never-existing id on the same route (status and body bytes, request id
removed); that reply must be 401, 403 or 404; nothing may be 2xx or 5xx.
Afterwards every tenant's users, roles, teams (with members), API keys
and CRM records of every kind (with their ETags) are compared, through
their own owner, with a snapshot taken before.
"""

import concurrent.futures as cf
import json
import random
import re
import statistics
import threading
import time
import uuid

import pytest

import crmtest
from seclib import (RECORD_KINDS, count_429, neighbour, rand_uuid7, send,
                    stat, strip_rid)

TARGET_PROBES = 10500
THREADS = 8
SWEEP_BUDGET_S = 90.0
TIMING_PAIRS = 1000
VOLATILE = ("last_used_at", "last_login_at", "last_used_ip")

PARAM_RE = re.compile(r"\{(\w+)\}")

# Principals whose every request must be 401: a deactivated user's token
# and a token with an edited tenant (docs/identity.md "Revocation").
REVOKED = ("deactivated", "forged")

# What the sweep saw, for the tests after it.
SWEEP = {}


def kind_of(path, param_index, name):
    if name in ("user_id",):
        return "users"
    if name == "delivery_id":
        return "jobs"
    seg = path.split("/")
    return seg[2] if len(seg) > 2 and seg[1] == "v1" else None


def body_for(method, path, tenant):
    if method == "PATCH":
        k = kind_of(path, 0, "id")
        if k in ("roles", "webhooks"):
            return {"description": "pwned by another tenant"}
        if k == "custom-fields":
            return {"label": "pwned by another tenant"}
        if k in RECORD_KINDS:
            return {RECORD_KINDS[k][1]: "pwned by another tenant"}
        return {"name": "pwned by another tenant"}
    if method == "POST" and path.endswith("/merge"):
        # A real record of the caller's own tenant to merge: only the
        # survivor's id decides, and a foreign one must stay a 404.
        return {"from_ids": [tenant.records[kind_of(path, 0, "id")][0]]}
    if method == "POST" and path.endswith("/members"):
        return {"user_id": tenant.users["sales"].user_id}
    if method == "POST" and path.endswith("/emails"):
        # Valid, so that only the contact's tenant can refuse it.
        return {"subject": "isolation probe", "body": "x"}
    if method in ("POST", "PUT"):
        return {}
    return None


class Local(threading.local):
    def __init__(self):
        self.c = None


_local = Local()


def _client(base_url):
    if _local.c is None:
        _local.c = crmtest.Client(base_url)
    return _local.c


def snapshot(world):
    """Every tenant's identity objects, read by its own owner."""
    out = {}
    for letter, t in world.tenants.items():
        c = t.owner.client
        snap = {}
        for path in ("/v1/users", "/v1/roles", "/v1/teams", "/v1/api-keys",
                     "/v1/custom-fields", "/v1/webhooks",
                     "/v1/email-templates"):
            r = send(c, "GET", path if "custom" in path else
                     path + "?limit=200")
            assert r.status_code == 200, "%s: %d %s" % (path, r.status_code,
                                                        r.text[:200])
            for o in r.json()["data"]:
                o = {k: v for k, v in o.items() if k not in VOLATILE}
                snap[(path, o["id"])] = o
        for tid in t.teams:
            r = send(c, "GET", "/v1/teams/" + tid)
            assert r.status_code == 200, r.text
            snap[("team", tid)] = r.json()
        for kind, ids in t.records.items():
            for rid in ids:
                r = send(c, "GET", "/v1/%s/%s" % (kind, rid))
                assert r.status_code == 200, r.text
                snap[(kind, rid)] = (r.json(), r.headers.get("ETag"))
        out[letter] = snap
    return out


class Probe:
    __slots__ = ("letter", "pname", "token", "method", "tmpl", "vals",
                 "cls", "body", "bkey", "status", "sbody", "text")

    def __init__(self, letter, pname, token, method, tmpl, vals, cls, body):
        self.letter, self.pname, self.token = letter, pname, token
        self.method, self.tmpl, self.vals, self.cls = method, tmpl, vals, cls
        self.body = body
        own = tuple(v if c == "own" else None for v, c in zip(vals, cls))
        upper = any(c == "upper" for c in cls)
        self.bkey = (letter, pname, method, tmpl, own, upper)
        self.status = None
        self.sbody = b""
        self.text = None

    def path(self):
        it = iter(self.vals)
        return PARAM_RE.sub(lambda m: next(it), self.tmpl)

    def baseline(self):
        """The same request with every non-own id never-existing."""
        upper = any(c == "upper" for c in self.cls)
        vals = tuple(v if c == "own" else
                     (rand_uuid7().upper() if upper else rand_uuid7())
                     for v, c in zip(self.vals, self.cls))
        cls = tuple("own" if c == "own" else "random" for c in self.cls)
        p = Probe(self.letter, self.pname, self.token, self.method,
                  self.tmpl, vals, cls, self.body)
        p.bkey = self.bkey
        return p


def run_probe(base_url, p, deadline):
    if time.monotonic() > deadline:
        return p
    c = _client(base_url)
    r = send(c, p.method, p.path(), token=p.token, body=p.body, max_wait=30)
    p.status = r.status_code
    p.sbody = strip_rid(r)
    if 200 <= r.status_code < 300 or r.status_code >= 500:
        p.text = r.text[:300]
    return p


def run_all(base_url, probes, deadline):
    with cf.ThreadPoolExecutor(THREADS) as ex:
        return list(ex.map(lambda p: run_probe(base_url, p, deadline),
                           probes))


class Plan:
    def __init__(self, world, routes):
        self.world = world
        self.id_routes = [r for r in routes if "{" in r["path"]]
        self.principals = {}
        for letter, t in world.tenants.items():
            for pname, tok in t.principals().items():
                self.principals[(letter, pname)] = tok

    def foreign(self, letter, kind):
        ids = []
        for t in self.world.others(letter):
            ids.extend(t.ids(kind) if kind else t.ids())
        return ids or [i for t in self.world.others(letter) for i in t.ids()]

    def own(self, letter, kind):
        return self.world[letter].ids(kind) or self.world[letter].ids()

    def structured(self):
        """Every (principal, route, method) with every foreign id of the
        route's kind, plus random, neighbour and upper-case probes."""
        probes = []
        for (letter, pname), tok in self.principals.items():
            t = self.world[letter]
            for r in self.id_routes:
                tmpl, m = r["path"], r["method"]
                names = PARAM_RE.findall(tmpl)
                kinds = [kind_of(tmpl, i, n) for i, n in enumerate(names)]
                body = body_for(m, tmpl, t)

                def add(vals, cls):
                    probes.append(Probe(letter, pname, tok, m, tmpl,
                                        tuple(vals), tuple(cls), body))
                if len(names) == 1:
                    for fid in self.foreign(letter, kinds[0]):
                        add([fid], ["foreign"])
                    fid = random.choice(self.foreign(letter, kinds[0]))
                    add([fid.upper()], ["upper"])
                    for _ in range(2):
                        add([rand_uuid7()], ["random"])
                        add([neighbour(random.choice(
                            self.own(letter, kinds[0])))], ["neighbour"])
                else:
                    # e.g. /v1/teams/{id}/members/{user_id}
                    f0 = self.foreign(letter, kinds[0])
                    f1 = self.foreign(letter, kinds[1])
                    o0 = self.own(letter, kinds[0])
                    o1 = self.own(letter, kinds[1])
                    for fid in f0:
                        add([fid, random.choice(f1)], ["foreign"] * 2)
                        add([fid, random.choice(o1)], ["foreign", "own"])
                    for uid in f1:
                        add([o0[0], uid], ["own", "foreign"])
                    add([rand_uuid7(), rand_uuid7()], ["random"] * 2)
                    add([neighbour(o0[0]), o1[0]], ["neighbour", "own"])
        return probes

    def top_up(self, n, have):
        """Random (principal, route, id) triples of any foreign kind,
        spread so that every tenant ends with about the same number of
        rate-limited probes (the limiter counts per tenant)."""
        load = {l: 0 for l in self.world.tenants}
        for p in have:
            if p.pname != "forged":
                load[p.letter] += 1
        goal = (sum(load.values()) + n) / len(load)
        quota = {l: max(0, int(goal - v)) for l, v in load.items()}
        if sum(quota.values()) == 0:
            quota = {l: n // len(load) + 1 for l in load}
        probes = []
        for letter, q in quota.items():
            keys = [k for k in self.principals if k[0] == letter]
            strong = [k for k in keys if k[1] in ("owner", "admin")]
            for _ in range(q):
                # Half as owner or admin: past the permission step, where
                # only the tenant boundary can refuse.
                probes.append(self._one(random.choice(
                    strong if random.random() < 0.5 else keys)))
        return probes

    def _one(self, key):
        """One random probe by this principal."""
        letter, pname = key
        t = self.world[letter]
        r = random.choice(self.id_routes)
        tmpl, m = r["path"], r["method"]
        names = PARAM_RE.findall(tmpl)
        vals, cls = [], []
        for i, name in enumerate(names):
            x = random.random()
            if x < 0.6:
                vals.append(random.choice(self.foreign(letter, None)))
                cls.append("foreign")
            elif x < 0.8:
                vals.append(neighbour(random.choice(t.ids())))
                cls.append("neighbour")
            else:
                vals.append(rand_uuid7())
                cls.append("random")
        return Probe(letter, pname, self.principals[(letter, pname)],
                     m, tmpl, tuple(vals), tuple(cls),
                     body_for(m, tmpl, t))


@pytest.fixture(scope="module")
def plan(world, routes):
    p = Plan(world, routes)
    assert p.id_routes, "no route takes an id: nothing to probe"
    return p


@pytest.fixture(scope="module")
def before(world, plan):
    return snapshot(world)


def test_route_kinds_have_ids(plan):
    """Every id route's kind has objects in the world (else the sweep
    would only use ids of other kinds for it)."""
    missing = []
    for r in plan.id_routes:
        for i, name in enumerate(PARAM_RE.findall(r["path"])):
            k = kind_of(r["path"], i, name)
            if not plan.world["A"].ids(k):
                missing.append("%s %s {%s} kind %r" % (r["method"],
                                                       r["path"], name, k))
    stat("isolation: id routes", len(plan.id_routes))
    assert not missing, "no objects of these kinds in the test world " \
        "(add them to conftest.World): %s" % missing


def test_cross_tenant_sweep(world, plan, before, base_url):
    t0 = time.monotonic()
    deadline = t0 + SWEEP_BUDGET_S
    n429 = count_429()
    probes = plan.structured()
    if len(probes) < TARGET_PROBES:
        probes += plan.top_up(TARGET_PROBES - len(probes), probes)
    while len(probes) < TARGET_PROBES:
        probes.append(plan._one(random.choice(list(plan.principals))))
    random.shuffle(probes)
    # Baselines first: one never-existing id per (principal, route, own
    # ids kept).
    bases = {}
    for p in probes:
        if p.bkey not in bases:
            bases[p.bkey] = p.baseline()
    run_all(base_url, list(bases.values()), deadline)
    run_all(base_url, probes, deadline)
    elapsed = time.monotonic() - t0
    done = [p for p in probes if p.status is not None]
    total = len(done) + len(bases)
    hist = {}
    for p in done:
        hist[p.status] = hist.get(p.status, 0) + 1
    n_foreign = sum(1 for p in done if "foreign" in p.cls or
                    "upper" in p.cls)
    stat("isolation: probes (incl. baselines)", total)
    stat("isolation: probes with a foreign id", n_foreign)
    stat("isolation: sweep seconds", "%.1f (%.0f req/s)" % (
        elapsed, total / max(elapsed, 1e-9)))
    stat("isolation: statuses", json.dumps(hist, sort_keys=True))
    stat("isolation: 429s waited out", count_429() - n429)
    print("isolation sweep: %d probes in %.1f s, statuses %s, 429s %d"
          % (total, elapsed, hist, count_429() - n429))

    bad = []
    for b in bases.values():
        if b.status is None:
            continue
        if b.status not in (401, 403, 404):
            bad.append("baseline %s %s as %s/%s: %s %r" % (
                b.method, b.path(), b.letter, b.pname, b.status,
                (b.text or b.sbody[:200])))
    revoked = []
    for p in done + [b for b in bases.values() if b.status is not None]:
        if p.pname in REVOKED and p.status != 401:
            revoked.append("%s %s as %s/%s: %d %r" % (
                p.method, p.path(), p.letter, p.pname, p.status,
                p.sbody[:160]))
    SWEEP["revoked"] = revoked
    SWEEP["revoked_total"] = sum(1 for p in done if p.pname in REVOKED)
    for p in done:
        b = bases[p.bkey]
        what = "%s %s as %s/%s (%s)" % (p.method, p.path(), p.letter,
                                        p.pname, ",".join(p.cls))
        if p.pname in REVOKED and p.status in (401, 403):
            continue    # judged by test_revoked_credentials_always_401
        if p.status >= 500:
            bad.append("5xx: %s -> %d %r" % (what, p.status, p.text))
        elif 200 <= p.status < 300:
            bad.append("2xx: %s -> %d %r" % (what, p.status, p.text))
        elif b.status is not None and (p.status != b.status or
                                       p.sbody != b.sbody):
            bad.append("differs from never-existing id: %s -> %d %r; "
                       "baseline %d %r" % (what, p.status, p.sbody[:160],
                                           b.status, b.sbody[:160]))
    after = snapshot(world)
    for letter in before:
        for k, v in before[letter].items():
            if after[letter].get(k) != v:
                bad.append("tenant %s object %s changed: %r -> %r" % (
                    letter, k, v, after[letter].get(k)))
    assert not bad, "%d isolation violations (of %d probes); first 40:\n%s" \
        % (len(bad), total, "\n".join(bad[:40]))
    assert total >= 10000, (
        "only %d probes within %.0f s (%d 429s: raise "
        "CRM_RATE_LIMIT_MULTIPLIER for the security suite)"
        % (total, SWEEP_BUDGET_S, count_429() - n429))


def test_revoked_credentials_always_401(world, plan):
    """During the sweep, a deactivated user's token and a forged token got
    401 on every route, whatever the route's permission (a 403 would say
    the credential still passes the permission step: docs/identity.md
    "the old access token gets 401 on the very next request")."""
    if "revoked" not in SWEEP:
        pytest.skip("the sweep did not run")
    assert SWEEP["revoked_total"] > 0
    bad = SWEEP["revoked"]
    assert not bad, "%d of %d requests with a revoked credential were not " \
        "401; first 20:\n%s" % (len(bad), SWEEP["revoked_total"],
                                 "\n".join(bad[:20]))


def _no_foreign(world, letter, text):
    hits = []
    for t in world.others(letter):
        for i in t.ids() + [t.owner.email]:
            if i and i in text:
                hits.append(i)
    return hits


def test_ids_in_bodies_are_not_resolved_across_tenants(world):
    """ISO-03: a foreign user id in a team-member body, a foreign role
    (id or name) in a user's PATCH or an invitation: refused like a
    never-existing one, and nothing changes."""
    A, B = world["A"], world["B"]
    c = A.owner.client
    team = A.teams[1]
    target = A.users["read_only"]
    bad = []

    def same(r1, r2, v1, v2, what):
        if 200 <= r1.status_code < 300 or r1.status_code >= 500:
            bad.append("%s: %d %s" % (what, r1.status_code, r1.text[:200]))
        b1 = strip_rid(r1).replace(v1.encode(), b"<v>")
        b2 = strip_rid(r2).replace(v2.encode(), b"<v>")
        if r1.status_code != r2.status_code or b1 != b2:
            bad.append("%s: %d %r vs never-existing %d %r" % (
                what, r1.status_code, b1[:200], r2.status_code, b2[:200]))

    for fid in (B.users["sales"].user_id, B.owner.user_id):
        rnd = rand_uuid7()
        same(send(c, "POST", "/v1/teams/%s/members" % team,
                  body={"user_id": fid}),
             send(c, "POST", "/v1/teams/%s/members" % team,
                  body={"user_id": rnd}), fid, rnd,
             "POST own team members {user_id: B's user}")
    for role in (B.custom_role["id"], B.custom_role["name"],
                 B.role_ids["admin"]):
        fake = rand_uuid7() if "-" in role else "sec_never_%s" % \
            uuid.uuid4().hex[:8]
        same(send(c, "PATCH", "/v1/users/" + target.user_id,
                  body={"role": role}),
             send(c, "PATCH", "/v1/users/" + target.user_id,
                  body={"role": fake}), role, fake,
             "PATCH own user {role: B's %s}" % role)
        email = "sec-x-%s@example.com" % uuid.uuid4().hex[:10]
        same(send(c, "POST", "/v1/users", body={"email": email,
                                                "role": role}),
             send(c, "POST", "/v1/users", body={"email": email,
                                                "role": fake}), role, fake,
             "POST /v1/users invite {role: B's %s}" % role)
    r = send(c, "GET", "/v1/teams/" + team)
    assert r.status_code == 200, r.text
    hits = _no_foreign(world, "A", r.text)
    if hits:
        bad.append("own team now lists foreign ids %s" % hits)
    r = send(c, "GET", "/v1/users/" + target.user_id)
    assert r.status_code == 200, r.text
    if r.json().get("role") != "read_only":
        bad.append("own user's role is now %r" % r.json().get("role"))
    assert not bad, "\n".join(bad)


def test_record_references_are_not_resolved_across_tenants(world):
    """ISO-03 for CRM records: every reference a record body can carry
    (composite foreign keys and the ids inside stages, contacts, related,
    participants and price-book entries, and a conversion's account_id)
    answers B's id exactly like a never-existing one, and A's records do
    not change."""
    A, B = world["A"], world["B"]
    c = A.owner.client
    bid = {k: v[0] for k, v in B.records.items()}
    r = send(B.owner.client, "GET", "/v1/pipelines/" + bid["pipelines"])
    assert r.status_code == 200, r.text
    b_stage = r.json()["stages"][0]["id"]
    own = {k: v[0] for k, v in A.records.items()}
    probes = [
        ("contacts", {"account_id": bid["accounts"]}),
        ("deals", {"account_id": bid["accounts"]}),
        ("deals", {"pipeline_id": bid["pipelines"]}),
        ("deals", {"stage_id": b_stage}),
        ("deals", {"contacts": [{"contact_id": bid["contacts"]}]}),
        ("activities", {"related": [{"entity": "deals",
                                     "id": bid["deals"]}]}),
        ("activities", {"participants": [{"user_id": B.owner.user_id}]}),
        ("activities", {"participants": [{"contact_id":
                                           bid["contacts"]}]}),
        ("price-books", {"entries": [{"product_id": bid["products"],
                                      "unit_price": "1.00"}]}),
        ("pipelines", {"stages": [{"id": b_stage, "name": "Stolen",
                                   "probability": 1}]}),
    ]
    before = {}
    for kind in own:
        r = send(c, "GET", "/v1/%s/%s" % (kind, own[kind]))
        assert r.status_code == 200, r.text
        before[kind] = (r.json(), r.headers.get("ETag"))
    bad = []
    for kind, body in probes:
        foreign = json.dumps(body)
        fid = [v for v in re.findall(r"[0-9a-f-]{36}", foreign)][0]
        rnd = rand_uuid7()
        r1 = send(c, "PATCH", "/v1/%s/%s" % (kind, own[kind]), body=body)
        r2 = send(c, "PATCH", "/v1/%s/%s" % (kind, own[kind]),
                  body=json.loads(foreign.replace(fid, rnd)))
        b1 = strip_rid(r1).replace(fid.encode(), b"<v>")
        b2 = strip_rid(r2).replace(rnd.encode(), b"<v>")
        if r1.status_code != 422 or r1.status_code != r2.status_code or \
                b1 != b2:
            bad.append("PATCH %s %s: %d %r vs never-existing %d %r" % (
                kind, foreign, r1.status_code, b1[:200], r2.status_code,
                b2[:200]))
    rnd = rand_uuid7()
    r1 = send(c, "POST", "/v1/leads/%s/convert" % own["leads"],
              body={"account_id": bid["accounts"]})
    r2 = send(c, "POST", "/v1/leads/%s/convert" % own["leads"],
              body={"account_id": rnd})
    if r1.status_code != 422 or strip_rid(r1).replace(
            bid["accounts"].encode(), b"") != strip_rid(r2).replace(
            rnd.encode(), b""):
        bad.append("convert {account_id: B's}: %d %s" % (r1.status_code,
                                                        r1.text[:200]))
    for kind in own:
        r = send(c, "GET", "/v1/%s/%s" % (kind, own[kind]))
        if (r.json(), r.headers.get("ETag")) != before[kind]:
            bad.append("A's %s changed: %r" % (kind, r.json()))
    assert not bad, "\n".join(bad)


def test_tenant_selectors_in_query_and_headers_have_no_effect(world,
                                                             routes):
    """ISO-04 / ISO-13: ?tenant_id=B, filter[tenant_id], X-Tenant: B never
    select another tenant; the tenant comes from the credential only."""
    A, B = world["A"], world["B"]
    c = A.owner.client
    lists = [r["path"] for r in routes
             if r["method"] == "GET" and "{" not in r["path"]
             and r["permission"] != "public"]
    assert "/v1/me" in lists and "/v1/users" in lists, lists
    bad = []
    n = 0
    for path in lists:
        if path == "/v1/search":     # needs a query: A's and B's records
            path += "?q=SecTest"     # are both named "SecTest account"
        plain = send(c, "GET", path)
        n += 1
        if plain.status_code != 200:
            bad.append("%s plain: %d %s" % (path, plain.status_code,
                                           plain.text[:200]))
            continue
        q = "&" if "?" in path else "?"
        variants = [
            ("?tenant_id=B", path + q + "tenant_id=" + B.id, {}),
            ("?tenant=B", path + q + "tenant=" + B.owner.tenant["slug"], {}),
            ("filter[tenant_id]", path + q + "filter[tenant_id][eq]=" + B.id,
             {}),
            ("X-Tenant", path, {"X-Tenant": B.id}),
            ("X-Tenant-Id", path, {"X-Tenant-Id": B.id}),
            ("X-Tenant slug", path, {"X-Tenant": B.owner.tenant["slug"]}),
        ]
        for label, p, h in variants:
            r = send(c, "GET", p, headers=h)
            n += 1
            if r.status_code >= 500 or (200 <= r.status_code < 300 and
                                        _no_foreign(world, "A", r.text)):
                bad.append("%s %s: %d with foreign data %s" % (
                    path, label, r.status_code,
                    _no_foreign(world, "A", r.text)))
            elif r.status_code == 200 and not h:
                pass      # ignored query parameter: same tenant's data
            elif r.status_code not in (200, 400):
                bad.append("%s %s: %d %s" % (path, label, r.status_code,
                                            r.text[:200]))
            if h and r.status_code != 200:
                bad.append("%s %s header changed the answer: %d" % (
                    path, label, r.status_code))
    for path in ("/v1/me", "/v1/tenant"):
        r = send(c, "GET", path, headers={"X-Tenant": B.id})
        tid = (r.json().get("tenant") or {}).get("id") if path == "/v1/me" \
            else r.json().get("id")
        if tid != A.id:
            bad.append("%s with X-Tenant B names tenant %r" % (path, tid))
    r = send(c, "GET", "/v1/tenants/%s/users" % B.id)
    n += 1
    if r.status_code != 404:
        bad.append("/v1/tenants/B/users: %d" % r.status_code)
    stat("isolation: tenant-selector requests", n)
    assert not bad, "\n".join(bad)


def test_foreign_404_timing_indistinguishable(world, base_url):
    """T2: median latency of 404 for a foreign id vs a never-existing id,
    paired, >= 1000 pairs, on the id routes of each kind."""
    letters = list(world.tenants)
    kinds = [("users", "/v1/users/"), ("teams", "/v1/teams/"),
             ("roles", "/v1/roles/"), ("api-keys", "/v1/api-keys/"),
             ("accounts", "/v1/accounts/")]
    c = crmtest.Client(base_url)
    fore, rnd, diffs = [], [], []
    skipped = 0
    t0 = time.monotonic()
    i = 0
    try:
        # Warm the connection and the caches.
        for letter in letters:
            send(c, "GET", "/v1/me", token=world[letter].owner.access)
        while len(diffs) < TIMING_PAIRS and time.monotonic() - t0 < 55:
            letter = letters[i % len(letters)]
            kind, prefix = kinds[(i // len(letters)) % len(kinds)]
            i += 1
            t = world[letter]
            fid = random.choice([x for o in world.others(letter)
                                 for x in o.ids(kind)])
            pair = [("f", fid), ("r", rand_uuid7())]
            random.shuffle(pair)
            got = {}
            retry = False
            for tag, id_ in pair:
                s = time.perf_counter()
                r = c.get(prefix + id_, headers={
                    "Authorization": "Bearer " + t.owner.access})
                d = time.perf_counter() - s
                if r.status_code == 429:
                    retry = True
                    time.sleep(min(float(r.headers.get("Retry-After", 1)),
                                   2.0))
                    break
                if r.status_code != 404:
                    pytest.fail("%s%s: %d %s" % (prefix, id_, r.status_code,
                                                 r.text[:200]))
                got[tag] = d
            if retry:
                skipped += 1
                continue
            fore.append(got["f"])
            rnd.append(got["r"])
            diffs.append(got["f"] - got["r"])
    finally:
        c.close()
    mf, mr = statistics.median(fore), statistics.median(rnd)
    stat("timing: pairs (429-interrupted pairs)", "%d (%d)" % (len(diffs),
                                                               skipped))
    stat("timing: median foreign / random ms", "%.3f / %.3f" % (
        mf * 1e3, mr * 1e3))
    stat("timing: median paired difference ms", "%.3f" % (
        statistics.median(diffs) * 1e3))
    assert len(diffs) >= TIMING_PAIRS, "only %d pairs in 55 s (%d hit 429)" \
        % (len(diffs), skipped)
    assert abs(mf - mr) < 0.002, \
        "median 404 latency foreign %.3f ms vs never-existing %.3f ms" % (
            mf * 1e3, mr * 1e3)
