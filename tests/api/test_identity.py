"""Identity, black-box: sign-up, login, tokens, sessions, users, roles,
teams, API keys, audit log, tenant (docs/identity.md; API.md "Accounts,
sign-up and sessions", "Tenant administration"; SECURITY.md 2.2, 2.3, 2.6).

Accounts are expensive (argon2id, ~85 ms a hash) and sign-up is limited
per IP, so the tenants and users are module-scoped fixtures; tests that
change a user's state make their own user.
"""

import base64
import hashlib
import json
import time
import zlib
from datetime import datetime, timezone

import jwt
import pytest

import crmtest
import mailsink
from crmtest import assert_json, assert_problem
from identity import (BUILTIN_ROLES, KEY_RE, OPAQUE_RE, TIME_RE, USER_AGENT,
                      UUID_RE, accept, assert_names_field,
                      bearer_client, invite, list_all, login,
                      login_ok, make_key, make_user, patch_json, post_json,
                      psql, rate_limit, rate_limit_policy, refresh,
                      set_tenant_status, signup, signup_raw, slugify,
                      sql_quote, strong_password, super_url, uid,
                      unique_company, unique_email, without_request_id)

TOKEN_KEYS = {"access_token", "refresh_token", "token_type", "expires_in"}


# ================================================================ fixtures

@pytest.fixture(scope="module")
def org(mhttp):
    """A tenant (plan team) and its owner, shared by the module."""
    a = signup(mhttp, company=unique_company("Org"))
    yield a
    a.close()


@pytest.fixture(scope="module")
def sales(org):
    a = make_user(org, "sales")
    yield a
    a.close()


@pytest.fixture(scope="module")
def admin(org):
    a = make_user(org, "admin")
    yield a
    a.close()


@pytest.fixture(scope="module")
def jwks(mhttp):
    b = assert_json(mhttp.get("/.well-known/jwks.json"), 200)
    return b


def me(client):
    return assert_json(client.get("/v1/me"), 200)


def assert_dead(client, path="/v1/me"):
    """The credential the client sends is refused: 401 + WWW-Authenticate."""
    r = client.get(path)
    assert_problem(r, 401, "unauthenticated")
    assert r.headers.get("WWW-Authenticate", "").lower().startswith(
        "bearer"), r.headers
    return r


def assert_token_shape(b):
    assert TOKEN_KEYS <= set(b), b
    assert b["token_type"] == "Bearer", b
    assert b["expires_in"] == 900, b
    assert isinstance(b["access_token"], str) and \
        b["access_token"].count(".") == 2, b
    assert OPAQUE_RE.match(b["refresh_token"]), b["refresh_token"]


def claims_of(token):
    return jwt.decode(token, options={"verify_signature": False})


# ================================================================ sign-up

def test_signup_201_shape(mhttp):
    company = unique_company("Shape")
    email = unique_email("Owner")
    pw = strong_password()
    r = signup_raw(mhttp, {"company_name": company, "email": email,
                           "password": pw, "name": "Olga Owner"})
    b = assert_json(r, 201)
    assert set(b) >= {"tenant", "user"} | TOKEN_KEYS, b
    assert set(b) <= {"tenant", "user"} | TOKEN_KEYS, \
        "unexpected keys in the sign-up reply: %r" % (set(b) - TOKEN_KEYS
                                                     - {"tenant", "user"})
    t, u = b["tenant"], b["user"]
    assert set(t) >= {"id", "name", "slug", "plan", "status"}, t
    assert UUID_RE.match(t["id"]), t
    assert t["name"] == company
    assert t["slug"] == slugify(company), t
    assert t["plan"] == "team", "default plan: %r" % t
    assert t["status"] == "trial", t
    assert set(u) >= {"id", "email", "name", "role"}, u
    assert UUID_RE.match(u["id"]) and u["id"] != t["id"], u
    assert u["email"].lower() == email.lower(), u
    assert u["name"] == "Olga Owner", u
    assert u["role"] == "owner", u
    for k in ("password", "password_hash"):
        assert k not in u and k not in b, b
    assert_token_shape(b)
    assert pw not in r.text
    assert b["refresh_token"].split(".")[0] == t["id"], \
        "refresh token is <tenant id>.<secret>"
    # The tokens work at once.
    c = bearer_client(mhttp.base_url, b["access_token"])
    m = me(c)
    assert m["kind"] == "user" and m["role"] == "owner", m
    c.close()


def test_signup_plan_is_honoured(mhttp):
    a = signup(mhttp, plan="business")
    assert a.tenant["plan"] == "business"
    a.close()


def test_same_company_name_gets_another_slug(mhttp):
    company = unique_company("Twin")
    a = signup(mhttp, company=company)
    b = signup(mhttp, company=company)
    assert a.tenant["slug"] == slugify(company)
    assert b.tenant["slug"] != a.tenant["slug"], (a.tenant, b.tenant)
    assert b.tenant["slug"].startswith(slugify(company)), b.tenant
    assert b.tenant["name"] == company
    assert b.tenant["id"] != a.tenant["id"]
    a.close()
    b.close()


def _signup_body(**over):
    b = {"company_name": unique_company("Val"), "email": unique_email(),
         "password": strong_password()}
    b.update(over)
    return {k: v for k, v in b.items() if v is not _DROP}


_DROP = object()


def _tenant_count(name):
    rows = psql(super_url(), "SELECT count(*) FROM crm.tenants WHERE name = "
                "%s;" % sql_quote(name))
    return int(rows[0][0])


@pytest.mark.parametrize("over,field", [
    ({"email": _DROP}, "email"),
    ({"email": "not-an-email"}, "email"),
    ({"email": "a@"}, "email"),
    ({"email": 42}, "email"),
    ({"company_name": _DROP}, "company_name"),
    ({"company_name": ""}, "company_name"),
    ({"company_name": "x" * 201}, "company_name"),
    ({"password": _DROP}, "password"),
    ({"password": "Tq7!" + "a1b2c3d4e5"}, "password"),       # 14 chars
    ({"password": "passwordpassword"}, "password"),           # common
    ({"password": "x" * 129}, "password"),                    # > 128
    ({"plan": "enterprise"}, "plan"),
    ({"plan": 3}, "plan"),
], ids=["email-missing", "email-invalid", "email-nodomain", "email-number",
        "company-missing", "company-empty", "company-201",
        "password-missing", "password-14", "password-common",
        "password-129", "plan-unknown", "plan-number"])
def test_signup_validation(mhttp, over, field):
    body = _signup_body(**over)
    r = signup_raw(mhttp, body)
    p = assert_problem(r, 422, "validation_failed")
    assert_names_field(p, field)
    if isinstance(body.get("company_name"), str) and body["company_name"]:
        assert _tenant_count(body["company_name"]) == 0


def test_signup_15_char_password_is_enough(mhttp):
    pw = "Tq7!" + uid(11)
    assert len(pw) == 15
    a = signup(mhttp, password=pw)
    assert a.user["role"] == "owner"
    a.close()


def test_signup_password_over_512_bytes_rejected(mhttp):
    # 128 code points, but 4 bytes each: over the 512-byte cap.
    r = signup_raw(mhttp, _signup_body(password="\U0001F600" * 129))
    p = assert_problem(r, 422, "validation_failed")
    assert_names_field(p, "password")


