"""Order placement through the gateway, and consolidation of a 100k-line cycle, on PostgreSQL.

1. Placement, as `make run` runs the platform: temporary PostgreSQL databases for the four services
   and the gateway, each started as a uvicorn process with its relay on (events over HTTP, or over
   NATS JetStream with EVENTS_URL=nats://...), payments consuming, the default log level. It seeds
   producers, products and delivery points, opens a cycle, then 64 concurrent clients place 3-line
   orders as `POST /api/orders/orders` through the gateway (rate limits lifted) for a fixed time.
   Prints orders/s and p50/p99 latency; each service's event backlog at the end of the load and the
   seconds until every consumer has caught up; then the headline figure: the CPU milliseconds per
   order of each process and of the PostgreSQL backends serving the run's databases, from the start
   of the timed window until the events it caused are all consumed (read from /proc, so it holds on a
   noisy machine where orders/s does not); the database transactions (PostgreSQL's pg_stat_database;
   a standalone statement, `Database.standalone`, is a transaction of its own) and SQL statements (each service's `db_statements_total`) per order, counts that do not move with
   the machine's load at all and tell which service does the most round trips; and each process's
   resident memory.
   Goals: <= 8 ms of service CPU per order, >= 200 orders/s with p99 < 500 ms.
   `python -m bench orders --reduced` (BENCH_REDUCED=1) is a diagnostic only: no payments, relays off.
2. Consolidation: 100k order lines inserted into a closed cycle; prints the time of the pick lists
   (per producer, product and point, plus organization totals), of the whole consolidation document
   (with every bag's lines), and of the plain SQL aggregation on the same data, in BENCH_ROUNDS (5)
   interleaved rounds: the median and the best wall time of each, the median CPU time (this process
   and its PostgreSQL backend, which holds on a busy machine), and the machine's load. Goal: pick
   lists <= 2x the plain aggregation.

    python -m bench orders       BENCH_SECONDS=15 BENCH_CLIENTS=64 BENCH_LINES=100000 BENCH_WORKERS=1,2
    EVENTS_URL=nats://127.0.0.1:4222 BENCH_SKIP_CONSOLIDATION=1 python -m bench orders
    BENCH_ROUNDS=9 python -m bench orders --skip-placement    (BENCH_SKIP_PLACEMENT=1: consolidation only)
    python -m bench orders --reduced
    BENCH_LOG_DIR=var/bench python -m bench orders --profile    (py-spy stacks of each process)
Needs PostgreSQL (BENCH_POSTGRES_URL or TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/postgres).
"""

import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from bench._support import (
    CpuMeter,
    StatementMeter,
    TransactionMeter,
    cpu_seconds,
    is_local_postgres,
    print_cpu_per_unit,
    print_database_work_per_unit,
    rss_mb,
    start_app,
    stop,
    temporary_databases,
    wait_ok,
)
from infra.ports import free_ports

SECONDS = float(os.environ.get("BENCH_SECONDS", "15"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "64"))
LINES = int(os.environ.get("BENCH_LINES", "100000"))
WORKER_COUNTS = [int(n) for n in os.environ.get("BENCH_WORKERS", "1,2").split(",")]  # one run each
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
EVENTS_URL = os.environ.get("EVENTS_URL", "")
REDUCED = os.environ.get("BENCH_REDUCED") == "1"  # diagnostic: no payments, no relays
WITH_EVENTS = not REDUCED
CATCH_UP_LIMIT = float(os.environ.get("BENCH_CATCH_UP_SECONDS", "300"))
SERVICES = ("catalog", "delivery", "orders", *(("payments",) if WITH_EVENTS else ()), "gateway")
APPS = {"gateway": "gateway.app:create_app", **{s: f"services.{s}.app:create_app" for s in SERVICES[:-1]}}
PRODUCTS = 300
POINTS = 8


