"""identity: helpers for the black-box identity suites (docs/identity.md).

    signup(http, company=None, email=None, password=None, **extra)
        -> Account: a new tenant and its owner, with .client bound to the
           owner's access token
    login(http, email, password, tenant=None) -> the raw response
    login_ok(...) -> Account (asserts 200)
    make_user(admin, role) -> Account: invites and accepts a user of that role
    make_key(admin, scopes) -> (201 body, client bound to the key)
    strong_password(), unique_email(), unique_company()
    bearer_client(base_url, token) -> crmtest.Client sending the token
    psql(url, sql) -> rows (lists of strings) from psql(1) (no psycopg2)
    redis_cmd(*args) / reset_limits(*patterns) for the test stack's Redis

Every name is unique per call (uuid4), so the suites never collide with
each other or with an earlier run against the same (dev) database.

The throw-away stack runs with CRM_RATE_LIMIT_MULTIPLIER=1, where sign-up
allows 10 per IP per hour and login 30 per IP per minute; every test comes
from 127.0.0.1.  Helpers that create accounts therefore clear the per-IP
sign-up and login throttles (Redis keys signup:ip:* and login:ip:*, named
in app/keys.h) when they meet a 429 and retry once.  The tests that test
those throttles (test_throttle.py) call the raw routes instead.
"""

import json
import os
import re
import subprocess
import time
import urllib.parse
import uuid

import crmtest
import mailsink

USER_AGENT = "crm-identity-tests/1.0"
JSON_CT = "application/json; charset=utf-8"

BUILTIN_ROLES = ("owner", "admin", "manager", "sales", "marketing",
                 "support", "read_only")

KEY_RE = re.compile(r"^crm_live_([A-Za-z0-9]{8})_([A-Za-z0-9]{43})"
                    r"([A-Za-z0-9]{6})$")
OPAQUE_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
                       r"[0-9a-f]{12}\.[A-Za-z0-9_-]{43}$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
                     r"[0-9a-f]{12}$")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


# ------------------------------------------------------------ names

def uid(n=12):
    return uuid.uuid4().hex[:n]


def strong_password():
    """36 characters, mixed, never a common password."""
    return "Tq7!" + uuid.uuid4().hex


def unique_email(tag="user"):
    return "%s-%s@example.com" % (tag, uuid.uuid4().hex[:16])


def unique_company(tag="Acme"):
    return "%s %s" % (tag, uid(10))


def slugify(name):
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


# ------------------------------------------------------------ clients

def base_of(http):
    return http.base_url


class LimitedClient(crmtest.Client):
    """A crmtest.Client that, when the general rate limit (tenant, user,
    key: Redis rl:*) answers 429, clears those counters and retries once.
    The suites share a tenant across many fast requests; only the tests
    of the limits themselves want the 429 (they use crmtest.Client)."""

    def request(self, method, url, *args, **kwargs):
        r = super().request(method, url, *args, **kwargs)
        if r.status_code == 429 and not str(url).startswith(
                ("/v1/auth/", "/v1/signup", "/v1/invitations/")):
            reset_limits("rl:*")
            r = super().request(method, url, *args, **kwargs)
        return r


def bearer_client(base_url, token):
    c = LimitedClient(base_url)
    c.headers["User-Agent"] = USER_AGENT
    if token is not None:
        c.headers["Authorization"] = "Bearer " + token
    return c


def post_json(http, path, body, **kw):
    """POST a JSON body (a dict, or bytes/str sent as they are)."""
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode("utf-8")
    elif isinstance(body, str):
        data = body.encode("utf-8")
    else:
        data = body
    headers = {"Content-Type": JSON_CT, "User-Agent": USER_AGENT}
    headers.update(kw.pop("headers", {}))
    return http.post(path, data=data, headers=headers, **kw)


def patch_json(http, path, body, **kw):
    headers = {"Content-Type": JSON_CT}
    headers.update(kw.pop("headers", {}))
    return http.patch(path, data=json.dumps(body).encode("utf-8"),
                      headers=headers, **kw)


def error_fields(problem):
    """The field names a validation problem names (errors[].field)."""
    return [e.get("field") for e in problem.get("errors") or []
            if isinstance(e, dict)]


