"""A small world owned by "A", the five apps wired together in process, and one token per role.

Built on the monitoring territory's records (tests/monitoring/conftest.py): in La Paz (020101)
organization 1 with producers 1 and 2, cycles 1 and 2 of coordinator 900 at delivery points 1-3,
orders of consumers 501-503, financier 1 with fund 1 and policy 1. Added here: what A owns and the
territory lacks (a certification, a membership request, a consignment, a requested advance, the
gateway accounts), and B's counterparts (financier 2, organization 3's producer 5).

Every service reaches the others through in-process transports, and so does the gateway: nothing
goes over the network, and the same HTTP contract is exercised.
"""

import importlib
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import Integer, insert, select, text

from services.common.http import ServiceClient
from services.common.migrations import metadata_of
from tests.conftest import service_settings, transactional_database
from tests.monitoring.conftest import SEEDERS

SERVICES = ("catalog", "orders", "delivery", "payments")
SECRET = "test-service-secret"
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
MUNICIPALITY_A, MUNICIPALITY_B = "020101", "020105"

# role name -> (token role, account id, links); None is the anonymous caller
ROLES: dict[str, tuple[str, int, dict] | None] = {
    "anonymous": None,
    "consumer_a": ("consumer", 501, {}),
    "consumer_b": ("consumer", 502, {}),
    "producer_a": ("producer", 601, {"producer_id": 1}),
    "producer_b": ("producer", 605, {"producer_id": 5}),
    "unverified_organization": ("organization", 700, {}),
    "organization_a": ("organization", 701, {"organization_id": 1}),
    "organization_b": ("organization", 703, {"organization_id": 3}),
    "coordinator_a": ("coordinator", 900, {}),
    "coordinator_b": ("coordinator", 901, {}),
    # an account coordinator A assigns to delivery point 1 of her cycles 1 and 2 (any role may be
    # assigned; the assignment gives the power, see the ownership model in docs/architecture.md)
    "point_staff": ("coordinator", 950, {}),
    "municipality_a": ("municipality", 800, {"municipality_code": MUNICIPALITY_A}),
    "municipality_b": ("municipality", 801, {"municipality_code": MUNICIPALITY_B}),
    "financier_a": ("financier", 850, {"financier_id": 1}),
    "financier_b": ("financier", 851, {"financier_id": 2}),
    "admin": ("admin", 999, {}),
}

# ids of what A owns, filled into every path (per service where a name means different things)
OWNED_BY_A = {"code": MUNICIPALITY_A, "organization_id": 1, "producer_id": 1, "product_id": 1,
              "certification_id": 1, "membership_id": 1, "reference_id": 1, "cycle_id": 1, "order_id": 1,
              "point_id": 1, "consignment_id": 1, "financier_id": 1, "advance_id": 8, "receivable_id": 1,
              "entry_id": 1, "event_id": "no-such-event", "notification_id": 1, "consumer_account_id": 501}
OWNED_BY_A_IN = {"gateway": {"account_id": 501, "module": "01-vender", "lesson": "01-registrarse",
                             "service": "catalog"},
                 "delivery": {"account_id": 950}}  # point staff's assignment  # payments' ledger ids are the world's (World.ids)
OWNED_BY_A_IN.setdefault("payments", {}).update({"fund_id": 1, "policy_id": 1})  # financier A's fund and policy
# where an operation acts on something else of A's than the name says everywhere else
OWNED_BY_A_FOR = {"gateway POST /api/auth/accounts/{account_id}/verify": {"account_id": 700},
                  "catalog POST /memberships/{membership_id}/reject": {"membership_id": 2},
                  "payments POST /advances/{advance_id}/reject": {"advance_id": 9},
                  # order 5 (cycle 2, also coordinator A's): cycle 1's no-shows are marked before
                  "delivery POST /orders/{order_id}/pickup": {"order_id": 5},
                  "delivery POST /consignments/{consignment_id}/corrections": {"consignment_id": 2}}
PASSWORD = "una clave larga"  # consumer A's, to log in with