async def _seed_catalog(url: str) -> list[int]:
    from sqlalchemy import insert

    from services.catalog.models import Municipality, Producer, Product
    from services.catalog.text import fold
    from services.common.db import Database
    from services.common.tables import utcnow

    db = Database.from_url(url)
    now = utcnow()
    units = [("Papa Huaycha", "arroba", 4500), ("Quinua Real", "kg", 2200), ("Haba verde", "libra", 500),
             ("Queso criollo", "unidad", 3000), ("Miel de Caranavi", "unidad", 3500), ("Cebolla", "atado", 800)]
    try:
        async with db.session() as s:
            await s.execute(insert(Municipality).values(code="020101", name="La Paz", province="Murillo",
                                                        department="La Paz", lat=-16.5, lon=-68.15, created_at=now))
            producer_ids = []
            for n in range(60):
                producer_ids.append((await s.execute(insert(Producer).values(
                    name=f"Productora {n}", gender="femenino" if n % 2 else "masculino", municipality_code="020101",
                    community="Achocalla", phone="+59170000000", lat=-16.58, lon=-68.17, created_at=now)
                    .returning(Producer.id))).scalar_one())
            product_ids = []
            for n in range(PRODUCTS):
                name, unit, price = units[n % len(units)]
                product_ids.append((await s.execute(insert(Product).values(
                    producer_id=producer_ids[n % len(producer_ids)], name=f"{name} {n}", search_name=fold(f"{name} {n}"),
                    category="tuberculos", unit=unit, price_centavos=price, available=Decimal(10_000_000),
                    reserved=Decimal(0), sold=Decimal(0), min_order_quantity=Decimal("0.1"), active=True,
                    created_at=now, updated_at=now).returning(Product.id))).scalar_one())
        return product_ids
    finally:
        await db.dispose()


async def _seed_points_and_cycle(base: dict[str, str], coordinator: str) -> tuple[int, list[int]]:
    import httpx

    from services.common.tables import utcnow

    headers = {"Authorization": f"Bearer {coordinator}"}
    async with httpx.AsyncClient(timeout=30) as client:
        points = []
        for n in range(POINTS):
            r = await client.post(f"{base['gateway']}/api/delivery/points", headers=headers, json={
                "name": f"Punto {n}", "kind": "mercado", "address": f"Calle {n}", "municipality_code": "020101",
                "lat": -16.5 + n / 100, "lon": -68.13, "schedule": [{"weekday": d, "opens": "08:00", "closes": "13:00"} for d in range(7)],
                "contact": "+591 71234567", "cold_storage": False, "max_orders_per_cycle": 100_000})
            if r.status_code != 201:
                raise RuntimeError(f"delivery point refused: {r.status_code} {r.text[:300]}")
            points.append(r.json()["id"])
        now = utcnow()
        r = await client.post(f"{base['gateway']}/api/orders/cycles", headers=headers, json={
            "name": "Ciclo de carga", "opens_at": (now - timedelta(hours=1)).isoformat(),
            "closes_at": (now + timedelta(days=1)).isoformat(), "delivery_date": (now + timedelta(days=2)).date().isoformat(),
            "delivery_point_ids": points, "status": "open",
            "fee_rules": [{"kind": "packing", "basis": "per_item", "value": "0.50"},
                          {"kind": "admin", "basis": "percent", "value": "5"}]})
        if r.status_code != 201:
            raise RuntimeError(f"cycle refused: {r.status_code} {r.text[:300]}")
        return r.json()["id"], points


async def _load(url: str, tokens: list[str], cycle_id: int, points: list[int], product_ids: list[int],
                seconds: float) -> tuple[int, int, list[float], float]:
    import aiohttp

    done = errors = 0
    latencies: list[float] = []
    rng = random.Random(7)
    deadline = time.perf_counter() + seconds
    samples: list[str] = []
    tag = f"{time.time_ns()}"

    async def client(session, n: int):
        nonlocal done, errors
        headers = {"Authorization": f"Bearer {tokens[n]}", "Content-Type": "application/json"}
        k = 0
        while time.perf_counter() < deadline:
            k += 1
            body = {"cycle_id": cycle_id, "delivery_point_id": points[(n + k) % len(points)],
                    "lines": [{"product_id": pid, "quantity": "1"} for pid in rng.sample(product_ids, 3)]}
            started = time.perf_counter()
            async with session.post(url, json=body, headers={**headers, "Idempotency-Key": f"b-{tag}-{n}-{k}"}) as r:
                text = await r.text()
                if r.status == 201:
                    done += 1
                else:
                    errors += 1
                    if len(samples) < 3:
                        samples.append(f"{r.status} {text[:200]}")
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=CLIENTS)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session, n) for n in range(CLIENTS)))
        elapsed = time.perf_counter() - started
    for sample in samples:
        print(f"  refused: {sample}")
    return done, errors, latencies, elapsed