def test_signup_huge_password_fast_and_never_5xx(mhttp):
    # 1 MiB of password: the body is over 1 MiB -> 413; 200 KiB: over the
    # JSON parser's 64 KiB string cap (SECURITY.md RES-03) -> 400, or the
    # policy -> 422.  Before any KDF work: never a 5xx, never slow.
    for size in (1024 * 1024, 200 * 1024, 600):
        t0 = time.monotonic()
        r = signup_raw(mhttp, _signup_body(password="A" * size))
        took = time.monotonic() - t0
        assert r.status_code in (400, 413, 422), (size, r.status_code,
                                                  r.text[:300])
        if r.status_code == 422:
            assert_names_field(assert_problem(r, 422, "validation_failed"),
                               "password")
        elif r.status_code == 413:
            assert_problem(r, 413, "payload_too_large")
        else:
            assert r.json()["code"] in ("invalid_json", "bad_request"), \
                r.text
            assert_problem(r, 400, r.json()["code"])
        assert took < 1.0, "%d-byte password took %.2fs" % (size, took)


@pytest.mark.parametrize("field,value", [
    ("nickname", "x"),
    ("tenant_id", "00000000-0000-7000-8000-000000000000"),
    ("role", "admin"),
    ("status", "active"),
    ("is_admin", True),
    ("password_hash", "x"),
])
def test_signup_unknown_or_forbidden_field_rejected(mhttp, field, value):
    body = _signup_body(**{field: value})
    r = signup_raw(mhttp, body)
    assert r.status_code in (400, 422), (r.status_code, r.text[:300])
    p = assert_problem(r, r.status_code,
                       "validation_failed" if r.status_code == 422
                       else "bad_request")
    assert_names_field(p, field)
    assert _tenant_count(body["company_name"]) == 0, "a tenant was created"


def test_signup_not_json_is_415(mhttp):
    r = mhttp.post("/v1/signup", data=b"company_name=x",
                   headers={"Content-Type": "application/x-www-form-"
                            "urlencoded"})
    assert_problem(r, 415, "unsupported_media_type")


def test_signup_malformed_json_is_400(mhttp):
    r = post_json(mhttp, "/v1/signup", b'{"company_name": ')
    assert_problem(r, 400, "invalid_json")


# ================================================================ JWT

def test_access_token_header_and_claims(org, service_env):
    tok = org.access
    h = jwt.get_unverified_header(tok)
    assert h.get("alg") == "ES256", h
    assert h.get("typ") == "JWT", h
    assert isinstance(h.get("kid"), str) and h["kid"], h
    assert "crit" not in h, h
    c = claims_of(tok)
    for k in ("iss", "aud", "sub", "tid", "sid", "sv", "jti", "iat", "nbf",
              "exp", "tt", "role"):
        assert k in c, "claim %r missing: %r" % (k, c)
    assert c["iss"] == service_env.get("CRM_JWT_ISSUER", "crm"), c
    aud = c["aud"] if isinstance(c["aud"], list) else [c["aud"]]
    assert service_env.get("CRM_JWT_AUDIENCE", "crm-api") in aud, c
    assert c["sub"] == org.user_id, c
    assert c["tid"] == org.tenant_id, c
    assert UUID_RE.match(c["sid"]), c
    assert c["tt"] == "access", c
    assert c["role"] == "owner", c
    for k in ("iat", "nbf", "exp", "sv"):
        assert isinstance(c[k], int) and not isinstance(c[k], bool), c
    assert c["exp"] - c["iat"] == 900, c
    assert c["nbf"] <= c["iat"] + 1, c
    assert abs(c["iat"] - time.time()) < 300, c
    # Two tokens never share a jti.
    other = claims_of(login_ok(crmtest.Client(org.base_url), org.email,
                               org.password).access)
    assert other["jti"] != c["jti"]
    assert other["sid"] != c["sid"], "a login is a new session"


def test_jwks_has_public_keys_only(jwks):
    assert isinstance(jwks.get("keys"), list) and jwks["keys"], jwks
    for k in jwks["keys"]:
        assert k.get("kty") == "EC" and k.get("crv") == "P-256", k
        assert k.get("kid") and k.get("x") and k.get("y"), k
        assert "d" not in k, "private key material in the JWKS: %r" % k
        if "alg" in k:
            assert k["alg"] == "ES256", k


def test_access_token_verifies_with_jwks(org, jwks, service_env):
    kid = jwt.get_unverified_header(org.access)["kid"]
    match = [k for k in jwks["keys"] if k.get("kid") == kid]
    assert len(match) == 1, "kid %r not in the JWKS %r" % (kid, jwks)
    key = jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(match[0]))
    c = jwt.decode(org.access, key, algorithms=["ES256"],
                   audience=service_env.get("CRM_JWT_AUDIENCE", "crm-api"),
                   issuer=service_env.get("CRM_JWT_ISSUER", "crm"))
    assert c["sub"] == org.user_id
    # A one-bit change in the payload breaks the signature.
    h, p, s = org.access.split(".")
    claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    claims["role"] = "owner "
    p2 = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(
        b"=").decode()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode("%s.%s.%s" % (h, p2, s), key, algorithms=["ES256"],
                   audience=c["aud"], issuer=c["iss"])
    assert_dead(bearer_client(org.base_url, "%s.%s.%s" % (h, p2, s)))


@pytest.mark.parametrize("auth", [
    None, "Bearer", "Bearer ", "Bearer x.y.z", "Basic dXNlcjpwYXNz",
    "Bearer crm_live_AAAAAAAA_" + "B" * 49,
])
def test_bad_credentials_are_401(base_url, auth):
    c = crmtest.Client(base_url)
    if auth is not None:
        c.headers["Authorization"] = auth
    r = c.get("/v1/me")
    assert_problem(r, 401, "unauthenticated")
    assert r.headers.get("WWW-Authenticate", "").lower().startswith("bearer")
    c.close()


# ================================================================ login

def test_login_200(mhttp, org):
    r = login(mhttp, org.email, org.password)
    b = assert_json(r, 200)
    assert_token_shape(b)
    if "user" in b:
        assert b["user"]["id"] == org.user_id and \
            b["user"]["role"] == "owner", b
    if "tenant" in b:
        assert b["tenant"]["id"] == org.tenant_id, b
    assert claims_of(b["access_token"])["tid"] == org.tenant_id
    c = bearer_client(mhttp.base_url, b["access_token"])
    assert me(c)["user"]["id"] == org.user_id
    c.close()


def test_login_email_is_case_insensitive(mhttp, org):
    b = assert_json(login(mhttp, org.email.upper(), org.password), 200)
    assert claims_of(b["access_token"])["sub"] == org.user_id


def test_login_wrong_password_and_unknown_email_look_the_same(mhttp, org):
    bad_pw = login(mhttp, org.email, strong_password())
    unknown = login(mhttp, unique_email("nobody"), strong_password())
    p1 = assert_problem(bad_pw, 401, "unauthenticated")
    p2 = assert_problem(unknown, 401, "unauthenticated")
    assert p1["request_id"] != p2["request_id"]
    assert without_request_id(bad_pw) == without_request_id(unknown)
    assert len(bad_pw.content) == len(unknown.content)
    skip = {"date", "x-request-id", "ratelimit", "ratelimit-policy",
            "content-length", "keep-alive", "connection"}
    h1 = {k.lower(): v for k, v in bad_pw.headers.items()}
    h2 = {k.lower(): v for k, v in unknown.headers.items()}
    assert set(h1) == set(h2), (sorted(h1), sorted(h2))
    for k in set(h1) - skip:
        assert h1[k] == h2[k], (k, h1[k], h2[k])


