"""Correcting a receipt: the cycle's coordinator replaces it openly; payments reverses the old
entry and posts the new one; once an advance was drawn on the receivable the correction is refused.

Delivery and payments run in process, each on its own rolled-back database; events are carried
from delivery's outbox to payments' inbox by hand (the relay's job)."""

from contextlib import asynccontextmanager
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.common.events import Envelope
from services.common.inbox import handle_event
from services.delivery.models import ConsignmentCorrection
from services.delivery.models import kernel as delivery_kernel
from services.payments import advances as pronto
from services.payments.app import SPEC as PAYMENTS
from services.payments.app import create_app as create_payments
from services.payments.models import entries, receivables
from services.payments.models import kernel as payments_kernel
from tests.conftest import app_client, service_settings, transactional_database
from tests.delivery.conftest import coordinator, create_point, delivery_client, peer_client
from tests.delivery.test_consignments import apply, closed_cycle, consignment_of
from tests.payments.helpers import accept_terms_in, balance_of, close_cycle, ledger_is_consistent, place_order

FULL = {"lines": [{"product_id": 101, "received_quantity": "10"}, {"product_id": 102, "received_quantity": "2"}]}
SHORT = {"lines": [{"product_id": 101, "received_quantity": "8"}, {"product_id": 102, "received_quantity": "2"}],
         "reason": "la balanza pesaba de más"}


@asynccontextmanager
async def both_services(backend, migrated, keys):
    urls = {s: migrated.url(s, backend) for s in ("delivery", "payments")}
    async with transactional_database(urls["payments"]) as payments_db, \
            transactional_database(urls["delivery"]) as delivery_db:
        payments_app = create_payments(service_settings("payments", urls["payments"]), database=payments_db,
                                       verifier=keys.verifier, clients={})
        async with app_client(payments_app):
            clients = {"orders": peer_client("orders"), "payments": peer_client("payments", payments_app)}
            async with delivery_client(delivery_db, keys, urls["delivery"], clients=clients) as delivery:
                yield delivery, delivery_db, payments_db


@pytest.fixture
async def services(backend, migrated, keys):
    async with both_services(backend, migrated, keys) as found:
        yield found


async def carry(delivery_db, payments_db, event_type: str) -> int:
    """Hand payments every `event_type` event delivery emitted (duplicates are ignored there)."""
    async with delivery_db.session() as session:
        rows = (await session.execute(select(delivery_kernel.outbox).where(
            delivery_kernel.outbox.c.event_type == event_type).order_by(delivery_kernel.outbox.c.id))).all()
    for row in rows:
        envelope = Envelope(id=row.event_id, type=row.event_type, aggregate_id=row.aggregate_id, source="delivery",
                            payload=row.payload)
        await handle_event(payments_db, payments_kernel, PAYMENTS.event_handlers, envelope)
    return len(rows)


async def delivered_receipt(delivery, delivery_db, payments_db, keys) -> dict:
    """Cycle 5 closed in both services, consumer 31 ordered Sabina's goods, received in full."""
    point = await create_point(delivery, keys)
    await apply(delivery_db, closed_cycle(point["id"]))
    await close_cycle(payments_db, 5, fee_rules=[{"kind": "admin", "basis": "percent", "value": "5",
                                                  "payer": "producer"}])
    await place_order(payments_db, 900, 5, 31, [("900-1", 11, 101, 10, "8.35"), ("900-2", 11, 102, 2, "61.17")],
                      point=point["id"])
    sabina = await consignment_of(delivery, keys, 11)
    r = await delivery.post(f"/consignments/{sabina['id']}/receive", json=FULL, headers=coordinator(keys))
    assert r.status_code == 200 and r.json()["accepted_value"] == "205.84"
    assert await carry(delivery_db, payments_db, "consignment.delivered") == 1
    return sabina


async def receivable_of(payments_db, consignment_id: int):
    async with payments_db.session() as session:
        return (await session.execute(select(receivables).where(receivables.c.consignment_id == consignment_id))
                ).one()