def placement(folder: Path, urls: dict[str, str], workers_per_service: int) -> None:
    from gateway.tokens import TokenIssuer
    from services.common.keys import ensure_signing_keys

    ports = dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True))
    base = {s: f"http://127.0.0.1:{p}" for s, p in ports.items()}
    (folder / "keys").mkdir(exist_ok=True)
    private, _public = ensure_signing_keys(folder / "keys" / "jwt_private.pem", folder / "keys" / "jwt_public.pem")
    env = {**os.environ, "MC_VAR_DIR": str(folder), "MC_SERVICE_SECRET": "bench-secret",
           "MC_JWT_PRIVATE_KEY_PATH": str(private), "MC_JWT_PUBLIC_KEY_PATH": str(folder / "keys" / "jwt_public.pem"),
           "GATEWAY_RATE_LIMIT_PER_ADDRESS": "1000000000",
           "GATEWAY_RATE_LIMIT_PER_ACCOUNT": "1000000000"}
    installation = f"bench{os.getpid()}x{time.time_ns() % 10**6}"
    env["MC_INSTALLATION"] = installation  # a stream of its own on a shared NATS server, deleted below
    for s in SERVICES:
        env[f"{s.upper()}_DATABASE_URL"] = urls[s]
        env[f"{s.upper()}_URL"] = base[s]
        env[f"{s.upper()}_RELAY_ENABLED"] = "true" if WITH_EVENTS else "false"
    product_ids = asyncio.run(_seed_catalog(urls["catalog"]))
    processes = []
    try:
        for s in SERVICES:
            log = folder / f"{s}.log"
            workers = 1 if s == "gateway" else workers_per_service
            env[f"{s.upper()}_WORKERS"] = str(workers)  # each worker takes its share of the connection budget
            processes.append(start_app(APPS[s], ports[s], env, log, workers=workers, log_level="warning"))
            wait_ok(f"{base[s]}/healthz", processes[-1], log)
        issuer = TokenIssuer.from_file(private)
        coordinator = issuer.access_token(account_id=1, role="coordinator", name="Coordinación", ttl=3600)
        cycle_id, points = asyncio.run(_seed_points_and_cycle(base, coordinator))
        tokens = [issuer.access_token(account_id=1000 + n, role="consumer", name=f"Consumidora {n}", ttl=3600)
                  for n in range(CLIENTS)]
        url = f"{base['gateway']}/api/orders/orders"
        if os.environ.get("BENCH_DIRECT") == "1":  # the orders service without the gateway in front
            url = f"{base['orders']}/orders"
        asyncio.run(_load(url, tokens, cycle_id, points, product_ids, 2))  # warm-up
        if WITH_EVENTS:  # the warm-up's events are not the timed window's work
            asyncio.run(_wait_caught_up(base))
        meter = CpuMeter({s: p.pid for s, p in zip(SERVICES, processes, strict=True)}, [u.rsplit("/", 1)[1] for u in urls.values()])
        load_before = os.getloadavg()[0]
        transactions = TransactionMeter({s: u.rsplit("/", 1)[1] for s, u in urls.items()})
        statements = StatementMeter(base, env["MC_SERVICE_SECRET"])
        transactions.start()
        statements.start()
        meter.start()
        profilers = _profile(processes, folder)
        generator_cpu = time.process_time()
        done, errors, latencies, elapsed = asyncio.run(_load(url, tokens, cycle_id, points, product_ids, SECONDS))
        generator_cpu = time.process_time() - generator_cpu
        for profiler in profilers:
            profiler.wait()
        load_after = os.getloadavg()[0]
        q = statistics.quantiles(latencies, n=100)
        rate = done / elapsed
        system = ("REDUCED SYSTEM (diagnostic only: no payments, relays off)" if REDUCED
                  else "the whole system, relays on, payments consuming")
        print(f"placement {'direct to orders' if 'api/' not in url else 'through the gateway'}, {system}: "
              f"{CLIENTS} clients, 3-line orders, {elapsed:.1f} s, {workers_per_service} worker(s) per service")
        print(f"  orders placed: {done}, refused: {errors}")
        print(f"  {rate:.0f} orders/s (goal >= 200)   p50 {q[49] * 1000:.0f} ms   p99 {q[98] * 1000:.0f} ms "
              f"(goal < 500 ms)")
        print(f"  machine load average {load_before:.1f} -> {load_after:.1f} on {os.cpu_count()} cores "
              f"(figures are only comparable at similar load); the load generator itself: "
              f"{generator_cpu * 1000 / max(done, 1):.2f} ms CPU per order")
        if WITH_EVENTS:
            asyncio.run(_report_event_lag(base))
        spent = meter.stop()
        print("  CPU from the start of the window until every event it caused was consumed (goal <= 8 ms for the services):")
        print_cpu_per_unit(spent, done, "order")
        print_database_work_per_unit(transactions.stop(), statements.stop(), done, "order",
                                     workers=workers_per_service)
        print("  resident memory (MB, goal < 150 per process): "
              + "   ".join(f"{s} {rss_mb(p.pid):.0f}" for s, p in zip(SERVICES, processes, strict=True)))
    finally:
        stop(processes)
        if WITH_EVENTS and EVENTS_URL.startswith("nats://"):
            asyncio.run(_delete_stream(f"MERCADO_{installation}"))


