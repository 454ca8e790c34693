"""Failed logins: the guesser waits longer and longer, the owner is never locked out; phone and
e-mail of one account are one identity; Argon2 work is bounded, not weakened."""

import asyncio
import threading
import uuid

import pytest

from gateway.accounts import make_password_hasher, password_matches
from gateway.login_throttle import LoginThrottle, ThrottlePolicy
from gateway.ratelimit import MemoryCounters, RedisCounters
from services.common.errors import RateLimited
from tests.gateway.conftest import running_gateway
from tests.gateway.test_ratelimit import redis_or_skip

OWNER_PHONE, OWNER_EMAIL, PASSWORD = "+591 71112233", "juana@ejemplo.bo", "la clave de juana"
# the per-address budget of the limiter is not what these tests are about
GENEROUS = {"rate_limit_auth_per_address": 10_000, "login_base_delay_seconds": 600}


@pytest.fixture(params=["memory", "redis"])
async def store(request):
    if request.param == "memory":
        yield MemoryCounters()
        return
    counters = RedisCounters(await redis_or_skip(), prefix=f"mc:test:{uuid.uuid4().hex}:")
    try:
        yield counters
    finally:
        await counters.aclose()


async def _register_owner(client) -> None:
    r = await client.post("/api/auth/register", json={"phone": OWNER_PHONE, "email": OWNER_EMAIL,
                                                      "password": PASSWORD, "name": "Juana Mamani"})
    assert r.status_code == 201, r.text


async def _login(client, login: str, password: str):
    return await client.post("/api/auth/login", json={"login": login, "password": password})


async def _others_cannot_lock_the_owner_out(gw) -> None:
    async with gw.client("10.0.0.7") as owner, gw.client("10.0.0.66") as attacker, \
            gw.client("10.0.0.67") as accomplice:
        await _register_owner(owner)
        codes = [(await _login(who, login, f"adivino {n}")).status_code
                 for n in range(12) for who, login in ((attacker, OWNER_PHONE), (accomplice, OWNER_EMAIL))]
        assert codes[:10] == [401] * 10
        assert set(codes[10:]) == {429}
        # the guessers wait even when they finally guess right ...
        assert (await _login(attacker, OWNER_PHONE, PASSWORD)).status_code == 429
        # ... but the owner, from her own address, gets in at once, by phone or by e-mail
        assert (await _login(owner, "71112233", PASSWORD)).status_code == 200
        assert (await _login(owner, OWNER_EMAIL, PASSWORD)).status_code == 200


async def test_others_failed_logins_do_not_lock_the_owner_out(migrated, keys):
    async with running_gateway(migrated, "sqlite", keys, login_free_failures_per_account=5, **GENEROUS) as gw:
        await _others_cannot_lock_the_owner_out(gw)


async def test_others_failed_logins_do_not_lock_the_owner_out_with_counters_in_redis(migrated, keys):
    url = await redis_or_skip()
    async with running_gateway(migrated, "sqlite", keys, redis_url=url, login_free_failures_per_account=5,
                               **GENEROUS) as gw:
        gw.app.state.counters.prefix = f"mc:test:{uuid.uuid4().hex}:"
        await _others_cannot_lock_the_owner_out(gw)


async def test_guessing_by_phone_and_by_email_counts_against_one_identity(migrated, keys):
    async with running_gateway(migrated, "sqlite", keys, login_free_failures_per_account=3, **GENEROUS) as gw, \
            gw.client("10.0.0.66") as attacker:
        await _register_owner(attacker)
        for login in (OWNER_PHONE, OWNER_EMAIL, "71112233"):
            assert (await _login(attacker, login, "adivino")).status_code == 401
        throttled = await _login(attacker, OWNER_EMAIL.upper(), "otra")
        assert throttled.status_code == 429
        error = throttled.json()["error"]
        assert error["code"] == "rate_limited" and error["details"]["scope"] == "login"
        assert int(throttled.headers["retry-after"]) == error["details"]["retry_after"] >= 1


