"""Stock reservation for orders: all-or-nothing, idempotent by line id, never below zero."""

import asyncio
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from services.catalog import stock
from services.catalog.models import ReservationLine
from services.common.errors import DomainError
from tests.catalog.conftest import (
    SERVICE,
    catalog,
    seed_organization,
    seed_producer,
    seed_product,
    small_pool,
    stock_of,
)
from tests.conftest import live_database, require_postgres, transactional_database

D = Decimal


def _line(line_id, product_id, quantity):
    return {"line_id": line_id, "product_id": product_id, "quantity": quantity}


async def _count_lines(db):
    async with db.session() as s:
        return (await s.execute(select(func.count()).select_from(ReservationLine))).scalar_one()


async def test_reserving_moves_stock_and_answers_what_orders_needs(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, db):
        org = await seed_organization(db)
        producer = await seed_producer(db, organization_id=org)
        papa = await seed_product(db, producer_id=producer, unit="arroba", price_centavos=4550,
                                  available="10", case_size="4")
        r = await client.post("/internal/reservations", headers=SERVICE,
                              json={"order_id": "42", "lines": [_line("42-1", papa, "2.5")]})
        assert r.status_code == 200, r.text
        [line] = r.json()["lines"]
        assert line == {
            "line_id": "42-1", "product_id": papa, "quantity": "2.5", "unit": "arroba",
            "unit_price": "45.50", "product_name": "Papa Huaycha", "category": "tuberculos",
            "case_size": "4", "kg_per_unit": "11.5",
            "producer": {"id": producer, "name": "Juana Mamani", "gender": "female",
                         "organization_id": org, "municipality_code": "020101", "lat": -16.58,
                         "lon": -68.17},
        }
        assert await stock_of(db, papa) == (D("7.5"), D("2.5"), D("0"))


async def test_an_order_is_reserved_whole_or_not_at_all(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, db):
        producer = await seed_producer(db)
        papa = await seed_product(db, producer_id=producer, available="10")
        oca = await seed_product(db, producer_id=producer, name="Oca", available="1")
        r = await client.post("/internal/reservations", headers=SERVICE, json={
            "order_id": "7", "lines": [_line("7-1", papa, "3"), _line("7-2", oca, "2")]})
        assert r.status_code == 409
        error = r.json()["error"]
        assert error["code"] == "stock_insufficient"
        assert error["details"] == {"product_id": oca, "product_name": "Oca", "requested": "2",
                                    "available": "1", "unit": "arroba"}
        assert await stock_of(db, papa) == (D("10"), D("0"), D("0"))
        assert await stock_of(db, oca) == (D("1"), D("0"), D("0"))
        assert await _count_lines(db) == 0


async def test_a_line_already_reserved_is_not_reserved_again(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, db):
        papa = await seed_product(db, producer_id=await seed_producer(db), available="10")
        body = {"order_id": "8", "lines": [_line("8-1", papa, "4")]}
        first = await client.post("/internal/reservations", headers=SERVICE, json=body)
        again = await client.post("/internal/reservations", headers=SERVICE, json=body)
        assert first.status_code == again.status_code == 200
        assert again.json()["lines"][0]["quantity"] == "4"
        assert await stock_of(db, papa) == (D("6"), D("4"), D("0"))
        # a retry that adds a line reserves only the new one
        body["lines"].append(_line("8-2", papa, "1"))
        assert (await client.post("/internal/reservations", headers=SERVICE, json=body)).status_code == 200
        assert await stock_of(db, papa) == (D("5"), D("5"), D("0"))


