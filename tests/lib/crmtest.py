"""crmtest: helpers shared by the black-box suites (tests/api, tests/faults...).

The service under test is found through the environment that tests/run.sh
exports (CRM_TEST_URL, CRM_STACK_DIR, CRM_TEST_KORE_PID, CRM_TEST_LOG and the
stack's CRM_*_URL variables).  When CRM_TEST_URL is not set, ensure_service()
starts a complete throw-away service with the same script tests/run.sh uses
(tests/env.sh) and stop_service() stops it, so that

    /usr/bin/python3 -m pytest tests/api

works on its own.  Run it with Debian's /usr/bin/python3 (pytest, requests
and jwt come from Debian packages there).
"""

import atexit
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
STACK = os.path.join(ROOT, "deploy", "local", "stack.sh")
ENV_SH = os.path.join(ROOT, "tests", "env.sh")

DEFAULT_TIMEOUT = 15.0

_started_dir = None


def _load_env_file(path):
    """Sources a shell env file in bash and returns the resulting variables."""
    out = subprocess.run(
        ["bash", "-c", 'set -a; . "$1" >/dev/null; env -0', "bash", path],
        check=True, stdout=subprocess.PIPE).stdout
    env = {}
    for item in out.split(b"\0"):
        if b"=" in item:
            k, v = item.split(b"=", 1)
            env[k.decode()] = v.decode()
    return env


def ensure_service():
    """Returns the service's environment, starting one if none is given."""
    global _started_dir
    if os.environ.get("CRM_TEST_URL"):
        return dict(os.environ)
    if _started_dir is None:
        d = tempfile.mkdtemp(prefix="crm-pytest.")
        _started_dir = d
        atexit.register(stop_service)
        r = subprocess.run([ENV_SH, "start", d], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            log = os.path.join(d, "log", "crm.log")
            tail = ""
            if os.path.exists(log):
                with open(log, errors="replace") as f:
                    tail = "".join(f.readlines()[-40:])
            raise RuntimeError("tests/env.sh start failed (exit %d):\n%s\n%s"
                               % (r.returncode, r.stdout, tail))
        env = _load_env_file(os.path.join(d, "test.env"))
        env["CRM_STACK_DIR"] = d
        os.environ.update({k: v for k, v in env.items()
                           if k.startswith(("CRM_", "STACK_"))})
    return dict(os.environ)


def stop_service():
    """Stops the service ensure_service() started (if it started one)."""
    global _started_dir
    d, _started_dir = _started_dir, None
    if d is None:
        return
    subprocess.run([ENV_SH, "stop", d], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    if os.environ.get("CRM_KEEP_TEST_DIR") != "1":
        shutil.rmtree(d, ignore_errors=True)
    os.environ.pop("CRM_TEST_URL", None)


class Client(requests.Session):
    """requests.Session with a base URL and a default timeout."""

    def __init__(self, base_url, timeout=DEFAULT_TIMEOUT):
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def request(self, method, url, *args, **kwargs):
        if url.startswith("/"):
            url = self.base_url + url
        kwargs.setdefault("timeout", self.timeout)
        kwargs.setdefault("allow_redirects", False)
        return super().request(method, url, *args, **kwargs)

    # The helpers as methods too: http.assert_problem(resp, 404, "not_found").
    @staticmethod
    def assert_problem(resp, status, code):
        return assert_problem(resp, status, code)

    @staticmethod
    def assert_json(resp, status):
        return assert_json(resp, status)


def media_type(resp):
    return resp.headers.get("Content-Type", "").split(";")[0].strip().lower()


def _ctype_params(resp):
    parts = [p.strip().lower() for p in
             resp.headers.get("Content-Type", "").split(";")]
    return parts[0], parts[1:]


def assert_problem(resp, status, code):
    """Asserts an RFC 9457 problem reply; returns the parsed body."""
    what = "%s %s" % (resp.request.method, resp.request.path_url)
    assert resp.status_code == status, \
        "%s: status %d, want %d; body %r" % (what, resp.status_code, status,
                                              resp.text[:500])
    mt, params = _ctype_params(resp)
    assert mt == "application/problem+json", \
        "%s: Content-Type %r" % (what, resp.headers.get("Content-Type"))
    assert not params or "charset=utf-8" in params, \
        "%s: Content-Type %r" % (what, resp.headers.get("Content-Type"))
    try:
        body = json.loads(resp.content.decode("utf-8"))
    except ValueError as e:
        raise AssertionError("%s: problem body is not JSON (%s): %r"
                             % (what, e, resp.content[:300]))
    assert isinstance(body, dict), "%s: problem body %r" % (what, body)
    for k in ("type", "title", "status", "code", "request_id"):
        assert k in body, "%s: problem lacks %r: %r" % (what, k, body)
    assert body["status"] == status, "%s: body status %r" % (what, body)
    assert body["code"] == code, \
        "%s: code %r, want %r; body %r" % (what, body["code"], code, body)
    assert isinstance(body["type"], str) and body["type"], body
    assert isinstance(body["title"], str) and body["title"], body
    assert isinstance(body["request_id"], str) and body["request_id"], body
    assert resp.headers.get("X-Request-Id") == body["request_id"], \
        "%s: X-Request-Id %r != body request_id %r" % (
            what, resp.headers.get("X-Request-Id"), body["request_id"])
    return body


def assert_json(resp, status):
    """Asserts a JSON reply with the given status; returns the parsed body."""
    what = "%s %s" % (resp.request.method, resp.request.path_url)
    assert resp.status_code == status, \
        "%s: status %d, want %d; body %r" % (what, resp.status_code, status,
                                              resp.text[:500])
    ct = re.sub(r"\s+", "", resp.headers.get("Content-Type", "").lower())
    assert ct == "application/json;charset=utf-8", \
        "%s: Content-Type %r" % (what, resp.headers.get("Content-Type"))
    return json.loads(resp.content.decode("utf-8"))


def stack(cmd, *args):
    """Runs deploy/local/stack.sh CMD $CRM_STACK_DIR ARGS (fault tests)."""
    d = os.environ["CRM_STACK_DIR"]
    r = subprocess.run([STACK, cmd, d] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=120)
    assert r.returncode == 0, "stack.sh %s failed: %s" % (cmd, r.stdout)
    return r.stdout


def wait_for(pred, timeout, interval=0.2):
    """Calls pred() until it returns a true value or timeout seconds pass."""
    end = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = pred()
        except requests.RequestException:
            last = None
        if last:
            return last
        if time.monotonic() >= end:
            return last
        time.sleep(interval)


def kore_pid_alive():
    pid = os.environ.get("CRM_TEST_KORE_PID", "")
    if not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except OSError:
        return False
    return True