async def test_unknown_logins_are_throttled_like_known_ones(migrated, keys):
    async with running_gateway(migrated, "sqlite", keys, login_free_failures_per_account=2, **GENEROUS) as gw, \
            gw.client("10.0.0.66") as attacker:
        codes = [(await _login(attacker, "nadie@ejemplo.bo", "x")).status_code for _ in range(3)]
        assert codes == [401, 401, 429]


async def test_the_guessers_wait_doubles_with_each_failure(store):
    throttle = LoginThrottle(store, ThrottlePolicy(free_per_login=3, free_per_address=100, base_delay_seconds=1,
                                                   max_delay_seconds=8))
    who = {"identity": "account:7", "address": "10.0.0.66"}
    now = 1000.0
    for _ in range(3):  # the free failures: no wait
        await throttle.check(**who, now=now)
        await throttle.failed(**who, now=now)
    waits = []
    for _ in range(5):
        with pytest.raises(RateLimited) as refused:
            await throttle.check(**who, now=now)
        waits.append(refused.value.details["retry_after"])
        now += waits[-1]
        await throttle.check(**who, now=now)  # heard once the wait is over ...
        await throttle.failed(**who, now=now)  # ... and wrong again
    assert waits == [1, 2, 4, 8, 8]  # doubling, up to the maximum


async def test_spraying_many_accounts_from_one_address_is_slowed(store):
    throttle = LoginThrottle(store, ThrottlePolicy(free_per_login=5, free_per_address=4, base_delay_seconds=30))
    for n in range(4):
        await throttle.failed(identity=f"account:{n}", address="10.0.0.66", now=100.0)
    with pytest.raises(RateLimited) as refused:
        await throttle.check(identity="account:99", address="10.0.0.66", now=101.0)
    assert refused.value.details["scope"] == "login_address"
    await throttle.check(identity="account:99", address="10.0.0.7", now=101.0)  # another address is heard


async def test_a_correct_password_clears_only_that_accounts_record_not_the_addresss(store):
    throttle = LoginThrottle(store, ThrottlePolicy(free_per_login=2, free_per_address=3, base_delay_seconds=30))
    for n in range(2):
        await throttle.failed(identity=f"account:{n}", address="10.0.0.66", now=100.0)
    await throttle.failed(identity="account:0", address="10.0.0.66", now=100.0)
    await throttle.succeeded(identity="account:0", address="10.0.0.66")  # the attacker's own account
    with pytest.raises(RateLimited):  # three failures from this address still count against it
        await throttle.check(identity="account:5", address="10.0.0.66", now=101.0)


async def test_failures_are_forgotten_after_a_quiet_period():
    throttle = LoginThrottle(MemoryCounters(), ThrottlePolicy(free_per_login=1, forget_after_seconds=60))
    await throttle.failed(identity="account:1", address="10.0.0.66", now=100.0)
    with pytest.raises(RateLimited):
        await throttle.check(identity="account:1", address="10.0.0.66", now=100.5)
    await throttle.check(identity="account:1", address="10.0.0.66", now=161.0)


async def test_an_unreachable_redis_lets_logins_through():
    counters = RedisCounters("redis://127.0.0.1:1/0", timeout=0.2)
    throttle = LoginThrottle(counters, ThrottlePolicy(free_per_login=0))
    try:
        await throttle.failed(identity="account:1", address="10.0.0.66")
        await throttle.check(identity="account:1", address="10.0.0.66")
    finally:
        await counters.aclose()


async def test_a_burst_of_logins_never_runs_more_argon2_hashes_at_once_than_allowed():
    """Each hash holds 64 MiB by default: a burst waits for a slot instead of exhausting memory."""
    hasher = make_password_hasher(time_cost=1, memory_kib=1024, parallelism=1, concurrency=2)
    stored = hasher.hash("clave")
    running, peak, lock = 0, 0, threading.Lock()
    real_verify = hasher.verify

    def counting_verify(password_hash, password):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            for _ in range(3):
                real_verify(password_hash, password)
            return True
        finally:
            with lock:
                running -= 1

    hasher.verify = counting_verify
    results = await asyncio.gather(*(password_matches(hasher=hasher, password_hash=stored, password="clave")
                                     for _ in range(12)))
    assert all(results)
    assert peak <= 2
