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
- no order left pending beyond the recovery window (orders).
Events still in flight (an outbox not yet drained) can show as a discrepancy for a moment: audit a
quiet installation, or audit again.

`python -m gateway.audit` (`make audit`) prints the report and exits 1 when something is wrong.
"""

import asyncio
import json
import sys
from collections import Counter

from services.common.audit import discrepancy
from services.common.http import ServiceClient
from services.common.money import from_centavos
from services.common.settings import SERVICE_NAMES

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


async def run_audit(clients: dict[str, ServiceClient]) -> dict:
    """The audit report: every discrepancy (the services' own, then the cross-service ones) and counts."""
    answers = await gather(clients)
    found = [d for name in SERVICE_NAMES for d in answers[name]["discrepancies"]] + cross_checks(answers)
    facts = answers["orders"]["facts"]
    return {"ok": not found, "discrepancies": found, "by_check": dict(Counter(d["check"] for d in found)),
            "checked": {"placed_orders": len(facts["placed_orders"]), "ended_orders": len(facts["ended_orders"]),
                        "demo_history_orders_not_crossed": facts.get("demo_history_orders", 0),
                        "bookings": len(answers["delivery"]["facts"]["bookings"]),
                        "received_consignments": len(answers["delivery"]["facts"]["received_consignments"]),
                        "receivables": len(answers["payments"]["facts"]["receivables"])}}


async def _main() -> int:
    from gateway.settings import Settings

    settings = Settings()
    secret = settings.resolved_service_secret()
    clients = {name: ServiceClient(name, settings.service_url(name), secret=secret, caller="audit", timeout=60)
               for name in SERVICE_NAMES}
    try:
        report = await run_audit(clients)
    finally:
        for client in clients.values():
            await client.aclose()
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(_main()))
