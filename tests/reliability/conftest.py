"""The whole platform as real processes on SQLite or PostgreSQL, with a token for every role."""

import contextlib
from collections.abc import Iterator
from pathlib import Path

from tests.web.platform import Platform, postgres_databases, running_platform

# who logs in for each role (demo accounts, see gateway/demo.py)
DEMO_LOGINS = {"admin": "admin", "coordinator": "coordinacion", "producer": "productor1",
               "consumer": "consumidor1", "financier": "financiera", "municipality": "municipio.lapaz",
               "organization": "organizacion1"}


@contextlib.contextmanager
def live_platform(backend: str, folder: Path, **settings: str) -> Iterator[Platform]:
    """The platform with the demo loaded, on fresh databases of `backend`."""
    with contextlib.ExitStack() as stack:
        urls = stack.enter_context(postgres_databases("mc_live")) if backend == "postgres" else None
        yield stack.enter_context(running_platform(folder, urls, **settings))


def role_tokens(platform: Platform) -> dict[str, str]:
    return {role: platform.login(who) for role, who in DEMO_LOGINS.items()}