async def test_receipt_correction_reverses_and_reposts(services, keys):
    delivery, delivery_db, payments_db = services
    sabina = await delivered_receipt(delivery, delivery_db, payments_db, keys)
    before = await receivable_of(payments_db, sabina["id"])
    assert (before.accepted_value, before.fees, before.amount) == (20584, 1029, 19555)

    r = await delivery.post(f"/consignments/{sabina['id']}/corrections", json=SHORT, headers=coordinator(keys))
    assert r.status_code == 200, r.text
    assert r.json()["accepted_value"] == "189.14"  # 8 × 8.35 + 2 × 61.17
    assert (await receivable_of(payments_db, sabina["id"])).held_for_correction == 1  # no advance meanwhile
    async with payments_db.session() as session:
        assert (await pronto.eligibility(session=session, producer_id=11))["eligible_value"] == 0

    assert await carry(delivery_db, payments_db, "consignment.corrected") == 1
    assert await carry(delivery_db, payments_db, "consignment.corrected") == 1  # a repeat has no second effect
    after = await receivable_of(payments_db, sabina["id"])
    assert (after.accepted_value, after.fees, after.amount) == (18914, 946, 17968)
    assert after.held_for_correction is None and after.entry_id != before.entry_id
    async with payments_db.session() as session:
        reversal = (await session.execute(select(entries).where(entries.c.reverses_entry_id == before.entry_id))).one()
        assert reversal.kind == "reversal" and "recepción corregida" in reversal.description
        assert (await pronto.eligibility(session=session, producer_id=11))["eligible_value"] == 17968
    await ledger_is_consistent(payments_db)
    assert await balance_of(payments_db, "producer:11") == 17968  # owed to her: the corrected value net of fees
    assert await balance_of(payments_db, "consumer:31") == 20584 - 1670  # she pays for 8 kg, not 10

    async with delivery_db.session() as session:
        kept = (await session.execute(select(ConsignmentCorrection))).scalar_one()
    assert kept.corrected_by == 7 and kept.reason == "la balanza pesaba de más"
    assert kept.before["accepted_value"] == "205.84" and kept.after["accepted_value"] == "189.14"
    assert [ln["received_quantity"] for ln in kept.before["lines"]] == ["10", "2"]


async def test_receipt_correction_after_an_advance_is_refused(services, keys):
    delivery, delivery_db, payments_db = services
    sabina = await delivered_receipt(delivery, delivery_db, payments_db, keys)
    async with payments_db.session() as session:
        await pronto.register_financier(session=session, financier_id=1, name="Banco", kind="development_bank")
        fund = await pronto.open_fund(session=session, financier_id=1, name="Fondo", cap=1_000_000)
        policy = await pronto.create_policy(
            session=session, financier_id=1, fund_id=fund.id, name="pronto", advance_rate=Decimal("0.8"),
            fee_kind="percent", fee_value=Decimal("2"), min_amount=1_000, max_amount=500_000,
            producer_limit=500_000, auto_approve_up_to=500_000)
        await accept_terms_in(session, policy_id=policy.id, producer_id=11)
        advance = await pronto.request_advance(session=session, producer_id=11, policy_id=policy.id, amount=10_000,
                                               receivable_ids=None)
        assert advance.status == "disbursed"

    r = await delivery.post(f"/consignments/{sabina['id']}/corrections", json=SHORT, headers=coordinator(keys))
    assert r.status_code == 409
    error = r.json()["error"]
    assert error["code"] == "receivable_advanced" and f"advance {advance.id} (disbursed)" in error["message"]
    assert "financier" in error["message"]
    assert (await consignment_of(delivery, keys, 11))["accepted_value"] == "205.84"  # nothing changed
    assert await carry(delivery_db, payments_db, "consignment.corrected") == 0
    assert (await receivable_of(payments_db, sabina["id"])).amount == 19555


async def test_receipt_correction_waits_for_payments_to_record_the_receipt(services, keys):
    delivery, delivery_db, payments_db = services
    point = await create_point(delivery, keys)
    await apply(delivery_db, closed_cycle(point["id"]))
    sabina = await consignment_of(delivery, keys, 11)
    not_yet = await delivery.post(f"/consignments/{sabina['id']}/corrections", json=SHORT, headers=coordinator(keys))
    assert not_yet.status_code == 409 and not_yet.json()["error"]["code"] == "consignment_not_received"
    await delivery.post(f"/consignments/{sabina['id']}/receive", json=FULL, headers=coordinator(keys))
    r = await delivery.post(f"/consignments/{sabina['id']}/corrections", json=SHORT, headers=coordinator(keys))
    assert r.status_code == 409 and r.json()["error"]["code"] == "receivable_not_recorded"
    assert (await consignment_of(delivery, keys, 11))["accepted_value"] == "205.84"
    too_much = await delivery.post(f"/consignments/{sabina['id']}/corrections", headers=coordinator(keys),
                                   json={"lines": [{"product_id": 101, "received_quantity": "100"}], "reason": "x" * 5})
    assert too_much.status_code == 422 and too_much.json()["error"]["code"] == "received_exceeds_ordered"
    await close_cycle(payments_db, 5)
    await carry(delivery_db, payments_db, "consignment.delivered")  # the relay catches up; try again
    again = await delivery.post(f"/consignments/{sabina['id']}/corrections", json=SHORT, headers=coordinator(keys))
    assert again.status_code == 200 and again.json()["accepted_value"] == "189.14"
