"""Route planning quality: the planner's cost (PyVRP within the time budget) against an independent optimum.

- Small instances (5 to 8 drops around La Paz and El Alto, haversine × road factor, vehicle
  capacities that force 1 to 3 routes, half of them with opening windows): the exact optimum by brute
  force — every order of the drops, each split optimally into at most `vehicles` routes (a dynamic
  program over the order; every plan is some order split into consecutive routes), each route checked
  against capacity and windows by simulating it.
- 100-drop instances (with and without windows): the planner's plan within 10 s against PyVRP run
  much longer (a reference, not a proven optimum).

Goal: cost ≤ 1.02 × reference within 10 s. Prints one line per instance and the worst ratio.
`BENCH_ROUTES_LONG_SECONDS` (default 120) sets the reference run; `BENCH_ROUTES_SECONDS` (10) the budget.
"""

import itertools
import os
import random
import time
from functools import cache

from services.delivery.routing import (
    Drop,
    HaversineProvider,
    Problem,
    RoutePlanningInfeasible,
    check_feasibility,
    solve,
)

BUDGET = float(os.environ.get("BENCH_ROUTES_SECONDS", "10"))
LONG = float(os.environ.get("BENCH_ROUTES_LONG_SECONDS", "120"))
HUB = (-16.5047, -68.1633)  # El Alto
AREA = ((-16.56, -16.46), (-68.21, -68.06))  # La Paz – El Alto
SERVICE = 600
DAY_START = 5 * 3600


def random_problem(rng: random.Random, n: int, *, vehicles: int, windows: bool, fill: float) -> Problem:
    drops = []
    for i in range(n):
        lat, lon = rng.uniform(*AREA[0]), rng.uniform(*AREA[1])
        if windows:
            opens = rng.choice([6, 7, 8, 9, 10]) * 3600
            window = (opens, opens + rng.choice([2, 3, 4]) * 3600)
        else:
            window = (DAY_START, 22 * 3600)
        drops.append(Drop(point_id=i + 1, name=f"punto {i + 1}", lat=lat, lon=lon,
                          load_g=rng.randint(20, 120) * 1000, windows=[window]))
    total = sum(d.load_g for d in drops)
    capacity = max(max(d.load_g for d in drops), int(total / (vehicles * fill)))
    metres, seconds = HaversineProvider(road_factor=1.35, speed_kmh=25).matrix_now(
        [HUB, *[(d.lat, d.lon) for d in drops]])
    return Problem(depot=HUB, drops=drops, vehicles=vehicles, capacity_g=capacity, day_start=DAY_START,
                   service_seconds=SERVICE, distances=metres, durations=seconds)


def brute_force_optimum(problem: Problem) -> int | None:
    """Exact minimum distance (metres), or None when no plan satisfies capacity and windows."""
    windows = check_feasibility(problem)
    tw = [None] + [windows[d.point_id] for d in problem.drops]
    load = [0] + [d.load_g for d in problem.drops]
    dist, dur = problem.distances, problem.durations

    @cache
    def route_cost(segment: tuple[int, ...]) -> int | None:
        if sum(load[i] for i in segment) > problem.capacity_g:
            return None
        t, here, metres = problem.day_start, 0, 0
        for i in segment:
            start = max(t + dur[here][i], tw[i][0])
            if start > tw[i][1] - problem.service_seconds:
                return None
            metres += dist[here][i]
            t, here = start + problem.service_seconds, i
        return metres + dist[here][0]

    n, best = len(problem.drops), None
    inf = float("inf")
    for order in itertools.permutations(range(1, n + 1)):
        # split[j][k]: cheapest way to serve order[:j] with k routes
        split = [[inf] * (problem.vehicles + 1) for _ in range(n + 1)]
        split[0][0] = 0
        for j in range(1, n + 1):
            for i in range(j):
                cost = route_cost(order[i:j])
                if cost is None:
                    continue
                for k in range(1, problem.vehicles + 1):
                    if split[i][k - 1] + cost < split[j][k]:
                        split[j][k] = split[i][k - 1] + cost
        found = min(split[n])
        if found < inf and (best is None or found < best):
            best = found
    return None if best is None else int(best)


def planned_cost(problem: Problem, seconds: float, *, seed: int = 1, until_budget: bool = False) -> tuple[int, float]:
    started = time.perf_counter()
    routes, _ = solve(problem, max_seconds=seconds, seed=seed, no_improvement=None if until_budget else 20_000)
    return sum(r.distance for r in routes), time.perf_counter() - started


def main() -> None:
    rng = random.Random(2026)
    ratios = []
    print(f"small instances: planner (budget {BUDGET:g} s) vs brute-force optimum")
    for n in (5, 6, 7, 8):
        for vehicles, windows in ((1, False), (2, True), (3, False)):
            problem = random_problem(rng, n, vehicles=vehicles, windows=windows, fill=0.75)
            started = time.perf_counter()
            try:
                optimum = brute_force_optimum(problem)
            except RoutePlanningInfeasible:
                optimum = None
            brute_s = time.perf_counter() - started
            if optimum is None:
                print(f"  n={n} vehicles={vehicles} windows={windows!s:5}: infeasible instance, skipped")
                continue
            cost, took = planned_cost(problem, BUDGET)
            ratios.append(cost / optimum)
            print(f"  n={n} vehicles={vehicles} windows={windows!s:5}: planner {cost / 1000:8.3f} km in {took:5.2f} s,"
                  f" optimum {optimum / 1000:8.3f} km ({brute_s:4.1f} s brute force), ratio {cost / optimum:.4f}")
    small_worst = max(ratios)
    print(f"  worst small ratio {small_worst:.4f} over {len(ratios)} instances")

    print(f"100-drop instances: planner ({BUDGET:g} s) vs PyVRP run {LONG:g} s (reference)")
    large = []
    for vehicles, windows in ((8, False), (10, True)):
        problem = random_problem(rng, 100, vehicles=vehicles, windows=windows, fill=0.9)
        cost, took = planned_cost(problem, BUDGET, until_budget=True)
        reference, long_took = planned_cost(problem, LONG, seed=7, until_budget=True)
        ratio = cost / reference
        large.append(ratio)
        print(f"  n=100 vehicles={vehicles} windows={windows!s:5}: planner {cost / 1000:9.3f} km in {took:5.1f} s,"
              f" reference {reference / 1000:9.3f} km in {long_took:5.1f} s, ratio {ratio:.4f}")
    worst = max([small_worst, *large])
    print(f"worst ratio {worst:.4f} (goal ≤ 1.02 within {BUDGET:g} s): {'met' if worst <= 1.02 else 'NOT met'}")


if __name__ == "__main__":
    main()
