"""The monitoring figures equal what a person computes by hand from the raw records, for a
municipality, a department and the whole country; municipalities see only their own territory; and
no name or phone leaves monitoring, in JSON or CSV."""

import csv
import io
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import httpx
import pytest

from tests.monitoring.conftest import (
    ADVANCES,
    CONSUMERS,
    CYCLES,
    DISBURSED_AT,
    LINES,
    MUNICIPALITIES,
    ORDERS,
    ORGANIZATIONS,
    PERIOD,
    POINTS,
    PRODUCERS,
    PRODUCTS,
    REFERENCES,
    line_total,
    producer,
    product,
    territory,
)

SOLD = {"placed", "packed", "ready", "picked_up", "no_show"}
PERIOD_PARAMS = {"from": PERIOD[0].isoformat(), "to": PERIOD[1].isoformat()}


def pct(part, whole) -> str | None:
    if not whole:
        return None
    return str((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def bs(centavos) -> str:
    return f"{Decimal(centavos) / 100:.2f}"


def expected(codes: set[str]) -> dict:
    """Every figure of the report for municipalities `codes` in PERIOD, straight from the records."""
    in_period = {cid for cid, day in CYCLES if PERIOD[0] <= day <= PERIOD[1]}
    producers = [p for p in PRODUCERS if p[4] in codes]
    women = sum(1 for p in producers if p[2] == "female")
    orgs = [o for o in ORGANIZATIONS if o[3] in codes]

    point_place = {pid: code for pid, _name, code, *_ in POINTS}
    sold_lines = []  # sold by the territory's producers: (producer, product, quantity, value)
    market_lines = []  # delivered at the territory's points: (point municipality, product, quantity, value)
    for oid, cycle, _, point, status, _ in ORDERS:
        if status not in SOLD or cycle not in in_period:
            continue
        for line in LINES:
            if line[0] != oid:
                continue
            prod = product(line[1])
            q, value = Decimal(line[4] or line[2]), line_total(line)
            if producer(prod[1])[4] in codes:
                sold_lines.append((prod[1], prod, q, value))
            if point_place[point] in codes:
                market_lines.append((point_place[point], prod, q, value))
    active = {p for p, *_ in sold_lines}
    active_women = sum(1 for p in active if producer(p)[2] == "female")

    sold_by_category = defaultdict(int)
    for _, prod, _, value in sold_lines:
        sold_by_category[prod[3]] += value
    delivered_by_category = defaultdict(int)
    for _, prod, _, value in market_lines:
        delivered_by_category[prod[3]] += value
    offered_by_category = defaultdict(int)
    for prod in products_in(codes):
        offered_by_category[prod[3]] += int(Decimal(prod[6]) * prod[5])

    paid = at_reference = Decimal(0)
    for code, prod, q, value in market_lines:
        refs = [r for r in REFERENCES if r[0] == code and r[3] == prod[4]]
        ref = next((r for r in refs if r[2] == prod[2]), None) or \
            next((r for r in refs if r[2] is None and r[1] == prod[3]), None)
        if ref:
            paid += value
            at_reference += q * ref[4]
    index = str((paid * 100 / at_reference).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)) if at_reference else None

    points = {}
    for pid, _name, code, *_ in POINTS:
        if code in codes:
            points[pid] = {"orders": 0, "picked_up": 0, "no_shows": 0}
    for _oid, cycle, _, point, _, booking in ORDERS:
        if point in points and cycle in in_period and booking in ("held", "confirmed", "picked_up", "no_show"):
            points[point]["orders"] += 1
            points[point]["picked_up"] += booking == "picked_up"
            points[point]["no_shows"] += booking == "no_show"

    advances = [a for a in ADVANCES if a[2] in ("disbursed", "repaid", "producer_debt") and producer(a[1])[4] in codes
                and PERIOD[0] <= DISBURSED_AT[a[0]].date() <= PERIOD[1]]
    value = sum(a[3] for a in advances)
    women_value = sum(a[3] for a in advances if producer(a[1])[2] == "female")
    return {
        "registered": (len(producers), women, pct(women, len(producers))),
        "active": (len(active), active_women, pct(active_women, len(active))),
        "organizations": (len(orgs), sum(o[4] for o in orgs), sum(o[5] for o in orgs)),
        "sold_value": bs(sum(v for *_, v in sold_lines)),
        "sold_by_category": {c: bs(v) for c, v in sold_by_category.items()},
        "delivered_by_category": {c: bs(v) for c, v in delivered_by_category.items()},
        "offered_by_category": {c: bs(v) for c, v in offered_by_category.items()},
        "index": index,
        "points": points,
        "advances": (len(advances), bs(value), bs(sum(a[4] for a in advances)), pct(women_value, value)),
        "reached": len({producer(p)[4] for p in active}),
    }


def products_in(codes: set[str]) -> list[tuple]:
    return [p for p in PRODUCTS if producer(p[1])[4] in codes]


def check(report: dict, want: dict) -> None:
    reg, act = report["producers"]["registered"], report["producers"]["active"]
    assert (reg["total"], reg["women"], reg["women_share"]) == want["registered"]
    assert (act["total"], act["women"], act["women_share"]) == want["active"]
    orgs = report["organizations"]
    assert (orgs["total"], orgs["members"], orgs["women_members"]) == want["organizations"]
    supply = report["supply"]
    assert supply["sold_value"] == want["sold_value"]
    assert {c["category"]: c["sold_value"] for c in supply["by_category"] if c["sold_value"] != "0.00"} \
        == want["sold_by_category"]
    assert {c["category"]: c["offered_value"] for c in supply["by_category"] if c["offered_value"] != "0.00"} \
        == want["offered_by_category"]
    assert {c["category"]: c["delivered_value"] for c in supply["by_category"] if c["delivered_value"] != "0.00"} \
        == want["delivered_by_category"]
    assert report["prices"]["fair_price_index"] == want["index"]
    got_points = {p["point_id"]: {k: p[k] for k in ("orders", "picked_up", "no_shows")}
                  for p in report["delivery_points"]}
    assert got_points == want["points"]
    adv = report["advances"]
    assert (adv["count"], adv["value"], adv["fees"], adv["women_share_value"]) == want["advances"]
    assert report["program"]["municipalities_reached"] == want["reached"]
    assert report["program"]["value_sold"] == want["sold_value"]


async def test_municipality_figures_are_computed_from_the_records(migrated, keys, backend):
    async with territory(migrated, keys, backend) as t:
        headers = keys.headers("coordinator")
        response = await t.client.get("/api/monitoring/report", params={**PERIOD_PARAMS, "municipality": "020101"},
                                      headers=headers)
        assert response.status_code == 200, response.text
        report = response.json()
    assert report["scope"]["municipality"] == "020101"
    assert report["warnings"] == []
    check(report, expected({"020101"}))


async def test_a_municipality_reads_no_group_of_fewer_than_three_producers(migrated, keys):
    """In La Paz every product is offered and sold by one or two producers, and two women took advances
    in the period (of three producers): the municipality sees the territory's totals, not those rows
    or the women's amount."""
    async with territory(migrated, keys, "sqlite") as t:
        whole = (await t.client.get("/api/monitoring/report", params={**PERIOD_PARAMS, "municipality": "020101"},
                                    headers=keys.headers("coordinator"))).json()
        town = (await t.client.get("/api/monitoring/report", params=PERIOD_PARAMS,
                                   headers=keys.headers("municipality", municipality_code="020101"))).json()
    assert whole["supply"]["by_product"] and all(r["producers"] < 3 for r in whole["supply"]["by_product"])
    assert town["supply"]["by_product"] == [] and town["supply"]["by_category"] == []
    assert town["prices"]["items"] == []
    assert town["advances"]["producers"] == 3 and town["advances"]["value"] == whole["advances"]["value"]
    assert town["advances"]["women_producers"] == 2 and whole["advances"]["women_value"] != "0.00"
    assert town["advances"]["women_value"] is None and town["advances"]["women_share_value"] is None
    for total in ("offered_value", "sold_value", "delivered_value"):
        assert town["supply"][total] == whole["supply"][total]
    assert town["prices"]["fair_price_index"] == whole["prices"]["fair_price_index"]


async def test_department_and_country_figures_add_up_from_the_records(migrated, keys, backend):
    async with territory(migrated, keys, backend) as t:
        headers = keys.headers("coordinator")
        department = (await t.client.get("/api/monitoring/report", headers=headers,
                                         params={**PERIOD_PARAMS, "department": "La Paz"})).json()
        country = (await t.client.get("/api/monitoring/report", headers=headers, params=PERIOD_PARAMS)).json()
    check(department, expected({m[0] for m in MUNICIPALITIES if m[3] == "La Paz"}))
    check(country, expected({m[0] for m in MUNICIPALITIES}))


async def test_fair_price_index_is_price_paid_over_reference(migrated, keys):
    """At Mercado Camacho (La Paz) Papa huaycha sold 2 @ 58 and 1 @ 55 against La Paz's reference of
    50 per arroba: average 57, index 114.0."""
    async with territory(migrated, keys, "sqlite") as t:
        report = (await t.client.get("/api/monitoring/report", params={**PERIOD_PARAMS, "municipality": "020101"},
                                     headers=keys.headers("coordinator"))).json()
    papa = next(i for i in report["prices"]["items"] if i["product"] == "Papa huaycha")
    assert (papa["average_paid"], papa["reference"], papa["index"]) == ("57.00", "50.00", "114.0")


async def test_monitoring_of_an_old_period_uses_the_reference_price_valid_then(migrated, keys, backend):
    """La Paz's reference for Papa huaycha was 50 per arroba from January; from April 1 it is 60. March's
    report still judges March's sales (2 @ 58, 1 @ 55) against 50; April's (1 @ 62) against 60."""
    async with territory(migrated, keys, backend) as t:
        la_paz = keys.headers("municipality", municipality_code="020101")
        async with httpx.AsyncClient(transport=t.transports["catalog"], base_url="http://catalog") as catalog:
            new = await catalog.post("/reference-prices", headers=la_paz, json={
                "municipality_code": "020101", "product_name": "Papa huaycha", "unit": "arroba", "price": "60",
                "band_min": "55", "band_max": "66", "valid_from": "2026-04-01"})
            assert new.status_code == 201, new.text
            history = (await catalog.get("/reference-prices", params={
                "municipality": "020101", "history": "true"})).json()["items"]
        papas = [(x["price"], x["valid_from"], x["valid_to"]) for x in history if x["product_name"] == "Papa huaycha"]
        assert papas == [("50.00", "2026-01-01", "2026-04-01"), ("60.00", "2026-04-01", None)]

        async def papa_in(start: str, end: str) -> tuple[dict, dict]:
            report = (await t.client.get("/api/monitoring/report", headers=keys.headers("coordinator"), params={
                "municipality": "020101", "from": start, "to": end})).json()
            return report["prices"], next(i for i in report["prices"]["items"] if i["product"] == "Papa huaycha")
        march, papa = await papa_in("2026-03-01", "2026-03-31")
        assert (march["references_on"], papa["reference"], papa["index"]) == ("2026-03-31", "50.00", "114.0")
        april, papa = await papa_in("2026-04-01", "2026-04-30")
        assert (april["references_on"], papa["reference"], papa["index"]) == ("2026-04-30", "60.00", "103.3")
        [band] = [r for r in april["offered_vs_reference"] if r["product"] == "Papa huaycha"]
        assert (band["band_min"], band["reference"], band["band_max"]) == ("55.00", "60.00", "66.00")


@pytest.mark.parametrize("params", [{"municipality": "020105"}, {"department": "La Paz"}, {}])
async def test_municipality_account_cannot_see_other_territories(migrated, keys, params):
    async with territory(migrated, keys, "sqlite") as t:
        headers = keys.headers("municipality", municipality_code="020101")
        response = await t.client.get("/api/monitoring/report", params=params, headers=headers)
    if params:
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "outside_territory"
    else:
        assert response.status_code == 200  # no scope means its own municipality
        assert response.json()["scope"]["municipality"] == "020101"


async def test_consumers_producers_and_anonymous_callers_are_refused(migrated, keys):
    async with territory(migrated, keys, "sqlite", seed=False) as t:
        anonymous = await t.client.get("/api/monitoring/report")
        consumer = await t.client.get("/api/monitoring/report", headers=keys.headers("consumer"))
        producer_ = await t.client.get("/api/monitoring/report.csv", headers=keys.headers("producer", producer_id=1))
    assert anonymous.status_code == 401
    assert consumer.status_code == 403 and producer_.status_code == 403


async def test_reversed_period_is_refused_with_a_clear_error(migrated, keys):
    async with territory(migrated, keys, "sqlite", seed=False) as t:
        response = await t.client.get("/api/monitoring/report", params={"from": "2026-04-01", "to": "2026-03-01"},
                                      headers=keys.headers("coordinator"))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_period"


async def test_csv_carries_the_same_figures(migrated, keys):
    async with territory(migrated, keys, "sqlite") as t:
        headers = keys.headers("coordinator")
        params = {**PERIOD_PARAMS, "municipality": "020101"}
        response = await t.client.get("/api/monitoring/report.csv", params=params, headers=headers)
        program = await t.client.get("/api/monitoring/program-report.csv", params=params, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))
    want = expected({"020101"})

    def value(section, indicator, group="", item=""):
        return next(r["valor"] for r in rows if r["seccion"] == section and r["indicador"] == indicator
                    and r["grupo"] == group and r["elemento"] == item)

    assert value("productores", "women_share", "registered") == want["registered"][2]
    assert value("precios", "fair_price_index") == want["index"]
    assert value("adelantos", "value") == want["advances"][1]
    for category, sold in want["sold_by_category"].items():
        assert value("oferta_y_ventas", "sold_value", "categoria", category) == sold
    for category, delivered in want["delivered_by_category"].items():
        assert value("oferta_y_ventas", "delivered_value", "categoria", category) == delivered
    program_rows = list(csv.DictReader(io.StringIO(program.text.lstrip("\ufeff"))))
    assert next(r["valor"] for r in program_rows if r["indicador"] == "value_sold") == want["sold_value"]


