"""Function-level authorization (SECURITY.md T3, FUNC-01..05).

MATRIX below is the explicit expectation for every route of the service
(everything GET /v1/_test/routes lists apart from test-only routes): the
permission the route must declare and the outcome for each principal of
tenant A:

    A  allowed: not 401, 403 or 405 (2xx, a 4xx validation answer or a 404
       for a never-existing id are fine); never 5xx
    1  401 unauthenticated
    3  403 forbidden

A route the service has and MATRIX lacks fails the suite (a new route
needs an entry: FUNC-04), and so does an entry for a route the service
does not have.  Expectations come from docs/identity.md (routes, "API keys
can never reach users, roles, teams, api-keys or tenant routes") and the
built-in role table of app/perm.c, copied in GRANTS;
test_matrix_rows_follow_the_model checks that every row says what that
model derives from its permission, so a typo in a row cannot hide.
"""

import json
import uuid

import pytest

import crmtest
import identity as idn
from seclib import BROAD_SCOPES, NARROW_SCOPES, RECORD_KINDS, rand_uuid7, \
    send, stat, strip_rid

COLS = ("anon", "owner", "admin", "manager", "sales", "marketing", "support",
        "read_only", "key_narrow", "key_broad", "deactivated")

PUBLIC = "AAAAAAAAAAA"
ANY = "1AAAAAAAAA1"         # any user or API key
MEMBER = "1AAAAAAA331"      # any user; never an API key
ADMIN = "1AA33333331"       # owner and admin only
TEAMS_R = "1AAAA333331"     # teams:read (manager, sales)

