"""What the benchmarks share: temporary PostgreSQL databases and services run as uvicorn processes.

Not a benchmark itself: `python -m bench` skips modules whose name starts with an underscore.
"""

import asyncio
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from services.common.migrations import upgrade
from services.common.serving import uvicorn_command

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




def start_app(app_path: str, port: int, env: dict[str, str], log: Path, workers: int = 1,
              log_level: str | None = None) -> subprocess.Popen:
    """Start the app factory `module:function` under uvicorn on 127.0.0.1:port, output into `log`."""
    cmd = uvicorn_command(app_path, host="127.0.0.1", port=port, workers=workers, log_level=log_level,
                          graceful_seconds=3)
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


# --- what each process spent: CPU time and memory, read from /proc (Linux) -----------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _processes() -> dict[int, tuple[int, float]]:
    """Every process now: pid -> (parent pid, CPU seconds spent in user and kernel mode)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        found[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
    return found


def cpu_seconds(pid: int) -> float:
    """CPU seconds a process has run so far: nanoseconds from /proc/<pid>/schedstat when the kernel
    keeps them (a clock tick is 10 ms, too coarse for one query), else user + kernel ticks."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def is_local_postgres(pid: int) -> bool:
    """Whether `pid` is a PostgreSQL backend on this machine (so its CPU can be read from /proc)."""
    return _cmdline(pid).startswith("postgres:")


def _descendants(root: int, processes: dict[int, tuple[int, float]]) -> set[int]:
    family, grew = {root}, True
    while grew:
        more = {pid for pid, (parent, _) in processes.items() if parent in family} - family
        family |= more
        grew = bool(more)
    return family


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class CpuMeter:
    """CPU seconds of named process trees (a uvicorn process and its workers) and of the PostgreSQL
    backends serving the named databases, between `start()` and `stop()`.

    Per-pid deltas, so a backend that connects during the window counts from zero; one that exits
    during it is lost (the services' connection pools keep theirs open)."""

    def __init__(self, roots: dict[str, int], databases: Iterable[str] = ()):
        self.roots = roots
        self.databases = tuple(databases)
        self.before: dict[int, float] = {}
        self.spent: dict[str, float] = {}

    def _groups(self, processes) -> dict[str, set[int]]:
        groups = {name: _descendants(pid, processes) for name, pid in self.roots.items()}
        if self.databases:
            groups["postgres"] = {pid for pid in processes
                                  if (line := _cmdline(pid)).startswith("postgres:")
                                  and any(f" {db} " in line for db in self.databases)}
        return groups

    def start(self) -> None:
        self.before = {pid: cpu for pid, (_, cpu) in _processes().items()}

    def stop(self) -> dict[str, float]:
        processes = _processes()
        self.spent = {name: sum(processes[pid][1] - self.before.get(pid, 0.0) for pid in pids)
                      for name, pids in self._groups(processes).items()}
        return self.spent


def admin_rows(sql: str, *args) -> list:
    """Rows of one query on the administration database ADMIN_URL."""
    async def run() -> list:
        conn = await asyncpg.connect(dsn(ADMIN_URL), timeout=5)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


class TransactionMeter:
    """Transactions committed or rolled back in named databases between `start()` and `stop()`, from
    pg_stat_database: a count that does not depend on how loaded the machine is, unlike CPU time.
    A backend reports its counts when it goes idle, at most once a second, so `stop()` waits a moment."""

    QUERY = "SELECT datname, xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = ANY($1)"

    def __init__(self, databases: dict[str, str]):
        self.databases = databases  # {service: database name}
        self.before: dict[str, int] = {}

    def _read(self) -> dict[str, int]:
        return {r["datname"]: r["n"] for r in admin_rows(self.QUERY, list(self.databases.values()))}

    def start(self) -> None:
        self.before = self._read()

    def stop(self, settle_seconds: float = 2.0) -> dict[str, int]:
        time.sleep(settle_seconds)
        after = self._read()
        return {s: after.get(db, 0) - self.before.get(db, 0) for s, db in self.databases.items()}


class StatementMeter:
    """SQL statements each service sent between `start()` and `stop()`, from its `/metrics`
    (`db_statements_total`; one worker's count when a service runs several)."""

    def __init__(self, base_urls: dict[str, str], service_secret: str):
        self.base_urls = base_urls
        self.secret = service_secret
        self.before: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        counts = {}
        for service, base in self.base_urls.items():
            request = urllib.request.Request(f"{base}/metrics", headers={"X-Service-Key": self.secret})
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    text = response.read().decode()
            except OSError:
                continue
            counts[service] = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                                  if line.startswith("db_statements_total{"))
        return counts

    def start(self) -> None:
        self.before = self._read()

    def stop(self) -> dict[str, float]:
        after = self._read()
        return {s: after[s] - self.before[s] for s in after if s in self.before}


def print_database_work_per_unit(transactions: dict[str, int], statements: dict[str, float], units: int,
                                 unit: str, workers: int = 1) -> None:
    """Transactions (from PostgreSQL) and statements (from each service) per unit of work: counts that
    do not depend on how loaded the machine is."""
    if not units:
        return
    print(f"  database transactions per {unit}: "
          + "   ".join(f"{s} {n / units:.1f}" for s, n in transactions.items())
          + f"   all {sum(transactions.values()) / units:.1f}")
    if statements and workers > 1:  # /metrics answers from one worker: its share, not the service's
        print(f"  SQL statements per {unit}: not shown with {workers} workers per service (each worker counts its own)")
    elif statements:
        print(f"  SQL statements per {unit} (without begin/commit): "
              + "   ".join(f"{s} {n / units:.1f}" for s, n in statements.items())
              + f"   all {sum(statements.values()) / units:.1f}")


def rss_mb(root: int) -> float:
    """Peak resident memory (high-water mark) of the largest process in a tree (a uvicorn process, or
    the biggest of its workers), in MB."""
    peak = 0
    for pid in _descendants(root, _processes()):
        try:
            with open(f"/proc/{pid}/status") as f:
                peak = max(peak, next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")))
        except (OSError, StopIteration):
            continue
    return peak / 1024


def print_cpu_per_unit(spent: dict[str, float], units: int, unit: str) -> None:
    """One line per process: CPU ms per unit of work, then the services' total and PostgreSQL's."""
    if not units:
        print(f"  no {unit} completed: no CPU per {unit}")
        return
    services = {k: v for k, v in spent.items() if k != "postgres"}
    print(f"  CPU ms per {unit}: " + "   ".join(f"{k} {v * 1000 / units:.1f}" for k, v in services.items()))
    total = sum(services.values()) * 1000 / units
    pg = spent.get("postgres")
    print(f"  CPU ms per {unit}, services together: {total:.1f}"
          + (f"   PostgreSQL backends: {pg * 1000 / units:.1f}   all: {total + pg * 1000 / units:.1f}"
             if pg is not None else ""))
