# Shared fixtures (base_url, service_env, http, client) live in tests/lib;
# the webhook receiver and helpers in jobslib.py.
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crmfixtures import *  # noqa: E402,F401,F403
import jobslib  # noqa: E402


@pytest.fixture(scope="module")
def rec():
    r = jobslib.Receiver()
    yield r
    r.close()
