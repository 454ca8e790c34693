"""Demo accounts: deterministic, linked to the demo world, and loading twice changes nothing."""

from sqlalchemy import select

from gateway.demo import DEMO_PASSWORD, load_demo
from gateway.models import Account
from infra.demo_world import build_world
from tests.conftest import transactional_database
from tests.gateway.conftest import running_gateway


async def _accounts(db) -> list[tuple]:
    async with db.session() as session:
        rows = await session.execute(select(Account.email, Account.phone, Account.role, Account.producer_id,
                                            Account.organization_id, Account.municipality_code).order_by(Account.id))
        return [tuple(r) for r in rows]


async def test_demo_accounts_load_once_and_log_in_with_the_documented_password(backend, migrated, keys):
    world = build_world()
    async with transactional_database(migrated.url("gateway", backend)) as db:
        first = await load_demo(db, world)
        before = await _accounts(db)
        second = await load_demo(db, world)
        assert await _accounts(db) == before
        assert first["created"] == len(before) and second == {"created": 0, "existing": len(before)}
        roles = {row[2] for row in before}
        assert roles == {"admin", "coordinator", "municipality", "financier", "consumer", "producer", "organization"}
        producers = [row for row in before if row[2] == "producer"]
        assert producers[0][3] == world.producers[0].id
        assert producers[0][4] == world.producers[0].organization_id
        assert ("municipality", "020101") in {(row[2], row[5]) for row in before}
        async with running_gateway(migrated, backend, keys, database=db) as gw, gw.client() as client:
            producer = world.producers[0]
            r = await client.post("/api/auth/login", json={"login": producer.phone, "password": DEMO_PASSWORD})
            assert r.status_code == 200, r.text
            principal = keys.verifier.verify(r.json()["access_token"])
            assert principal.producer_id == producer.id and principal.role == "producer"
            admin = await client.post("/api/auth/login", json={"login": "admin@demo.mercadocorto.bo",
                                                                "password": DEMO_PASSWORD})
            assert keys.verifier.verify(admin.json()["access_token"]).is_admin


async def test_demo_accounts_are_the_same_for_the_same_world():
    from gateway.demo import demo_accounts

    assert demo_accounts(build_world()) == demo_accounts(build_world())
    emails = [a.email for a in demo_accounts(build_world())]
    assert len(emails) == len(set(emails))