def assert_names_field(problem, field):
    """The problem's errors[] names field (or a sub-path of it)."""
    fields = error_fields(problem)
    ok = any(f == field or (isinstance(f, str) and
             (f.startswith(field + ".") or f.startswith(field + "[") or
              f.startswith(field + "/")))
             for f in fields)
    assert ok, "problem does not name %r in errors[]: %r" % (field, problem)


def without_request_id(resp):
    body = json.loads(resp.content.decode("utf-8"))
    body.pop("request_id", None)
    return body


class Account:
    """A user who holds tokens: .tenant, .user, .access, .refresh,
    .email, .password, .client (bound to .access), .body."""

    def __init__(self, base_url, body, email, password):
        self.base_url = base_url
        self.body = body
        self.tenant = body.get("tenant") or {}
        self.user = body.get("user") or {}
        self.access = body.get("access_token")
        self.refresh = body.get("refresh_token")
        self.email = email
        self.password = password
        self.client = bearer_client(base_url, self.access)

    @property
    def tenant_id(self):
        return self.tenant.get("id")

    @property
    def user_id(self):
        return self.user.get("id")

    def close(self):
        self.client.close()

    def __repr__(self):
        return "<Account %s in %s>" % (self.email, self.tenant.get("slug"))


# ------------------------------------------------------------ Redis, psql

def _redis_args():
    u = urllib.parse.urlparse(os.environ["CRM_REDIS_URL"])
    env = dict(os.environ)
    if u.password:
        env["REDISCLI_AUTH"] = urllib.parse.unquote(u.password)
    args = ["redis-cli", "--no-auth-warning", "-h", u.hostname or "127.0.0.1",
            "-p", str(u.port or 6379)]
    db = (u.path or "/0").lstrip("/") or "0"
    args += ["-n", db]
    return args, env


def redis_cmd(*cmd):
    args, env = _redis_args()
    r = subprocess.run(args + [str(c) for c in cmd], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=10)
    assert r.returncode == 0, "redis-cli %s: %s" % (cmd[0], r.stderr)
    return r.stdout


# Kore workers keep rate-limit tokens they took ahead of use for up to
# 500 ms (app/lease.c); a test that rewrites the limiter's Redis state must
# let those leases run out before it counts.
LEASE_TTL_S = 0.5


def leases_expire():
    time.sleep(LEASE_TTL_S + 0.1)


def reset_limits(*patterns):
    """Deletes the test stack's Redis keys matching the patterns
    (default: the per-IP sign-up and login throttles).  After clearing
    request limits (rl:*) it waits out the workers' token leases."""
    if not os.environ.get("CRM_REDIS_URL"):
        return 0
    patterns = patterns or ("signup:ip:*", "login:ip:*")
    n = 0
    for p in patterns:
        keys = [k for k in redis_cmd("--scan", "--pattern", p).split()
                if k]
        for i in range(0, len(keys), 100):
            redis_cmd("DEL", *keys[i:i + 100])
            n += len(keys[i:i + 100])
    if any(p.startswith("rl:") for p in patterns):
        leases_expire()
    return n


def psql(url, sql):
    """Runs sql (one or more statements) with psql as the role in url;
    returns the rows of the last result as lists of strings."""
    r = subprocess.run(
        ["psql", "-X", "-q", "-A", "-t", "-F", "\x1f", "-v",
         "ON_ERROR_STOP=1", "-d", url, "-f", "-"],
        input=sql, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, timeout=30)
    assert r.returncode == 0, "psql failed: %s" % r.stderr.strip()
    return [line.split("\x1f") for line in r.stdout.splitlines() if line]


def sql_quote(s):
    return "'" + str(s).replace("'", "''") + "'"


def super_url():
    return os.environ["CRM_PG_SUPER_URL"]


def set_tenant_status(tenant_id, status):
    """As the schema owner, inside the tenant's context (RLS binds it)."""
    psql(os.environ["CRM_OWNER_DATABASE_URL"],
         "BEGIN;\n"
         "SELECT set_config('app.tenant_id', %s, true);\n"
         "UPDATE crm.tenants SET status = %s WHERE tenant_id = %s;\n"
         "COMMIT;\n" % (sql_quote(tenant_id), sql_quote(status),
                        sql_quote(tenant_id)))


# ------------------------------------------------------------ flows

def _retry_on_ip_limit(send):
    r = send()
    if r.status_code == 429:
        reset_limits()
        r = send()
    return r


