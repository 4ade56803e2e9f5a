"""GET /v1/openapi.json, black-box (API.md "Operations"; app/openapi.c).

The document is generated at worker start from the route table, the
entity descriptors and the problem table; these tests hold it to each
source:

    routes      every route of GET /v1/_test/routes is an operation with
                its method, permission and {parameters}, and nothing else is
    entities    the Account schema is the accounts descriptor (the field
                list below is the one tests/api/test_accounts.py checks)
                and real records validate against it
    problems    every row of app/problem.c's table, with status and title
    caching     public, a strong ETag, 304 on If-None-Match

Debian 12 packages no OpenAPI validator (python3-openapi-spec-validator
does not exist there), so the structure is asserted here, with a small
JSON Schema checker for the keywords the generator emits.
"""

import datetime
import json
import os
import re
import uuid

import pytest

from crmtest import assert_json
from identity import post_json, signup, uid, unique_company

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOC = "/v1/openapi.json"
METHODS = {"get", "put", "post", "delete", "options", "head", "patch",
           "trace"}
ACCOUNT_FIELDS = {"name", "domain", "industry", "employees",
                  "annual_revenue", "currency", "phone", "website",
                  "billing_address", "shipping_address", "parent_id"}
SYSTEM_FIELDS = {"id", "custom", "owner_id", "created_at", "updated_at",
                 "created_by", "updated_by"}


@pytest.fixture(scope="module")
def resp(mhttp):
    r = mhttp.get(DOC)
    assert r.status_code == 200, r.text[:300]
    return r


@pytest.fixture(scope="module")
def doc(resp):
    return json.loads(resp.content.decode("utf-8"))


@pytest.fixture(scope="module")
def routes(mhttp):
    r = mhttp.get("/v1/_test/routes")
    return assert_json(r, 200)["data"]


def problem_rows():
    """(code, status, title) of every row of app/problem.c's table."""
    with open(os.path.join(ROOT, "app", "problem.c")) as f:
        src = f.read()
    rows = re.findall(r'P\(PROB_\w+,\s*(\d+),\s*"([a-z_]+)",\s*"([^"]+)"',
                      src)
    assert len(rows) >= 20, "could not read app/problem.c's table"
    return [(code, int(status), title) for status, code, title in rows]


def resolve(doc, ref):
    assert ref.startswith("#/"), ref
    node = doc
    for part in ref[2:].split("/"):
        assert part in node, "unresolvable $ref %s" % ref
        node = node[part]
    return node


def walk(node):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


# ---------------------------------------------- a small JSON Schema checker

TYPES = {"string": str, "integer": int, "number": (int, float),
         "boolean": bool, "object": dict, "array": list,
         "null": type(None)}


def _is(v, t):
    if t in ("integer", "number") and isinstance(v, bool):
        return False
    return isinstance(v, TYPES[t])


def _format_ok(fmt, v):
    try:
        if fmt == "uuid":
            uuid.UUID(v)
        elif fmt == "date":
            datetime.date.fromisoformat(v)
        elif fmt == "date-time":
            datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def check(doc, schema, v, where="$"):
    """Errors of v against schema (the keywords app/openapi.c emits)."""
    if "$ref" in schema:
        return check(doc, resolve(doc, schema["$ref"]), v, where)
    errs = []
    types = schema.get("type")
    if types is not None:
        types = types if isinstance(types, list) else [types]
        if not any(_is(v, t) for t in types):
            return ["%s: %r is not %s" % (where, v, types)]
    if "enum" in schema and v not in schema["enum"]:
        errs.append("%s: %r not in %r" % (where, v, schema["enum"]))
    if isinstance(v, str):
        if "maxLength" in schema and len(v) > schema["maxLength"]:
            errs.append("%s: longer than %d" % (where, schema["maxLength"]))
        if "pattern" in schema and not re.search(schema["pattern"], v):
            errs.append("%s: %r does not match %s" % (where, v,
                                                      schema["pattern"]))
        if "format" in schema and not _format_ok(schema["format"], v):
            errs.append("%s: %r is not a %s" % (where, v, schema["format"]))
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if "minimum" in schema and v < schema["minimum"]:
            errs.append("%s: below %r" % (where, schema["minimum"]))
    if isinstance(v, dict):
        for k in schema.get("required", []):
            if k not in v:
                errs.append("%s: lacks %r" % (where, k))
        props = schema.get("properties", {})
        for k, x in v.items():
            if k in props:
                errs += check(doc, props[k], x, where + "." + k)
            elif schema.get("additionalProperties") is False:
                errs.append("%s: unexpected %r" % (where, k))
    if isinstance(v, list) and "items" in schema:
        for i, x in enumerate(v):
            errs += check(doc, schema["items"], x, "%s[%d]" % (where, i))
    return errs


# ---------------------------------------------------------------- the tests

def test_valid_json_and_version(resp, doc):
    assert resp.headers["Content-Type"].startswith("application/json")
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"] and doc["info"]["version"]
    assert isinstance(doc["paths"], dict) and doc["paths"]


