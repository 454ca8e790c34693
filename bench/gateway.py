"""Throughput of the gateway's proxy against the service called directly, on the same endpoint.

Starts the catalog service and the gateway as uvicorn processes on free local ports (SQLite in a
temporary folder, or PostgreSQL when CATALOG_DATABASE_URL is set), then loads one light catalog
endpoint directly and as `/api/catalog/...` through the gateway, alternating, and prints both
figures and their ratio. Our goal: gateway/direct >= 0.60. The endpoint is `BENCH_PATH`, else the
first of LIGHT_PATHS that answers 200: `/categories` needs no database, so the proxy's own cost
shows fully; `/healthz` makes a database round trip.

Uses `wrk` when it is installed (it barely takes CPU from the processes it measures), otherwise a
bounded aiohttp load generator. Load goes to 127.0.0.1 only, for a fixed time.

    python -m bench gateway          BENCH_SECONDS=10 BENCH_CONNECTIONS=32 BENCH_PATH=/healthz
"""

import asyncio
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from bench._support import start_app, stop, wait_ok
from infra.ports import free_ports

SECONDS = float(os.environ.get("BENCH_SECONDS", "8"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
GOAL = 0.60
LIGHT_PATHS = ("/categories", "/healthz")


def _answers_200(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def _wrk(url: str, seconds: float) -> tuple[float, str]:
    out = subprocess.run(["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--latency", url],
                         capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"errors while loading {url}:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    return rps, f"p50 {p50.group(1) if p50 else '?'}, p99 {p99.group(1) if p99 else '?'}"


async def _aiohttp_load(url: str, seconds: float) -> tuple[float, str]:
    import aiohttp

    done = 0
    errors = 0
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(session):
        nonlocal done, errors
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            async with session.get(url) as response:
                await response.read()
                if response.status == 200:
                    done += 1
                else:
                    errors += 1
            latencies.append(time.perf_counter() - started)

    timeout = aiohttp.ClientTimeout(total=10)
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(CONNECTIONS)))
        elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{errors} answers were not 200 while loading {url}")
    quantiles = statistics.quantiles(latencies, n=100)
    return done / elapsed, f"p50 {quantiles[49] * 1000:.2f}ms, p99 {quantiles[98] * 1000:.2f}ms"


def measure(url: str, seconds: float) -> tuple[float, str]:
    if shutil.which("wrk"):
        return _wrk(url, seconds)
    return asyncio.run(_aiohttp_load(url, seconds))


def main() -> None:
    from services.common.migrations import upgrade

    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        folder = Path(tmp)
        catalog_port, gateway_port = free_ports(2)
        catalog_db = os.environ.get("CATALOG_DATABASE_URL") or f"sqlite+aiosqlite:///{folder / 'catalog.db'}"
        gateway_db = f"sqlite+aiosqlite:///{folder / 'gateway.db'}"
        upgrade("catalog", catalog_db)
        upgrade("gateway", gateway_db)
        env = {**os.environ, "MC_VAR_DIR": str(folder), "MC_SERVICE_SECRET": "bench-secret",
               "CATALOG_DATABASE_URL": catalog_db, "GATEWAY_DATABASE_URL": gateway_db,
               "CATALOG_URL": f"http://127.0.0.1:{catalog_port}", "CATALOG_RELAY_ENABLED": "false",
               # one client address and no account: lift the limits, keep the limiter's work
               "GATEWAY_RATE_LIMIT_PER_ADDRESS": "1000000000", "GATEWAY_RATE_LIMIT_PER_ACCOUNT": "1000000000"}
        # the gateway generates the key pair the catalog verifies with: start it first
        gateway = start_app("gateway.app:create_app", gateway_port, env, folder / "gateway.log")
        processes = [gateway]
        try:
            wait_ok(f"http://127.0.0.1:{gateway_port}/healthz", gateway, folder / "gateway.log")
            catalog = start_app("services.catalog.app:create_app", catalog_port, env, folder / "catalog.log")
            processes.append(catalog)
            wait_ok(f"http://127.0.0.1:{catalog_port}/healthz", catalog, folder / "catalog.log")
            candidates = [os.environ["BENCH_PATH"]] if os.environ.get("BENCH_PATH") else LIGHT_PATHS
            path = next((p for p in candidates if _answers_200(f"http://127.0.0.1:{catalog_port}{p}")), None)
            if path is None:
                raise RuntimeError(f"none of {', '.join(candidates)} answers 200 on the catalog")
            direct_url = f"http://127.0.0.1:{catalog_port}{path}"
            proxied_url = f"http://127.0.0.1:{gateway_port}/api/catalog{path}"
            wait_ok(proxied_url, gateway, folder / "gateway.log")
            tool = "wrk" if shutil.which("wrk") else "aiohttp load generator"
            backend = "postgresql" if catalog_db.startswith("postgresql") else "sqlite"
            limiter = "redis" if os.environ.get("REDIS_URL") else "memory"
            print(f"catalog GET {path} ({backend}), {tool}, {CONNECTIONS} connections, "
                  f"{ROUNDS} x {SECONDS:.0f} s each way, rate-limit counters in {limiter}", flush=True)
            measure(direct_url, 2)  # warm-up: connections, caches, the gateway's pool
            measure(proxied_url, 2)
            direct, proxied, ratios = [], [], []
            for _ in range(ROUNDS):  # alternate, so background load hits both alike within a round
                d_rps, d_latency = measure(direct_url, SECONDS)
                g_rps, g_latency = measure(proxied_url, SECONDS)
                direct.append(d_rps)
                proxied.append(g_rps)
                ratios.append(g_rps / d_rps)
                print(f"  direct {d_rps:7.0f} req/s ({d_latency})   gateway {g_rps:7.0f} req/s ({g_latency})"
                      f"   ratio {ratios[-1]:.2f}", flush=True)
            d, g = statistics.median(direct), statistics.median(proxied)
            ratio = statistics.median(ratios)  # per round: robust to load that changes between rounds
            print(f"direct {d:.0f} req/s, through the gateway {g:.0f} req/s (medians), ratio {ratio:.2f} "
                  f"(median of rounds; goal >= {GOAL:.2f}: {'met' if ratio >= GOAL else 'NOT met'})", flush=True)
        finally:
            stop(processes)


if __name__ == "__main__":
    main()