async def test_unknown_inactive_and_below_minimum_products_are_refused(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, db):
        producer = await seed_producer(db)
        queso = await seed_product(db, producer_id=producer, name="Queso fresco", unit="unidad",
                                   available="5", active=False)
        quinua = await seed_product(db, producer_id=producer, name="Quinua real", unit="kg",
                                    available="100", min_order="5")
        missing = await client.post("/internal/reservations", headers=SERVICE,
                                    json={"order_id": "1", "lines": [_line("1-1", 999999, "1")]})
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "product_not_found"
        inactive = await client.post("/internal/reservations", headers=SERVICE,
                                     json={"order_id": "2", "lines": [_line("2-1", queso, "1")]})
        assert inactive.status_code == 409 and inactive.json()["error"]["code"] == "product_inactive"
        small = await client.post("/internal/reservations", headers=SERVICE,
                                  json={"order_id": "3", "lines": [_line("3-1", quinua, "2")]})
        assert small.status_code == 422
        assert small.json()["error"]["code"] == "below_minimum_order"
        assert small.json()["error"]["details"]["minimum"] == "5"
        assert await stock_of(db, quinua) == (D("100"), D("0"), D("0"))
        assert await _count_lines(db) == 0


async def test_reservation_input_is_checked(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, db):
        papa = await seed_product(db, producer_id=await seed_producer(db))
        for lines in ([], [_line("x", papa, "-1")], [_line("x", papa, "0")], [_line("x", papa, "abc")],
                      [_line("x", papa, "1"), _line("x", papa, "2")]):
            r = await client.post("/internal/reservations", headers=SERVICE,
                                  json={"order_id": "9", "lines": lines})
            assert r.status_code == 422, (lines, r.text)
        assert await stock_of(db, papa) == (D("50"), D("0"), D("0"))


async def test_internal_endpoints_need_the_service_key(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, db):
        papa = await seed_product(db, producer_id=await seed_producer(db))
        body = {"order_id": "1", "lines": [_line("1-1", papa, "1")]}
        assert (await client.post("/internal/reservations", json=body)).status_code == 403
        wrong = await client.post("/internal/reservations", json=body, headers={"X-Service-Key": "nope"})
        assert wrong.status_code == 403
        producer_token = keys.headers("producer", producer_id=1)
        assert (await client.post("/internal/reservations", json=body, headers=producer_token)).status_code == 403
        assert await stock_of(db, papa) == (D("50"), D("0"), D("0"))


async def test_release_commit_and_adjust_move_stock_once(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, db):
        papa = await seed_product(db, producer_id=await seed_producer(db), unit="kg", available="20")
        r = await client.post("/internal/reservations", headers=SERVICE, json={
            "order_id": "5", "lines": [_line("5-1", papa, "4.25"), _line("5-2", papa, "3"),
                                       _line("5-3", papa, "2")]})
        assert r.status_code == 200
        assert await stock_of(db, papa) == (D("10.75"), D("9.25"), D("0"))

        adjust = await client.post("/internal/reservations/adjust", headers=SERVICE,
                                   json={"line_id": "5-2", "quantity": "1.5"})
        assert adjust.status_code == 200 and adjust.json()["returned"] == "1.5"
        again = await client.post("/internal/reservations/adjust", headers=SERVICE,
                                  json={"line_id": "5-2", "quantity": "1.5"})
        assert again.json()["returned"] == "0"
        assert await stock_of(db, papa) == (D("12.25"), D("7.75"), D("0"))
        up = await client.post("/internal/reservations/adjust", headers=SERVICE,
                               json={"line_id": "5-2", "quantity": "9"})
        assert up.status_code == 422 and up.json()["error"]["code"] == "adjust_cannot_raise"

        rel = await client.post("/internal/reservations/release", headers=SERVICE,
                                json={"line_ids": ["5-1", "nope"]})
        assert rel.json() == {"released": ["5-1"]}
        rel = await client.post("/internal/reservations/release", headers=SERVICE, json={"line_ids": ["5-1"]})
        assert rel.json() == {"released": []}
        assert await stock_of(db, papa) == (D("16.5"), D("3.5"), D("0"))

        com = await client.post("/internal/reservations/commit", headers=SERVICE,
                                json={"line_ids": ["5-1", "5-2", "5-3"]})
        assert com.json() == {"committed": ["5-2", "5-3"]}
        com = await client.post("/internal/reservations/commit", headers=SERVICE, json={"line_ids": ["5-2"]})
        assert com.json() == {"committed": []}
        assert await stock_of(db, papa) == (D("16.5"), D("0"), D("3.5"))
        # a committed line can neither be released nor adjusted
        assert (await client.post("/internal/reservations/release", headers=SERVICE,
                                  json={"line_ids": ["5-2"]})).json() == {"released": []}
        late = await client.post("/internal/reservations/adjust", headers=SERVICE,
                                 json={"line_id": "5-2", "quantity": "1"})
        assert late.status_code == 409
        missing = await client.post("/internal/reservations/adjust", headers=SERVICE,
                                    json={"line_id": "zz", "quantity": "1"})
        assert missing.status_code == 404
        assert await stock_of(db, papa) == (D("16.5"), D("0"), D("3.5"))


