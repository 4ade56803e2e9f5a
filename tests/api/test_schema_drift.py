"""The startup drift check (app/engine.c, eng_parent_check): Kore refuses
to start when an entity's table no longer matches its descriptor.

Renames one column of crm.accounts (as the schema owner), starts a second
Kore against the test stack, expects it to exit with the drift named in its
log, and always renames the column back.
"""

import os
import shutil
import subprocess
import tempfile
import time

import pytest

from test_tls import (GENCONF, ROOT, SO, UNSET, _free_port, _log_tail,
                      _stack_env, _stop)

pytestmark = pytest.mark.skipif(shutil.which("kore") is None,
                                reason="kore not installed")


def _psql(url, sql):
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url,
                    "-c", sql], check=True, capture_output=True)


def test_kore_refuses_to_start_on_drift(service_env):
    if not os.path.exists(SO):
        pytest.skip("build/crm.so missing")
    env = _stack_env(service_env)
    owner = env.get("CRM_OWNER_DATABASE_URL")
    if not owner:
        pytest.skip("CRM_OWNER_DATABASE_URL not set")
    d = tempfile.mkdtemp(prefix="crm-drift-")
    log = os.path.join(d, "kore.log")
    proc = None
    _psql(owner, "ALTER TABLE crm.accounts RENAME COLUMN industry TO sector")
    try:
        for k in UNSET:
            env.pop(k, None)
        env.update({"CRM_HTTP_BIND": "127.0.0.1",
                    "CRM_HTTP_PORT": str(_free_port()),
                    "CRM_WORKERS": "1", "CRM_KORE_SO": SO})
        for k in ("CRM_TLS_CERT", "CRM_TLS_KEY", "CRM_RUNAS"):
            env.pop(k, None)
        var = os.path.join(d, "var")
        os.mkdir(var)
        conf = os.path.join(var, "crm.conf")
        subprocess.run([GENCONF, var, conf], env=env, check=True)
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                ["kore", "-c", conf, "-f", "-n", "-r"], cwd=ROOT, env=env,
                stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True)
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proc.poll() is not None, \
            "kore kept running on a drifted schema:\n" + _log_tail(log)
        assert proc.returncode != 0
        text = _log_tail(log)
        assert "schema has drifted" in text, text
        assert "column industry is missing" in text, text
    finally:
        if proc is not None:
            _stop(proc)
        _psql(owner, "ALTER TABLE crm.accounts RENAME COLUMN sector TO "
                     "industry")
        shutil.rmtree(d, ignore_errors=True)