# "METHOD path": (permission, outcome per COLS)
MATRIX = {
    # ops (app/ops.c)
    "GET /healthz": ("public", PUBLIC),
    "GET /readyz": ("public", PUBLIC),
    "GET /metrics": ("public", PUBLIC),
    # the OpenAPI document (app/openapi.c)
    "GET /v1/openapi.json": ("public", PUBLIC),
    # tenants module
    "GET /v1/plans": ("public", PUBLIC),
    # sessions
    "POST /v1/signup": ("public", PUBLIC),
    "POST /v1/auth/login": ("public", PUBLIC),
    "POST /v1/auth/refresh": ("public", PUBLIC),
    "POST /v1/auth/logout": ("authenticated", MEMBER),
    "GET /v1/me": ("authenticated", ANY),
    "POST /v1/me/password": ("authenticated", MEMBER),
    "GET /.well-known/jwks.json": ("public", PUBLIC),
    # tenant
    "GET /v1/tenant": ("authenticated", MEMBER),
    "PATCH /v1/tenant": ("tenant:manage", ADMIN),
    "GET /v1/tenant/usage": ("tenant:read", ADMIN),
    # users and invitations
    "GET /v1/users": ("users:read", MEMBER),
    "POST /v1/users": ("users:manage", ADMIN),
    "GET /v1/users/{id}": ("users:read", MEMBER),
    "PATCH /v1/users/{id}": ("users:manage", ADMIN),
    "DELETE /v1/users/{id}": ("users:manage", ADMIN),
    "POST /v1/invitations/accept": ("public", PUBLIC),
    # roles
    "GET /v1/roles": ("roles:read", ADMIN),
    "POST /v1/roles": ("roles:manage", ADMIN),
    "GET /v1/roles/{id}": ("roles:read", ADMIN),
    "PATCH /v1/roles/{id}": ("roles:manage", ADMIN),
    "DELETE /v1/roles/{id}": ("roles:manage", ADMIN),
    # teams
    "GET /v1/teams": ("teams:read", TEAMS_R),
    "POST /v1/teams": ("teams:manage", ADMIN),
    "GET /v1/teams/{id}": ("teams:read", TEAMS_R),
    "PATCH /v1/teams/{id}": ("teams:manage", ADMIN),
    "DELETE /v1/teams/{id}": ("teams:manage", ADMIN),
    "POST /v1/teams/{id}/members": ("teams:manage", ADMIN),
    "DELETE /v1/teams/{id}/members/{user_id}": ("teams:manage", ADMIN),
    # API keys
    "GET /v1/api-keys": ("api-keys:manage", ADMIN),
    "POST /v1/api-keys": ("api-keys:manage", ADMIN),
    "GET /v1/api-keys/{id}": ("api-keys:manage", ADMIN),
    "DELETE /v1/api-keys/{id}": ("api-keys:manage", ADMIN),
    # audit log
    "GET /v1/audit-log": ("audit-log:read", ADMIN),
    # CRM records: accounts (modules/crm/accounts.c, the entity engine)
    "GET /v1/accounts": ("accounts:read", "1AAAAAAA3A1"),
    "POST /v1/accounts": ("accounts:create", "1AAAA3333A1"),
    "POST /v1/accounts/batch": ("accounts:update", "1AAAA3A33A1"),
    "GET /v1/accounts/{id}": ("accounts:read", "1AAAAAAA3A1"),
    "PATCH /v1/accounts/{id}": ("accounts:update", "1AAAA3A33A1"),
    "DELETE /v1/accounts/{id}": ("accounts:delete", "1AAA33333A1"),
    "POST /v1/accounts/{id}/restore": ("accounts:delete", "1AAA33333A1"),
    "GET /v1/accounts/{id}/timeline": ("accounts:read", "1AAAAAAA3A1"),
    # duplicates and merge (modules/crm/dedupe.c): the merge route
    # declares accounts:update; accounts:delete is the handler's own check
    "GET /v1/accounts/{id}/duplicates": ("accounts:read", "1AAAAAAA3A1"),
    "POST /v1/accounts/{id}/merge": ("accounts:update", "1AAAA3A33A1"),
    # contacts (modules/crm/contacts.c)
    "GET /v1/contacts": ("contacts:read", "1AAAAAAAAA1"),
    "POST /v1/contacts/batch": ("contacts:update", "1AAAAAA33A1"),
    "POST /v1/contacts": ("contacts:create", "1AAAAA333A1"),
    "GET /v1/contacts/{id}": ("contacts:read", "1AAAAAAAAA1"),
    "PATCH /v1/contacts/{id}": ("contacts:update", "1AAAAAA33A1"),
    "DELETE /v1/contacts/{id}": ("contacts:delete", "1AAA3A333A1"),
    "POST /v1/contacts/{id}/restore": ("contacts:delete", "1AAA3A333A1"),
    "GET /v1/contacts/{id}/timeline": ("contacts:read", "1AAAAAAAAA1"),
    "GET /v1/contacts/{id}/duplicates": ("contacts:read", "1AAAAAAAAA1"),
    "POST /v1/contacts/{id}/merge": ("contacts:update", "1AAAAAA33A1"),
    # leads (modules/crm/leads.c), with the conversion
    "GET /v1/leads": ("leads:read", "1AAAAA3A3A1"),
    "POST /v1/leads/batch": ("leads:update", "1AAAAA333A1"),
    "POST /v1/leads": ("leads:create", "1AAAAA333A1"),
    "GET /v1/leads/{id}": ("leads:read", "1AAAAA3A3A1"),
    "PATCH /v1/leads/{id}": ("leads:update", "1AAAAA333A1"),
    "DELETE /v1/leads/{id}": ("leads:delete", "1AAA3A333A1"),
    "POST /v1/leads/{id}/restore": ("leads:delete", "1AAA3A333A1"),
    "GET /v1/leads/{id}/timeline": ("leads:read", "1AAAAA3A3A1"),
    "POST /v1/leads/{id}/convert": ("leads:update", "1AAAAA333A1"),
    "GET /v1/leads/{id}/duplicates": ("leads:read", "1AAAAA3A3A1"),
    "POST /v1/leads/{id}/merge": ("leads:update", "1AAAAA333A1"),
    # pipelines: tenant-wide (ENT_D_SHARED in app/ent.h)
    "GET /v1/pipelines": ("pipelines:read", "1AAAAAAA331"),
    "POST /v1/pipelines/batch": ("pipelines:update", "1AAA3333331"),
    "POST /v1/pipelines": ("pipelines:create", "1AAA3333331"),
    "GET /v1/pipelines/{id}": ("pipelines:read", "1AAAAAAA331"),
    "PATCH /v1/pipelines/{id}": ("pipelines:update", "1AAA3333331"),
    "DELETE /v1/pipelines/{id}": ("pipelines:delete", "1AAA3333331"),
    "POST /v1/pipelines/{id}/restore": ("pipelines:delete", "1AAA3333331"),
    "GET /v1/pipelines/{id}/timeline": ("pipelines:read", "1AAAAAAA331"),
    # deals
    "GET /v1/deals": ("deals:read", "1AAAA3AA3A1"),
    "POST /v1/deals/batch": ("deals:update", "1AAAA3333A1"),
    "POST /v1/deals": ("deals:create", "1AAAA3333A1"),
    "GET /v1/deals/{id}": ("deals:read", "1AAAA3AA3A1"),
    "PATCH /v1/deals/{id}": ("deals:update", "1AAAA3333A1"),
    "DELETE /v1/deals/{id}": ("deals:delete", "1AAA33333A1"),
    "POST /v1/deals/{id}/restore": ("deals:delete", "1AAA33333A1"),
    "GET /v1/deals/{id}/timeline": ("deals:read", "1AAAA3AA3A1"),
    "GET /v1/deals/{id}/stage-history": ("deals:read", "1AAAA3AA3A1"),
    # activities
    "GET /v1/activities": ("activities:read", "1AAAAAAA3A1"),
    "POST /v1/activities/batch": ("activities:update", "1AAAAAA33A1"),
    "POST /v1/activities": ("activities:create", "1AAAAAA33A1"),
    "GET /v1/activities/{id}": ("activities:read", "1AAAAAAA3A1"),
    "PATCH /v1/activities/{id}": ("activities:update", "1AAAAAA33A1"),
    "DELETE /v1/activities/{id}": ("activities:delete", "1AAAAAA33A1"),
    "POST /v1/activities/{id}/restore": ("activities:delete", "1AAAAAA33A1"),
    "GET /v1/activities/{id}/timeline": ("activities:read", "1AAAAAAA3A1"),
    # products and price books: tenant-wide
    "GET /v1/products": ("products:read", "1AAAAAAA331"),
    "POST /v1/products/batch": ("products:update", "1AAA3333331"),
    "POST /v1/products": ("products:create", "1AAA3333331"),
    "GET /v1/products/{id}": ("products:read", "1AAAAAAA331"),
    "PATCH /v1/products/{id}": ("products:update", "1AAA3333331"),
    "DELETE /v1/products/{id}": ("products:delete", "1AAA3333331"),
    "POST /v1/products/{id}/restore": ("products:delete", "1AAA3333331"),
    "GET /v1/products/{id}/timeline": ("products:read", "1AAAAAAA331"),
    "GET /v1/price-books": ("price-books:read", "1AAAA33A331"),
    "POST /v1/price-books/batch": ("price-books:update", "1AAA3333331"),
    "POST /v1/price-books": ("price-books:create", "1AAA3333331"),
    "GET /v1/price-books/{id}": ("price-books:read", "1AAAA33A331"),
    "PATCH /v1/price-books/{id}": ("price-books:update", "1AAA3333331"),
    "DELETE /v1/price-books/{id}": ("price-books:delete", "1AAA3333331"),
    "POST /v1/price-books/{id}/restore": ("price-books:delete", "1AAA3333331"),
    "GET /v1/price-books/{id}/timeline": ("price-books:read", "1AAAA33A331"),
    # search (modules/crm/search.c)
    "GET /v1/search": ("search:read", "1AAAAAAA331"),
    # custom fields (modules/crm/customfields.c)
    "GET /v1/custom-fields": ("custom-fields:read", "1AAAAAAA331"),
    "POST /v1/custom-fields": ("custom-fields:create", "1AA33333331"),
    "GET /v1/custom-fields/{id}": ("custom-fields:read", "1AAAAAAA331"),
    "PATCH /v1/custom-fields/{id}": ("custom-fields:update", "1AA33333331"),
    "DELETE /v1/custom-fields/{id}": ("custom-fields:delete",
                                      "1AA33333331"),
    # webhooks and jobs (modules/integrations)
    "GET /v1/webhooks": ("webhooks:read", "1AAA3333331"),
    "POST /v1/webhooks": ("webhooks:create", ADMIN),
    "GET /v1/webhooks/{id}": ("webhooks:read", "1AAA3333331"),
    "PATCH /v1/webhooks/{id}": ("webhooks:update", ADMIN),
    "DELETE /v1/webhooks/{id}": ("webhooks:delete", ADMIN),
    "GET /v1/webhooks/{id}/deliveries": ("webhooks:read", "1AAA3333331"),
    "POST /v1/webhooks/{id}/deliveries/{delivery_id}/redeliver":
        ("webhooks:update", ADMIN),
    "GET /v1/jobs": ("jobs:read", "1AAA3A33331"),
    "GET /v1/jobs/{id}": ("jobs:read", "1AAA3A33331"),
    # e-mail (modules/integrations/email.c, modules/identity/reset.c)
    "GET /v1/email-templates": ("email-templates:read", "1AAAAAA3331"),
    "POST /v1/email-templates": ("email-templates:create", ADMIN),
    "GET /v1/email-templates/{id}": ("email-templates:read", "1AAAAAA3331"),
    "PATCH /v1/email-templates/{id}": ("email-templates:update", ADMIN),
    "DELETE /v1/email-templates/{id}": ("email-templates:delete", ADMIN),
    "POST /v1/contacts/{id}/emails": ("activities:create", "1AAAAAA33A1"),
    "POST /v1/auth/password-reset": ("public", PUBLIC),
    "POST /v1/auth/password-reset/confirm": ("public", PUBLIC),
    # exports (modules/integrations/exports.c); <entity>:export is checked
    # in the handler on top of the route's permission
    "POST /v1/exports": ("exports:create", "1AAA3A33331"),
    "GET /v1/exports/{id}/download": ("exports:create", "1AAA3A33331"),
    # imports (modules/integrations/imports.c); <entity>:create (and
    # :update for on_duplicate=update) is checked in the handler
    "POST /v1/imports": ("imports:create", "1AAA3A33331"),
}

