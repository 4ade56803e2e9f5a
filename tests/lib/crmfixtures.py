"""Fixtures shared by every black-box suite's conftest.py.

    base_url     the service's URL (CRM_TEST_URL, or a service started here)
    service_env  the service's environment (CRM_* variables), a dict
    http         a crmtest.Client (requests.Session) on base_url, with
                 http.assert_problem(resp, status, code)
    client       a factory: client() -> a fresh crmtest.Client
"""

import pytest

import crmtest


@pytest.fixture(scope="session")
def service_env():
    return crmtest.ensure_service()


@pytest.fixture(scope="session")
def base_url(service_env):
    return service_env["CRM_TEST_URL"].rstrip("/")


@pytest.fixture
def http(base_url):
    s = crmtest.Client(base_url)
    yield s
    s.close()


@pytest.fixture(scope="module")
def mhttp(base_url):
    """One keep-alive client for a whole test module."""
    from identity import USER_AGENT
    c = crmtest.Client(base_url)
    c.headers["User-Agent"] = USER_AGENT
    yield c
    c.close()


@pytest.fixture
def client(base_url):
    made = []

    def make(**kw):
        c = crmtest.Client(base_url, **kw)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


def pytest_sessionfinish(session, exitstatus):
    crmtest.stop_service()
