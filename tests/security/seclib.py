"""seclib: the security suite's helpers and its test world (see
conftest.py for the fixtures that use them)."""

import base64
import json
import os
import random
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))

import crmtest  # noqa: E402
import identity as idn  # noqa: E402

JSON_CT = "application/json; charset=utf-8"
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# Printed by pytest_terminal_summary.
STATS = {}
_stats_lock = threading.Lock()


def stat(key, value):
    with _stats_lock:
        STATS[key] = value


# ------------------------------------------------------------ small tools

def b64url(b):
    if isinstance(b, str):
        b = b.encode()
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64url_dec(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwt_parts(token):
    h, p, s = token.split(".")
    return json.loads(b64url_dec(h)), json.loads(b64url_dec(p)), s


def rand_uuid7():
    """A UUIDv7-shaped id that exists nowhere (62 random bits)."""
    ms = int(time.time() * 1000) - random.randint(0, 86400000)
    r = random.getrandbits(74)
    v = (ms << 80) | (0x7 << 76) | ((r >> 62) << 64) | (0b10 << 62) | \
        (r & ((1 << 62) - 1))
    return str(uuid.UUID(int=v))


def neighbour(uid):
    """The same UUIDv7 with its last hex digits changed (ISO-06)."""
    n = random.choice((1, 2, 3))
    tail = uid[-n:]
    while True:
        new = "".join(random.choice("0123456789abcdef") for _ in range(n))
        if new != tail:
            return uid[:-n] + new


def strip_rid(resp):
    """The body bytes with the request id's value removed (T2)."""
    body = resp.content
    rid = resp.headers.get("X-Request-Id")
    if rid:
        body = body.replace(rid.encode(), b"")
    return body


class RateLimited(AssertionError):
    pass


# 429s seen anywhere in the suite (reported; the lead raises
# CRM_RATE_LIMIT_MULTIPLIER for the test stack when they appear).
_429 = {"n": 0}


def count_429():
    return _429["n"]


def send(session, method, path, token=None, body=None, headers=None,
         max_wait=20.0, raw=None):
    """One request; a 429 is waited out (Retry-After, capped) and retried
    until max_wait seconds of waiting are spent."""
    h = {}
    if token is not None:
        h["Authorization"] = "Bearer " + token
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = JSON_CT
    if headers:
        h.update(headers)
    waited = 0.0
    while True:
        r = session.request(method, path, data=data, headers=h)
        if r.status_code != 429:
            return r
        with _stats_lock:
            _429["n"] += 1
        try:
            ra = float(r.headers.get("Retry-After", "1"))
        except ValueError:
            ra = 1.0
        if waited + min(ra, 2.0) > max_wait:
            raise RateLimited("%s %s: still 429 after waiting %.1f s "
                              "(Retry-After %s); raise "
                              "CRM_RATE_LIMIT_MULTIPLIER for this suite"
                              % (method, path, waited,
                                 r.headers.get("Retry-After")))
        d = min(max(ra, 0.05), 2.0) * random.uniform(0.5, 1.0)
        time.sleep(d)
        waited += d


# ------------------------------------------------------------ the world

class Tenant:
    def __init__(self, letter):
        self.letter = letter
        self.owner = None
        self.users = {}          # role -> identity.Account
        self.deactivated = None  # identity.Account (token kept)
        self.custom_role = None  # {id, name}
        self.role_ids = {}       # name -> id
        self.teams = []          # ids
        self.keys = {}           # "narrow"/"broad" -> (201 body, key)
        self.invitations = []    # pending invitation ids
        self.records = {k: [] for k in RECORD_KINDS}  # CRM record ids
        self.custom_fields = []  # custom field definition ids
        self.webhooks = []       # webhook ids (disabled after one event)
        self.jobs = []           # job ids (the webhook's delivery)
        self.exports = []        # export job ids (the owner's)
        self.email_templates = []  # e-mail template ids
        self.forged = None       # a token that must be refused

    @property
    def id(self):
        return self.owner.tenant_id

    @property
    def accounts(self):
        return self.records["accounts"]

    @property
    def user_ids(self):
        ids = [self.owner.user_id] + [a.user_id for a in self.users.values()]
        if self.deactivated is not None:
            ids.append(self.deactivated.user_id)
        return ids

    def ids(self, kind=None):
        """This tenant's object ids of one kind (or all)."""
        by = {
            "users": self.user_ids,
            "roles": list(self.role_ids.values()),
            "teams": list(self.teams),
            "api-keys": [b["id"] for b, _ in self.keys.values()],
            "invitations": list(self.invitations),
            "custom-fields": list(self.custom_fields),
            "webhooks": list(self.webhooks),
            "jobs": list(self.jobs),
            "exports": list(self.exports),
            "email-templates": list(self.email_templates),
            "tenant": [self.id],
        }
        by.update({k: list(v) for k, v in self.records.items()})
        if kind is not None:
            return list(by.get(kind, []))
        out = []
        for v in by.values():
            out.extend(v)
        return out

    def principals(self):
        """name -> bearer credential (None = anonymous)."""
        p = {"owner": self.owner.access}
        for role, a in self.users.items():
            p[role] = a.access
        for kind, (b, key) in self.keys.items():
            p["key_" + kind] = key
        if self.deactivated is not None:
            p["deactivated"] = self.deactivated.access
        p["forged"] = self.forged
        return p


# The CRM record kinds of the world: one record of each per tenant, made
# by its owner, so that every id route is probed with real foreign ids
# (test_isolation) and read for real (the matrix).  Values: the body that
# creates one ("{account}" is the tenant's account id), and the field a
# hostile PATCH tries to change.
RECORD_KINDS = {
    "accounts": ({"name": "SecTest account"}, "name"),
    "contacts": ({"first_name": "SecTest", "account_id": "{account}"},
                 "first_name"),
    "leads": ({"company": "SecTest lead"}, "company"),
    "pipelines": ({"name": "SecTest pipeline",
                   "stages": [{"name": "Open", "probability": 10}]}, "name"),
    "deals": ({"name": "SecTest deal", "account_id": "{account}"}, "name"),
    "activities": ({"type": "task", "subject": "SecTest task",
                    "related": [{"entity": "accounts", "id": "{account}"}]},
                   "subject"),
    "products": ({"name": "SecTest product"}, "name"),
    "price-books": ({"name": "SecTest price book"}, "name"),
}

NARROW_SCOPES = ["contacts:read"]
BROAD_SCOPES = ["contacts:*", "accounts:*", "leads:*", "deals:*",
                "activities:*"]

# Roles made in every tenant; tenant A gets every built-in role for the
# authorization matrix.
ROLES_A = ("admin", "manager", "sales", "marketing", "support", "read_only")
ROLES_BC = ("admin", "sales", "read_only")


def _ok(resp, status, what):
    assert resp.status_code == status, "%s: %d %s" % (
        what, resp.status_code, resp.text[:400])
    return resp.json()


def _build_tenant(base_url, letter, run):
    t = Tenant(letter)
    http = crmtest.Client(base_url)
    try:
        t.owner = idn.signup(http, company="SecTest %s %s" % (letter, run),
                             email=idn.unique_email("sec-%s-owner"
                                                    % letter.lower()),
                             plan="business")
    finally:
        http.close()
    owner = t.owner.client
    for role in (ROLES_A if letter == "A" else ROLES_BC):
        t.users[role] = idn.make_user(t.owner, role)
    # The deactivated user: a live token, then DELETE /v1/users/{id}.
    t.deactivated = idn.make_user(t.owner, "sales")
    r = send(owner, "DELETE", "/v1/users/" + t.deactivated.user_id)
    assert r.status_code == 204, "deactivate: %d %s" % (r.status_code,
                                                        r.text[:300])
    # A custom role whose name exists only in this tenant (ISO-03).
    name = "sec_only_%s_%s" % (letter.lower(), run)
    b = _ok(send(owner, "POST", "/v1/roles",
                 body={"name": name, "description": "security suite",
                       "grants": ["contacts:read"], "scope": "own"}),
            201, "POST /v1/roles")
    t.custom_role = {"id": b["id"], "name": name}
    roles = _ok(send(owner, "GET", "/v1/roles"), 200, "GET /v1/roles")
    for r in roles["data"]:
        t.role_ids[r["name"]] = r["id"]
    assert name in t.role_ids, roles
    for i in range(2):
        b = _ok(send(owner, "POST", "/v1/teams",
                     body={"name": "Team %s%d %s" % (letter, i, run)}),
                201, "POST /v1/teams")
        t.teams.append(b["id"])
    r = send(owner, "POST", "/v1/teams/%s/members" % t.teams[0],
             body={"user_id": t.users["sales"].user_id})
    assert r.status_code in (200, 201, 204), r.text
    for kind, scopes in (("narrow", NARROW_SCOPES), ("broad", BROAD_SCOPES)):
        b, c = idn.make_key(t.owner, scopes, name="sec %s %s" % (kind, run))
        c.close()
        t.keys[kind] = (b, b["key"])
    b = _ok(idn.invite(t.owner, "support"), 201, "invite")
    t.invitations.append(b["invitation"]["id"])
    # A webhook before the records, so the account's event makes a
    # delivery job: both are probed with real foreign ids.  It is disabled
    # at once (its delivery fails for good, never leaving the machine).
    b = _ok(send(owner, "POST", "/v1/webhooks",
                 body={"url": "https://hooks.example.invalid/sec-%s" % run,
                       "events": ["account.*"]}), 201, "POST /v1/webhooks")
    t.webhooks.append(b["id"])
    for kind, (body, _) in RECORD_KINDS.items():
        body = json.loads(json.dumps(body).replace(
            "{account}", t.accounts[0] if t.accounts else ""))
        b = _ok(send(owner, "POST", "/v1/" + kind, body=body), 201,
                "POST /v1/" + kind)
        t.records[kind].append(b["id"])
    _ok(send(owner, "PATCH", "/v1/webhooks/" + t.webhooks[0],
             body={"enabled": False}), 200, "PATCH /v1/webhooks")
    b = _ok(send(owner, "GET", "/v1/jobs?type=webhook"), 200, "GET /v1/jobs")
    t.jobs.extend(j["id"] for j in b["data"])
    assert t.jobs, "no delivery job for the webhook"
    # An export job: GET /v1/exports/{id}/download is probed with real
    # foreign export ids (a finished one serves its file to its owner only).
    b = _ok(send(owner, "POST", "/v1/exports", body={"entity": "accounts"}),
            202, "POST /v1/exports")
    t.exports.append(b["id"])
    b = _ok(send(owner, "POST", "/v1/custom-fields",
                 body={"entity": "accounts", "name": "sec_" + run,
                       "label": "Sec", "type": "text"}),
            201, "POST /v1/custom-fields")
    t.custom_fields.append(b["id"])
    b = _ok(send(owner, "POST", "/v1/email-templates",
                 body={"name": "sec " + run, "subject": "Hi",
                       "body_text": "Hello {{contact.first_name}}"}),
            201, "POST /v1/email-templates")
    t.email_templates.append(b["id"])
    return t


class World:
    def __init__(self, base_url):
        self.base_url = base_url
        self.run = uuid.uuid4().hex[:8]
        t0 = time.monotonic()
        self.tenants = {}
        for letter in "ABC":
            self.tenants[letter] = _build_tenant(base_url, letter, self.run)
        # Forged: A's token with tid edited to B, original signature.
        for letter, t in self.tenants.items():
            other = self.tenants["B" if letter != "B" else "C"]
            h, p, s = t.owner.access.split(".")
            claims = json.loads(b64url_dec(p))
            claims["tid"] = other.id
            t.forged = "%s.%s.%s" % (h, b64url(json.dumps(
                claims, separators=(",", ":"))), s)
        stat("world: build seconds", "%.1f" % (time.monotonic() - t0))

    def __getitem__(self, letter):
        return self.tenants[letter]

    def others(self, letter):
        return [t for l, t in self.tenants.items() if l != letter]


def private_key_for(kid):
    """The service's signing key (PEM) when this process can read it:
    tests/env.sh puts the ring in $CRM_KEYS_DIR (exported in test.env).
    Returns a cryptography private key, or None."""
    from cryptography.hazmat.primitives.serialization import \
        load_pem_private_key
    dirs = []
    if os.environ.get("CRM_KEYS_DIR"):
        dirs.append(os.environ["CRM_KEYS_DIR"])
    if os.environ.get("CRM_STACK_DIR"):
        dirs.append(os.path.join(os.environ["CRM_STACK_DIR"], "keys"))
    dirs.append(os.path.join(ROOT, "var", "keys"))
    for d in dirs:
        p = os.path.join(d, kid + ".pem")
        try:
            with open(p, "rb") as f:
                return load_pem_private_key(f.read(), password=None)
        except (OSError, ValueError):
            continue
    return None
