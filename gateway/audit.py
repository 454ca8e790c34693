"""Consistency audit of a live installation: the invariants that span services, and each discrepancy
with the ids involved. It only reads: every service answers `GET /internal/audit` (its own checks and
the facts below, see services/common/audit.py) and the gateway crosses them.

Checked:
- stock conservation per product (catalog): `reserved` and `sold` are the sums of its reserved and
  committed order lines, and no counter is negative;
- slots (delivery): a point's `booked` per cycle is the number of bookings holding a slot;
- every placed order has exactly one confirmed booking (or one already picked up / no-show) and one
  payment-side order, placed;
- every failed or cancelled order holds no stock (no reserved line) and no slot (no held or confirmed
  booking), and payments does not count it as placed;
- the ledger balances (payments): every entry's postings add up to zero, every account's balance is
  the sum of its postings, no account below zero that may not be;
- receivables match received goods: one receivable per received consignment, of its accepted value;
- no order left pending beyond the recovery window (orders);
- every event's effect applied exactly once: each event in a process's outbox is in the inbox of
  every process that subscribes to it (the inbox row commits with the effect, and its key allows
  one), none is still unpublished, waiting or parked, and no inbox holds an id that no outbox
  emitted (within the outboxes' retention).
Events still in flight (an outbox not yet drained) can show as a discrepancy for a moment: audit a
quiet installation, or audit again.

`python -m gateway.audit` (`make audit`) prints the report and exits 1 when something is wrong.
"""

import asyncio
import json
import sys
from collections import Counter

from services.common.audit import discrepancy, event_facts
from services.common.http import ServiceClient
from services.common.money import from_centavos
from services.common.settings import EVENT_PROCESSES, SERVICE_NAMES
from services.common.transports import spec_subscribers

SLOT_HOLDING = ("held", "confirmed")
CONFIRMED = ("confirmed", "picked_up", "no_show")


async def gather(clients: dict[str, ServiceClient]) -> dict[str, dict]:
    """Every service's own audit answer, asked concurrently."""
    answers = await asyncio.gather(*(clients[name].call("GET", "/internal/audit") for name in SERVICE_NAMES))
    return dict(zip(SERVICE_NAMES, answers, strict=True))


def cross_checks(answers: dict[str, dict]) -> list[dict]:
    """The invariants between services, from the facts each one reported."""
    stock = set(answers["catalog"]["facts"]["orders_holding_stock"])
    bookings = answers["delivery"]["facts"]["bookings"]
    paid_side = answers["payments"]["facts"]["orders"]
    orders = answers["orders"]["facts"]
    found = []
    for order_id in map(str, orders["placed_orders"]):
        booking = bookings.get(order_id)
        if booking not in CONFIRMED:
            found.append(discrepancy("placed_order_booking", "delivery",
                                     f"order {order_id} is placed but its booking is {booking or 'missing'}",
                                     order_id=int(order_id)))
        if paid_side.get(order_id) != "placed":
            found.append(discrepancy("placed_order_payments", "payments",
                                     f"order {order_id} is placed but payments has it "
                                     f"{paid_side.get(order_id) or 'missing'}", order_id=int(order_id)))
    for order_id in map(str, orders["ended_orders"]):
        if order_id in stock:
            found.append(discrepancy("ended_order_holds_stock", "catalog",
                                     f"order {order_id} failed or was cancelled but still holds stock",
                                     order_id=int(order_id)))
        if bookings.get(order_id) in SLOT_HOLDING:
            found.append(discrepancy("ended_order_holds_slot", "delivery",
                                     f"order {order_id} failed or was cancelled but its booking is "
                                     f"{bookings[order_id]}", order_id=int(order_id)))
        if paid_side.get(order_id) == "placed":
            found.append(discrepancy("ended_order_payments", "payments",
                                     f"order {order_id} failed or was cancelled but payments has it placed",
                                     order_id=int(order_id)))
    received = {c["id"]: c for c in answers["delivery"]["facts"]["received_consignments"]}
    owed: dict[int, list[dict]] = {}
    for receivable in answers["payments"]["facts"]["receivables"]:
        owed.setdefault(receivable["consignment_id"], []).append(receivable)
    for consignment_id, goods in sorted(received.items()):
        matching = owed.pop(consignment_id, [])
        if len(matching) != 1:
            found.append(discrepancy("receivable_per_received_goods", "payments",
                                     f"consignment {consignment_id} was received; payments holds "
                                     f"{len(matching)} receivables for it", consignment_id=consignment_id))
        elif (goods["accepted_value"] or 0) != matching[0]["accepted_value"]:
            found.append(discrepancy(
                "receivable_per_received_goods", "payments",
                f"consignment {consignment_id} was accepted for Bs {from_centavos(goods['accepted_value'] or 0)} "
                f"but its receivable {matching[0]['id']} is for Bs {from_centavos(matching[0]['accepted_value'])}",
                consignment_id=consignment_id, receivable_id=matching[0]["id"]))
    for consignment_id, receivables in sorted(owed.items()):
        for receivable in receivables:
            found.append(discrepancy("receivable_per_received_goods", "payments",
                                     f"receivable {receivable['id']} is for consignment {consignment_id}, "
                                     "which delivery never received",
                                     consignment_id=consignment_id, receivable_id=receivable["id"]))
    return found