async def test_two_hundred_buyers_cannot_oversell_fifty_units(migrated, keys):
    require_postgres()
    url = migrated.url("catalog", "postgres")
    async with live_database(url, "catalog") as db:
        producer = await seed_producer(db)
        huevos = await seed_product(db, producer_id=producer, name="Huevos criollos", unit="unidad",
                                    available="50")
        async with small_pool(db) as pool, catalog(migrated, keys, "postgres", database=pool) as (client, _):
            answers = await asyncio.gather(*[
                client.post("/internal/reservations", headers=SERVICE,
                            json={"order_id": f"o{i}", "lines": [_line(f"o{i}-1", huevos, "1")]})
                for i in range(200)])
        codes = [a.status_code for a in answers]
        assert codes.count(200) == 50
        assert codes.count(409) == 150
        assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {"stock_insufficient"}
        assert await stock_of(db, huevos) == (D("0"), D("50"), D("0"))
        assert await _count_lines(db) == 50


async def test_crossed_multi_line_orders_do_not_deadlock(migrated, keys):
    """Orders naming the same products in opposite order all succeed (products lock in id order)."""
    require_postgres()
    url = migrated.url("catalog", "postgres")
    async with live_database(url, "catalog") as db:
        producer = await seed_producer(db)
        ids = [await seed_product(db, producer_id=producer, name=f"Producto {i}", available="1000")
               for i in range(4)]

        async def order(pool, i):
            picked = ids if i % 2 else list(reversed(ids))
            async with pool.session() as session:
                return await stock.reserve_stock(session=session, order_id=f"x{i}", lines=[
                    stock.LineRequest(line_id=f"x{i}-{n}", product_id=pid, quantity=D(1))
                    for n, pid in enumerate(picked)])

        async with small_pool(db) as pool:
            results = await asyncio.gather(*[order(pool, i) for i in range(60)])
        assert all(len(r) == 4 for r in results)
        for pid in ids:
            assert await stock_of(db, pid) == (D("940"), D("60"), D("0"))


