"""Products and price books, black-box (modules/crm/products.c,
price_books.c, sql/016_products.sql): SKU unique per tenant among live
products whatever its case (409), money and tax rules, price-book entries
(each a live product of the tenant; mirrored in crm.price_book_entries),
one standard price book, and a catalogue every seller can read."""

import pytest

from crmtest import assert_problem
from identity import make_user, signup, uid, unique_company
from records import Entity, count, field_problem, q, rand_uuid, sql

PR = Entity("/v1/products")
PB = Entity("/v1/price-books")


@pytest.fixture(scope="module")
def org(mhttp):
    a = signup(mhttp, company=unique_company("Prod"))
    yield a
    a.close()


@pytest.fixture(scope="module")
def other(mhttp):
    a = signup(mhttp, company=unique_company("ProdB"))
    yield a
    a.close()


def product(client, **over):
    body = {"name": "Widget " + uid(6), "sku": "W-" + uid(8)}
    body.update(over)
    return PR.create(client, body)


def test_product_cycle(org):
    PR.lifecycle(org.client, {"name": "Cycle", "sku": "CYC-" + uid(6)},
                 {"unit_price": "19.99", "active": False}, "product")


def test_product_fields_and_defaults(org):
    body = {"sku": "FULL-" + uid(6), "name": "Full", "description": "d",
            "category": "Hardware", "unit_of_measure": "box",
            "unit_price": "1250.5", "cost": "800", "currency": "EUR",
            "tax_rate": "19.5"}
    rec = PR.create(org.client, body)
    assert rec["unit_price"] == "1250.50" and rec["cost"] == "800.00"
    assert float(rec["tax_rate"]) == 19.5 and rec["active"] is True
    assert rec["category"] == "Hardware" and rec["currency"] == "EUR"
    assert PR.create(org.client, {"name": "No SKU"})["sku"] is None
    assert PR.create(org.client, {"name": "No SKU 2"})["sku"] is None


def test_sku_unique_case_insensitive_409(org, other):
    c = org.client
    sku = "Dup-" + uid(6)
    first = product(c, sku=sku)
    for s in (sku, sku.upper(), sku.lower(), " " + sku + " "):
        name = "Clash " + uid(6)
        assert_problem(PR.post(c, {"name": name, "sku": s}), 409, "conflict")
        assert count("crm.products", "name = %s" % q(name)) == 0
    p2 = product(c)
    assert_problem(PR.patch(c, p2["id"], {"sku": sku.upper()}), 409,
                   "conflict")
    # Another tenant may use it.
    assert product(other.client, sku=sku)["sku"] == sku
    # Once deleted the SKU is free; restoring the old one then clashes.
    assert PR.delete(c, first["id"]).status_code == 204
    again = product(c, sku=sku.lower())
    assert_problem(PR.restore(c, first["id"]), 409, "conflict")
    assert PR.delete(c, again["id"]).status_code == 204
    assert PR.restore(c, first["id"]).status_code == 200


BAD = [({"name": None}, "name"), ({"name": ""}, "name"),
       ({"sku": " "}, "sku"), ({"sku": "s" * 65}, "sku"),
       ({"unit_price": "-1.00"}, "unit_price"),
       ({"unit_price": 9.99}, "unit_price"), ({"cost": "-0.01"}, "cost"),
       ({"cost": "1.001"}, "cost"), ({"currency": "Euro"}, "currency"),
       ({"tax_rate": -1}, "tax_rate"), ({"tax_rate": "100.5"}, "tax_rate"),
       ({"tax_rate": "abc"}, "tax_rate"), ({"active": None}, "active"),
       ({"active": "yes"}, "active")]


@pytest.mark.parametrize("over,field", BAD,
                         ids=[f + str(i) for i, (_, f) in enumerate(BAD)])
def test_product_validation_422(org, over, field):
    body = dict({"name": "Bad"}, **over)
    if body["name"] is None:
        del body["name"]
    tag = "tag-" + uid(8)
    body["description"] = tag
    field_problem(PR.post(org.client, body), field)
    assert count("crm.products", "description = %s" % q(tag)) == 0
    p = product(org.client)
    field_problem(PR.patch(org.client, p["id"], over), field)
    assert PR.get(org.client, p["id"])[1] == 1


def test_sales_reads_the_whole_catalogue(org):
    p = product(org.client)
    s = make_user(org, "sales")
    try:
        assert PR.get(s.client, p["id"])[0] == p
        assert_problem(PR.patch(s.client, p["id"], {"name": "x"}), 403,
                       "forbidden")
        assert_problem(PR.post(s.client, {"name": "x"}), 403, "forbidden")
    finally:
        s.close()