def test_login_validation(mhttp):
    r = post_json(mhttp, "/v1/auth/login", {"password": strong_password()})
    assert_names_field(assert_problem(r, 422, "validation_failed"), "email")
    r = post_json(mhttp, "/v1/auth/login", {"email": unique_email(),
                                            "password": "x",
                                            "role": "owner"})
    assert r.status_code in (400, 422), r.text
    assert_names_field(assert_problem(r, r.status_code, r.json()["code"]),
                       "role")


def test_login_unknown_slug_is_401(mhttp, org):
    # A slug that is not one of the user's tenants: the same 401.
    r = login(mhttp, org.email, org.password, tenant="no-such-" + uid(8))
    assert_problem(r, 401, "unauthenticated")


@pytest.fixture(scope="module")
def twin_tenants(mhttp):
    """The same e-mail and password owning two tenants, plus a third
    tenant where the same e-mail has another password."""
    email = unique_email("twin")
    pw = strong_password()
    a = signup(mhttp, email=email, password=pw)
    b = signup(mhttp, email=email, password=pw)
    pw3 = strong_password()
    c = signup(mhttp, email=email, password=pw3)
    yield a, b, c
    for x in (a, b, c):
        x.close()


def test_login_several_tenants_needs_slug(mhttp, twin_tenants):
    a, b, _ = twin_tenants
    r = login(mhttp, a.email, a.password)
    assert_names_field(assert_problem(r, 422, "validation_failed"), "tenant")
    for t in (a, b):
        ok = assert_json(login(mhttp, a.email, a.password,
                               tenant=t.tenant["slug"]), 200)
        c = claims_of(ok["access_token"])
        assert c["tid"] == t.tenant_id and c["sub"] == t.user_id, c


def test_login_several_tenants_one_password_match(mhttp, twin_tenants):
    _, _, c3 = twin_tenants
    ok = assert_json(login(mhttp, c3.email, c3.password), 200)
    assert claims_of(ok["access_token"])["tid"] == c3.tenant_id
    # The slug of another of the e-mail's tenants with c3's password: 401.
    r = login(mhttp, c3.email, c3.password,
              tenant=twin_tenants[0].tenant["slug"])
    assert_problem(r, 401, "unauthenticated")


# ================================================================ refresh

def test_refresh_rotates_and_reuse_kills_the_family(mhttp, org):
    s = login_ok(mhttp, org.email, org.password)
    r1, a1 = s.refresh, s.access
    b = assert_json(refresh(mhttp, r1), 200)
    assert_token_shape(b)
    r2, a2 = b["refresh_token"], b["access_token"]
    assert r2 != r1 and a2 != a1
    c1, c2 = claims_of(a1), claims_of(a2)
    assert c2["sid"] == c1["sid"], "refresh stays in the session"
    assert c2["sub"] == org.user_id and c2["tid"] == org.tenant_id
    cl2 = bearer_client(mhttp.base_url, a2)
    assert me(cl2)["user"]["id"] == org.user_id

    # Reuse of the spent R1: 401, and the whole family dies.
    assert_problem(refresh(mhttp, r1), 401, "unauthenticated")
    assert_problem(refresh(mhttp, r2), 401, "unauthenticated")
    assert_dead(cl2)
    assert_dead(s.client)
    cl2.close()
    s.close()
    # Other sessions of the same user are untouched.
    assert me(org.client)["user"]["id"] == org.user_id


def assert_refresh_refused(r):
    """401; or, for a token that does not even have the refresh token's
    shape, 422 naming refresh_token.  Never 2xx."""
    assert r.status_code in (401, 422), r.text
    if r.status_code == 422:
        assert_names_field(assert_problem(r, 422, "validation_failed"),
                           "refresh_token")
    else:
        assert_problem(r, 401, "unauthenticated")


def test_refresh_garbage_is_refused(mhttp, org):
    # The right shape, unknown: 401 exactly.
    for tok in (org.tenant_id + "." + "A" * 43,
                "00000000-0000-7000-8000-000000000000." + "A" * 43):
        assert_problem(refresh(mhttp, tok), 401, "unauthenticated")
    assert_refresh_refused(refresh(mhttp, "nonsense"))
    assert_refresh_refused(post_json(mhttp, "/v1/auth/refresh", {}))


def test_access_token_is_not_a_refresh_token(mhttp, org):
    assert_refresh_refused(refresh(mhttp, org.access))


# ================================================================ logout

def test_logout(mhttp, org):
    s = login_ok(mhttp, org.email, org.password)
    assert me(s.client)["user"]["id"] == org.user_id
    r = s.client.post("/v1/auth/logout")
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert_dead(s.client)
    assert_problem(refresh(mhttp, s.refresh), 401, "unauthenticated")
    # Logging out twice: the token is already dead.
    assert_problem(s.client.post("/v1/auth/logout"), 401, "unauthenticated")
    s.close()
    assert me(org.client)["kind"] == "user"


def test_logout_without_credential_is_401(mhttp):
    assert_problem(mhttp.post("/v1/auth/logout"), 401, "unauthenticated")


# ================================================================ me

def test_me_user(org):
    m = me(org.client)
    assert m["kind"] == "user", m
    assert m["user"]["id"] == org.user_id, m
    assert m["user"]["email"].lower() == org.email.lower(), m
    assert m["tenant"]["id"] == org.tenant_id, m
    assert m["tenant"]["slug"] == org.tenant["slug"], m
    assert m["role"] == "owner", m
    assert m["scope"] == "all", m
    assert isinstance(m["permissions"], list) and m["permissions"], m
    assert "password_hash" not in json.dumps(m)
    assert m.get("api_key") is None, m


def test_me_sales(sales, org):
    m = me(sales.client)
    assert m["kind"] == "user" and m["role"] == "sales", m
    assert m["tenant"]["id"] == org.tenant_id, m
    assert m["scope"] == "team", m
    assert "contacts:read" in m["permissions"], m
    assert "users:manage" not in m["permissions"], m


def test_me_api_key(org):
    k, kc = make_key(org, ["contacts:read", "deals:read"])
    m = me(kc)
    assert m["kind"] == "api_key", m
    assert m["api_key"]["id"] == k["id"], m
    assert m["api_key"]["prefix"] == k["prefix"], m
    assert "key" not in m["api_key"] and k["key"] not in json.dumps(m), m
    assert m["tenant"]["id"] == org.tenant_id, m
    assert set(m["permissions"]) == {"contacts:read", "deals:read"}, m
    kc.close()


def test_credentials_in_url_are_ignored(base_url, org):
    c = crmtest.Client(base_url)
    k, kc = make_key(org, ["contacts:read"])
    assert me(kc)["kind"] == "api_key"
    for q in ({"access_token": org.access}, {"api_key": k["key"]},
              {"token": org.access}):
        assert_problem(c.get("/v1/me", params=q), 401, "unauthenticated")
    c.close()
    kc.close()


# ================================================================ users

def _user_shape(u):
    assert set(u) >= {"id", "email", "name", "role", "status", "created_at",
                      "last_login_at"}, u
    for k in ("password", "password_hash", "tenant_id"):
        assert k not in u, u
    assert UUID_RE.match(u["id"]) and TIME_RE.match(u["created_at"]), u


