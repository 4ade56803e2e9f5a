"""The plan's record limit (sql/030_record_limits.sql), black-box.

A free tenant may hold 1,000 records (accounts, contacts, leads, deals,
activities, products, price books; the recycle bin counts until purged).
At the limit every way of creating one (create, batch, lead conversion)
is 403 plan_limit naming records and writes nothing; updates still work;
a purge or a larger plan makes room.  Near the limit creates are counted
one at a time, so concurrent creates cannot pass it.
"""

import concurrent.futures
import os

import crmtest
from crmtest import assert_json, assert_problem
from identity import (assert_names_field, post_json, patch_json, psql,
                      signup, sql_quote, uid)

ACC = "/v1/accounts"


def as_owner(tenant_id, sql):
    """Operator SQL as the schema owner inside the tenant's context."""
    return psql(os.environ["CRM_OWNER_DATABASE_URL"],
                "BEGIN;\nSELECT set_config('app.tenant_id', %s, true);\n"
                "%s\nCOMMIT;\n" % (sql_quote(tenant_id), sql))


def fill(a, n):
    """n accounts through batches of 100."""
    while n > 0:
        k = min(n, 100)
        ops = [{"op": "create", "data": {"name": "Fill %s" % uid(8)}}
               for _ in range(k)]
        assert_json(post_json(a.client, ACC + "/batch",
                              {"operations": ops}), 200)
        n -= k


def records(a):
    u = assert_json(a.client.get("/v1/tenant/usage"), 200)["records"]
    return u["used"], u["limit"]


def exact_count(a):
    return int(as_owner(a.tenant_id, "SELECT crm.tenant_record_count(%s);"
                        % sql_quote(a.tenant_id))[-1][0])


def refused(r):
    assert_names_field(assert_problem(r, 403, "plan_limit"), "records")


def test_free_plan_refuses_every_create_at_the_limit(mhttp):
    a = signup(mhttp, plan="free")
    fill(a, 998)
    acc = assert_json(post_json(a.client, ACC, {"name": "Keeper"}), 201)
    lead = assert_json(post_json(a.client, "/v1/leads", {
        "first_name": "Ada", "last_name": "Limit", "company": "Full Co"}),
        201)
    assert records(a) == (1000, 1000)
    assert exact_count(a) == 1000

    refused(post_json(a.client, ACC, {"name": "One too many"}))
    refused(post_json(a.client, "/v1/contacts", {"first_name": "No"}))
    refused(post_json(a.client, ACC + "/batch", {"operations": [
        {"op": "update", "id": acc["id"], "data": {"name": "Batched"}},
        {"op": "create", "data": {"name": "Nope"}}]}))
    refused(post_json(a.client, "/v1/leads/%s/convert" % lead["id"], {}))
    # Nothing of the refused requests was written.
    assert records(a) == (1000, 1000) and exact_count(a) == 1000
    got = assert_json(a.client.get(ACC + "/" + acc["id"]), 200)
    assert got["name"] == "Keeper", got
    got = assert_json(a.client.get("/v1/leads/" + lead["id"]), 200)
    assert got["status"] != "converted", got

    # Updates still work; a deleted record stays counted in the bin.
    assert_json(patch_json(a.client, ACC + "/" + acc["id"],
                           {"name": "Renamed"}), 200)
    assert a.client.delete(ACC + "/" + acc["id"]).status_code == 204
    refused(post_json(a.client, ACC, {"name": "Still full"}))
    assert records(a)[0] == 1000

    # The recycle bin purge (the job's own function) makes room.
    as_owner(a.tenant_id, "SELECT crm.purge_deleted(%s, 'crm.accounts', "
             "-1, 10);" % sql_quote(a.tenant_id))
    assert records(a)[0] == 999 and exact_count(a) == 999
    assert_json(post_json(a.client, ACC, {"name": "Room again"}), 201)
    refused(post_json(a.client, ACC, {"name": "Full again"}))

    # A larger plan makes room at once.
    as_owner(a.tenant_id, "UPDATE crm.tenants SET plan = 'team' "
             "WHERE tenant_id = %s;" % sql_quote(a.tenant_id))
    assert_json(post_json(a.client, ACC, {"name": "On team"}), 201)
    assert records(a) == (1001, 100000) and exact_count(a) == 1001
    a.close()


def test_concurrent_creates_at_the_limit_stop_exactly_there(mhttp):
    a = signup(mhttp, plan="free")
    fill(a, 995)

    def one(i):
        c = crmtest.Client(a.client.base_url)
        c.headers["Authorization"] = a.client.headers["Authorization"]
        r = post_json(c, ACC, {"name": "Race %d" % i})
        c.close()
        return r.status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(one, range(24)))
    assert sorted(set(codes)) == [201, 403], codes
    assert codes.count(201) == 5, codes
    assert records(a) == (1000, 1000) and exact_count(a) == 1000
    a.close()
