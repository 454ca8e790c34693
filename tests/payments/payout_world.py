"""A cycle with three producers, ready for its final settlement (the worked example of
docs/payments.md, "Payouts and organization shares"):

- Rosa (producer 7) sells Bs 100.00 on her own;
- Juana (producer 8) sells Bs 50.00 as a member of organization 3, which takes 5 % and collects for
  its members;
- Elena (producer 9) sells Bs 200.00 and took an advance of Bs 156.80 (80 % of her net Bs 196.00)
  with a 2 % fee, Bs 3.14.

The cycle charges producers a 2 % admin fee; consumers pay everything by bank transfer, which
repays Elena's financier Bs 159.94 first.
"""

from decimal import Decimal

from services.payments.advances import create_policy, open_fund, register_financier, request_advance
from services.payments.collections import record_payment
from services.payments.order_book import remember_producer
from services.payments.shares import set_share
from tests.payments.helpers import close_cycle, deliver, place_order

COORDINATOR = 900
ORGANIZATION = 3
ROSA, JUANA, ELENA = 7, 8, 9
FEES = [{"kind": "admin", "basis": "percent", "value": "2", "payer": "producer"}]
# producer -> (consumer, product, kg, unit price)
SALES = {ROSA: (1, 70, "10", "10.00"), JUANA: (2, 80, "4", "12.50"), ELENA: (3, 90, "20", "10.00")}
# what the final settlement must leave payable, in centavos
PAYABLE = {ROSA: 9800, JUANA: 4650, ELENA: 3606}
JUANA_SHARE = 250


async def build(db, cycle: int = 30, *, share_advance_and_payments: bool = True) -> None:
    """The cycle delivered; with `share_advance_and_payments=False` the organization's share, Elena's
    advance and the consumers' payments are left for the caller to make (through the API)."""
    async with db.session() as s:
        if share_advance_and_payments:
            await set_share(session=s, organization_id=ORGANIZATION, rate=Decimal("5"), collects_for_members=True,
                            set_by=703)
        await remember_producer(session=s, producer_id=JUANA, name="Juana", organization_id=ORGANIZATION)
        await register_financier(session=s, financier_id=40, name="Fideicomiso", kind="trust_fund")
        fund = await open_fund(session=s, financier_id=40, name="Fondo", cap=10_000_000)
        await create_policy(session=s, financier_id=40, fund_id=fund.id, name="Pronto pago",
                            advance_rate=Decimal("0.8"), fee_kind="percent", fee_value=Decimal("2"), min_amount=100,
                            max_amount=1_000_000, producer_limit=1_000_000, auto_approve_up_to=1_000_000)
    await close_cycle(db, cycle, fee_rules=FEES, coordinator_account_id=COORDINATOR)
    for producer, (consumer, product, kg, price) in SALES.items():
        order = cycle * 100 + producer
        await place_order(db, order, cycle, consumer=consumer, lines=[(f"{order}-1", producer, product, kg, price)])
        await deliver(db, order * 10, cycle, producer=producer, lines=[(product, kg, kg, price)])
    if not share_advance_and_payments:
        return
    async with db.session() as s:
        advance = await request_advance(session=s, producer_id=ELENA, policy_id=None, amount=15680,
                                        receivable_ids=None)
        assert (advance.status, advance.principal, advance.fee) == ("disbursed", 15680, 314)
    for producer, (_, _, kg, price) in SALES.items():
        async with db.session() as s:
            await record_payment(session=s, order_id=cycle * 100 + producer, source="coordinator",
                                 amount=int(Decimal(kg) * Decimal(price) * 100), method="transfer",
                                 client_id=f"pay-{cycle}-{producer}")