def test_invite_and_accept(org, base_url):
    email = unique_email("Invitee")
    r = invite(org, "support", email=email, name="Ivy")
    b = assert_json(r, 201)
    # The token travels only by e-mail: never in the reply.
    assert set(b) == {"invitation", "email_job_id"}, b
    assert "token" not in r.text, r.text
    inv = b["invitation"]
    assert set(inv) >= {"id", "email", "role", "expires_at"}, inv
    assert inv["email"].lower() == email.lower() and \
        inv["role"] == "support", inv
    assert UUID_RE.match(b["email_job_id"]), b
    exp = datetime.strptime(inv["expires_at"][:19], "%Y-%m-%dT%H:%M:%S") \
        .replace(tzinfo=timezone.utc).timestamp()
    assert abs(exp - time.time() - 7 * 86400) < 600, inv
    # The invitation is no user yet.
    users = list_all(org.client, "/v1/users")
    assert email.lower() not in [u["email"].lower() for u in users]

    msg = mailsink.wait(email)[0]
    assert b"\r\nTo: <%s>\r\n" % email.encode() in msg.raw, msg.raw
    assert org.tenant["name"] in msg["Subject"], msg["Subject"]
    link = mailsink.TOKEN_RE.search(mailsink.text(msg))
    assert link and mailsink.text(msg).find(
        base_url + "/accept-invitation#token=") >= 0, mailsink.text(msg)
    tok = link.group(1)
    assert OPAQUE_RE.match(tok), tok
    assert tok.split(".")[0] == org.tenant_id

    http = crmtest.Client(base_url)
    pw = strong_password()
    r = accept(http, tok, pw, "Ivy Invited")
    a = assert_json(r, 201)
    assert_token_shape(a)
    c = claims_of(a["access_token"])
    assert c["tid"] == org.tenant_id and c["role"] == "support", c
    cl = bearer_client(base_url, a["access_token"])
    m = me(cl)
    assert m["role"] == "support" and \
        m["user"]["email"].lower() == email.lower(), m
    assert m["user"]["name"] == "Ivy Invited", m
    # Single use.
    again = accept(http, tok, strong_password(), "Mallory")
    assert again.status_code in (401, 404), again.text
    assert_problem(again, again.status_code,
                   "unauthenticated" if again.status_code == 401
                   else "not_found")
    # Password login works with the chosen password.
    ok = assert_json(login(http, email, pw), 200)
    assert claims_of(ok["access_token"])["sub"] == m["user"]["id"]
    cl.close()
    http.close()


def test_accept_validation(org, base_url):
    email = unique_email("sales")
    assert_json(invite(org, "sales", email=email), 201)
    tok = mailsink.wait_token(email)
    http = crmtest.Client(base_url)
    r = accept(http, tok, "short-pass-1A!")      # 14 chars
    assert_names_field(assert_problem(r, 422, "validation_failed"),
                       "password")
    # A rejected try does not spend the invitation.
    r = accept(http, tok, strong_password())
    assert_json(r, 201)
    bogus = org.tenant_id + "." + "A" * 43
    r = accept(http, bogus, strong_password())
    assert r.status_code in (401, 404), r.text
    http.close()


def test_invite_validation(org):
    r = post_json(org.client, "/v1/users", {"email": "nope", "role": "sales"})
    assert_names_field(assert_problem(r, 422, "validation_failed"), "email")
    r = post_json(org.client, "/v1/users", {"email": unique_email(),
                                            "role": "emperor"})
    assert_names_field(assert_problem(r, 422, "validation_failed"), "role")
    r = post_json(org.client, "/v1/users", {"email": unique_email(),
                                            "role": "sales",
                                            "tenant_id": org.tenant_id})
    assert r.status_code in (400, 422), r.text
    assert_names_field(assert_problem(r, r.status_code, r.json()["code"]),
                       "tenant_id")


def test_invite_existing_user_is_409(org, sales):
    r = invite(org, "sales", email=sales.email)
    assert_problem(r, 409, "conflict")


def test_list_and_get_users(org, sales):
    users = list_all(org.client, "/v1/users")
    for u in users:
        _user_shape(u)
    by_id = {u["id"]: u for u in users}
    assert org.user_id in by_id and sales.user_id in by_id, by_id.keys()
    assert by_id[org.user_id]["role"] == "owner"
    assert by_id[sales.user_id]["role"] == "sales"
    assert by_id[sales.user_id]["status"] == "active"
    assert by_id[org.user_id]["last_login_at"] is None or \
        TIME_RE.match(by_id[org.user_id]["last_login_at"])
    u = assert_json(org.client.get("/v1/users/" + sales.user_id), 200)
    _user_shape(u)
    assert u["email"].lower() == sales.email.lower()
    # sales holds users:read (app/perm.c).
    assert_json(sales.client.get("/v1/users/" + org.user_id), 200)


def test_get_unknown_user_404(org):
    r = org.client.get("/v1/users/0190a000-0000-7000-8000-000000000000")
    assert_problem(r, 404, "not_found")
    r = org.client.get("/v1/users/not-a-uuid")
    assert r.status_code in (400, 404), r.text


def test_other_tenants_user_is_404(org, mhttp):
    other = signup(mhttp)
    r1 = org.client.get("/v1/users/" + other.user_id)
    r2 = org.client.get("/v1/users/0190a000-0000-7000-8000-000000000000")
    assert_problem(r1, 404, "not_found")
    assert_problem(r2, 404, "not_found")
    assert without_request_id(r1) == without_request_id(r2)
    assert_problem(patch_json(org.client, "/v1/users/" + other.user_id,
                              {"role": "read_only"}), 404, "not_found")
    assert_problem(org.client.delete("/v1/users/" + other.user_id), 404,
                   "not_found")
    assert me(other.client)["role"] == "owner"
    other.close()


def test_sales_cannot_manage_users(sales, org):
    assert_problem(invite(sales, "sales"), 403, "forbidden")
    # Nor raise itself (PROP-02).
    assert_problem(patch_json(sales.client, "/v1/users/" + sales.user_id,
                              {"role": "admin"}), 403, "forbidden")
    assert_problem(sales.client.delete("/v1/users/" + org.user_id), 403,
                   "forbidden")
    assert me(sales.client)["role"] == "sales"


def test_role_change_kills_old_token_and_applies_on_login(org, base_url):
    u = make_user(org, "sales")
    assert me(u.client)["role"] == "sales"
    r = patch_json(org.client, "/v1/users/" + u.user_id,
                   {"role": "marketing"})
    b = assert_json(r, 200)
    assert b["role"] == "marketing", b
    assert_dead(u.client)
    again = login_ok(crmtest.Client(base_url), u.email, u.password)
    m = me(again.client)
    assert m["role"] == "marketing", m
    assert claims_of(again.access)["role"] == "marketing"
    assert "exports:create" in m["permissions"], m
    # Name change alone is allowed too.
    b = assert_json(patch_json(org.client, "/v1/users/" + u.user_id,
                               {"name": "Renamed"}), 200)
    assert b["name"] == "Renamed" and b["role"] == "marketing", b
    u.close()
    again.close()


def test_patch_user_rejects_unknown_fields(org, sales):
    for body, field in (({"email": "x@example.com"}, "email"),
                        ({"status": "active"}, "status"),
                        ({"password_hash": "x"}, "password_hash")):
        r = patch_json(org.client, "/v1/users/" + sales.user_id, body)
        assert r.status_code in (400, 422), r.text
        assert_names_field(assert_problem(r, r.status_code,
                                          r.json()["code"]), field)
    r = patch_json(org.client, "/v1/users/" + sales.user_id,
                   {"role": "no_such_role"})
    assert_names_field(assert_problem(r, 422, "validation_failed"), "role")


