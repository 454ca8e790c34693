"""Back up and restore every service's database (`make backup`, `make restore`).

    python -m infra.backup backup [FOLDER]    # default var/backups/<UTC time>/
    python -m infra.backup restore [FOLDER]   # default the newest folder under var/backups/

Each process's database (catalog, orders, delivery, payments, gateway; URLs from the usual
`<SERVICE>_DATABASE_URL` settings) goes to one file in the folder, with `manifest.json` naming them:
- SQLite (the default): SQLite's online backup API, a consistent copy even while the service runs;
- PostgreSQL: `pg_dump --format=custom`, a consistent snapshot while the service runs.
Restore writes every database back from its file: SQLite through the same backup API, PostgreSQL with
`pg_restore --clean --if-exists` into the database the URL names (it may be a fresh, empty one).
Stop the platform before restoring; start it again afterwards and run `make audit`.
Photos (`var/photos`) are plain files: copy them with the folder.
"""

import argparse
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from services.common.migrations import ALL, settings_of
from services.common.paths import var_dir

MANIFEST = "manifest.json"


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    return Path(parsed.database) if parsed.get_backend_name() == "sqlite" else None


def _libpq_dsn(url: str) -> str:
    """The URL as pg_dump takes it (no SQLAlchemy driver)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _sqlite_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


def backup(folder: Path, services=ALL) -> dict[str, str]:
    """Copy every service's database into `folder`; returns {service: file name}."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for service in services:
        url = settings_of(service).database_url
        path = _sqlite_path(url)
        if path is not None:
            if not path.exists():
                raise RuntimeError(f"{service}: no database at {path}; run `make migrate` first")
            files[service] = f"{service}.sqlite"
            _sqlite_copy(path, folder / files[service])
        else:
            files[service] = f"{service}.dump"
            _run(["pg_dump", "--format=custom", "--no-owner", "--file", str(folder / files[service]),
                  _libpq_dsn(url)])
    (folder / MANIFEST).write_text(json.dumps({"taken_at": datetime.now(UTC).isoformat(), "files": files}, indent=2))
    return files


def restore(folder: Path, services=ALL) -> None:
    """Write every service's database back from the files in `folder` (the platform stopped)."""
    files = json.loads((folder / MANIFEST).read_text())["files"]
    for service in services:
        url = settings_of(service).database_url
        source = folder / files[service]
        path = _sqlite_path(url)
        if path is not None:
            if not source.name.endswith(".sqlite"):
                raise RuntimeError(f"{service}: {source.name} is a PostgreSQL dump; the database is SQLite")
            _sqlite_copy(source, path)
        else:
            if not source.name.endswith(".dump"):
                raise RuntimeError(f"{service}: {source.name} is a SQLite copy; the database is PostgreSQL")
            _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
                  "--dbname", _libpq_dsn(url), str(source)])


def _newest() -> Path:
    folders = sorted(p for p in (var_dir() / "backups").glob("*") if (p / MANIFEST).exists())
    if not folders:
        raise SystemExit("no backup under var/backups; give the folder to restore from")
    return folders[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="backup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("backup", "restore"))
    parser.add_argument("folder", nargs="?", type=Path)
    args = parser.parse_args(argv)
    if args.action == "backup":
        folder = args.folder or var_dir() / "backups" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        files = backup(folder)
        print(f"backed up {', '.join(files)} into {folder}")
    else:
        folder = args.folder or _newest()
        restore(folder)
        print(f"restored {', '.join(ALL)} from {folder}; start the platform and run `make audit`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
