"""Alembic, once for every service: one env.py and template here, one versions folder per service.

Each service keeps its revisions in `services/<name>/migrations/versions` and its own version table
(`alembic_version_<name>`), so the trees never mix even if two services share a PostgreSQL database.

    python -m services.common.migrations upgrade [service ...]
    python -m services.common.migrations revision <service> -m "what changed"
"""

import argparse
import importlib
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData

from services.common.db import normalize_url

ALL = ("gateway", "catalog", "orders", "delivery", "payments")
_MODELS = {name: f"services.{name}.models" for name in ALL[1:]} | {"gateway": "gateway.models"}
_ROOT = Path(__file__).resolve().parents[2]


def versions_dir(service: str) -> Path:
    base = _ROOT / "gateway" if service == "gateway" else _ROOT / "services" / service
    return base / "migrations" / "versions"


def metadata_of(service: str) -> MetaData:
    return importlib.import_module(_MODELS[service]).Base.metadata


def version_table(service: str) -> str:
    return f"alembic_version_{service}"


def settings_of(service: str):
    module = importlib.import_module("gateway.settings" if service == "gateway" else f"services.{service}.settings")
    return module.Settings()


def alembic_config(service: str, url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "alembic"))
    cfg.set_main_option("version_locations", str(versions_dir(service)))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["service"] = service
    cfg.attributes["url"] = normalize_url(url or settings_of(service).database_url)
    return cfg


def upgrade(service: str, url: str | None = None, revision: str = "head") -> None:
    """Upgrade one service's database (call from synchronous code: it runs its own event loop)."""
    command.upgrade(alembic_config(service, url), revision)


def head_revision(service: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(service, "sqlite://")).get_current_head()


async def ensure_migrated(db, service: str) -> None:
    """Fail start-up with a clear message when the database is not at the head revision."""
    head = head_revision(service)

    def _current(sync_conn):
        ctx = MigrationContext.configure(sync_conn, opts={"version_table": version_table(service)})
        return ctx.get_current_revision()

    async with db.session() as session:
        conn = await session.connection()
        current = await conn.run_sync(_current)
    if current != head:
        state = "not migrated" if current is None else f"at revision {current}, code expects {head}"
        raise RuntimeError(f"the {service} database is {state}: run `make migrate` first")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="migrations")
    sub = parser.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("upgrade")
    up.add_argument("services", nargs="*", default=list(ALL))
    rev = sub.add_parser("revision")
    rev.add_argument("service", choices=ALL)
    rev.add_argument("-m", "--message", required=True)
    args = parser.parse_args(argv)
    if args.cmd == "upgrade":
        for service in args.services:
            upgrade(service)
            print(f"migrated {service}")
    else:
        command.revision(alembic_config(args.service), message=args.message, autogenerate=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