def test_deactivate_user(org, base_url):
    u = make_user(org, "support")
    k_ok = me(u.client)
    assert k_ok["role"] == "support"
    r = org.client.delete("/v1/users/" + u.user_id)
    assert r.status_code == 204, r.text
    assert_dead(u.client)
    assert_problem(refresh(crmtest.Client(base_url), u.refresh), 401,
                   "unauthenticated")
    r = login(crmtest.Client(base_url), u.email, u.password)
    assert_problem(r, 401, "unauthenticated")
    got = assert_json(org.client.get("/v1/users/" + u.user_id), 200)
    assert got["status"] == "deactivated", got
    u.close()


def test_deactivated_creators_keys_die(org):
    u = make_user(org, "admin")
    k, kc = make_key(u, ["contacts:read"])
    assert me(kc)["kind"] == "api_key"
    assert org.client.delete("/v1/users/" + u.user_id).status_code == 204
    assert_dead(kc)
    kc.close()
    u.close()


def test_last_owner_cannot_be_demoted_or_deactivated(org):
    r = patch_json(org.client, "/v1/users/" + org.user_id, {"role": "admin"})
    assert_problem(r, 409, "conflict")
    r = org.client.delete("/v1/users/" + org.user_id)
    assert_problem(r, 409, "conflict")
    assert me(org.client)["role"] == "owner"


def test_admin_cannot_make_owner_but_owner_can(org, admin, base_url):
    u = make_user(org, "sales")
    r = patch_json(admin.client, "/v1/users/" + u.user_id, {"role": "owner"})
    assert_problem(r, 403, "forbidden")
    assert_problem(invite(admin, "owner"), 403, "forbidden")
    # Nor lift itself.
    r = patch_json(admin.client, "/v1/users/" + admin.user_id,
                   {"role": "owner"})
    assert_problem(r, 403, "forbidden")
    # Admin may manage non-owner roles.
    b = assert_json(patch_json(admin.client, "/v1/users/" + u.user_id,
                               {"role": "support"}), 200)
    assert b["role"] == "support"

    b = assert_json(patch_json(org.client, "/v1/users/" + u.user_id,
                               {"role": "owner"}), 200)
    assert b["role"] == "owner", b
    u2 = login_ok(crmtest.Client(base_url), u.email, u.password)
    assert me(u2.client)["role"] == "owner"
    # Admin cannot touch an owner.
    r = patch_json(admin.client, "/v1/users/" + u.user_id, {"role": "sales"})
    assert_problem(r, 403, "forbidden")
    assert_problem(admin.client.delete("/v1/users/" + u.user_id), 403,
                   "forbidden")
    # Two owners: one may be demoted; then the other is the last again.
    b = assert_json(patch_json(u2.client, "/v1/users/" + u.user_id,
                               {"role": "sales"}), 200)
    assert b["role"] == "sales"
    r = patch_json(org.client, "/v1/users/" + org.user_id, {"role": "admin"})
    assert_problem(r, 409, "conflict")
    u.close()
    u2.close()


# ================================================================ roles

def test_builtin_roles_listed(org, sales):
    roles = list_all(org.client, "/v1/roles")
    by_name = {r["name"]: r for r in roles}
    for name in BUILTIN_ROLES:
        assert name in by_name, "built-in role %r missing: %r" % (
            name, sorted(by_name))
        r = by_name[name]
        assert set(r) >= {"id", "name", "description", "builtin", "grants",
                          "scope"}, r
        assert r["builtin"] is True, r
        assert r["scope"] in ("own", "team", "all"), r
        assert isinstance(r["grants"], list), r
    assert by_name["sales"]["scope"] == "team"
    assert "contacts:read" in by_name["read_only"]["grants"]
    # roles:read is not a sales grant.
    assert_problem(sales.client.get("/v1/roles"), 403, "forbidden")


def test_builtin_roles_immutable(org):
    roles = {r["name"]: r for r in list_all(org.client, "/v1/roles")}
    for name in ("sales", "owner"):
        rid = roles[name]["id"]
        r = patch_json(org.client, "/v1/roles/" + rid,
                       {"grants": ["*:*"]})
        assert r.status_code in (403, 409), r.text
        assert_problem(r, r.status_code, "forbidden" if r.status_code == 403
                       else "conflict")
        r = org.client.delete("/v1/roles/" + rid)
        assert r.status_code in (403, 409), r.text
    after = {r["name"]: r for r in list_all(org.client, "/v1/roles")}
    assert after["sales"]["grants"] == roles["sales"]["grants"]
    assert "owner" in after


def test_custom_role_crud(org):
    name = "crud_" + uid(8)
    r = post_json(org.client, "/v1/roles",
                  {"name": name, "description": "test role",
                   "grants": ["contacts:read", "deals:*"], "scope": "own"})
    b = assert_json(r, 201)
    assert UUID_RE.match(b["id"]), b
    assert b["name"] == name and b["builtin"] is False, b
    assert sorted(b["grants"]) == ["contacts:read", "deals:*"], b
    assert b["scope"] == "own" and b["description"] == "test role", b
    got = assert_json(org.client.get("/v1/roles/" + b["id"]), 200)
    assert got == b or {k: got[k] for k in b} == b, (got, b)
    up = assert_json(patch_json(org.client, "/v1/roles/" + b["id"],
                                {"grants": ["leads:read"], "scope": "team"}),
                     200)
    assert up["grants"] == ["leads:read"] and up["scope"] == "team", up
    # Name clash.
    r = post_json(org.client, "/v1/roles", {"name": name,
                                            "grants": ["leads:read"],
                                            "scope": "all"})
    assert_problem(r, 409, "conflict")
    r = org.client.delete("/v1/roles/" + b["id"])
    assert r.status_code == 204, r.text
    assert_problem(org.client.get("/v1/roles/" + b["id"]), 404, "not_found")


@pytest.mark.parametrize("body,field", [
    ({"grants": ["contacts:fly"]}, "grants"),
    ({"grants": ["nosuch:read"]}, "grants"),
    ({"grants": ["contacts"]}, "grants"),
    ({"grants": "contacts:read"}, "grants"),
    ({"scope": "galaxy"}, "scope"),
    ({"name": "Bad Name!"}, "name"),
    ({"name": "owner"}, "name"),
])
def test_custom_role_validation(org, body, field):
    full = {"name": "v_" + uid(8), "grants": ["contacts:read"],
            "scope": "all"}
    full.update(body)
    r = post_json(org.client, "/v1/roles", full)
    if field == "name" and body.get("name") == "owner":
        # A custom role may not take a built-in's name.
        assert r.status_code in (409, 422), r.text
        return
    assert_names_field(assert_problem(r, 422, "validation_failed"), field)


def test_custom_role_gives_exactly_its_grants(org, base_url):
    name = "reader_" + uid(8)
    role = assert_json(post_json(org.client, "/v1/roles",
                                 {"name": name, "grants": ["contacts:read"],
                                  "scope": "all"}), 201)
    u = make_user(org, name)
    m = me(u.client)
    assert m["role"] == name, m
    assert m["permissions"] == ["contacts:read"], m
    assert m["scope"] == "all", m
    assert_problem(u.client.get("/v1/users"), 403, "forbidden")
    assert_problem(u.client.get("/v1/teams"), 403, "forbidden")
    assert_problem(u.client.get("/v1/audit-log"), 403, "forbidden")
    assert_problem(u.client.get("/v1/api-keys"), 403, "forbidden")
    # Any member may read the tenant.
    assert_json(u.client.get("/v1/tenant"), 200)
    # A role in use cannot be deleted.
    r = org.client.delete("/v1/roles/" + role["id"])
    assert_problem(r, 409, "conflict")
    # Changing the role's grants applies on the next request.
    assert_json(patch_json(org.client, "/v1/roles/" + role["id"],
                           {"grants": ["contacts:read", "users:read"]}), 200)
    r = u.client.get("/v1/users")
    if r.status_code == 401:
        # Acceptable: the grant change ended the sessions; a new login
        # must then see the new grant.
        u.close()
        u = login_ok(crmtest.Client(base_url), u.email, u.password)
        r = u.client.get("/v1/users")
    assert_json(r, 200)
    assert sorted(me(u.client)["permissions"]) == ["contacts:read",
                                                   "users:read"]
    u.close()


