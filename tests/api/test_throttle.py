"""Login and sign-up throttles (docs/identity.md "Rules"; SECURITY.md
AUTH-12, 3.3): per account, from the 10th consecutive failure a delay
doubling from 1 s -> 429 rate_limited + Retry-After, even for the right
password; a success after the delay resets the count; login per IP
30/minute and sign-up per IP 10/hour (times CRM_RATE_LIMIT_MULTIPLIER).

These tests call the routes raw (no retry on 429) and clear the per-IP
counters (Redis login:ip:*, signup:ip:*) before and after, so they neither
depend on nor disturb the other suites.
"""

import os
import time

import pytest

import crmtest
from crmtest import assert_json, assert_problem
from identity import (USER_AGENT, login, post_json, rate_limit_policy,
                      reset_limits, signup, strong_password, unique_company,
                      unique_email)


def multiplier(resp=None, subject=None, base=None):
    """CRM_RATE_LIMIT_MULTIPLIER from the environment; when the
    environment does not say (a dev server), from a reply's policy."""
    v = os.environ.get("CRM_RATE_LIMIT_MULTIPLIER")
    if v and v.isdigit():
        return int(v)
    if resp is not None and resp.headers.get("RateLimit-Policy"):
        q = rate_limit_policy(resp).get(subject, {}).get("q")
        if q and q % base == 0:
            return q // base
    return 1


@pytest.fixture
def fresh_ip_limits(service_env):
    reset_limits()
    yield
    reset_limits()


@pytest.fixture
def rhttp(base_url):
    c = crmtest.Client(base_url)
    c.headers["User-Agent"] = USER_AGENT
    yield c
    c.close()


def retry_after(resp):
    v = resp.headers.get("Retry-After", "")
    assert v.isdigit() and int(v) >= 1, \
        "429 without a sane Retry-After: %r" % v
    return int(v)


def fail_login(http, email):
    """One wrong-password login, with the per-IP login limit cleared
    first, so that only the per-account throttle can answer 429."""
    reset_limits("login:ip:*")
    return login(http, email, strong_password(), retry=False)


def good_login(http, email, password):
    reset_limits("login:ip:*")
    return login(http, email, password, retry=False)


def test_account_throttle_from_10th_failure(rhttp, fresh_ip_limits):
    a = signup(rhttp)
    assert_json(good_login(rhttp, a.email, a.password), 200)
    for i in range(1, 10):
        assert_problem(fail_login(rhttp, a.email), 401, "unauthenticated")
    # The 10th failure starts the delay: it is itself a 401, or already
    # the first 429.
    r = fail_login(rhttp, a.email)
    assert r.status_code in (401, 429), r.text
    r = fail_login(rhttp, a.email)
    assert_problem(r, 429, "rate_limited")
    wait = retry_after(r)
    assert wait <= 2, "first delay is 1 s (doubling): Retry-After %d" % wait
    # The right password during the delay: still 429, no login.
    t0 = time.monotonic()
    r = good_login(rhttp, a.email, a.password)
    assert_problem(r, 429, "rate_limited")
    wait = retry_after(r)
    assert wait <= 4, wait
    assert "access_token" not in r.text
    # The throttle is per account: another account logs in meanwhile.
    b = signup(rhttp)
    assert_json(good_login(rhttp, b.email, b.password), 200)

    time.sleep(max(0.0, wait + 0.3 - (time.monotonic() - t0)))
    r = good_login(rhttp, a.email, a.password)
    body = assert_json(r, 200)
    assert body["access_token"]
    # The success reset the count: failures are plain 401s again.
    for _ in range(3):
        assert_problem(fail_login(rhttp, a.email), 401, "unauthenticated")
    assert_json(good_login(rhttp, a.email, a.password), 200)
    a.close()
    b.close()


def test_unknown_account_is_throttled_alike(rhttp, fresh_ip_limits):
    # An unknown e-mail is throttled the same way (no enumeration by the
    # throttle either).
    email = unique_email("ghost")
    seen = []
    for i in range(12):
        r = fail_login(rhttp, email)
        seen.append(r.status_code)
        if r.status_code == 429:
            break
    assert seen[:9] == [401] * 9, seen
    assert seen[-1] == 429, "no 429 after 12 failures on one unknown " \
        "e-mail: %r" % seen
    assert_problem(r, 429, "rate_limited")
    retry_after(r)


def test_login_per_ip_limit(rhttp, fresh_ip_limits):
    """30 logins per minute per IP (x multiplier), whatever the e-mail."""
    probe = login(rhttp, unique_email("probe"), strong_password(),
                  retry=False)
    reset_limits()
    m = multiplier(probe, "login", 30)
    if m > 3:
        pytest.skip("CRM_RATE_LIMIT_MULTIPLIER=%d: too many logins" % m)
    limit = 30 * m
    seen = []
    r = first = None
    # Plus a tenth for the GCRA burst, plus slack.
    for i in range(int(limit * 1.1) + 5):
        r = login(rhttp, unique_email("spray"), strong_password(),
                  retry=False)
        first = first or r
        seen.append(r.status_code)
        if r.status_code == 429:
            break
    pol = rate_limit_policy(first)
    assert "login" in pol, pol
    assert pol["login"] == {"q": limit, "w": 60}, pol
    assert r is not None and r.status_code == 429, \
        "no 429 after %d logins from one IP: %r" % (len(seen), seen)
    assert set(seen[:-1]) == {401}, seen
    assert_problem(r, 429, "rate_limited")
    retry_after(r)
    # Even a real account is refused from this IP now.
    r = login(rhttp, unique_email("real"), strong_password(), retry=False)
    assert_problem(r, 429, "rate_limited")
    print("login per IP: first 429 after %d attempts" % len(seen))


def test_signup_per_ip_limit(rhttp, fresh_ip_limits):
    """10 sign-ups per hour per IP (x multiplier)."""
    def one():
        return post_json(rhttp, "/v1/signup",
                         {"company_name": unique_company("Spray"),
                          "email": unique_email("spray"),
                          "password": strong_password()})

    first = one()
    assert_json(first, 201)
    m = multiplier(first, "signup", 10)
    if m > 10:
        pytest.skip("CRM_RATE_LIMIT_MULTIPLIER=%d: too many tenants" % m)
    limit = 10 * m
    pol = rate_limit_policy(first)
    assert "signup" in pol, pol
    assert pol["signup"] == {"q": limit, "w": 3600}, \
        "sign-up is limited to %d per hour: %r" % (limit, pol)
    seen = [first.status_code]
    r = first
    for i in range(limit + 2):
        r = one()
        seen.append(r.status_code)
        if r.status_code == 429:
            break
    assert r.status_code == 429, "no 429 after %d sign-ups: %r" % (
        len(seen), seen)
    assert set(seen[:-1]) == {201}, seen
    assert_problem(r, 429, "rate_limited")
    wait = retry_after(r)
    assert wait <= 3600, wait
    print("sign-up per IP: first 429 after %d attempts" % len(seen))
