"""records: helpers for the black-box suites of the CRM entities served by
the entity engine (API.md "CRM records").

    Entity(path)            bound to one collection ("/v1/contacts")
      .create(client, body) -> record (asserts 201, Location, ETag "1")
      .post(client, body)   -> the raw response
      .get(client, id)      -> (record, version) (asserts 200)
      .patch(client, id, body, if_match=None) -> raw response
      .delete / .restore    -> raw responses
      .missing(client, method, id) -> asserts a 404 identical to a
                               never-existing id's
    events(id)              crm.events types of one record, in order
    sql(query)              rows, as the superuser (CRM_PG_SUPER_URL)
    field_problem(r, field, status=422) -> asserts the problem names it

Rows the API does not expose (events, stage history, link tables) are read
with psql as the superuser, like tests/api/test_accounts.py does.
"""

import json
import re
import uuid

import crmtest
from identity import (assert_names_field, error_fields, patch_json, post_json,
                      psql, sql_quote, super_url)

ETAG_RE = re.compile(r'^"(\d+)"$')
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SYSTEM_KEYS = {"id", "custom", "owner_id", "created_at", "updated_at",
               "created_by", "updated_by"}


def rand_uuid():
    return str(uuid.uuid4())


def etag_of(r):
    tag = r.headers.get("ETag")
    assert tag is not None, "no ETag: %r" % dict(r.headers)
    m = ETAG_RE.match(tag)
    assert m, "ETag %r is not a strong quoted integer" % tag
    return int(m.group(1))


def strip_rid(resp):
    body = resp.content
    rid = resp.headers.get("X-Request-Id")
    if rid:
        body = body.replace(rid.encode(), b"")
    return body


def sql(query):
    return psql(super_url(), query)


def q(s):
    return sql_quote(s)


def events(id_):
    return [r[0] for r in sql("SELECT type FROM crm.events WHERE "
                              "entity_id = %s ORDER BY created_at, id;"
                              % q(id_))]


def event_payloads(id_, type_):
    return [json.loads(r[0]) for r in sql(
        "SELECT payload FROM crm.events WHERE entity_id = %s AND type = %s "
        "ORDER BY created_at, id;" % (q(id_), q(type_)))]


def count(table, where):
    return int(sql("SELECT count(*) FROM %s WHERE %s;" % (table,
                                                           where))[0][0])


def field_problem(r, field, status=422):
    code = "validation_failed" if status == 422 else "bad_request"
    p = crmtest.assert_problem(r, status, code)
    assert_names_field(p, field)
    return p


class Entity:
    def __init__(self, path):
        self.path = path

    def url(self, id_, tail=""):
        return "%s/%s%s" % (self.path, id_, tail)

    def post(self, client, body):
        return post_json(client, self.path, body)

    def create(self, client, body):
        r = self.post(client, body)
        rec = crmtest.assert_json(r, 201)
        assert r.headers.get("Location") == self.url(rec["id"]), r.headers
        assert etag_of(r) == 1
        assert set(rec) >= SYSTEM_KEYS, rec
        for k in ("tenant_id", "version", "deleted_at", "search"):
            assert k not in rec, (k, rec)
        return rec

    def get(self, client, id_):
        r = client.get(self.url(id_))
        return crmtest.assert_json(r, 200), etag_of(r)

    def patch(self, client, id_, body, if_match=None):
        h = {"If-Match": if_match} if if_match else {}
        return patch_json(client, self.url(id_), body, headers=h)

    def patch_ok(self, client, id_, body):
        return crmtest.assert_json(self.patch(client, id_, body), 200)

    def delete(self, client, id_):
        return client.delete(self.url(id_))

    def restore(self, client, id_):
        return post_json(client, self.url(id_, "/restore"), {})

    def missing(self, client, method, id_, body=None):
        """id_ answers exactly like a never-existing id: 404."""
        def send(i):
            if method == "GET":
                return client.get(self.url(i))
            if method == "TIMELINE":
                return client.get(self.url(i, "/timeline"))
            if method == "DELETE":
                return client.delete(self.url(i))
            if method == "PATCH":
                return patch_json(client, self.url(i), body or {})
            if method == "RESTORE":
                return post_json(client, self.url(i, "/restore"), {})
            raise AssertionError(method)
        r, base = send(id_), send(rand_uuid())
        crmtest.assert_problem(r, 404, "not_found")
        crmtest.assert_problem(base, 404, "not_found")
        assert strip_rid(r) == strip_rid(base), (strip_rid(r),
                                                 strip_rid(base))
        return r

    def lifecycle(self, client, body, change, singular):
        """create, get, patch (If-Match), delete, 404s, restore, events:
        the cycle every entity shares.  Returns the restored record."""
        rec = self.create(client, body)
        id_ = rec["id"]
        got, tag = self.get(client, id_)
        assert got == rec and tag == 1
        r = self.patch(client, id_, change, if_match='"1"')
        p = crmtest.assert_json(r, 200)
        assert etag_of(r) == 2
        for k, v in change.items():
            assert p[k] == v, (k, p[k], v)
        r = self.patch(client, id_, change, if_match='"1"')
        crmtest.assert_problem(r, 412, "precondition_failed")
        assert self.delete(client, id_).status_code == 204
        for m in ("GET", "PATCH", "DELETE", "TIMELINE"):
            self.missing(client, m, id_, body=change)
        back = crmtest.assert_json(self.restore(client, id_), 200)
        assert back["id"] == id_
        for k, v in change.items():
            assert back[k] == v, (k, back[k], v)
        assert events(id_) == ["%s.%s" % (singular, w) for w in
                               ("created", "updated", "deleted",
                                "restored")]
        return back


def unknown_and_read_only(entity, client, base, fields):
    """POST with each of fields is a 400 naming it; nothing is made."""
    for f in fields:
        body = dict(base)
        body[f] = "x"
        r = entity.post(client, body)
        p = crmtest.assert_problem(r, 400, "bad_request")
        assert f in error_fields(p), (f, p)