# app/perm.c's built-in roles.
GRANTS = {
    "owner": ["*:*"],
    "admin": ["*:*"],
    "manager": ["accounts:*", "contacts:*", "leads:*", "deals:*",
                "activities:*", "products:*", "price-books:*",
                "pipelines:*", "custom-fields:read", "search:read",
                "users:read", "teams:read", "exports:create",
                "imports:create", "jobs:read", "webhooks:read",
                "email-templates:read"],
    "sales": ["accounts:read", "accounts:create", "accounts:update",
              "contacts:read", "contacts:create", "contacts:update",
              "leads:read", "leads:create", "leads:update", "deals:read",
              "deals:create", "deals:update", "activities:*",
              "products:read", "price-books:read", "pipelines:read",
              "custom-fields:read", "search:read", "users:read",
              "teams:read", "email-templates:read"],
    "marketing": ["accounts:read", "contacts:*", "leads:*", "activities:*",
                  "products:read", "pipelines:read", "custom-fields:read",
                  "search:read", "users:read", "exports:create",
                  "imports:create", "jobs:read", "email-templates:read"],
    "support": ["accounts:read", "accounts:update", "contacts:read",
                "contacts:update", "activities:*", "products:read",
                "deals:read", "pipelines:read", "custom-fields:read",
                "search:read", "users:read", "email-templates:read"],
    "read_only": ["accounts:read", "contacts:read", "leads:read",
                  "deals:read", "activities:read", "products:read",
                  "price-books:read", "pipelines:read",
                  "custom-fields:read", "search:read", "users:read"],
}
KEY_SCOPES = {"key_narrow": NARROW_SCOPES, "key_broad": BROAD_SCOPES}
ADMIN_ONLY = {"api-keys", "roles", "teams", "tenant", "users"}
# "who: user" in docs/identity.md, or a tenant route (never a key).
USER_ONLY_PATHS = {"/v1/auth/logout", "/v1/me/password", "/v1/tenant"}