def signup_raw(http, body, retry=True):
    if not retry:
        return post_json(http, "/v1/signup", body)
    return _retry_on_ip_limit(lambda: post_json(http, "/v1/signup", body))


def signup(http, company=None, email=None, password=None, **extra):
    """Signs a new company up; returns an Account (asserts 201)."""
    company = company or unique_company()
    email = email or unique_email("owner")
    password = password or strong_password()
    body = {"company_name": company, "email": email, "password": password,
            "name": "Owner " + uid(6)}
    body.update(extra)
    r = signup_raw(http, body)
    b = crmtest.assert_json(r, 201)
    return Account(base_of(http), b, email, password)


def login(http, email, password, tenant=None, retry=True):
    body = {"email": email, "password": password}
    if tenant is not None:
        body["tenant"] = tenant
    if not retry:
        return post_json(http, "/v1/auth/login", body)
    return _retry_on_ip_limit(
        lambda: post_json(http, "/v1/auth/login", body))


def login_ok(http, email, password, tenant=None):
    r = login(http, email, password, tenant)
    b = crmtest.assert_json(r, 200)
    return Account(base_of(http), b, email, password)


def refresh(http, token):
    return _retry_on_ip_limit(lambda: post_json(
        http, "/v1/auth/refresh", {"refresh_token": token}))


def invite(admin, role, email=None, name=None):
    """POST /v1/users as admin (an Account or a client); the raw reply."""
    c = admin.client if isinstance(admin, Account) else admin
    body = {"email": email or unique_email(role), "role": role}
    if name is not None:
        body["name"] = name
    return post_json(c, "/v1/users", body)


def accept(http, token, password=None, name=None):
    return _retry_on_ip_limit(lambda: post_json(
        http, "/v1/invitations/accept",
        {"token": token, "password": password or strong_password(),
         "name": name or "Invited " + uid(6)}))


def make_user(admin, role, email=None):
    """Invites a user with role and accepts the invitation; returns the
    new user's Account (its .body is the accept reply)."""
    email = email or unique_email(role)
    r = invite(admin, role, email=email, name="Invited " + uid(6))
    inv = crmtest.assert_json(r, 201)
    password = strong_password()
    base = admin.base_url if isinstance(admin, Account) else admin.base_url
    http = crmtest.Client(base)
    try:
        # The token travels only by e-mail: read it from the SMTP sink.
        r = accept(http, mailsink.wait_token(email), password)
        b = crmtest.assert_json(r, 201)
    finally:
        http.close()
    acct = Account(base, b, email, password)
    if not acct.user:
        # The accept reply may leave the user out: ask who we are.
        me = acct.client.get("/v1/me").json()
        acct.user = me.get("user") or {}
    acct.invitation = inv
    return acct


def make_key(admin, scopes, name=None, **extra):
    """POST /v1/api-keys; returns (201 body, client bound to the key)."""
    c = admin.client if isinstance(admin, Account) else admin
    body = {"name": name or "key " + uid(8), "scopes": list(scopes)}
    body.update(extra)
    b = crmtest.assert_json(post_json(c, "/v1/api-keys", body), 201)
    return b, bearer_client(c.base_url, b["key"])


def list_all(client, path, limit=200, pages=20):
    """Every item of a {data, next_cursor} list."""
    out = []
    cursor = None
    for _ in range(pages):
        params = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        b = crmtest.assert_json(client.get(path, params=params), 200)
        assert isinstance(b.get("data"), list), b
        out.extend(b["data"])
        cursor = b.get("next_cursor")
        if not cursor:
            break
    return out


def rate_limit_policy(resp):
    """Parses RateLimit-Policy: {name: {"q": int, "w": int}}."""
    h = resp.headers.get("RateLimit-Policy")
    assert h, "no RateLimit-Policy on %s %s: %r" % (
        resp.request.method, resp.request.path_url, dict(resp.headers))
    out = {}
    for item in h.split(","):
        parts = [p.strip() for p in item.strip().split(";")]
        name = parts[0].strip('"')
        params = {}
        for p in parts[1:]:
            k, _, v = p.partition("=")
            params[k.strip()] = int(v)
        out[name] = params
    return out


def rate_limit(resp):
    h = resp.headers.get("RateLimit")
    assert h, "no RateLimit header: %r" % dict(resp.headers)
    parts = [p.strip() for p in h.split(";")]
    params = {"name": parts[0].strip('"')}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        params[k.strip()] = int(v)
    return params
