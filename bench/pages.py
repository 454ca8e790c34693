"""Catalogue pages through the gateway, on PostgreSQL, as a phone reads them.

Creates temporary PostgreSQL databases for the catalogue and the gateway, loads the demo world into
the catalogue, starts both as uvicorn processes the way `make run` does (default log level), then
loads the public catalogue page a shop shows, `GET /api/catalog/products?limit=20` (20 products with
price, stock, producer and certifications), with `wrk` at 32 connections for a fixed time:

1. a client that keeps nothing (every answer a full page): pages/s, p50/p99, CPU ms per page of
   each process and of PostgreSQL, read from /proc over the window;
2. a revalidating client, as a phone's browser is: it sends back the ETag of its last answer in
   If-None-Match; prints the share of 304 answers (nothing re-downloaded) and pages/s.

Goals: >= 1,000 pages/s with p99 < 100 ms for the full page; a revalidating client gets 304 for a
page that did not change. Needs `wrk` (Debian's package) and PostgreSQL (BENCH_POSTGRES_URL or
TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/postgres).

    python -m bench pages       BENCH_SECONDS=10 BENCH_CONNECTIONS=32 BENCH_WORKERS=1
"""

import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path

from bench._support import CpuMeter, print_cpu_per_unit, rss_mb, start_app, stop, temporary_databases, wait_ok
from infra.ports import free_ports

SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "1"))
PATH = "/api/catalog/products?limit=20"
APPS = {"catalog": "services.catalog.app:create_app", "gateway": "gateway.app:create_app"}

REVALIDATING = """
threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) counts = {}; etag = nil end
function request()
  if etag then return wrk.format(nil, nil, {["If-None-Match"] = etag}) end
  return wrk.format()
end
function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  etag = headers["ETag"] or headers["etag"] or etag
end
function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    local c = thread:get("counts")
    for status, n in pairs(c) do totals[status] = (totals[status] or 0) + n end
  end
  for status, n in pairs(totals) do io.write(string.format("status %d %d\\n", status, n)) end
end
"""


def _wrk(url: str, script: Path | None = None) -> dict:
    cmd = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS:.0f}s", "--latency", "--timeout", "10s"]
    if script:
        cmd += ["-s", str(script)]
    run = subprocess.run([*cmd, url], capture_output=True, text=True)
    if run.returncode:
        raise RuntimeError(f"wrk failed: {run.stderr or run.stdout}")
    out = run.stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))

    def percentile(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    statuses = {int(s): int(n) for s, n in re.findall(r"status (\d+) (\d+)", out)}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rate": rate, "total": total, "p50": percentile("50"), "p99": percentile("99"),
            "statuses": statuses, "errors": int(non2xx.group(1)) if non2xx else 0}


def main() -> None:
    if not shutil.which("wrk"):
        print("pages: wrk is not installed (apt-get install wrk); skipped")
        return
    from infra import demo
    from services.common.keys import ensure_signing_keys

    with tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp, \
            temporary_databases("mc_pages", ["catalog", "gateway"]) as urls:
        folder = Path(tmp)
        asyncio.run(demo.load(["catalog"], scale=False, seed=7, urls=urls))
        ports = dict(zip(APPS, free_ports(len(APPS)), strict=True))
        base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        (folder / "keys").mkdir()
        private, public = ensure_signing_keys(folder / "keys" / "jwt_private.pem", folder / "keys" / "jwt_public.pem")
        env = {**os.environ, "MC_VAR_DIR": str(folder), "MC_SERVICE_SECRET": "bench-secret",
               "MC_JWT_PRIVATE_KEY_PATH": str(private), "MC_JWT_PUBLIC_KEY_PATH": str(public),
               "GATEWAY_RATE_LIMIT_PER_ADDRESS": "1000000000", "GATEWAY_RATE_LIMIT_PER_ACCOUNT": "1000000000"}
        for name in APPS:
            env[f"{name.upper()}_DATABASE_URL"] = urls[name]
            env[f"{name.upper()}_URL"] = base[name]
        env["CATALOG_WORKERS"] = str(WORKERS)  # each worker takes its share of the connection budget
        processes = {}
        try:
            for name, app in APPS.items():
                log = folder / f"{name}.log"
                processes[name] = start_app(app, ports[name], env, log, workers=WORKERS if name == "catalog" else 1)
                wait_ok(f"{base[name]}/healthz", processes[name], log)
            url = base["gateway"] + PATH
            with urllib.request.urlopen(url, timeout=10) as response:
                page = response.read()
                etag = response.headers.get("ETag")
                cache = response.headers.get("Cache-Control")
            print(f"catalogue page through the gateway: {PATH} ({len(page) / 1024:.1f} KB), {CONNECTIONS} "
                  f"connections, {SECONDS:.0f} s, catalogue with {WORKERS} worker(s); ETag {etag or 'none'}, "
                  f"Cache-Control {cache or 'none'}")
            _wrk(url)  # warm-up
            meter = CpuMeter({name: p.pid for name, p in processes.items()}, [u.rsplit("/", 1)[1] for u in urls.values()])
            load_before = os.getloadavg()[0]
            meter.start()
            full = _wrk(url)
            spent = meter.stop()
            print(f"  full pages: {full['rate']:.0f} pages/s (goal >= 1,000)   p50 {full['p50']:.1f} ms   "
                  f"p99 {full['p99']:.1f} ms (goal < 100 ms)   errors {full['errors']}")
            print_cpu_per_unit(spent, full["total"], "page")
            script = folder / "revalidating.lua"
            script.write_text(REVALIDATING)
            again = _wrk(url, script)
            answered = sum(again["statuses"].values()) or 1
            share = again["statuses"].get(304, 0) / answered
            print(f"  revalidating client: {again['rate']:.0f} answers/s   p50 {again['p50']:.1f} ms   "
                  f"p99 {again['p99']:.1f} ms   304 share {share:.1%} "
                  f"(statuses {dict(sorted(again['statuses'].items()))})")
            print(f"  machine load average {load_before:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
            print("  peak resident memory (MB, goal < 150 per process): "
                  + "   ".join(f"{name} {rss_mb(p.pid):.0f}" for name, p in processes.items()))
        finally:
            stop(processes.values())


if __name__ == "__main__":
    main()