async def test_no_name_or_phone_leaves_monitoring(migrated, keys):
    personal = [p[1] for p in PRODUCERS] + [p[3] for p in PRODUCERS] + list(CONSUMERS.values()) + \
        [p[5] for p in POINTS] + ["+59170000000", "Organización"] + [f"CODE{o[0]:04d}" for o in ORDERS]
    # each name's parts too (a surname alone is still a name), and phones without the prefix
    personal += [part for p in PRODUCERS for part in p[1].split()] + [p[3][4:] for p in PRODUCERS]
    personal += [part for name in CONSUMERS.values() for part in name.split()]
    async with territory(migrated, keys, "sqlite") as t:
        headers = keys.headers("coordinator")
        bodies = []
        for path in ("/api/monitoring/report", "/api/monitoring/report.csv", "/api/monitoring/program-report",
                     "/api/monitoring/program-report.csv", "/api/monitoring/municipalities/020101/supply"):
            for params in ({}, {"department": "La Paz"}, PERIOD_PARAMS):
                if path.endswith("/supply") and "department" in params:
                    continue
                response = await t.client.get(path, params=params, headers=headers)
                assert response.status_code == 200, (path, response.text)
                bodies.append(response.text)
    text = "\n".join(bodies)
    assert "Papa huaycha" in text  # the report is not empty
    leaked = sorted({word for word in personal if word in text})
    assert leaked == []