def events_applied_once(events: dict[str, dict]) -> tuple[list[dict], dict[str, int]]:
    """Each process's outbox against its subscribers' inboxes (`events`: {process: event facts})."""
    found = []
    emitted: set[str] = set()
    counts = {"events_emitted": 0, "events_applied": 0}
    for source in EVENT_PROCESSES:
        facts = events.get(source)
        if facts is None:
            continue
        subscribers = spec_subscribers(source)
        emitted.update(facts["published"], facts["unpublished"])
        counts["events_emitted"] += len(facts["published"]) + len(facts["unpublished"])
        for event_id, event_type in sorted(facts["unpublished"].items()):
            found.append(discrepancy("event_applied_once", source,
                                     f"event {event_id} ({event_type}) is still in the {source} outbox, unpublished",
                                     event_id=event_id, source=source))
        for event_id, event_type in sorted(facts["published"].items()):
            for target in subscribers(event_type):
                seen = events.get(target)
                if seen is None or event_id in seen["applied"]:
                    continue
                where = ("parked" if event_id in seen["parked"] else "waiting" if event_id in seen["waiting"]
                         else "missing")
                found.append(discrepancy("event_applied_once", target,
                                         f"event {event_id} ({event_type}) from {source} was published but is "
                                         f"{where} in the {target} inbox", event_id=event_id, source=source,
                                         subscriber=target))
    for target in EVENT_PROCESSES:
        facts = events.get(target)
        if facts is None:
            continue
        counts["events_applied"] += len(facts["applied"]) + facts.get("applied_earlier", 0)
        for event_id, recent in sorted(facts["applied"].items()):
            if recent and event_id not in emitted:
                found.append(discrepancy("event_applied_once", target,
                                         f"event {event_id} was applied by {target} but no outbox emitted it",
                                         event_id=event_id, subscriber=target))
    return found, counts


async def run_audit(clients: dict[str, ServiceClient], gateway_events: dict | None = None) -> dict:
    """The audit report: every discrepancy (the services' own, then the cross-service ones) and counts.
    `gateway_events`: the gateway's own event facts (it subscribes to events too), read in-process."""
    answers = await gather(clients)
    events = {name: answers[name]["facts"]["events"] for name in SERVICE_NAMES}
    if gateway_events is not None:
        events["gateway"] = gateway_events
    applied, event_counts = events_applied_once(events)
    found = [d for name in SERVICE_NAMES for d in answers[name]["discrepancies"]] + cross_checks(answers) + applied
    facts = answers["orders"]["facts"]
    return {"ok": not found, "discrepancies": found, "by_check": dict(Counter(d["check"] for d in found)),
            "checked": {"placed_orders": len(facts["placed_orders"]), "ended_orders": len(facts["ended_orders"]),
                        "demo_history_orders_not_crossed": facts.get("demo_history_orders", 0),
                        "bookings": len(answers["delivery"]["facts"]["bookings"]),
                        "received_consignments": len(answers["delivery"]["facts"]["received_consignments"]),
                        "receivables": len(answers["payments"]["facts"]["receivables"]), **event_counts}}


async def gateway_event_facts(db, settings) -> dict:
    """The gateway's own outbox and inbox, read from its database."""
    from gateway.models import kernel

    async with db.session() as session:
        return await event_facts(session, kernel, settings.relay_retention_days)


async def _main() -> int:
    from gateway.settings import Settings
    from services.common.db import Database

    settings = Settings()
    secret = settings.resolved_service_secret()
    clients = {name: ServiceClient(name, settings.service_url(name), secret=secret, caller="audit", timeout=60)
               for name in SERVICE_NAMES}
    db = Database.from_url(settings.database_url)
    try:
        report = await run_audit(clients, await gateway_event_facts(db, settings))
    finally:
        for client in clients.values():
            await client.aclose()
        await db.dispose()
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(_main()))