async def _insert(db, table, rows: list[dict]) -> None:
    async with db.session() as s:
        await s.execute(insert(table), rows)


async def _extra_catalog(db) -> None:
    from services.catalog.models import Certification, Membership

    await _insert(db, Certification.__table__, [dict(
        id=1, organization_id=1, kind="ecologico_sgp", status="certificado", issuer="CEM La Paz",
        valid_until=date(2099, 1, 1), categories=[], created_at=NOW, updated_at=NOW)])
    await _insert(db, Membership.__table__, [
        dict(id=1, producer_id=4, organization_id=1, status="pending", requested_by=604, requested_at=NOW),
        dict(id=2, producer_id=7, organization_id=1, status="pending", requested_by=607, requested_at=NOW)])


async def _extra_delivery(db) -> None:
    from sqlalchemy import update

    from services.delivery.models import Booking, Consignment, ConsignmentLine

    async with db.session() as s:  # consumer A's order 1 waits at point 1 to be picked up
        await s.execute(update(Booking).where(Booking.order_id == "1").values(status="confirmed"))

    await _insert(db, Consignment.__table__, [dict(id=1, cycle_id=1, producer_id=1, producer_name="Juana",
                                                   organization_id=1, delivery_point_id=1, status="pending")])
    await _insert(db, ConsignmentLine.__table__, [dict(id=1, consignment_id=1, product_id=1,
                                                       product_name="Papa huaycha", unit="arroba",
                                                       quantity=Decimal(2), unit_price_centavos=5800)])
    # producer A's goods at point 1 of cycle 2, already received: there to be corrected
    await _insert(db, Consignment.__table__, [dict(id=2, cycle_id=2, producer_id=1, producer_name="Juana",
                                                   organization_id=1, delivery_point_id=1, status="received",
                                                   accepted_value_centavos=5800, received_at=NOW, received_by=900)])
    await _insert(db, ConsignmentLine.__table__, [dict(id=2, consignment_id=2, product_id=1,
                                                       product_name="Papa huaycha", unit="arroba",
                                                       quantity=Decimal(1), unit_price_centavos=5800,
                                                       received_quantity=Decimal(1), rejected_quantity=Decimal(0),
                                                       accepted_value_centavos=5800)])


async def _extra_payments(db) -> None:
    from services.payments.models import financiers

    await _insert(db, financiers, [dict(id=2, name="Banco B", kind="development_bank", created_at=NOW)])


async def _requested_advance(db, client, keys) -> dict:
    """Producer A's advances waiting for financier A, on a fund opened through the API (with its
    ledger accounts and capital entry, as real funds have); gives the ledger ids A owns."""
    from sqlalchemy import select

    from services.payments.models import accounts, advances, entries

    fund = await client.post("/financiers/1/funds", json={"name": "Fondo A", "cap": "100000.00"},
                             headers=keys.headers("admin"))
    assert fund.status_code == 201, fund.text
    async with db.session() as s:
        entry = (await s.execute(select(entries.c.id).where(
            entries.c.client_id == f"fund:{fund.json()['id']}:capital"))).scalar_one()
        capital = (await s.execute(select(accounts.c.id).where(
            accounts.c.kind == "financier_capital", accounts.c.owner_id == 1))).scalar_one()
    await _insert(db, advances, [dict(id=advance_id, producer_id=1, financier_id=1, fund_id=fund.json()["id"],
                                      policy_id=1, status="requested", eligible_value=100000, principal=20000,
                                      fee=600, expected_collection_on=date(2026, 4, 1), receivable_ids=[],
                                      requested_at=NOW) for advance_id in (8, 9)])
    return {"account_id": fund.json()["account_id"], "entry_id": entry, "capital_account_id": capital}