def _covers(grant, res, act):
    gr, _, ga = grant.partition(":")
    return gr in ("*", res) and ga in ("*", act)


def role_allows(grants, perm):
    res, _, act = perm.partition(":")
    return any(_covers(g, res, act) or _covers(g, res, "manage")
               for g in grants)


def key_allows(scopes, perm):
    res, _, act = perm.partition(":")
    if res in ADMIN_ONLY:
        return False
    write = act in ("create", "update", "delete")
    for s in scopes:
        sr, _, sa = s.partition(":")
        if sr == res and (sa in ("*", act) or (write and sa == "write")):
            return True
    return False


def resource_of(path):
    seg = path.split("/")
    return seg[2] if len(seg) > 2 and seg[1] == "v1" else seg[1]


def model(path, perm, col):
    """What docs/identity.md + app/perm.c say for one cell."""
    if perm == "public":
        return "A"
    if col in ("anon", "deactivated"):
        return "1"
    if col.startswith("key_"):
        if resource_of(path) in ADMIN_ONLY or path in USER_ONLY_PATHS:
            return "3"
        if perm == "authenticated":
            return "A"
        # The creator is the owner: the scopes decide.
        return "A" if key_allows(KEY_SCOPES[col], perm) else "3"
    if perm == "authenticated":
        return "A"
    return "A" if role_allows(GRANTS[col], perm) else "3"


def key_of(r):
    return "%s %s" % (r["method"], r["path"])


# ------------------------------------------------------------ the table