async def _event_backlog(client, base: dict[str, str]) -> dict[str, dict]:
    """Per service: outbox events not yet published, and its consumer's events not yet handled."""
    backlog = {}
    for name in SERVICES[:-1]:
        health = (await client.get(f"{base[name]}/healthz")).json()
        consumer = health.get("consumer") or {}
        backlog[name] = {"outbox": health.get("outbox", {}).get("pending", 0),
                         "consumer": consumer.get("pending"), "age": consumer.get("oldest_age_seconds"),
                         "parked": consumer.get("parked", 0)}
    return backlog


def _profile(processes, folder: Path) -> list:
    """With BENCH_PROFILE=1: py-spy samples each process over the timed window into
    <folder>/profile-<process>.txt (collapsed stacks, one line per stack: flamegraph.pl or speedscope
    read them); BENCH_LOG_DIR keeps the folder."""
    if os.environ.get("BENCH_PROFILE") != "1":
        return []
    import shutil
    import subprocess

    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return [subprocess.Popen([spy, "record", "--pid", str(p.pid), "--duration", str(int(SECONDS)), "--rate", "100",
                              "--subprocesses", "--nonblocking", "--format", "raw",
                              "--output", str(folder / f"profile-{s}.txt")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for s, p in zip(SERVICES, processes, strict=True)]


async def _wait_caught_up(base: dict[str, str]) -> None:
    import httpx

    async with httpx.AsyncClient(timeout=10) as client:
        deadline = time.perf_counter() + CATCH_UP_LIMIT
        while time.perf_counter() < deadline:
            if all(b["outbox"] == 0 and not b["consumer"] for b in (await _event_backlog(client, base)).values()):
                return
            await asyncio.sleep(0.5)


async def _report_event_lag(base: dict[str, str]) -> None:
    """At the end of the load: each service's backlog, then the seconds until every one is empty."""
    import httpx

    transport = "NATS JetStream" if EVENTS_URL.startswith("nats://") else "HTTP"
    async with httpx.AsyncClient(timeout=10) as client:
        started = time.perf_counter()
        backlog = await _event_backlog(client, base)
        print(f"events over {transport}, at the end of the load:")
        for name, b in backlog.items():
            lag = "no consumer" if b["consumer"] is None else (
                f"consumer lag {b['consumer']} event(s), oldest {b['age'] or 0:.1f} s")
            print(f"  {name:9} outbox {b['outbox']:6} unpublished   {lag}")
        while time.perf_counter() - started < CATCH_UP_LIMIT:
            if all(b["outbox"] == 0 and not b["consumer"] for b in backlog.values()):
                parked = sum(b["parked"] for b in backlog.values())
                print(f"  every consumer caught up {time.perf_counter() - started:.1f} s after the load "
                      f"({parked} parked)")
                return
            await asyncio.sleep(0.5)
            backlog = await _event_backlog(client, base)
        waiting = {name: b for name, b in backlog.items() if b["outbox"] or b["consumer"]}
        print(f"  NOT caught up after {CATCH_UP_LIMIT:.0f} s: {waiting}")


async def _delete_stream(name: str) -> None:
    import nats

    try:
        nc = await nats.connect(EVENTS_URL, connect_timeout=2, max_reconnect_attempts=1)
        try:
            await nc.jetstream().delete_stream(name)
        finally:
            await nc.close()
    except Exception as exc:
        print(f"could not delete the stream {name}: {exc!r}")


async def _fill_cycle(url: str) -> int:
    from sqlalchemy import insert

    from services.common.db import Database
    from services.common.tables import utcnow
    from services.orders.models import cycles, order_lines, orders

    db = Database.from_url(url)
    rng = random.Random(11)
    now = utcnow()
    per_order = 3
    try:
        async with db.session() as s:
            cycle_id = (await s.execute(insert(cycles).values(
                name="Ciclo de 100k líneas", coordinator_account_id=1, status="closed", opens_at=now - timedelta(days=3),
                closes_at=now - timedelta(hours=1), delivery_date=now.date(), point_ids=list(range(1, 21)),
                point_capacity={}, product_ids=None, fee_rules=[], created_at=now, closed_at=now)
                .returning(cycles.c.id))).scalar_one()
        n_orders = LINES // per_order
        started = time.perf_counter()
        batch = 2000
        for first in range(0, n_orders, batch):
            async with db.session() as s:
                count = min(batch, n_orders - first)
                ids = (await s.execute(insert(orders).returning(orders.c.id), [dict(
                    cycle_id=cycle_id, consumer_account_id=10_000 + (first + k), consumer_name=f"Consumidora {first + k}",
                    delivery_point_id=1 + (first + k) % 20, status="placed", request_hash="bench", request={},
                    line_count=per_order, pickup_code=f"C{first + k:07d}", subtotal=0, fees_total=0, total=0, fees=[],
                    created_at=now, placed_at=now, updated_at=now) for k in range(count)])).scalars().all()
                rows = []
                for k, order_id in enumerate(ids):
                    for pos in range(1, per_order + 1):
                        # a big cycle: 300 producers offering 5 products each, 20 delivery points
                        producer = rng.randrange(1, 301)
                        product = producer * 10 + rng.randrange(5)
                        q = Decimal(rng.randint(1, 5))
                        rows.append(dict(
                            order_id=order_id, line_id=f"{order_id}-{pos}", position=pos, cycle_id=cycle_id,
                            delivery_point_id=1 + (first + k) % 20, product_id=product, product_name=f"Producto {product}",
                            category="tuberculos", unit="kg" if product % 2 else "unidad", unit_price=1500,
                            quantity=q, tolerance=Decimal(0), line_total=1500 * int(q),
                            kg_per_unit=None if product % 2 else Decimal("0.5"), producer_id=producer,
                            producer_name=f"Productora {producer}", organization_id=producer % 25 or None,
                            producer_lat=-16.5, producer_lon=-68.1))
                await s.execute(insert(order_lines), rows)
        print(f"consolidation: {n_orders * per_order} order lines in {n_orders} orders "
              f"(inserted in {time.perf_counter() - started:.1f} s)")
    finally:
        await db.dispose()
    return cycle_id


async def _measure_consolidation(url: str, cycle_id: int) -> None:
    from sqlalchemy import text

    from services.common.db import Database
    from services.orders.consolidation import build_consolidation, pick_lists, pick_rows

    db = Database.from_url(url)
    try:
        async with db.session() as s:
            await s.execute(text("ANALYZE order_lines"))
            await s.execute(text("ANALYZE orders"))
        plain_sql = text(
            "SELECT l.producer_id, l.product_id, l.delivery_point_id, sum(coalesce(l.allocated_quantity, l.quantity)),"
            " sum(l.line_total) FROM order_lines l JOIN orders o ON o.id = l.order_id"
            " WHERE l.cycle_id = :c AND o.status IN ('placed','packed','ready','picked_up','no_show')"
            " GROUP BY l.producer_id, l.product_id, l.delivery_point_id")

        cpu_of = "this process + its PostgreSQL backend"

        async def once(fn) -> tuple[float, float]:
            """Wall seconds, and CPU seconds of this process plus its PostgreSQL backend (which hold
            on a shared machine where the wall clock does not; this process only if PostgreSQL runs
            elsewhere)."""
            nonlocal cpu_of
            async with db.session() as s:
                backend = (await s.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                if not is_local_postgres(backend):
                    backend, cpu_of = None, "this process only: PostgreSQL is not on this machine"

                def backend_cpu() -> float:
                    return 0.0 if backend is None else cpu_seconds(backend)

                c0, b0, t0 = time.process_time(), backend_cpu(), time.perf_counter()
                await fn(s)
                wall = time.perf_counter() - t0
                return wall, time.process_time() - c0 + backend_cpu() - b0

        async def plain(s):
            (await s.execute(plain_sql, {"c": cycle_id})).all()

        async def picks(s):
            pick_lists(await pick_rows(session=s, cycle_id=cycle_id))

        async def full(s):
            await build_consolidation(session=s, cycle_id=cycle_id)

        # interleaved rounds: the machine's other load hits all three alike
        times: dict[str, list[tuple[float, float]]] = {"plain": [], "picks": [], "full": []}
        load_before = os.getloadavg()[0]
        for _ in range(ROUNDS):
            for name, fn in (("plain", plain), ("picks", picks), ("full", full)):
                times[name].append(await once(fn))
        load_after = os.getloadavg()[0]
        median = {name: statistics.median(w for w, _ in t) for name, t in times.items()}
        best = {name: min(w for w, _ in t) for name, t in times.items()}
        cpu = {name: statistics.median(c for _, c in t) for name, t in times.items()}

        def figure(name: str) -> str:
            return (f"median {median[name] * 1000:.0f} ms, best {best[name] * 1000:.0f} ms, "
                    f"CPU {cpu[name] * 1000:.0f} ms (median, {cpu_of})")

        def ratio(name: str) -> str:
            return (f"{median[name] / median['plain']:.2f}x plain by the medians, {best[name] / best['plain']:.2f}x "
                    f"by the bests, {cpu[name] / cpu['plain']:.2f}x by CPU")

        print(f"  {ROUNDS} interleaved rounds; machine load average {load_before:.1f} -> {load_after:.1f} "
              f"on {os.cpu_count()} cores")
        print(f"  plain SQL aggregation: {figure('plain')}")
        print(f"  pick lists + organization totals: {figure('picks')} ({ratio('picks')}; goal <= 2x)")
        print(f"  whole document with every bag's lines: {figure('full')} ({ratio('full')})")
    finally:
        await db.dispose()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-orders-") as tmp:
        folder = Path(os.environ.get("BENCH_LOG_DIR") or tmp)  # BENCH_LOG_DIR keeps the services' logs
        folder.mkdir(parents=True, exist_ok=True)
        if os.environ.get("BENCH_SKIP_PLACEMENT") != "1":
            for workers in WORKER_COUNTS:  # fresh databases for each run
                with temporary_databases("bench_orders", SERVICES) as urls:
                    run = folder / f"workers-{workers}"
                    run.mkdir(exist_ok=True)
                    placement(run, urls, workers)
        if os.environ.get("BENCH_SKIP_CONSOLIDATION") == "1":
            return
        with temporary_databases("bench_orders", ["orders"]) as urls:
            cycle_id = asyncio.run(_fill_cycle(urls["orders"]))
            asyncio.run(_measure_consolidation(urls["orders"], cycle_id))


if __name__ == "__main__":
    main()
