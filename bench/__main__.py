"""Run every benchmark in turn (`make bench`), or the ones named: `python -m bench catalog orders`.

A flag `--some-thing` sets BENCH_SOME_THING=1 for the benchmarks (e.g. `python -m bench orders --reduced`)."""

import importlib
import os
import pkgutil
import sys
import time
import traceback
from pathlib import Path


def main(argv: list[str]) -> int:
    for flag in [a for a in argv if a.startswith("--")]:
        os.environ["BENCH_" + flag[2:].upper().replace("-", "_")] = "1"
    argv = [a for a in argv if not a.startswith("--")]
    names = argv or sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])
                           if not m.name.startswith("_"))
    failed = []
    for name in names:
        print(f"\n=== bench/{name}.py ===", flush=True)
        started = time.perf_counter()
        try:
            importlib.import_module(f"bench.{name}").main()
        except Exception:
            traceback.print_exc()
            failed.append(name)
        print(f"--- {name}: {time.perf_counter() - started:.0f} s", flush=True)
    if failed:
        print(f"\nbenchmarks that failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
