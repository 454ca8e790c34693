"""Servers a test owns and may stop and start at will: a private PostgreSQL cluster (initdb/pg_ctl on
its own port and folder, never the machine's shared server) and a private NATS JetStream server.

    with private_postgres() as pg:      # pg.urls(prefix, names) -> {name: asyncpg URL}
        pg.restart()                    # immediate stop (no clean shutdown: crash recovery), start
    with private_nats() as nats:        # nats.url
        nats.restart()
"""

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from infra.ports import free_port

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def postgres_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


def private_servers_missing() -> str | None:
    """Why a private PostgreSQL and NATS cannot be started here (None when they can)."""
    if postgres_bin() is None:
        return "no PostgreSQL server binaries (initdb, pg_ctl)"
    if not os.path.exists(NATS_SERVER):
        return "no nats-server binary"
    return None


def _as_owner(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the `postgres` account."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass
class PrivatePostgres:
    folder: Path
    port: int
    bin: Path

    def _ctl(self, *args: str, timeout: float = 120) -> None:
        subprocess.run(_as_owner([str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), *args]),
                       check=True, capture_output=True, timeout=timeout)

    def start(self) -> None:
        self._ctl("-l", str(self.folder / "postgres.log"), "-w", "-t", "120", "start",
                  "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
                        "-c fsync=off -c full_page_writes=off -c max_connections=200")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-w", "-t", "60", "-m", mode, "stop")

    def restart(self) -> float:
        """Stop at once (as a crash would: the next start replays the log) and start; seconds it took."""
        began = time.monotonic()
        self.stop("immediate")
        self.start()
        return time.monotonic() - began

    def urls(self, prefix: str, names) -> dict[str, str]:
        """One fresh database per name: {name: asyncpg URL}."""
        import asyncpg

        async def create() -> None:
            conn = await asyncpg.connect(host="127.0.0.1", port=self.port, user="postgres", database="postgres")
            try:
                for name in names:
                    await conn.execute(f'CREATE DATABASE "{prefix}_{name}"')
            finally:
                await conn.close()

        asyncio.run(create())
        return {name: f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{prefix}_{name}" for name in names}


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    # its own folder under the system's temporary one: the `postgres` account must reach it
    folder = Path(tempfile.mkdtemp(prefix="mc-pg-"))
    try:
        (folder / "data").mkdir()
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            for path in (folder, folder / "data"):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        server = PrivatePostgres(folder, free_port(), postgres_bin())
        subprocess.run(_as_owner([str(server.bin / "initdb"), "-D", str(folder / "data"), "-U", "postgres",
                                  "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"]),
                       check=True, capture_output=True, timeout=180)
        server.start()
        try:
            yield server
        finally:
            with contextlib.suppress(Exception):
                server.stop("immediate")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class PrivateNats:
    folder: Path
    port: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.folder / "nats.log", "ab") as log:
            self.process = subprocess.Popen(
                [NATS_SERVER, "-js", "-sd", str(self.folder / "store"), "-a", "127.0.0.1", "-p", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                import socket

                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            time.sleep(0.1)
        raise RuntimeError("nats-server did not listen within 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def restart(self) -> float:
        began = time.monotonic()
        self.stop()
        self.start()
        return time.monotonic() - began


@contextlib.contextmanager
def private_nats(folder: Path) -> Iterator[PrivateNats]:
    folder.mkdir(parents=True, exist_ok=True)
    server = PrivateNats(folder, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
