"""Load the demo world into every service's own database (`make demo`).

Each service loads its part through its own `demo.load_demo(db, world)`; running this twice changes
nothing. `--scale` builds the benchmark sizes (10k producers, 100k products). The world's cycles are
dated from today (`MC_TODAY=YYYY-MM-DD` loads it as on another day); a world whose cycles deliver on a
day their points are closed is refused before anything is written.

Demo data never reaches production: with `MC_ENV=production` it refuses to run (every demo account
shares a published password). A production installation creates its first administrator with
`python -m gateway.admin create-admin` instead (gateway/README.md).
"""

import argparse
import asyncio
import importlib
import os
import sys
import time

from infra.demo_world import DemoWorldError, build_world, check_calendar
from services.common import clock
from services.common.db import Database
from services.common.migrations import ALL, settings_of


def _loader(service: str):
    module_name = "gateway.demo" if service == "gateway" else f"services.{service}.demo"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise
    return getattr(module, "load_demo", None)


async def load(services: list[str], *, scale: bool, seed: int, urls: dict[str, str] | None = None) -> None:
    """Load the world into each service's database (its settings' URL, or the one `urls` gives)."""
    refusal = refuses_to_run()
    if refusal:
        raise RuntimeError(refusal)
    now = clock.now()
    world = build_world(seed=seed, scale=scale, now=now)
    check_calendar(world, now=now)
    for service in services:
        load_demo = _loader(service)
        if load_demo is None:
            print(f"  {service:9s} no demo data")
            continue
        db = Database.from_url((urls or {}).get(service) or settings_of(service).database_url)
        started = time.perf_counter()
        try:
            await load_demo(db, world)
        finally:
            await db.dispose()
        print(f"  {service:9s} loaded in {time.perf_counter() - started:.1f} s")


def refuses_to_run() -> str | None:
    """Why the demo must not be loaded here, or None."""
    if os.environ.get("MC_ENV", "development").strip().lower() == "production":
        return ("MC_ENV=production: the demo world (accounts with a published password) is never loaded "
                "in production; create the first administrator with `python -m gateway.admin create-admin`")
    return None


def main(argv: list[str] | None = None) -> int:
    refusal = refuses_to_run()
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="demo", description=__doc__)
    parser.add_argument("services", nargs="*", default=list(ALL))
    parser.add_argument("--scale", action="store_true", help="benchmark sizes: 10k producers, 100k products")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    print(f"loading demo data ({'scale' if args.scale else 'small'}, seed {args.seed}, today {clock.today()})")
    try:
        asyncio.run(load(args.services, scale=args.scale, seed=args.seed))
    except DemoWorldError as exc:
        print(f"the demo world was not written: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
