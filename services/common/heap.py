"""The garbage collector, set for a long-running service.

A request allocates many short-lived objects (statements, rows, models), so CPython's cycle
collector runs often, and each full pass walks every object the process holds, most of them made at
start-up (modules, routes, tables, compiled statements) and never freed. The profile of the orders
service under load showed one eighth of its CPU there. Once a process has started, `settle()` moves
what start-up made out of the collector's sight (`gc.freeze`) and lets the youngest generation grow
larger before a pass; garbage is still collected, cycles included, just in fewer and shorter passes.
Once per process: a test process starts many apps and must not freeze each one's leftovers.
"""

import gc

# objects allocated (net) before a young-generation pass: CPython's default is 700
YOUNG_THRESHOLD = 20_000
_settled = False


def settle() -> None:
    global _settled
    if _settled:
        return
    _settled = True
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