def test_custom_role_api_keys_scopes_bounded(org):
    name = "keymaker_" + uid(6)
    assert_json(post_json(org.client, "/v1/roles",
                          {"name": name, "scope": "all",
                           "grants": ["contacts:read", "api-keys:manage"]}),
                201)
    u = make_user(org, name)
    r = post_json(u.client, "/v1/api-keys", {"name": "too much",
                                             "scopes": ["deals:read"]})
    assert_names_field(assert_problem(r, 422, "validation_failed"), "scopes")
    r = post_json(u.client, "/v1/api-keys", {"name": "too much",
                                             "scopes": ["*:*"]})
    assert_names_field(assert_problem(r, 422, "validation_failed"), "scopes")
    k, kc = make_key(u, ["contacts:read"])
    assert k["scopes"] == ["contacts:read"], k
    # The key's permissions are its scopes, not its creator's grants.
    assert me(kc)["permissions"] == ["contacts:read"], me(kc)
    kc.close()
    u.close()


# ================================================================ teams

def test_teams_crud_and_members(org, sales):
    name = "Team " + uid(8)
    t = assert_json(post_json(org.client, "/v1/teams", {"name": name}), 201)
    assert UUID_RE.match(t["id"]) and t["name"] == name, t
    assert t["members"] == [], t
    r = post_json(org.client, "/v1/teams/%s/members" % t["id"],
                  {"user_id": sales.user_id})
    assert r.status_code == 204, r.text
    got = assert_json(org.client.get("/v1/teams/" + t["id"]), 200)
    assert got["members"] == [sales.user_id], got
    # Adding twice: no duplicate.
    r = post_json(org.client, "/v1/teams/%s/members" % t["id"],
                  {"user_id": sales.user_id})
    assert r.status_code in (204, 409), r.text
    got = assert_json(org.client.get("/v1/teams/" + t["id"]), 200)
    assert got["members"] == [sales.user_id], got
    # Sales reads teams but cannot manage them.
    lst = list_all(sales.client, "/v1/teams")
    assert t["id"] in [x["id"] for x in lst]
    assert_problem(post_json(sales.client, "/v1/teams", {"name": "x" + uid()}),
                   403, "forbidden")
    assert_problem(sales.client.delete("/v1/teams/" + t["id"]), 403,
                   "forbidden")
    # Unknown user, other tenant's user: 404 or 422, never 2xx.
    r = post_json(org.client, "/v1/teams/%s/members" % t["id"],
                  {"user_id": "0190a000-0000-7000-8000-000000000000"})
    assert r.status_code in (404, 422), r.text
    up = assert_json(patch_json(org.client, "/v1/teams/" + t["id"],
                                {"name": name + " 2"}), 200)
    assert up["name"] == name + " 2", up
    r = org.client.delete("/v1/teams/%s/members/%s" % (t["id"],
                                                       sales.user_id))
    assert r.status_code == 204, r.text
    got = assert_json(org.client.get("/v1/teams/" + t["id"]), 200)
    assert got["members"] == [], got
    # Name clash.
    t2 = assert_json(post_json(org.client, "/v1/teams",
                               {"name": "Other " + uid(6)}), 201)
    assert_problem(patch_json(org.client, "/v1/teams/" + t2["id"],
                              {"name": name + " 2"}), 409, "conflict")
    assert org.client.delete("/v1/teams/" + t["id"]).status_code == 204
    assert_problem(org.client.get("/v1/teams/" + t["id"]), 404, "not_found")
    assert org.client.delete("/v1/teams/" + t2["id"]).status_code == 204


def test_team_validation(org):
    r = post_json(org.client, "/v1/teams", {"name": ""})
    assert_names_field(assert_problem(r, 422, "validation_failed"), "name")
    r = post_json(org.client, "/v1/teams", {"name": "x" * 101})
    assert_names_field(assert_problem(r, 422, "validation_failed"), "name")


# ================================================================ API keys

def _b62(v, width):
    alpha = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    out = ""
    for _ in range(width):
        out = alpha[v % 62] + out
        v //= 62
    return out


def test_api_key_create_list_get(org):
    k, kc = make_key(org, ["contacts:read"], name="integration " + uid(4))
    assert set(k) >= {"id", "name", "prefix", "key", "scopes", "created_by",
                      "created_at", "expires_at", "last_used_at",
                      "revoked_at"}, k
    m = KEY_RE.match(k["key"])
    assert m, k["key"]
    assert m.group(1) == k["prefix"], k
    assert m.group(3) == _b62(zlib.crc32(k["key"][:-6].encode()), 6), \
        "bad CRC32 checksum in %r" % k["key"]
    assert k["scopes"] == ["contacts:read"], k
    assert k["created_by"] == org.user_id, k
    assert k["revoked_at"] is None and k["last_used_at"] is None, k
    for bad in ("key_hash", "hash", "secret"):
        assert bad not in k, k

    lst = org.client.get("/v1/api-keys")
    b = assert_json(lst, 200)
    assert k["key"] not in lst.text
    mine = [x for x in b["data"] if x["id"] == k["id"]]
    assert len(mine) == 1, b
    assert mine[0]["prefix"] == k["prefix"] and "key" not in mine[0], mine
    assert "key_hash" not in mine[0]

    one = org.client.get("/v1/api-keys/" + k["id"])
    g = assert_json(one, 200)
    assert k["key"] not in one.text and "key" not in g, g
    assert g["name"] == k["name"] and g["prefix"] == k["prefix"], g

    # A use records last_used_at.
    assert me(kc)["kind"] == "api_key"
    g = assert_json(org.client.get("/v1/api-keys/" + k["id"]), 200)
    assert g["last_used_at"] is not None and TIME_RE.match(
        g["last_used_at"]), g
    kc.close()


def test_api_key_db_holds_only_sha256(org):
    k, kc = make_key(org, ["contacts:read"])
    rows = psql(super_url(),
                "SELECT encode(key_hash, 'hex'), prefix, row_to_json(k)::text"
                " FROM crm.api_keys k WHERE id = %s;" % sql_quote(k["id"]))
    assert len(rows) == 1, rows
    hexhash, prefix, row = rows[0]
    assert hexhash == hashlib.sha256(k["key"].encode()).hexdigest()
    assert prefix == k["prefix"]
    secret = k["key"].split("_")[-1]
    assert secret not in row and k["key"] not in row, row
    assert secret[:20] not in row, row
    kc.close()


@pytest.mark.parametrize("path", ["/v1/users", "/v1/roles", "/v1/teams",
                                  "/v1/api-keys", "/v1/tenant",
                                  "/v1/tenant/usage", "/v1/audit-log"])
def test_api_key_cannot_reach_admin_routes(org, path):
    k, kc = _broad_key(org)
    # audit-log is not on the admin-only list: the key lacks the grant.
    assert_problem(kc.get(path), 403, "forbidden")
    kc.close()


_BROAD = {}


