"""Helpers of the jobs suite: a webhook receiver in this process, a tenant
with a webhook, and SQL as the owner inside a tenant's context.

Receiver: an http.server on 127.0.0.1 in a thread (CRM_WEBHOOK_ALLOWLIST
is 127.0.0.0/8 in the test service).  Each path has a behaviour: a list
of statuses to answer in turn (the last one repeats) and a delay; every
request is recorded with its headers, body, arrival time and whether its
signature verified against the secret registered for the path.
"""

import hashlib
import hmac
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import crmtest
import identity as idn


class Receiver:
    def __init__(self):
        self.lock = threading.Lock()
        self.got = []               # dicts, in arrival order
        self.behaviour = {}         # path -> {"statuses": [...], "delay"}
        self.secrets = {}           # path -> secret
        rec = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                status = rec._record(self.path, self.headers, body)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def set(self, path, statuses=(200,), delay=0.0):
        with self.lock:
            self.behaviour[path] = {"statuses": list(statuses),
                                    "delay": delay, "n": 0}

    def _record(self, path, headers, body):
        with self.lock:
            b = self.behaviour.get(path, {"statuses": [200], "delay": 0,
                                          "n": 0})
            st = b["statuses"][min(b["n"], len(b["statuses"]) - 1)]
            b["n"] = b.get("n", 0) + 1
            self.behaviour[path] = b
            secret = self.secrets.get(path)
            delay = b["delay"]
        ts = headers.get("Crm-Timestamp", "")
        sig = headers.get("Crm-Signature", "")
        ok = False
        if secret is not None and sig.startswith("v1="):
            want = hmac.new(secret.encode(), ts.encode() + b"." + body,
                            hashlib.sha256).hexdigest()
            ok = hmac.compare_digest(want, sig[3:])
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        with self.lock:
            self.got.append({"path": path, "at": time.monotonic(),
                             "delivery": headers.get("Crm-Delivery"),
                             "event": headers.get("Crm-Event"),
                             "ts": ts, "sig_ok": ok, "body": doc,
                             "status": st})
        if delay:
            time.sleep(delay)
        return st

    def on(self, path):
        with self.lock:
            return [g for g in self.got if g["path"] == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def wait_for(pred, timeout, interval=0.1):
    return crmtest.wait_for(pred, timeout, interval)


def new_tenant(http, tag="Jobs"):
    return idn.signup(http, company=idn.unique_company(tag))


def make_webhook(owner, rec, path, events=("account.*",), **extra):
    body = {"url": rec.url(path), "events": list(events)}
    body.update(extra)
    r = owner.client.post(owner.base_url + "/v1/webhooks", json=body)
    assert r.status_code == 201, r.text
    b = r.json()
    rec.secrets[path] = b["secret"]
    return b


def create_account(owner, name):
    r = owner.client.post(owner.base_url + "/v1/accounts",
                          json={"name": name})
    if r.status_code == 429:
        idn.reset_limits()
        r = owner.client.post(owner.base_url + "/v1/accounts",
                              json={"name": name})
    assert r.status_code == 201, r.text
    return r.json()


def owner_sql(tenant_id, sql):
    """sql as crm_owner inside the tenant's context (RLS binds it)."""
    return idn.psql(os.environ["CRM_OWNER_DATABASE_URL"],
                    "BEGIN;\nSELECT set_config('app.tenant_id', %s, true)"
                    " \\gset\n%s\nCOMMIT;\n" % (idn.sql_quote(tenant_id),
                                               sql))


def worker_sql(sql):
    """sql as crm_worker, no tenant context (the auth.* functions)."""
    return idn.psql(os.environ["CRM_WORKER_DATABASE_URL"], sql)


def jobs(owner, status=None, type_=None):
    q = []
    if status:
        q.append("status=" + status)
    if type_:
        q.append("type=" + type_)
    r = owner.client.get(owner.base_url + "/v1/jobs?" + "&".join(q))
    assert r.status_code == 200, r.text
    return r.json()["data"]
