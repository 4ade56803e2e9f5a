"""Kore's own TLS: a second Kore instance serving HTTPS (app/tlsfix.c).

Kore 4.1.0 under OpenSSL 3.0 fails every handshake unless both halves of
the workaround are in place: app/tlsfix.c in the worker and the relabelled
key that deploy/local/genconf.sh writes.  For a P-256 and an RSA-2048
self-signed certificate this starts Kore with TLS on a free port (one
worker, the test stack's PostgreSQL and Redis), checks TLS 1.2 and TLS 1.3
handshakes and /healthz and /readyz over TLS, and stops that Kore by PID.
"""

import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

import pytest
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GENCONF = os.path.join(ROOT, "deploy", "local", "genconf.sh")
SO = os.path.join(ROOT, "build", "crm.so")

# What deploy/local/lib.sh (LIB_SERVICE_UNSET) keeps from the service.
UNSET = ("CRM_PG_SUPER_URL", "CRM_OWNER_DATABASE_URL", "CRM_DEMO_EMAIL",
         "CRM_DEMO_PASSWORD")

KEYTYPES = {
    "p256": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    "rsa2048": ["-newkey", "rsa:2048"],
}

pytestmark = [
    pytest.mark.skipif(
        shutil.which("kore") is None or shutil.which("openssl") is None,
        reason="kore or openssl not installed"),
    # Self-signed certificates: verify=False on purpose.
    pytest.mark.filterwarnings(
        "ignore::urllib3.exceptions.InsecureRequestWarning"),
]


def _stack_env(service_env):
    """The service's environment; the stack's URLs from stack.env if unset."""
    env = dict(service_env)
    if not env.get("CRM_DATABASE_URL") and env.get("CRM_STACK_DIR"):
        f = os.path.join(env["CRM_STACK_DIR"], "stack.env")
        out = subprocess.run(["sh", "-c", '. "$1" && env -0', "sh", f],
                             capture_output=True, check=True).stdout
        for kv in out.split(b"\0"):
            k, sep, v = kv.decode().partition("=")
            if sep and k.startswith("CRM_"):
                env.setdefault(k, v)
    for k in ("CRM_DATABASE_URL", "CRM_REDIS_URL"):
        if not env.get(k):
            pytest.skip("%s not set (no test stack)" % k)
    return env


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _handshake(port, version):
    """The version negotiated with min = max = version."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = version
    ctx.maximum_version = version
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            got = tls.version()
            tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n"
                        b"Connection: close\r\n\r\n")
            head = tls.recv(64)
    return got, head


def _log_tail(path):
    try:
        with open(path, "rb") as f:
            return f.read()[-3000:].decode(errors="replace")
    except OSError:
        return "(no log)"


def _stop(proc):
    if proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=8)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


@pytest.mark.parametrize("keytype", sorted(KEYTYPES))
def test_tls_handshakes(service_env, keytype):
    if not os.path.exists(SO):
        pytest.skip("build/crm.so missing")
    env = _stack_env(service_env)
    d = tempfile.mkdtemp(prefix="crm-tls-")
    proc = None
    log = os.path.join(d, "kore.log")
    try:
        cert = os.path.join(d, "cert.pem")
        key = os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost", "-keyout", key,
                        "-out", cert] + KEYTYPES[keytype],
                       check=True, capture_output=True)

        port = _free_port()
        for k in UNSET:
            env.pop(k, None)
        env.update({
            "CRM_HTTP_BIND": "127.0.0.1",
            "CRM_HTTP_PORT": str(port),
            "CRM_WORKERS": "1",
            "CRM_TLS_CERT": cert,
            "CRM_TLS_KEY": key,
            "CRM_KORE_SO": SO,
        })
        env.pop("CRM_RUNAS", None)
        var = os.path.join(d, "var")
        conf = os.path.join(var, "crm.conf")
        os.mkdir(var)
        subprocess.run([GENCONF, var, conf], env=env, check=True)
        kkey = os.path.join(var, "tls-key-kore.pem")
        assert os.stat(kkey).st_mode & 0o777 == 0o600
        with open(kkey) as f:
            label = f.readline().strip()
        assert label in ("-----BEGIN ec PRIVATE KEY-----",
                         "-----BEGIN rsa PRIVATE KEY-----"), label

        with open(log, "ab") as out:
            proc = subprocess.Popen(
                ["kore", "-c", conf, "-f", "-n", "-r"], cwd=ROOT, env=env,
                stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True)

        url = "https://127.0.0.1:%d" % port
        deadline = time.monotonic() + 12
        status = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, \
                "kore exited %s:\n%s" % (proc.returncode, _log_tail(log))
            try:
                status = requests.get(url + "/healthz", verify=False,
                                      timeout=2).status_code
                if status == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        assert status == 200, \
            "no 200 from %s/healthz:\n%s" % (url, _log_tail(log))

        for want, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
                           (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
            got, head = _handshake(port, want)
            assert got == name
            assert head.startswith(b"HTTP/1.1 200"), head

        r = requests.get(url + "/readyz", verify=False, timeout=5)
        assert r.status_code == 200, r.text
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(d, ignore_errors=True)