def test_every_route_has_a_matrix_entry(routes):
    have = {key_of(r) for r in routes}
    missing = sorted(have - set(MATRIX))
    stale = sorted(set(MATRIX) - have)
    stat("matrix: routes", len(have))
    assert not missing, "routes without an authorization matrix entry " \
        "(add them to MATRIX): %s" % missing
    assert not stale, "MATRIX entries for routes the service lacks: %s" \
        % stale


def test_route_permissions_are_the_documented_ones(routes):
    wrong = ["%s declares %r, documented %r" % (key_of(r), r["permission"],
                                                MATRIX[key_of(r)][0])
             for r in routes if key_of(r) in MATRIX and
             r["permission"] != MATRIX[key_of(r)][0]]
    assert not wrong, "\n".join(wrong)


def test_matrix_rows_follow_the_model():
    bad = []
    for k, (perm, row) in MATRIX.items():
        assert len(row) == len(COLS), k
        path = k.split(" ", 1)[1]
        want = "".join(model(path, perm, c) for c in COLS)
        if want != row:
            bad.append("%s: row %s, model %s" % (k, row, want))
    assert not bad, "\n".join(bad)


# ------------------------------------------------------------ the matrix

@pytest.fixture(scope="module")
def principals(world, base_url):
    """COLS -> (credential for most routes, credential for logout)."""
    A = world["A"]
    p = {"anon": (None, None)}
    http = crmtest.Client(base_url)
    try:
        for col, acct in [("owner", A.owner)] + [
                (r, A.users[r]) for r in ("admin", "manager", "sales",
                                          "marketing", "support",
                                          "read_only")]:
            # A session of its own for POST /v1/auth/logout.
            extra = idn.login_ok(http, acct.email, acct.password,
                                 tenant=A.owner.tenant.get("slug"))
            extra.close()
            p[col] = (acct.access, extra.access)
    finally:
        http.close()
    for col, kind in (("key_narrow", "narrow"), ("key_broad", "broad")):
        p[col] = (A.keys[kind][1], A.keys[kind][1])
    p["deactivated"] = (A.deactivated.access, A.deactivated.access)
    return p


def concrete(world, method, path):
    """A path for the matrix: own objects for reads, never-existing ids
    for writes (so nothing is changed), and a body that is harmless."""
    A = world["A"]
    own = {"users": A.users["sales"].user_id, "roles": A.custom_role["id"],
           "teams": A.teams[0], "api-keys": A.keys["narrow"][0]["id"],
           "custom-fields": A.custom_fields[0], "webhooks": A.webhooks[0],
           "jobs": A.jobs[0], "exports": A.exports[0],
           "email-templates": A.email_templates[0]}
    for kind in RECORD_KINDS:
        own[kind] = A.records[kind][0]
    res = resource_of(path)

    def sub(name):
        if method == "GET" and name == "id" and res in own:
            return own[res]
        return rand_uuid7()
    out = path
    while "{" in out:
        i, j = out.index("{"), out.index("}")
        out = out[:i] + sub(out[i + 1:j]) + out[j + 1:]
    body = None
    if method in ("POST", "PUT", "PATCH") and path != "/v1/auth/logout":
        body = {}
    if path.endswith("/members") and method == "POST":
        body = {"user_id": rand_uuid7()}
    return out, body


def check(r, want):
    """None when the reply matches the expectation, else why not."""
    s = r.status_code
    if s >= 500:
        return "5xx %d %s" % (s, r.text[:150])
    if want == "A":
        if s in (401, 403, 405):
            return "%d %s" % (s, r.text[:150])
        return None
    code = {"1": (401, "unauthenticated"), "3": (403, "forbidden")}[want]
    if s != code[0]:
        return "%d, want %d: %s" % (s, code[0], r.text[:150])
    try:
        crmtest.assert_problem(r, code[0], code[1])
    except AssertionError as e:
        return str(e).split("\n")[0]
    if want == "1" and "bearer" not in \
            r.headers.get("WWW-Authenticate", "").lower():
        return "401 without WWW-Authenticate: Bearer"
    return None


def test_authorization_matrix(world, routes, principals, base_url):
    c = crmtest.Client(base_url)
    bad = []
    n = 0
    try:
        for r in sorted(routes, key=key_of):
            k = key_of(r)
            if k not in MATRIX:
                continue        # reported by the table tests
            row = MATRIX[k][1]
            for col, want in zip(COLS, row):
                cred, logout_cred = principals[col]
                if r["path"] == "/v1/auth/logout":
                    cred = logout_cred
                path, body = concrete(world, r["method"], r["path"])
                resp = send(c, r["method"], path, token=cred, body=body)
                n += 1
                why = check(resp, want)
                if why:
                    bad.append("%-44s %-12s want %s: %s" % (k, col, want,
                                                            why))
    finally:
        c.close()
    stat("matrix: requests", n)
    assert not bad, "%d of %d cells wrong:\n%s" % (len(bad), n,
                                                    "\n".join(bad))


