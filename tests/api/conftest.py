# Shared fixtures (base_url, service_env, http, client) live in tests/lib.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))

from crmfixtures import *  # noqa: E402,F401,F403
