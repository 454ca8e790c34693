"""Catalog benchmark on PostgreSQL: stock reservation throughput and search latency.

- reservations/s on ONE hot product (every request fights for the same row lock), and spread over
  1,000 products; each reservation is a full `reserve_stock` unit of work (line insert, conditional
  UPDATE, commit) run by concurrent workers; also through the HTTP app in process, for comparison;
- search p50/p95 over the 100k-product scale world (text, filters, sorts), through `search_products`.

Uses CATALOG_DATABASE_URL when it names a PostgreSQL database (it must be a throwaway one: the scale
world and bench rows are written into it), else creates a temporary database on the server of
BENCH_POSTGRES_URL or TEST_POSTGRES_URL (default 127.0.0.1) and drops it afterwards.
Goals: >= 2,000 reservations/s on the hot product, search p95 < 25 ms.
"""

import asyncio
import os
import random
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import asyncpg
from sqlalchemy import insert, select

from bench._support import dsn, service_database
from infra.demo_world import build_world
from services.catalog import stock
from services.catalog.demo import load_demo
from services.catalog.models import Producer, Product
from services.catalog.search import SearchFilters, search_products, tune_planner
from services.catalog.text import fold
from services.common.db import Database, make_engine
from services.common.pagination import PageParams
from services.common.tables import utcnow

WORKERS = int(os.environ.get("BENCH_WORKERS", "64"))
RESERVATIONS = int(os.environ.get("BENCH_RESERVATIONS", "6000"))
SEARCHES = int(os.environ.get("BENCH_SEARCHES", "400"))
RUN = f"r{time.time_ns() % 10**9}"  # line ids unique per run, so a kept database can be reused


async def _bench_products(db: Database, count: int, stock_each: Decimal) -> list[int]:
    now = utcnow()
    async with db.session() as s:
        producer = (await s.execute(select(Producer.id).order_by(Producer.id).limit(1))).scalar_one()
        tag = f"bench {time.time_ns()}"
        rows = [{"producer_id": producer, "name": f"{tag} {i}", "search_name": fold(f"{tag} {i}"),
                 "category": "tuberculos", "unit": "kg", "price_centavos": 600, "available": stock_each,
                 "reserved": 0, "sold": 0, "min_order_quantity": 1, "active": False,  # not listed in search
                 "created_at": now, "updated_at": now} for i in range(count)]
        ids = (await s.execute(insert(Product).returning(Product.id), rows)).scalars().all()
    # reservations refuse inactive products, so open them for sale only now, outside search figures
    async with db.session() as s:
        await s.execute(Product.__table__.update().where(Product.__table__.c.id.in_(ids)).values(active=True))
    return list(ids)


async def _reserve_throughput(db: Database, product_ids: list[int], total: int, label: str, *,
                              batched: bool = True) -> float:
    counter = iter(range(total))
    refused = 0
    batcher = stock.ReservationBatcher(db)

    async def worker():
        nonlocal refused
        rng = random.Random()
        for n in counter:
            pid = product_ids[0] if len(product_ids) == 1 else rng.choice(product_ids)
            lines = [stock.LineRequest(line_id=f"{RUN}{label}{n}-1", product_id=pid, quantity=Decimal(1))]
            try:
                if batched:
                    await batcher.reserve(order_id=f"{label}{n}", lines=lines)
                else:
                    async with db.session() as session:
                        await stock.reserve_stock(session=session, order_id=f"{label}{n}", lines=lines)
            except Exception:
                refused += 1

    started = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(WORKERS)])
    elapsed = time.perf_counter() - started
    rate = (total - refused) / elapsed
    print(f"  reservations, {label:<16s} {total - refused:6d} in {elapsed:5.2f} s = {rate:7.0f} /s"
          f"  ({WORKERS} concurrent, {refused} refused)")
    return rate


async def _http_throughput(db: Database, product_id: int, total: int) -> float:
    import httpx
    from asgi_lifespan import LifespanManager

    from services.catalog.app import create_app
    from services.catalog.settings import Settings
    from services.common.auth import TokenVerifier
    from services.common.keys import ensure_signing_keys
    from services.common.revocations import RevocationList

    os.environ.setdefault("MC_SERVICE_SECRET", "bench-secret")
    settings = Settings(database_url=str(db.engine.url), relay_enabled=False, background_enabled=False,
                        log_level="WARNING")
    with tempfile.TemporaryDirectory() as keys:  # internal calls carry the service key: no token is verified
        _, public = ensure_signing_keys(Path(keys) / "jwt_private.pem", Path(keys) / "jwt_public.pem")
        verifier = TokenVerifier.from_file(public).with_revocations(RevocationList())
    app = create_app(settings, database=db, verifier=verifier, check_migrations=False)
    counter = iter(range(total))
    headers = {"X-Service-Key": os.environ["MC_SERVICE_SECRET"]}
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://bench") as c:
            async def worker():
                for n in counter:
                    r = await c.post("/internal/reservations", headers=headers, json={
                        "order_id": f"h{n}", "lines": [{"line_id": f"{RUN}http{n}", "product_id": product_id,
                                                        "quantity": "1"}]})
                    assert r.status_code == 200, r.text

            started = time.perf_counter()
            await asyncio.gather(*[worker() for _ in range(WORKERS)])
            elapsed = time.perf_counter() - started
    rate = total / elapsed
    print(f"  reservations, HTTP in process, hot {total:6d} in {elapsed:5.2f} s = {rate:7.0f} /s"
          f"  ({WORKERS} concurrent)")
    return rate