async def test_orders_batched_in_one_transaction_keep_their_own_all_or_nothing(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (_client, db):
        producer = await seed_producer(db)
        papa = await seed_product(db, producer_id=producer, available="10")
        oca = await seed_product(db, producer_id=producer, name="Oca", available="2")
        async with db.session() as session:
            a, b, c = await stock.reserve_orders(session=session, orders=[
                stock.OrderRequest(order_id="a", lines=[stock.LineRequest("a-1", papa, D(3))]),
                stock.OrderRequest(order_id="b", lines=[stock.LineRequest("b-1", papa, D(4)),
                                                        stock.LineRequest("b-2", oca, D(5))]),
                stock.OrderRequest(order_id="c", lines=[stock.LineRequest("c-1", oca, D(2))]),
            ])
        assert [ln["line_id"] for ln in a] == ["a-1"] and [ln["line_id"] for ln in c] == ["c-1"]
        assert isinstance(b, DomainError) and b.code == "stock_insufficient"
        assert await stock_of(db, papa) == (D("7"), D("3"), D("0"))
        assert await stock_of(db, oca) == (D("0"), D("2"), D("0"))
        async with db.session() as s:
            held = set((await s.execute(select(ReservationLine.line_id))).scalars())
        assert held == {"a-1", "c-1"}


async def test_two_processes_batching_crossed_orders_neither_deadlock_nor_oversell(migrated, keys):
    """Two batchers (two service processes) reserve crossed multi-line orders against scarce stock."""
    require_postgres()
    url = migrated.url("catalog", "postgres")
    async with live_database(url, "catalog") as db:
        producer = await seed_producer(db)
        ids = [await seed_product(db, producer_id=producer, name=f"Escaso {i}", available="30") for i in range(3)]
        async with small_pool(db, size=2) as pool_a, small_pool(db, size=2) as pool_b:
            batchers = [stock.ReservationBatcher(pool_a), stock.ReservationBatcher(pool_b)]

            async def order(i):
                picked = ids if i % 2 else list(reversed(ids))
                try:
                    return await batchers[i % 2].reserve(order_id=f"z{i}", lines=[
                        stock.LineRequest(line_id=f"z{i}-{n}", product_id=pid, quantity=D(1))
                        for n, pid in enumerate(picked)])
                except DomainError as exc:
                    return exc

            results = await asyncio.gather(*[order(i) for i in range(80)])
        won = [r for r in results if isinstance(r, list)]
        lost = [r for r in results if isinstance(r, DomainError)]
        assert len(won) == 30 and {e.code for e in lost} == {"stock_insufficient"}
        for pid in ids:
            assert await stock_of(db, pid) == (D("0"), D("30"), D("0"))
        assert await _count_lines(db) == 90


# --- property: random reserve / release / commit / adjust sequences ---------------------------

quantity = st.integers(1, 4000).map(lambda n: D(n) / 1000)
operation = st.one_of(
    st.tuples(st.just("reserve"), st.integers(0, 11), quantity),
    st.tuples(st.just("batch"), st.integers(0, 11), st.lists(quantity, min_size=1, max_size=4)),
    st.tuples(st.just("release"), st.integers(0, 11), st.none()),
    st.tuples(st.just("commit"), st.integers(0, 11), st.none()),
    st.tuples(st.just("adjust"), st.integers(0, 11), st.integers(0, 4000).map(lambda n: D(n) / 1000)),
)


async def _run_sequence(url, ops):
    initial = D("7.5")
    async with transactional_database(url) as db:
        product = await seed_product(db, producer_id=await seed_producer(db), unit="kg", available=str(initial))
        for kind, n, qty in ops:
            line_id = f"L{n}"
            try:
                async with db.session() as session:
                    if kind == "batch":  # several one-line orders sharing a transaction
                        await stock.reserve_orders(session=session, orders=[
                            stock.OrderRequest(order_id=f"b{n}-{i}", lines=[stock.LineRequest(
                                line_id=f"L{n + i}", product_id=product, quantity=q)])
                            for i, q in enumerate(qty)])
                    elif kind == "reserve":
                        await stock.reserve_stock(session=session, order_id=f"o{n}", lines=[
                            stock.LineRequest(line_id=line_id, product_id=product, quantity=qty)])
                    elif kind == "release":
                        await stock.release_reservations(session=session, line_ids=[line_id])
                    elif kind == "commit":
                        await stock.commit_reservations(session=session, line_ids=[line_id])
                    else:
                        await stock.adjust_reservation(session=session, line_id=line_id, quantity=qty)
            except DomainError:
                pass
            available, reserved, sold = await stock_of(db, product)
            assert min(available, reserved, sold) >= 0
            assert available + reserved + sold == initial
            async with db.session() as s:
                held = (await s.execute(select(func.coalesce(func.sum(ReservationLine.quantity), 0))
                                        .where(ReservationLine.status == "reserved"))).scalar_one()
            assert D(held).quantize(D("0.001")) == reserved


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operation, min_size=1, max_size=25))
def test_random_reservation_sequences_keep_the_stock_whole(backend, migrated, ops):
    url = migrated.url("catalog", backend)
    asyncio.run(_run_sequence(url, ops))