async def test_a_service_that_is_down_makes_the_report_fail_with_503_not_a_silent_drop(migrated, keys):
    from services.common.http import ServiceClient

    async with territory(migrated, keys, "sqlite") as t:
        t.gateway.state.monitoring_clients["payments"] = ServiceClient(
            "payments", "http://127.0.0.1:9", secret="x", caller="gateway", timeout=0.5, retries=0)
        response = await t.client.get("/api/monitoring/report", headers=keys.headers("coordinator"))
    assert response.status_code == 503
    assert response.json()["error"]["details"]["service"] == "payments"


async def test_an_aggregate_a_service_does_not_offer_leaves_a_warning_and_the_rest_of_the_report(migrated, keys):
    import httpx
    from fastapi import FastAPI

    from services.common.errors import install_error_handlers
    from services.common.http import ServiceClient

    bare = FastAPI()
    install_error_handlers(bare)
    async with territory(migrated, keys, "sqlite") as t:
        t.gateway.state.monitoring_clients["orders"] = ServiceClient(
            "orders", "http://orders", secret="x", caller="gateway", transport=httpx.ASGITransport(app=bare))
        response = await t.client.get("/api/monitoring/report", params=PERIOD_PARAMS,
                                      headers=keys.headers("municipality", municipality_code="020101"))
    report = response.json()
    assert response.status_code == 200
    assert any("/stats/sales" in w for w in report["warnings"])
    assert report["supply"]["sold_value"] == "0.00"
    assert report["producers"]["registered"]["total"] == expected({"020101"})["registered"][0]


