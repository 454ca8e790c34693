"""What the benchmarks share: temporary PostgreSQL databases and services run as uvicorn processes.

Not a benchmark itself: `python -m bench` skips modules whose name starts with an underscore.
"""

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from services.common.migrations import upgrade

ADMIN_URL = (os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("TEST_POSTGRES_URL")
             or "postgresql://postgres@127.0.0.1:5432/postgres")


def dsn(url: str) -> str:
    """The URL as asyncpg takes it (no SQLAlchemy driver suffix)."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def admin_sql(sql: str) -> None:
    """Run one statement (CREATE/DROP DATABASE, ...) on the administration database ADMIN_URL."""
    async def run() -> None:
        conn = await asyncpg.connect(dsn(ADMIN_URL), timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@contextmanager
def temporary_databases(prefix: str, services: Iterable[str]) -> Iterator[dict[str, str]]:
    """Create one PostgreSQL database per service next to ADMIN_URL, migrate each to head, yield
    `{service: SQLAlchemy URL}`, and drop them all WITH (FORCE) afterwards, also on error."""
    base = dsn(ADMIN_URL).rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    names = {s: f"{prefix}_{os.getpid()}_{s}" for s in services}
    created = []
    try:
        for service, name in names.items():
            admin_sql(f'CREATE DATABASE "{name}"')
            created.append(name)
            upgrade(service, f"{base}/{name}")
        yield {service: f"{base}/{name}" for service, name in names.items()}
    finally:
        for name in created:
            try:
                admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as exc:
                print(f"could not drop {name}: {exc!r}")


@contextmanager
def service_database(service: str) -> Iterator[str]:
    """`<SERVICE>_DATABASE_URL` when it names a PostgreSQL database (a throwaway one: benchmarks write
    into it), migrated to head; otherwise a temporary database, dropped afterwards."""
    url = os.environ.get(f"{service.upper()}_DATABASE_URL", "")
    if url.startswith("postgres"):
        url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
        upgrade(service, url)
        yield url
        return
    with temporary_databases("mc_bench", [service]) as urls:
        yield urls[service]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(app_path: str, port: int, env: dict[str, str], log: Path, workers: int = 1,
              log_level: str | None = None) -> subprocess.Popen:
    """Start the app factory `module:function` under uvicorn on 127.0.0.1:port, output into `log`."""
    cmd = [sys.executable, "-m", "uvicorn", "--factory", app_path, "--host", "127.0.0.1", "--port", str(port),
           "--no-access-log", "--timeout-graceful-shutdown", "3"]
    if log_level:
        cmd += ["--log-level", log_level]
    if workers != 1:
        cmd += ["--workers", str(workers)]
    return subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)


def wait_ok(url: str, proc: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    """Return once `url` answers 200; raise with the log's tail if `proc` exits first, or after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited at start:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not answering after {seconds:.0f} s")


def stop(processes: Iterable[subprocess.Popen]) -> None:
    """Terminate the processes still running, wait up to 10 s for each, then kill what is left."""
    processes = list(processes)
    for proc in processes:
        if proc.poll() is None:
            proc.terminate()
    for proc in processes:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
