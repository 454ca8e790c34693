"""Rate limits: hammering login gets 429 with Retry-After, while other clients carry on; the
counters are shared through Redis by several gateway workers."""

import asyncio
import time
import uuid

import pytest

from gateway.ratelimit import Budget, MemoryCounters, RateLimiter, RedisCounters
from tests.conftest import IN_CI, transactional_database
from tests.gateway.conftest import running_gateway

REDIS_URL = "redis://127.0.0.1:6379/0"


async def redis_or_skip() -> str:
    """The Redis URL, or skip (fail under CI=true) when no Redis answers there."""
    import redis.asyncio as redis

    client = redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        await client.ping()
    except Exception as exc:
        reason = f"Redis not reachable at {REDIS_URL}: {exc!r}"
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: the Redis limiter must be tested)")
        pytest.skip(reason)
    finally:
        await client.aclose()
    return REDIS_URL


async def inside_one_window(window_seconds: int = 60, margin: float = 10) -> None:
    """The budgets are fixed windows: a test that counts requests against one starts where its window
    cannot roll over before it ends (a rollover restores the budget and the last request gets through)."""
    left = window_seconds - time.time() % window_seconds
    if left < margin:
        await asyncio.sleep(left + 0.05)


async def _hammer_login(client, times: int) -> list:
    return [await client.post("/api/auth/login", json={"login": "nadie@ejemplo.bo", "password": "adivinando"})
            for _ in range(times)]


async def _login_is_limited_per_address(gw):
    async with gw.client("10.0.0.66") as attacker, gw.client("10.0.0.7") as neighbour:
        answers = await _hammer_login(attacker, 5)
        assert [r.status_code for r in answers[:3]] == [401, 401, 401]
        limited = answers[3]
        assert limited.status_code == 429
        retry_after = int(limited.headers["retry-after"])
        assert 1 <= retry_after <= 60
        error = limited.json()["error"]
        assert error["code"] == "rate_limited" and error["details"]["scope"] == "auth"
        assert error["details"]["retry_after"] == retry_after
        # another address is not affected, and the attacker can still browse (its general budget is fine)
        other = await neighbour.post("/api/auth/login", json={"login": "nadie@ejemplo.bo", "password": "x"})
        assert other.status_code == 401
        assert (await attacker.get("/healthz")).status_code == 200
        assert (await attacker.get("/api/auth/me")).status_code == 401


async def test_login_hammering_gets_429_with_retry_after_but_other_clients_get_through(migrated, keys):
    async with running_gateway(migrated, "sqlite", keys, rate_limit_auth_per_address=3) as gw:
        await inside_one_window()
        await _login_is_limited_per_address(gw)


async def test_the_same_holds_with_counters_in_redis(migrated, keys):
    url = await redis_or_skip()
    async with running_gateway(migrated, "sqlite", keys, redis_url=url, rate_limit_auth_per_address=3) as gw:
        gw.app.state.limiter.counters.prefix = f"mc:test:{uuid.uuid4().hex}:"
        await inside_one_window()
        await _login_is_limited_per_address(gw)


async def test_redis_counters_hold_across_several_gateway_workers(migrated, keys):
    url = await redis_or_skip()
    prefix = f"mc:test:{uuid.uuid4().hex}:"
    async with transactional_database(migrated.url("gateway", "sqlite")) as db, \
            running_gateway(migrated, "sqlite", keys, database=db, redis_url=url, rate_limit_auth_per_address=4) as one, \
            running_gateway(migrated, "sqlite", keys, database=db, redis_url=url, rate_limit_auth_per_address=4) as two:
        one.app.state.limiter.counters.prefix = two.app.state.limiter.counters.prefix = prefix
        await inside_one_window()
        async with one.client("10.0.0.66") as a, two.client("10.0.0.66") as b:
            codes = [r.status_code for r in await _hammer_login(a, 2) + await _hammer_login(b, 2)]
            assert codes == [401, 401, 401, 401]
            assert (await _hammer_login(a, 1))[0].status_code == 429
            assert (await _hammer_login(b, 1))[0].status_code == 429


async def test_each_account_has_its_own_budget_wherever_it_comes_from(migrated, keys):
    async with running_gateway(migrated, "sqlite", keys, rate_limit_per_account=3) as gw:
        await inside_one_window()
        busy = keys.headers("consumer", account_id=41)
        calm = keys.headers("consumer", account_id=42)
        async with gw.client("10.0.0.1") as first, gw.client("10.0.0.2") as second:
            codes = [(await c.get("/api/nowhere", headers=busy)).status_code for c in (first, second, first)]
            assert codes == [404, 404, 404]
            over = await second.get("/api/nowhere", headers=busy)
            assert over.status_code == 429 and over.json()["error"]["details"]["scope"] == "account"
            assert (await second.get("/api/nowhere", headers=calm)).status_code == 404


async def test_a_flood_of_one_address_leaves_others_untouched(migrated, keys):
    async with running_gateway(migrated, "sqlite", keys, rate_limit_per_address=20) as gw:
        await inside_one_window()
        async with gw.client("10.9.9.9") as flood, gw.client("10.0.0.3") as quiet:
            answers = await asyncio.gather(*[flood.get("/api/nowhere") for _ in range(40)])
            assert sum(r.status_code == 429 for r in answers) == 20
            assert (await quiet.get("/api/nowhere")).status_code == 404


async def test_limits_can_be_switched_off_for_load_tests(migrated, keys):
    async with running_gateway(migrated, "sqlite", keys, rate_limit_enabled=False,
                               rate_limit_auth_per_address=1) as gw, gw.client() as client:
        assert {r.status_code for r in await _hammer_login(client, 4)} == {401}


async def test_window_rollover_restores_the_budget():
    limiter = RateLimiter(MemoryCounters(), window_seconds=60, per_address=2, per_account=2, auth_per_address=1)
    budgets = [Budget("address", "1.2.3.4", 2)]
    assert await limiter.exceeded(budgets, now=120.0) is None
    assert await limiter.exceeded(budgets, now=121.0) is None
    assert await limiter.exceeded(budgets, now=150.5) == (budgets[0], 30)
    assert await limiter.exceeded(budgets, now=180.0) is None


async def test_an_unreachable_redis_lets_requests_through():
    counters = RedisCounters("redis://127.0.0.1:1/0", timeout=0.2)
    limiter = RateLimiter(counters, window_seconds=60, per_address=0, per_account=0, auth_per_address=0)
    try:
        assert await limiter.exceeded([Budget("address", "1.2.3.4", 0)]) is None
    finally:
        await limiter.aclose()