def _broad_key(org):
    if org.tenant_id not in _BROAD:
        _BROAD[org.tenant_id] = make_key(org, ["contacts:read",
                                               "contacts:create"])
    k, kc = _BROAD[org.tenant_id]
    return k, bearer_client(org.base_url, k["key"])


def test_api_key_cannot_manage_admin_resources(org):
    k, kc = _broad_key(org)
    assert_problem(post_json(kc, "/v1/api-keys", {"name": "child",
                                                  "scopes": ["contacts:read"]}),
                   403, "forbidden")
    assert_problem(invite(kc, "admin"), 403, "forbidden")
    assert_problem(post_json(kc, "/v1/roles", {"name": "k_" + uid(6),
                                               "grants": ["contacts:read"],
                                               "scope": "all"}),
                   403, "forbidden")
    assert_problem(patch_json(kc, "/v1/tenant", {"name": "pwned"}), 403,
                   "forbidden")
    # Logout is for users; a key is no session (403 or 401, never 2xx).
    r = kc.post("/v1/auth/logout")
    assert r.status_code in (401, 403), r.text
    assert me(kc)["kind"] == "api_key", "logout with a key killed the key"
    kc.close()


def test_api_key_scope_validation(org):
    for scopes in (["contacts:fly"], ["nosuch:read"], [], "contacts:read"):
        r = post_json(org.client, "/v1/api-keys", {"name": "bad",
                                                   "scopes": scopes})
        assert_names_field(assert_problem(r, 422, "validation_failed"),
                           "scopes")
    r = post_json(org.client, "/v1/api-keys", {"name": "",
                                               "scopes": ["contacts:read"]})
    assert_names_field(assert_problem(r, 422, "validation_failed"), "name")


def test_api_key_scope_beyond_role_rejected(org, admin, sales):
    # sales has no api-keys:manage at all.
    r = post_json(sales.client, "/v1/api-keys",
                  {"name": "s", "scopes": ["contacts:read"]})
    assert_problem(r, 403, "forbidden")


def test_api_key_revoke(org):
    k, kc = make_key(org, ["contacts:read"])
    assert me(kc)["kind"] == "api_key"
    r = org.client.delete("/v1/api-keys/" + k["id"])
    assert r.status_code == 204, r.text
    assert_dead(kc)
    g = assert_json(org.client.get("/v1/api-keys/" + k["id"]), 200)
    assert g["revoked_at"] is not None and TIME_RE.match(g["revoked_at"]), g
    kc.close()


def test_api_key_wrong_secret_same_401_as_unknown(org, base_url):
    k, kc = make_key(org, ["contacts:read"])
    key = k["key"]
    body = key[:-6]
    # Flip one secret character and fix the checksum: only the DB can tell.
    ch = "A" if body[-1] != "A" else "B"
    forged = body[:-1] + ch
    forged += _b62(zlib.crc32(forged.encode()), 6)
    unknown = "crm_live_%s_%s" % ("Zz9Zz9Zz", "C" * 43)
    unknown += _b62(zlib.crc32(unknown.encode()), 6)
    r1 = bearer_client(base_url, forged).get("/v1/me")
    r2 = bearer_client(base_url, unknown).get("/v1/me")
    assert_problem(r1, 401, "unauthenticated")
    assert_problem(r2, 401, "unauthenticated")
    assert without_request_id(r1) == without_request_id(r2)
    assert me(kc)["kind"] == "api_key"
    kc.close()


def test_api_key_expired_is_401(org):
    k, kc = make_key(org, ["contacts:read"],
                     expires_at=datetime.fromtimestamp(
                         time.time() + 2, timezone.utc).strftime(
                         "%Y-%m-%dT%H:%M:%SZ"))
    assert k["expires_at"] is not None
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        r = kc.get("/v1/me")
        if r.status_code == 401:
            break
        assert r.status_code == 200, r.text
        time.sleep(0.5)
    assert_dead(kc)
    kc.close()


def test_api_key_expires_at_in_past_rejected(org):
    r = post_json(org.client, "/v1/api-keys",
                  {"name": "past", "scopes": ["contacts:read"],
                   "expires_at": "2001-01-01T00:00:00Z"})
    assert_names_field(assert_problem(r, 422, "validation_failed"),
                       "expires_at")


# ================================================================ audit log

def _audit(client):
    return list_all(client, "/v1/audit-log")


def test_audit_log(org, base_url, sales):
    # Make sure each action happened in this tenant at least once.
    http = crmtest.Client(base_url)
    http.headers["User-Agent"] = USER_AGENT
    assert_json(login(http, org.email, org.password), 200)
    assert_problem(login(http, org.email, strong_password()), 401,
                   "unauthenticated")
    inv = assert_json(invite(org, "read_only"), 201)
    k, kc = make_key(org, ["contacts:read"])
    assert org.client.delete("/v1/api-keys/" + k["id"]).status_code == 204
    http.close()
    kc.close()

    entries = _audit(org.client)
    for e in entries:
        assert set(e) >= {"id", "at", "actor_id", "actor_kind", "action",
                          "target_type", "target_id", "ip", "user_agent",
                          "detail"}, e
        assert TIME_RE.match(e["at"]), e
    by_action = {}
    for e in entries:
        by_action.setdefault(e["action"], []).append(e)
    for action in ("auth.signup", "auth.login", "auth.login_failed",
                   "user.invited", "user.joined", "api_key.created",
                   "api_key.revoked"):
        assert action in by_action, "no %r in the audit log; have %r" % (
            action, sorted(by_action))
        ours = [e for e in by_action[action]
                if e["user_agent"] == USER_AGENT]
        assert ours, "no %s entry with our User-Agent: %r" % (
            action, by_action[action][:3])
        for e in ours:
            assert e["ip"] in ("127.0.0.1", "::1", "::ffff:127.0.0.1"), e
    signup_e = by_action["auth.signup"][0]
    assert signup_e["actor_id"] == org.user_id, signup_e
    assert signup_e["actor_kind"] == "user", signup_e
    created = [e for e in by_action["api_key.created"]
               if e["target_id"] == k["id"]]
    revoked = [e for e in by_action["api_key.revoked"]
               if e["target_id"] == k["id"]]
    assert len(created) == 1 and len(revoked) == 1, (created, revoked)
    assert created[0]["actor_id"] == org.user_id, created
    assert revoked[0]["actor_id"] == org.user_id, revoked
    invited = [e for e in by_action["user.invited"]
               if e["target_id"] == inv["invitation"]["id"]]
    assert invited and invited[0]["actor_id"] == org.user_id, \
        by_action["user.invited"][:3]
    failed = [e for e in by_action["auth.login_failed"]
              if e["user_agent"] == USER_AGENT]
    assert failed, by_action["auth.login_failed"]
    # Never the password, in any entry.
    assert org.password not in json.dumps(entries)
    # Newest first.
    ats = [e["at"] for e in entries]
    assert ats == sorted(ats, reverse=True), ats[:10]

    assert_problem(sales.client.get("/v1/audit-log"), 403, "forbidden")


def test_audit_log_is_per_tenant(org, mhttp):
    other = signup(mhttp)
    theirs = _audit(other.client)
    assert [e["action"] for e in theirs].count("auth.signup") == 1, theirs
    ours = {e["id"] for e in _audit(org.client)}
    assert not ours & {e["id"] for e in theirs}
    other.close()