def test_every_route_is_documented(doc, routes):
    assert routes
    for r in routes:
        path, method = r["path"], r["method"].lower()
        assert path in doc["paths"], "route %s %s missing" % (method, path)
        op = doc["paths"][path].get(method)
        assert op is not None, "%s %s missing" % (method, path)
        assert op["x-permission"] == r["permission"], (method, path)
        assert op["summary"], (method, path)
        if r["permission"] == "public":
            assert op["security"] == [], (method, path)
        else:
            assert op["security"] == [{"bearer": []}], (method, path)


def test_nothing_undocumented_is_served_and_nothing_else_listed(doc, routes):
    live = {(r["method"].lower(), r["path"]) for r in routes}
    documented = {(m, p) for p, item in doc["paths"].items()
                  for m in item if m in METHODS}
    assert documented == live


def test_openapi_route_is_in_the_table(routes):
    assert {"method": "GET", "path": DOC} in [
        {"method": r["method"], "path": r["path"]} for r in routes]


def test_operation_ids_are_unique(doc):
    ids = [op["operationId"] for item in doc["paths"].values()
           for m, op in item.items() if m in METHODS]
    assert len(ids) == len(set(ids))


def test_path_parameters(doc):
    for path, item in doc["paths"].items():
        names = re.findall(r"\{([^}]+)\}", path)
        for m, op in item.items():
            if m not in METHODS:
                continue
            params = [resolve(doc, p["$ref"]) if "$ref" in p else p
                      for p in op.get("parameters", [])]
            inpath = {p["name"]: p for p in params if p["in"] == "path"}
            assert set(inpath) == set(names), (m, path, inpath)
            for n in names:
                assert inpath[n]["required"] is True
                assert inpath[n]["schema"]["type"] == "string"


def test_every_ref_resolves(doc):
    n = 0
    for node in walk(doc):
        if "$ref" in node:
            resolve(doc, node["$ref"])
            n += 1
    assert n > 50


def test_every_operation_has_a_success_and_problem_responses(doc):
    for path, item in doc["paths"].items():
        for m, op in item.items():
            if m not in METHODS:
                continue
            codes = set(op["responses"])
            assert any(c.startswith("2") for c in codes), (m, path, codes)
            assert {"400", "500", "503"} <= codes, (m, path, codes)
            if op["security"]:
                assert {"401", "403"} <= codes, (m, path)
            if "{" in path:
                assert "404" in codes, (m, path)


def test_problem_codes(doc):
    listed = {x["code"]: x for x in doc["x-problem-codes"]}
    enum = doc["components"]["schemas"]["Problem"]["properties"]["code"][
        "enum"]
    for code, status, title in problem_rows():
        assert code in listed, code
        assert listed[code]["status"] == status, code
        assert listed[code]["title"] == title, code
        assert listed[code]["description"], code
        assert code in enum, code
    assert len(listed) == len(problem_rows())
    assert "idempotency_key_reused" in listed
    for status in ("400", "401", "403", "404", "409", "422", "429", "503"):
        r = doc["components"]["responses"][status]
        assert "application/problem+json" in r["content"], status
    assert "Retry-After" in doc["components"]["responses"]["503"]["headers"]
    assert "Retry-After" in doc["components"]["responses"]["429"]["headers"]


def test_security_scheme(doc):
    s = doc["components"]["securitySchemes"]["bearer"]
    assert s["type"] == "http" and s["scheme"] == "bearer"


def test_account_schema_matches_the_descriptor(doc):
    schemas = doc["components"]["schemas"]
    acc = schemas["Account"]
    assert set(acc["properties"]) == ACCOUNT_FIELDS | SYSTEM_FIELDS
    assert "name" in acc["required"]
    for f in SYSTEM_FIELDS:
        assert acc["properties"][f].get("readOnly") is True, f
    p = acc["properties"]
    assert p["name"]["type"] == "string" and p["name"]["maxLength"] == 200
    assert p["domain"]["maxLength"] == 253
    assert "integer" in p["employees"]["type"]
    assert p["employees"]["minimum"] == 0
    assert "string" in p["annual_revenue"]["type"]
    assert p["annual_revenue"]["pattern"]
    assert p["parent_id"]["format"] == "uuid"
    assert "object" in p["billing_address"]["type"]
    assert "null" in p["domain"]["type"] and "null" not in p["name"]["type"]
    create = schemas["AccountCreate"]
    assert create["required"] == ["name"]
    assert set(create["properties"]) == ACCOUNT_FIELDS
    assert create["additionalProperties"] is False
    patch = schemas["AccountPatch"]
    assert "required" not in patch
    assert set(patch["properties"]) == ACCOUNT_FIELDS
    lst = schemas["AccountList"]
    assert set(lst["required"]) == {"data", "next_cursor"}
    assert lst["properties"]["data"]["items"] == {
        "$ref": "#/components/schemas/Account"}