def test_other_tenant_product_404(org, other):
    p = product(org.client)
    for m in ("GET", "PATCH", "DELETE", "RESTORE", "TIMELINE"):
        PR.missing(other.client, m, p["id"], body={"name": "pwned"})


# ---------------------------------------------------------------- books

def entries(book_id):
    return sorted(tuple(r) for r in sql(
        "SELECT product_id, unit_price FROM crm.price_book_entries WHERE "
        "price_book_id = %s;" % q(book_id)))


def test_price_book_cycle(org):
    PB.lifecycle(org.client, {"name": "EU list " + uid(6),
                              "currency": "EUR"},
                 {"active": False, "description": "old"}, "price_book")


def test_entries_normalised_and_synced(org):
    c = org.client
    a, b = product(c), product(c)
    book = PB.create(c, {"name": "Partners " + uid(6), "currency": "USD",
                         "valid_from": "2027-01-01",
                         "valid_to": "2027-12-31", "entries": [
                             {"product_id": a["id"], "unit_price": "10"},
                             {"product_id": b["id"], "unit_price": "2.5"}]})
    assert book["entries"] == [
        {"product_id": a["id"], "unit_price": "10.00"},
        {"product_id": b["id"], "unit_price": "2.50"}]
    assert book["active"] is True and book["is_standard"] is False
    assert entries(book["id"]) == sorted([(a["id"], "10.00"),
                                          (b["id"], "2.50")])
    r = PB.patch_ok(c, book["id"], {"entries": [
        {"product_id": b["id"], "unit_price": "3.00"}]})
    assert r["entries"] == [{"product_id": b["id"], "unit_price": "3.00"}]
    assert entries(book["id"]) == [(b["id"], "3.00")]


ENTRY_BAD = [
    ({"entries": {"product_id": "x"}}, "entries"),
    ({"entries": [5]}, "entries[0]"),
    ({"entries": [{"product_id": "RANDOM", "unit_price": "1.00"}]},
     "entries[0].product_id"),
    ({"entries": [{"product_id": "nope", "unit_price": "1.00"}]},
     "entries[0].product_id"),
    ({"entries": [{"product_id": "P", "unit_price": "1.00"},
                  {"product_id": "RANDOM", "unit_price": "1.00"}]},
     "entries[1].product_id"),
    ({"entries": [{"product_id": "P", "unit_price": "1.00"},
                  {"product_id": "P", "unit_price": "2.00"}]},
     "entries[1].product_id"),
    ({"entries": [{"product_id": "P", "unit_price": 1.5}]},
     "entries[0].unit_price"),
    ({"entries": [{"product_id": "P", "unit_price": "-1.00"}]},
     "entries[0].unit_price"),
    ({"entries": [{"product_id": "P", "unit_price": "1.999"}]},
     "entries[0].unit_price"),
    ({"entries": [{"product_id": "P"}]}, "entries[0].unit_price"),
    ({"entries": [{"product_id": "P", "unit_price": "1", "x": 1}]},
     "entries[0]"),
    ({"valid_from": "2027-02-01", "valid_to": "2027-01-01"}, "valid_to"),
    ({"currency": "eur"}, "currency"), ({"name": ""}, "name"),
]


@pytest.mark.parametrize("over,field", ENTRY_BAD,
                         ids=[f + str(i) for i, (_, f) in
                              enumerate(ENTRY_BAD)])
def test_price_book_validation_422(org, over, field):
    pid = product(org.client)["id"]

    def mat(v):
        if isinstance(v, list):
            return [{k: (rand_uuid() if x == "RANDOM" else
                         pid if x == "P" else x) for k, x in e.items()}
                    if isinstance(e, dict) else e for e in v]
        return v
    over = {k: mat(v) for k, v in over.items()}
    name = "Bad book " + uid(8)
    field_problem(PB.post(org.client, dict({"name": name}, **over)), field)
    assert count("crm.price_books", "name = %s" % q(name)) == 0
    book = PB.create(org.client, {"name": "Target " + uid(6)})
    field_problem(PB.patch(org.client, book["id"], over), field)
    assert PB.get(org.client, book["id"])[1] == 1


def test_entry_product_of_another_tenant_or_deleted(org, other):
    foreign = product(other.client)["id"]
    gone = product(org.client)["id"]
    assert PR.delete(org.client, gone).status_code == 204
    for pid in (foreign, gone):
        p = field_problem(PB.post(org.client, {"name": "x", "entries": [
            {"product_id": pid, "unit_price": "1.00"}]}),
            "entries[0].product_id")
        assert p["errors"][0]["code"] == "not_found"


def test_one_standard_price_book(org):
    PB.create(org.client, {"name": "Standard", "is_standard": True})
    assert_problem(PB.post(org.client, {"name": "Second standard",
                                        "is_standard": True}),
                   409, "conflict")