def test_audit_log_bad_cursor(org):
    r = org.client.get("/v1/audit-log", params={"cursor": "%%%garbage"})
    assert_problem(r, 400, "invalid_cursor")
    r = org.client.get("/v1/audit-log", params={"limit": "100000"})
    assert r.status_code in (200, 400), r.text
    if r.status_code == 200:
        assert len(r.json()["data"]) <= 200


# ================================================================ tenant

def test_tenant_get_any_member(org, sales):
    for c in (org.client, sales.client):
        t = assert_json(c.get("/v1/tenant"), 200)
        assert set(t) >= {"id", "name", "slug", "plan", "status",
                          "created_at", "settings"}, t
        assert t["id"] == org.tenant_id and t["slug"] == org.tenant["slug"]
        assert t["plan"] == "team" and t["status"] == "trial", t
        assert isinstance(t["settings"], dict), t
        assert TIME_RE.match(t["created_at"]), t


def test_tenant_patch(org, sales):
    new = "Renamed " + uid(8)
    t = assert_json(patch_json(org.client, "/v1/tenant", {"name": new}), 200)
    assert t["name"] == new and t["slug"] == org.tenant["slug"], t
    assert assert_json(org.client.get("/v1/tenant"), 200)["name"] == new
    t = assert_json(patch_json(org.client, "/v1/tenant",
                               {"settings": {"locale": "de-DE"}}), 200)
    assert t["settings"].get("locale") == "de-DE", t
    assert_problem(patch_json(sales.client, "/v1/tenant", {"name": "Mine"}),
                   403, "forbidden")
    assert assert_json(org.client.get("/v1/tenant"), 200)["name"] == new
    for body, field in (({"status": "active"}, "status"),
                        ({"plan": "business"}, "plan"),
                        ({"slug": "taken"}, "slug"),
                        ({"id": org.tenant_id}, "id")):
        r = patch_json(org.client, "/v1/tenant", body)
        assert r.status_code in (400, 422), r.text
        assert_names_field(assert_problem(r, r.status_code,
                                          r.json()["code"]), field)
    r = patch_json(org.client, "/v1/tenant", {"name": ""})
    assert_names_field(assert_problem(r, 422, "validation_failed"), "name")
    r = patch_json(org.client, "/v1/tenant", {"settings": []})
    assert_names_field(assert_problem(r, 422, "validation_failed"),
                       "settings")
    t = assert_json(org.client.get("/v1/tenant"), 200)
    assert t["plan"] == "team" and t["status"] == "trial", t
    ev = [e for e in _audit(org.client) if e["action"] == "tenant.updated"]
    assert ev, "no tenant.updated audit entry"


def test_tenant_usage(org, sales):
    u = assert_json(org.client.get("/v1/tenant/usage"), 200)
    assert u["plan"] == "team", u
    for k in ("seats", "records", "storage_mb"):
        assert set(u[k]) >= {"used", "limit"}, u
        assert isinstance(u[k]["used"], int) and u[k]["used"] >= 0, \
            "usage %s.used is %r: %r" % (k, u[k]["used"], u)
    assert u["seats"]["limit"] == 10 and u["records"]["limit"] == 100000, u
    assert u["storage_mb"]["limit"] == 10240, u
    # The plan's 600/min; an operator's CRM_RATE_LIMIT_MULTIPLIER may
    # scale what is reported.
    lim = u["api_requests_per_minute"]["limit"]
    mult = _multiplier_or(None)
    assert lim in ((600, 600 * mult) if mult else (600,)) or \
        (mult is None and lim % 600 == 0), u
    users = list_all(org.client, "/v1/users")
    active = [x for x in users if x["status"] == "active"]
    assert u["seats"]["used"] == len(active), (u, len(active))


def _multiplier_or(default):
    import os
    v = os.environ.get("CRM_RATE_LIMIT_MULTIPLIER")
    return int(v) if v and v.isdigit() else default


def test_seats_plan_limit(mhttp):
    # free plan: 3 seats.  Owner + 2 invitations accepted -> the next
    # invitation is 403 plan_limit naming seats.
    a = signup(mhttp, plan="free")
    make_user(a, "sales").close()
    make_user(a, "sales").close()
    r = invite(a, "sales")
    p = assert_problem(r, 403, "plan_limit")
    assert "seats" in json.dumps(p), p
    a.close()


# ================================================================ rate limits

def test_rate_limit_headers_on_authenticated_responses(org):
    k, kc = make_key(org, ["contacts:read"])
    for c, subject in ((org.client, "user"), (kc, "key")):
        r = c.get("/v1/me")
        assert r.status_code == 200
        pol = rate_limit_policy(r)
        assert "tenant" in pol, pol
        assert subject in pol, pol
        for name, p in pol.items():
            assert p["w"] == 60 and p["q"] > 0, pol
        q = pol["tenant"]["q"]
        mult = _multiplier_or(None)
        if mult is not None:
            assert q == 600 * mult, pol
        else:
            assert q % 600 == 0, pol
        rl = rate_limit(r)
        assert rl["name"] in pol, (rl, pol)
        assert 0 <= rl["r"] <= pol[rl["name"]]["q"] * 1.1 + 1, (rl, pol)
        assert rl["t"] >= 0, rl
    # Remaining goes down, give or take what refilled meanwhile (a busy
    # machine can take longer than one refill interval between the two).
    t0 = time.monotonic()
    r1 = rate_limit(org.client.get("/v1/tenant"))
    r2 = rate_limit(org.client.get("/v1/tenant"))
    refill = (time.monotonic() - t0) * pol[r1["name"]]["q"] / 60.0
    if r1["name"] == r2["name"]:
        assert r2["r"] <= r1["r"] + refill, (r1, r2, refill)
    # An error reply on an authenticated route carries them too.
    r = org.client.get("/v1/users/0190a000-0000-7000-8000-000000000000")
    assert r.status_code == 404 and r.headers.get("RateLimit-Policy"), \
        r.headers
    kc.close()


# ================================================================ suspended

def test_suspended_tenant_reads_work_writes_403(mhttp):
    a = signup(mhttp)
    k, kc = make_key(a, ["contacts:read", "contacts:create"])
    set_tenant_status(a.tenant_id, "suspended")
    try:
        m = me(a.client)
        assert m["tenant"]["id"] == a.tenant_id
        t = assert_json(a.client.get("/v1/tenant"), 200)
        assert t["status"] == "suspended", t
        assert_json(a.client.get("/v1/users"), 200)
        assert me(kc)["kind"] == "api_key"
        assert_problem(patch_json(a.client, "/v1/tenant", {"name": "x"}),
                       403, "tenant_suspended")
        assert_problem(post_json(a.client, "/v1/teams", {"name": "t"}), 403,
                       "tenant_suspended")
        assert_problem(invite(a, "sales"), 403, "tenant_suspended")
        assert_problem(post_json(a.client, "/v1/api-keys",
                                 {"name": "n", "scopes": ["contacts:read"]}),
                       403, "tenant_suspended")
        t = assert_json(a.client.get("/v1/tenant"), 200)
        assert t["name"] == a.tenant["name"], t
    finally:
        set_tenant_status(a.tenant_id, "trial")
    assert_json(patch_json(a.client, "/v1/tenant", {"name": "Back " + uid()}),
                200)
    kc.close()
    a.close()


def test_closed_tenant_credentials_die(mhttp):
    a = signup(mhttp)
    k, kc = make_key(a, ["contacts:read"])
    set_tenant_status(a.tenant_id, "closed")
    assert_dead(a.client)
    assert_dead(kc)
    assert_problem(login(mhttp, a.email, a.password), 401, "unauthenticated")
    kc.close()
    a.close()