def test_engine_operations_use_the_entity_schemas(doc):
    acc = doc["paths"]["/v1/accounts"]["post"]
    body = acc["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/AccountCreate"}
    assert set(acc["responses"]["201"]["headers"]) == {"ETag", "Location"}
    refs = [p.get("$ref") for p in acc["parameters"]]
    assert "#/components/parameters/IdempotencyKey" in refs
    patch = doc["paths"]["/v1/accounts/{id}"]["patch"]
    body = patch["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/AccountPatch"}
    assert "412" in patch["responses"]
    get = doc["paths"]["/v1/accounts/{id}"]["get"]
    assert get["responses"]["200"]["content"]["application/json"][
        "schema"] == {"$ref": "#/components/schemas/Account"}
    assert "204" in doc["paths"]["/v1/accounts/{id}"]["delete"]["responses"]


def test_list_routes_have_list_parameters(doc, routes):
    """Entity list routes (GET /v1/<entity>), wherever they exist."""
    entities = {n.lower() for n in doc["components"]["schemas"]}
    lists = [p for p, item in doc["paths"].items() if "get" in item and
             "List" in json.dumps(item["get"]["responses"].get("200", {}))]
    for p in lists:
        params = {x["name"]: x for x in doc["paths"][p]["get"]["parameters"]}
        assert {"limit", "cursor", "sort", "q", "fields", "filter"} <= \
            set(params), p
        assert params["filter"]["style"] == "deepObject"
        assert params["limit"]["schema"]["maximum"] == 200
    assert entities


def test_idempotency_key_on_authenticated_posts_only(doc):
    for path, item in doc["paths"].items():
        for m, op in item.items():
            if m not in METHODS:
                continue
            refs = [p.get("$ref") for p in op.get("parameters", [])]
            has = "#/components/parameters/IdempotencyKey" in refs
            assert has == (m == "post" and op["security"] != []), (m, path)


def test_real_records_validate_against_the_schema(mhttp, doc):
    a = signup(mhttp, company=unique_company("Oapi"))
    try:
        full = {"name": "Schema " + uid(6), "domain": "acme.example",
                "employees": 12, "annual_revenue": "1234.5",
                "currency": "EUR", "website": "https://acme.example/",
                "billing_address": {"city": "Berlin"}}
        create = {"$ref": "#/components/schemas/AccountCreate"}
        assert check(doc, create, full) == []
        assert check(doc, create, {"domain": "x"}) != []
        assert check(doc, create, dict(full, id=str(uuid.uuid4()))) != []
        b = assert_json(post_json(a.client, "/v1/accounts", full), 201)
        rec = {"$ref": "#/components/schemas/Account"}
        assert check(doc, rec, b) == []
        g = assert_json(a.client.get("/v1/accounts/" + b["id"]), 200)
        assert check(doc, rec, g) == []
        minimal = assert_json(post_json(a.client, "/v1/accounts",
                                        {"name": "Min " + uid(6)}), 201)
        assert check(doc, rec, minimal) == []
    finally:
        a.close()


def test_cacheable_with_etag(http, resp):
    etag = resp.headers.get("ETag")
    assert etag and re.match(r'^"[0-9a-f]{32}"$', etag), etag
    assert "public" in resp.headers.get("Cache-Control", "")
    assert "no-store" not in resp.headers.get("Cache-Control", "")
    again = http.get(DOC)
    assert again.headers["ETag"] == etag
    assert again.content == resp.content


@pytest.mark.parametrize("inm", ["{e}", "W/{e}", '"nope", {e}', "*"])
def test_if_none_match_gives_304(http, resp, inm):
    etag = resp.headers["ETag"]
    r = http.get(DOC, headers={"If-None-Match": inm.format(e=etag)})
    assert r.status_code == 304
    assert r.content == b""
    assert r.headers.get("ETag") == etag


def test_other_etag_gives_200(http, resp):
    r = http.get(DOC, headers={"If-None-Match": '"0123"'})
    assert r.status_code == 200
    assert r.content == resp.content


def test_public_and_no_credentials_needed(client):
    c = client()
    r = c.get(DOC)
    assert r.status_code == 200


def test_real_problems_validate_against_the_schema(mhttp, doc):
    a = signup(mhttp, company=unique_company("OapiP"))
    try:
        prob = {"$ref": "#/components/schemas/Problem"}
        r = a.client.get("/v1/accounts/" + str(uuid.uuid4()))
        assert r.status_code == 404
        assert check(doc, prob, r.json()) == []
        r = post_json(a.client, "/v1/accounts", {"name": "x",
                                                 "employees": -1})
        assert r.status_code == 422
        assert check(doc, prob, r.json()) == []
        r = post_json(a.client, "/v1/accounts", {"name": "x"},
                      headers={"Idempotency-Key": "k" * 256})
        assert r.status_code == 400
        assert check(doc, prob, r.json()) == []
    finally:
        a.close()