async def _payouts_of_a(db) -> dict:
    """Coordinator A's cycle 1 in payments: producer A's goods (Bs 58.00, paid by transfer) settled
    for good, and two payout lines of Bs 10.00 waiting (one to mark paid, one to fail and retry)."""
    from services.payments import payouts
    from services.payments.final_settlement import settle_cycle
    from services.payments.ledger import AccountKind, Posting, ensure_account, post_entry
    from services.payments.models import cycles, receivables

    async with db.session() as s:
        await s.execute(insert(cycles).values(cycle_id=1, name="Ciclo 1", coordinator_account_id=900, closed_at=NOW))
        producer = await ensure_account(session=s, kind=AccountKind.producer, owner_id=1)
        clearing = await ensure_account(session=s, kind=AccountKind.order_clearing)
        bank = await ensure_account(session=s, kind=AccountKind.bank_clearing)
        consumer = await ensure_account(session=s, kind=AccountKind.consumer, owner_id=501)
        await post_entry(session=s, client_id="matrix:order", kind="order_placed", description="pedido",
                         lines=[Posting(consumer, 5800), Posting(clearing, -5800)], cycle_id=1)
        await post_entry(session=s, client_id="matrix:payment", kind="consumer_payment", description="pago",
                         lines=[Posting(bank, 5800), Posting(consumer, -5800)], cycle_id=1)
        receipt = await post_entry(session=s, client_id="matrix:receipt", kind="consignment_delivered",
                                   description="entrega", lines=[Posting(clearing, 5800), Posting(producer, -5800)],
                                   producer_id=1, cycle_id=1)
        await s.execute(insert(receivables).values(
            consignment_id=1001, cycle_id=1, producer_id=1, organization_id=1, delivery_point_id=1,
            accepted_value=5800, fees=0, amount=5800, collected=5800, status="collected", lines=[], fee_lines=[],
            received_at=NOW, expected_collection_on=date(2026, 3, 24), entry_id=receipt.id))
        await settle_cycle(session=s, cycle_id=1, settled_by=900)
        line = payouts.LineRequest(payee_kind="producer", payee_id=1, method="bank_transfer", amount=1000,
                                   bank="Banco Unión", account_number="10000001")
        maker = payouts.Maker(account_id=900)
        first = await payouts.create_batch(session=s, cycle_id=1, lines=[line], maker=maker)
        second = await payouts.create_batch(session=s, cycle_id=1, lines=[line], maker=maker)
        lines = {n: (await payouts.batch(session=s, batch_id=b))["lines"][0][0].id
                 for n, b in (("first", first), ("second", second))}
    return {"batch_id": first, "payout_id": lines["first"],
            "payments POST /payouts/{payout_id}/paid": {"payout_id": lines["second"]}}


async def _gateway_accounts(db, hasher) -> None:
    from gateway.accounts import hash_password
    from gateway.models import Account

    real = await hash_password(hasher=hasher, password=PASSWORD)
    await _insert(db, Account.__table__, [
        dict(id=account_id, phone=f"+5917{account_id:07d}", email=None, name=name,
             password_hash=real if name == "consumer_a" else "not a hash",
             role=role, is_active=True, created_at=NOW, updated_at=NOW,
             **{k: v for k, v in links.items()})
        for name, (role, account_id, links) in ((n, r) for n, r in ROLES.items() if r is not None)])
    from gateway.notifications.models import Notification

    await _insert(db, Notification.__table__, [  # A's notification: consumer A's order was placed
        dict(id=1, account_id=501, event_id="a-order-1-placed", kind="order_placed", title="Pedido confirmado",
             text="Pedido #1 confirmado.", show_at=NOW, created_at=NOW)])


EXTRA = {"catalog": _extra_catalog, "delivery": _extra_delivery, "payments": _extra_payments}


async def _catch_up_sequences(db, service: str, backend: str) -> None:
    """Rows were seeded with their ids: PostgreSQL's sequences must move past them, or the next row
    made through the API would take a seeded id."""
    if backend != "postgres":
        return
    async with db.session() as s:
        for table in metadata_of(service).sorted_tables:
            column = table.c.get("id")
            if column is None or not column.autoincrement or not isinstance(column.type.as_generic(), Integer):
                continue
            await s.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                 f"GREATEST((SELECT COALESCE(MAX(id), 0) FROM {table.name}), 1))"))


