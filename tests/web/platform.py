"""The whole platform as real processes (browser, live fuzzing, audit and backup tests): the four
services and the gateway, each a uvicorn server on a free port, on fresh SQLite files in a temporary
folder (or on fresh PostgreSQL databases with `backend="postgres"`), migrated and loaded with the
demo world (accounts with the password `demo1234`), events relayed over HTTP.

    with running_platform(tmp_path) as platform:
        platform.url  # the gateway, e.g. http://127.0.0.1:40123
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from infra.ports import free_ports
from services.common.keys import ensure_signing_keys
from services.common.serving import uvicorn_command

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("catalog", "orders", "delivery", "payments")
START_ORDER = (*SERVICES, "gateway")
APPS = {name: "gateway.app:create_app" if name == "gateway" else f"services.{name}.app:create_app"
        for name in START_ORDER}
DEMO_PASSWORD = "demo1234"
DEMO_DOMAIN = "demo.mercadocorto.bo"




def api_request(url: str, method: str, *, token: str | None = None, body=None,
                key: str | None = None) -> urllib.request.Request:
    """A JSON request as a client sends it: bearer token and Idempotency-Key when given."""
    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if key:
        req.add_header("Idempotency-Key", key)
    return req


@dataclass
class Platform:
    folder: Path
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def service_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    # --- API helpers for setting the scene (the same calls a client makes) ---

    def request(self, method: str, path: str, *, token: str | None = None, body: dict | None = None,
                key: str | None = None) -> dict:
        req = api_request(self.url + path, method, token=token, body=body, key=key)
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path} -> {exc.code}: {exc.read()[:500]!r}") from None
        return json.loads(raw) if raw else {}

    def login(self, who: str) -> str:
        return self.request("POST", "/api/auth/login", body={"login": f"{who}@{DEMO_DOMAIN}",
                                                             "password": DEMO_PASSWORD})["access_token"]


def sqlite_urls(folder: Path) -> dict[str, str]:
    return {name: f"sqlite+aiosqlite:///{folder / (name + '.db')}" for name in START_ORDER}


def _environment(folder: Path, ports: dict[str, int], urls: dict[str, str] | None = None,
                 extra: dict[str, str] | None = None) -> dict[str, str]:
    (folder / "keys").mkdir(parents=True, exist_ok=True)
    private, public = ensure_signing_keys(folder / "keys" / "jwt_private.pem", folder / "keys" / "jwt_public.pem")
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_DATABASE_URL", "_PORT", "_URL"))}
    env.update({
        "MC_VAR_DIR": str(folder / "var"),
        "MC_SERVICE_SECRET": "browser-test-service-secret",
        "MC_JWT_PRIVATE_KEY_PATH": str(private),
        "MC_JWT_PUBLIC_KEY_PATH": str(public),
        "MC_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        "GATEWAY_RATE_LIMIT_AUTH_PER_ADDRESS": "1000",
        "ORDERS_DUTIES_INTERVAL_SECONDS": "1",
    })
    env.pop("EVENTS_URL", None)
    env.pop("REDIS_URL", None)
    env.pop("MC_TODAY", None)
    env.update(extra or {})
    urls = urls or sqlite_urls(folder)
    for name, port in ports.items():
        env[f"{name.upper()}_DATABASE_URL"] = urls[name]
        env[f"{name.upper()}_PORT"] = str(port)
        # services ask the gateway for revoked tokens (GATEWAY_URL) like they call each other, and
        # their relays deliver the events of its notifications there
        env[f"{name.upper()}_URL"] = f"http://127.0.0.1:{port}"
    return env


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.HTTPError):
        return False


def _run(cmd: list[str], env: dict[str, str], what: str, folder: Path) -> None:
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    (folder / f"{what}.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}):\n{(done.stdout + done.stderr)[-3000:]}")


def migrate(folder: Path, urls: dict[str, str] | None = None) -> None:
    """Upgrade the five databases (SQLite files in `folder` unless `urls` names others)."""
    folder.mkdir(parents=True, exist_ok=True)
    env = _environment(folder, {name: 0 for name in START_ORDER}, urls)
    _run([sys.executable, "-m", "services.common.migrations", "upgrade"], env, "migrate", folder)


def spawn(platform: Platform, name: str) -> None:
    """Start (or start again) one process of the platform on its port, with `<NAME>_WORKERS` uvicorn
    workers as `make run` (infra/run.py) gives it (one by default)."""
    workers = platform.env.get(f"{name.upper()}_WORKERS", "1")
    with open(platform.folder / f"{name}.log", "ab") as log:  # the child keeps its own copy of the handle
        platform.processes[name] = subprocess.Popen(
            uvicorn_command(APPS[name], host="127.0.0.1", port=platform.ports[name], workers=workers),
            env=platform.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def restart(platform: Platform, name: str, **settings: str) -> None:
    """Stop one process as a deploy does (SIGTERM), give it `settings` (environment variables) and
    start it again; return once it is healthy."""
    process = platform.processes[name]
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)
    platform.env.update(settings)
    spawn(platform, name)
    wait_healthy(platform, [name])


def worker_pids(platform: Platform, name: str) -> list[int]:
    """The uvicorn workers of one process started with several (its children serving requests); [] with one."""
    parent = platform.processes[name].pid
    try:
        children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    except OSError:
        return []
    found = []
    for pid in map(int, children):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline:  # not multiprocessing's resource tracker
            found.append(pid)
    return sorted(found)


def wait_healthy(platform: Platform, names, seconds: float = 90) -> None:
    """Return once every process in `names` answers /healthz; stop the platform and raise otherwise."""
    deadline = time.monotonic() + seconds
    waiting = set(names)
    ports = platform.ports
    while waiting and time.monotonic() < deadline:
        for name in list(waiting):
            if platform.processes[name].poll() is not None:
                stop(platform)
                raise RuntimeError(f"{name} exited at start:\n{platform.log(name)}")
            if _healthy(ports[name]):
                waiting.discard(name)
        time.sleep(0.3)
    if waiting:
        logs = "\n".join(f"--- {n}\n{platform.log(n)}" for n in sorted(waiting))
        stop(platform)
        raise RuntimeError(f"not healthy after {seconds:.0f} s: {sorted(waiting)}\n{logs}")


def start(folder: Path, *, urls: dict[str, str] | None = None, extra_env: dict[str, str] | None = None,
          migrated: bool = False, demo: bool = True) -> Platform:
    """Migrate (unless `migrated`), load the demo world (unless `demo` is false: loaded already) and
    start every process. `urls`: the five databases (default: SQLite files in `folder`);
    `extra_env`, e.g. {"MC_TODAY": "2026-11-28"}."""
    folder.mkdir(parents=True, exist_ok=True)
    ports = dict(zip(START_ORDER, free_ports(len(START_ORDER)), strict=True))
    env = _environment(folder, ports, urls, extra_env)
    platform = Platform(folder, ports, env=env)
    if not migrated:
        _run([sys.executable, "-m", "services.common.migrations", "upgrade"], env, "migrate", folder)
    if demo:
        _run([sys.executable, "-m", "infra.demo"], env, "demo", folder)
    for name in START_ORDER:
        spawn(platform, name)
    wait_healthy(platform, START_ORDER)
    return platform


def stop(platform: Platform) -> None:
    for proc in platform.processes.values():
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    for proc in platform.processes.values():
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def running_platform(folder: Path, urls: dict[str, str] | None = None, *, demo: bool = True,
                     **settings: str) -> Iterator[Platform]:
    """The platform on fresh databases (SQLite files unless `urls`), demo loaded (unless `demo` is
    false: databases restored from a backup); `settings` are extra environment variables."""
    try:
        platform = start(folder / "1", urls=urls, extra_env=settings, demo=demo)
    except RuntimeError:  # a free port taken meanwhile by another process: one more try on new ports
        platform = start(folder / "2", urls=urls, extra_env=settings, demo=demo)
    try:
        yield platform
    finally:
        stop(platform)


@contextlib.contextmanager
def postgres_databases(prefix: str) -> Iterator[dict[str, str]]:
    """One empty PostgreSQL database per process of the platform (`{name: URL}`), dropped afterwards."""
    import asyncio

    from tests.conftest import PG_ADMIN_URL, _pg_execute, _with_database, require_postgres

    require_postgres()
    names = {name: f"{prefix}_{os.getpid()}_{name}" for name in START_ORDER}
    try:
        for name in names.values():
            asyncio.run(_pg_execute(PG_ADMIN_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            asyncio.run(_pg_execute(PG_ADMIN_URL, f'CREATE DATABASE "{name}"'))
        yield {service: _with_database(PG_ADMIN_URL, name).replace("postgresql://", "postgresql+asyncpg://", 1)
               for service, name in names.items()}
    finally:
        for name in names.values():
            with contextlib.suppress(Exception):
                asyncio.run(_pg_execute(PG_ADMIN_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