def test_undeclared_methods_are_405_with_allow(routes, world):
    """FUNC-02: every path answers a method it does not declare with 405
    and an Allow header naming exactly the declared ones."""
    by_path = {}
    for r in routes:
        by_path.setdefault(r["path"], set()).add(r["method"])
    c = crmtest.Client(world.base_url)
    bad = []
    n = 0
    try:
        for path, methods in sorted(by_path.items()):
            for m in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                if m in methods:
                    continue
                concrete_path, _ = concrete(world, "DELETE", path)
                for cred in (None, world["A"].owner.access):
                    resp = send(c, m, concrete_path, token=cred)
                    n += 1
                    if resp.status_code != 405:
                        bad.append("%s %s: %d" % (m, path, resp.status_code))
                        continue
                    try:
                        crmtest.assert_problem(resp, 405,
                                               "method_not_allowed")
                    except AssertionError as e:
                        bad.append(str(e).split("\n")[0])
                    allow = {x.strip().upper() for x in
                             resp.headers.get("Allow", "").split(",")
                             if x.strip()}
                    allow.discard("HEAD")
                    if allow != methods:
                        bad.append("%s %s: Allow %r, declared %s" % (
                            m, path, resp.headers.get("Allow"),
                            sorted(methods)))
    finally:
        c.close()
    stat("matrix: 405 probes", n)
    assert n > 0
    assert not bad, "\n".join(bad)


# ------------------------------------------------------------ FUNC-05

def test_admin_of_A_cannot_manage_users_of_B(world):
    A, B = world["A"], world["B"]
    admin = A.users["admin"].client
    victim = B.users["sales"].user_id
    bad = []
    for method, body in (("GET", None), ("PATCH", {"name": "pwned"}),
                         ("PATCH", {"role": "admin"}), ("DELETE", None)):
        r = send(admin, method, "/v1/users/" + victim, body=body)
        base = send(admin, method, "/v1/users/" + rand_uuid7(), body=body)
        if r.status_code != 404:
            bad.append("%s B's user: %d %s" % (method, r.status_code,
                                               r.text[:200]))
        elif strip_rid(r) != strip_rid(base):
            bad.append("%s B's user: 404 body %r differs from %r" % (
                method, strip_rid(r), strip_rid(base)))
    r = send(B.owner.client, "GET", "/v1/users/" + victim)
    assert r.status_code == 200, r.text
    u = r.json()
    if u.get("status") != "active" or u.get("role") != "sales" or \
            u.get("name") == "pwned":
        bad.append("B's user changed: %r" % u)
    assert not bad, "\n".join(bad)


def test_admin_cannot_make_anyone_owner(world):
    A = world["A"]
    admin = A.users["admin"]
    for uid in (admin.user_id, A.users["support"].user_id):
        r = send(admin.client, "PATCH", "/v1/users/" + uid,
                 body={"role": "owner"})
        crmtest.assert_problem(r, 403, "forbidden")
        r = send(A.owner.client, "GET", "/v1/users/" + uid)
        assert r.status_code == 200, r.text
        assert r.json().get("role") != "owner", r.json()
    # By role id too.
    r = send(admin.client, "PATCH", "/v1/users/" + admin.user_id,
             body={"role": A.role_ids["owner"]})
    assert r.status_code in (403, 422), r.text
    r = send(A.owner.client, "GET", "/v1/users/" + admin.user_id)
    assert r.json().get("role") == "admin", r.json()


def test_last_owner_cannot_demote_or_deactivate_self(world):
    """Tenant C has one owner (its other users are admin, sales,
    read_only)."""
    C = world["C"]
    owner = C.owner
    r = send(owner.client, "PATCH", "/v1/users/" + owner.user_id,
             body={"role": "admin"})
    crmtest.assert_problem(r, 409, "conflict")
    r = send(owner.client, "DELETE", "/v1/users/" + owner.user_id)
    crmtest.assert_problem(r, 409, "conflict")
    r = send(owner.client, "GET", "/v1/users/" + owner.user_id)
    b = crmtest.assert_json(r, 200)
    assert b.get("role") == "owner" and b.get("status") == "active", b