async def _reference_price_of_a(db) -> int:
    """La Paz's reference price for Papa huaycha. The territory seeds reference prices without ids, and
    PostgreSQL's sequences outlive rolled-back tests, so its id depends on what ran before."""
    from services.catalog.models import ReferencePrice

    async with db.session() as s:
        return (await s.execute(select(ReferencePrice.id).where(
            ReferencePrice.municipality_code == MUNICIPALITY_A, ReferencePrice.search_name == "papa huaycha"))).scalar_one()


@dataclass
class World:
    apps: dict  # service name (and "gateway") -> the app
    clients: dict  # service name (and "gateway") -> httpx client on the app
    keys: object
    ids: dict  # service name -> ids of A's things made while building the world

    def headers(self, role: str) -> dict[str, str]:
        spec = ROLES[role]
        if spec is None:
            return {}
        token_role, account_id, links = spec
        return self.keys.headers(token_role, account_id=account_id, name=role, **links)


def _service_app(name: str, url: str, db, keys, clients):
    module = importlib.import_module(f"services.{name}.app")
    return module.create_app(service_settings(name, url), database=db, verifier=keys.verifier, clients=clients)


@asynccontextmanager
async def world(migrated, keys, backend):
    """The five apps on rolled-back databases holding A's world; yields a `World`."""
    from tests.gateway.conftest import gateway_settings

    async with AsyncExitStack() as stack:
        apps, transports, dbs = {}, {}, {}
        # every service calls the others in process: the transports wrap the apps before they start
        peers = {name: ServiceClient(name, f"http://{name}", secret=SECRET, caller="test",
                                     transport=httpx.ASGITransport(app=_Late(apps, name),
                                                                   raise_app_exceptions=False))
                 for name in SERVICES}
        for name in SERVICES:
            url = migrated.url(name, backend)
            db = dbs[name] = await stack.enter_async_context(transactional_database(url))
            await SEEDERS[name](db)
            if name in EXTRA:
                await EXTRA[name](db)
            await _catch_up_sequences(db, name, backend)
            apps[name] = _service_app(name, url, db, keys, {k: v for k, v in peers.items() if k != name})
            await stack.enter_async_context(LifespanManager(apps[name], startup_timeout=30))
            transports[name] = httpx.ASGITransport(app=apps[name], raise_app_exceptions=False)
        url = migrated.url("gateway", backend)
        gw_db = await stack.enter_async_context(transactional_database(url))
        from gateway.app import create_app

        gateway = create_app(gateway_settings(url, keys, rate_limit_enabled=False), database=gw_db,
                             verifier=keys.verifier, issuer=keys.issuer, clients=peers)
        await _gateway_accounts(gw_db, gateway.state.password_hasher)
        await _catch_up_sequences(gw_db, "gateway", backend)
        await stack.enter_async_context(LifespanManager(gateway, startup_timeout=30))
        gateway.state.monitoring_clients = peers
        apps["gateway"] = gateway
        transports["gateway"] = httpx.ASGITransport(app=gateway, raise_app_exceptions=False)
        clients = {}
        for name, transport in transports.items():
            clients[name] = await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url=f"http://{name}", timeout=30))
        ids = {"payments": {**await _requested_advance(dbs["payments"], clients["payments"], keys),
                            **await _payouts_of_a(dbs["payments"])},
               "catalog": {"reference_id": await _reference_price_of_a(dbs["catalog"])}}
        for cycle in (1, 2):
            assigned = await clients["delivery"].post(f"/cycles/{cycle}/points/1/staff", json={"account_id": 950},
                                                      headers=keys.headers("coordinator", account_id=900))
            assert assigned.status_code == 201, assigned.text
        try:
            yield World(apps, clients, keys, ids)
        finally:
            for peer in peers.values():
                await peer.aclose()


class _Late:
    """An ASGI app that is the named app once it exists (the services call each other both ways)."""

    def __init__(self, apps: dict, name: str):
        self.apps, self.name = apps, name

    async def __call__(self, scope, receive, send):
        await self.apps[self.name](scope, receive, send)