def _search_cases(world) -> list[tuple[SearchFilters, str]]:
    rng = random.Random(11)
    words = ["platano", "quinua", "papa", "cafe", "miel", "queso", "chuno", "castana", "tomate", "oca",
             "cacao", "durazno", "api", "llama", "lote 7", "huaycha", "real", "xyz"]
    categories = sorted({p.category for p in world.products[:5000]})
    codes = sorted({m.code for m in world.municipalities})
    cases = []
    for i in range(SEARCHES):
        kind = i % 6
        if kind == 0:
            f = SearchFilters(q=rng.choice(words))
        elif kind == 1:
            f = SearchFilters(category=rng.choice(categories))
        elif kind == 2:
            f = SearchFilters(municipality=rng.choice(codes), q=rng.choice(words[:6]))
        elif kind == 3:
            f = SearchFilters(certified=True, category=rng.choice(categories))
        elif kind == 4:
            f = SearchFilters(min_price=Decimal(5), max_price=Decimal(30), q=rng.choice(words[:8]))
        else:
            f = SearchFilters(organization=rng.randint(1, len(world.organizations)))
        cases.append((f, rng.choice(["name", "price", "-price", "newest"])))
    return cases


async def _search_latency(db: Database, world) -> tuple[float, float]:
    cases = _search_cases(world)
    params = PageParams(limit=50, cursor=None)
    for f, sort in cases[:20]:  # warm caches and prepared statements
        async with db.session() as s:
            await search_products(session=s, filters=f, sort=sort, params=params)
    times = []
    for f, sort in cases:
        started = time.perf_counter()
        async with db.session() as s:
            await search_products(session=s, filters=f, sort=sort, params=params)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p50, p95 = statistics.median(times), times[int(len(times) * 0.95) - 1]
    print(f"  search over {len(world.products):,} products: p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
          f"max {times[-1]:.1f} ms ({len(times)} queries, 50 per page)")
    return p50, p95


async def run(url: str) -> dict:
    db = Database(make_engine(url, pool_size=10))  # the server is shared: at most 30 connections
    tune_planner(db)  # as the service does at start-up
    figures = {}
    try:
        world = build_world(scale=True)
        started = time.perf_counter()
        await load_demo(db, world)
        async with db.session() as s:
            await s.execute(select(1))
        conn = await asyncpg.connect(dsn(url))
        try:
            await conn.execute("VACUUM ANALYZE")  # steady state, as autovacuum keeps it: GIN pending list merged
        finally:
            await conn.close()
        print(f"  scale world ({len(world.producers):,} producers, {len(world.products):,} products) "
              f"ready in {time.perf_counter() - started:.0f} s")
        hot = await _bench_products(db, 1, Decimal(10_000_000))
        spread = await _bench_products(db, 1000, Decimal(100_000))
        figures["hot"] = await _reserve_throughput(db, hot, RESERVATIONS, "hot product")
        figures["spread"] = await _reserve_throughput(db, spread, RESERVATIONS, "1,000 products")
        figures["http_hot"] = await _http_throughput(db, hot[0], RESERVATIONS)
        # for comparison: one transaction (and one disk flush) per order, without grouping
        figures["hot_unbatched"] = await _reserve_throughput(db, hot, 1000, "hot, unbatched", batched=False)
        figures["search_p50"], figures["search_p95"] = await _search_latency(db, world)
    finally:
        await db.dispose()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"  machine load average during the run: {load} on {os.cpu_count()} cores")
    print(f"  goals: hot >= 2,000 /s -> {'met' if figures.get('hot', 0) >= 2000 else 'NOT met'}; "
          f"search p95 < 25 ms -> {'met' if figures.get('search_p95', 1e9) < 25 else 'NOT met'}")
    return figures


def main() -> None:
    with service_database("catalog") as url:
        asyncio.run(run(url))


if __name__ == "__main__":
    main()