async def test_sales_aggregate_is_for_the_gateway_coordinators_and_the_own_municipality(migrated, keys):
    import httpx

    async with territory(migrated, keys, "sqlite") as t:
        async with httpx.AsyncClient(transport=t.transports["orders"], base_url="http://orders") as orders:
            own = keys.headers("municipality", municipality_code="020101")
            mine = await orders.get("/stats/sales", params={"municipality": "020101"}, headers=own)
            other = await orders.get("/stats/sales", params={"municipality": "020105"}, headers=own)
            by_point = await orders.get("/stats/sales", params={"point": "2"}, headers=own)
            consumer = await orders.get("/stats/sales", headers=keys.headers("consumer"))
            anonymous = await orders.get("/stats/sales")
            gateway = await orders.get("/stats/sales", params={"point": "1", **PERIOD_PARAMS},
                                       headers={"X-Service-Key": "test-service-secret"})
    # every product here is sold by one or two producers: a municipality sees none of their values
    assert mine.status_code == 200 and mine.json()["products"] == [] and mine.json()["orders"] > 0
    assert (other.status_code, by_point.status_code, consumer.status_code, anonymous.status_code) == \
        (403, 403, 403, 401)
    assert gateway.status_code == 200
    assert {r["delivery_point_id"] for r in gateway.json()["products"]} == {1}
    assert all(r["producers"] < 3 for r in gateway.json()["products"])  # whole for the gateway
    assert "consumer" not in gateway.text and not any(name in gateway.text for name in CONSUMERS.values())
