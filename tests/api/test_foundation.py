"""What the foundation promises every route (API.md "Basics", "Errors",
"Operations"), black-box against a running service.

The echo route POST /v1/_test/echo exists only with CRM_TEST_ROUTES=1
(tests/env.sh sets it): it parses the JSON body through the service's one
JSON path and returns it.
"""

import json

import pytest

from crmtest import assert_json, assert_problem

ECHO = "/v1/_test/echo"
JSON_CT = "application/json; charset=utf-8"
MIB = 1024 * 1024


def post_echo(http, body, ctype=JSON_CT):
    if isinstance(body, str):
        body = body.encode("utf-8")
    return http.post(ECHO, data=body, headers={"Content-Type": ctype})


# ---------------------------------------------------------------- operations

def test_healthz(http):
    r = http.get("/healthz")
    assert r.status_code == 200, r.text


def test_readyz_is_json(http):
    body = assert_json(http.get("/readyz"), 200)
    assert isinstance(body, dict)


def test_metrics_prometheus_text(http):
    http.get("/healthz")            # at least one request counted
    r = http.get("/metrics")
    assert r.status_code == 200, r.text[:300]
    assert r.headers.get("Content-Type", "").startswith("text/plain"), \
        r.headers.get("Content-Type")
    assert "crm_http_requests_total" in r.text
    assert "crm_http_request_duration_seconds_bucket" in r.text


# ---------------------------------------------------------------- routing

@pytest.mark.parametrize("path", ["/v1/definitely-not-a-route", "/nope",
                                  "/v1/_test/echo/extra"])
def test_unknown_route_is_404_problem(http, path):
    assert_problem(http.get(path), 404, "not_found")


def test_wrong_method_is_405_with_allow(http):
    r = http.delete("/healthz")
    assert_problem(r, 405, "method_not_allowed")
    allow = [m.strip().upper() for m in r.headers.get("Allow", "").split(",")]
    assert "GET" in allow, r.headers.get("Allow")


# ---------------------------------------------------------------- JSON in

def test_malformed_json_is_400(http):
    assert_problem(post_echo(http, '{"a":'), 400, "invalid_json")


def test_trailing_garbage_is_400(http):
    assert_problem(post_echo(http, '{"a":1} x'), 400, "invalid_json")


def test_wrong_content_type_is_415(http):
    r = post_echo(http, '{"a":1}', ctype="text/plain")
    assert_problem(r, 415, "unsupported_media_type")


def test_missing_content_type_is_415(http):
    r = http.post(ECHO, data=b'{"a":1}',
                  headers={"Content-Type": None})
    assert_problem(r, 415, "unsupported_media_type")


def test_body_of_1mib_plus_one_is_413(http):
    body = b'{"a":1}' + b" " * (MIB + 1 - 7)
    assert len(body) == MIB + 1
    assert_problem(post_echo(http, body), 413, "payload_too_large")


def test_body_of_exactly_1mib_is_accepted(http):
    body = b'{"a":1}' + b" " * (MIB - 7)
    assert len(body) == MIB
    assert assert_json(post_echo(http, body), 200) == {"a": 1}


def test_invalid_utf8_is_400(http):
    r = post_echo(http, b'{"a":"\xff\xfe"}')
    assert_problem(r, 400, "invalid_json")


def test_overlong_utf8_is_400(http):
    # "/" encoded in two bytes: not valid UTF-8.
    assert_problem(post_echo(http, b'{"a":"\xc0\xaf"}'), 400, "invalid_json")


def test_duplicate_keys_are_400(http):
    assert_problem(post_echo(http, '{"a":1,"a":2}'), 400, "invalid_json")


def test_deep_nesting_is_400(http):
    assert_problem(post_echo(http, "[" * 40 + "]" * 40), 400, "invalid_json")


def test_moderate_nesting_is_fine(http):
    doc = "[" * 20 + "]" * 20
    assert assert_json(post_echo(http, doc), 200) == json.loads(doc)


def test_problem_detail_does_not_echo_input(http):
    secret = "s3cr3t-value-never-echoed"
    r = post_echo(http, '{"password":"%s", ' % secret)
    assert_problem(r, 400, "invalid_json")
    assert secret not in r.text


# ---------------------------------------------------------------- JSON out

ROUND_TRIP = {
    "quotes": 'say "hi"',
    "backslash": "a\\b\\\\c",
    "controls": "nul?\u0001\u001f tab\t nl\n cr\r",
    "emoji": "\U0001F600 \U0001F4BC",
    "escapes": "\u00e9\u4e2d\u2028\u2029",
    "slash": "</script>",
    "numbers": [0, -1, 9007199254740993, 1.5, -0.25],
    "literals": [True, False, None],
    "nested": {"a": [{"b": {}}, []]},
    "empty": "",
}


def test_echo_round_trip_is_identical(http):
    raw = json.dumps(ROUND_TRIP, ensure_ascii=True)     # \uXXXX escapes in
    r = post_echo(http, raw)
    assert assert_json(r, 200) == ROUND_TRIP
    r.content.decode("utf-8")                           # valid UTF-8 out


def test_echo_round_trip_raw_utf8(http):
    raw = json.dumps(ROUND_TRIP, ensure_ascii=False)    # raw UTF-8 in
    assert assert_json(post_echo(http, raw), 200) == ROUND_TRIP


def test_json_reply_content_type(http):
    r = post_echo(http, '{"a":1}')
    assert assert_json(r, 200) == {"a": 1}


# ---------------------------------------------------------------- headers

def test_sane_request_id_is_echoed(http):
    r = http.get("/healthz", headers={"X-Request-Id": "abc-123_XYZ"})
    assert r.headers.get("X-Request-Id") == "abc-123_XYZ"


@pytest.mark.parametrize("bad", ["x" * 65, "has space", 'quo"te', "semi;colon",
                                 "new\\nline", "<script>"])
def test_insane_request_id_is_replaced(http, bad):
    r = http.get("/healthz", headers={"X-Request-Id": bad})
    rid = r.headers.get("X-Request-Id")
    assert rid, "no X-Request-Id"
    assert rid != bad


def test_request_id_in_problem_matches_header(http):
    r = http.get("/nope", headers={"X-Request-Id": "trace-42"})
    body = assert_problem(r, 404, "not_found")
    assert body["request_id"] == "trace-42"


@pytest.mark.parametrize("method,path", [
    ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"),
    ("GET", "/nope"), ("DELETE", "/healthz"), ("POST", ECHO)])
def test_every_response_has_request_id(http, method, path):
    r = http.request(method, path, data=b"{}",
                     headers={"Content-Type": JSON_CT})
    assert r.headers.get("X-Request-Id"), (method, path, r.status_code)


def test_request_ids_are_unique(http):
    ids = {http.get("/healthz").headers.get("X-Request-Id") for _ in range(20)}
    assert len(ids) == 20


@pytest.mark.parametrize("path", ["/healthz", "/nope"])
def test_no_server_version_leak(http, path):
    r = http.get(path)
    server = r.headers.get("Server")
    assert server in (None, "crm"), server
    assert "kore" not in str(r.headers).lower()
