"""Shared fixtures of the security suite (SECURITY.md T1-T4).

    world      three tenants (A, B, C) made through sign-up, each with
               users of several roles (invite + accept), a deactivated user
               whose token is kept, a custom role, teams, API keys (narrow
               and broad scopes) and a pending invitation; built once per
               pytest session and shared by every file here
    routes     GET /v1/_test/routes (the live route table), test routes
               removed

Helpers live in seclib.py: send() with 429 back-off, strip_rid(), rand_uuid7(),
neighbour(), token tools (b64url, jwt parts).  Account and invitation flows
come from tests/lib/identity.py; nothing here edits that file.

Counts and timings are collected in STATS and printed at the end of the
run (pytest_terminal_summary), so a CI log shows how many probes ran.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crmfixtures import *  # noqa: E402,F401,F403
import crmtest  # noqa: E402
from seclib import STATS, World  # noqa: E402


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not STATS:
        return
    terminalreporter.section("security suite figures")
    for k in sorted(STATS):
        terminalreporter.write_line("%-44s %s" % (k, STATS[k]))


_world = {}


@pytest.fixture(scope="session")
def world(base_url):
    if "w" not in _world:
        _world["w"] = World(base_url)
    return _world["w"]


@pytest.fixture(scope="session")
def route_table(base_url):
    c = crmtest.Client(base_url)
    try:
        r = c.get("/v1/_test/routes")
    finally:
        c.close()
    assert r.status_code == 200, (
        "GET /v1/_test/routes: %d (the service needs CRM_TEST_ROUTES=1)"
        % r.status_code)
    data = r.json()["data"]
    assert data, "empty route table"
    return data


@pytest.fixture(scope="session")
def routes(route_table):
    return [r for r in route_table if not r["test"]]


