"""The ledger a bank would trust: balanced, append-only, idempotent by client id, derived balances."""

import pytest
from sqlalchemy import select, text, update

from services.common.errors import Conflict, InvalidInput
from services.payments.ledger import (
    AccountKind,
    Posting,
    derived_balance,
    ensure_account,
    post_entry,
    reverse_entry,
)
from services.payments.models import accounts, entries, postings
from tests.payments.helpers import ledger_is_consistent


async def _accounts(s):
    cash = await ensure_account(session=s, kind=AccountKind.cash_clearing)
    consumer = await ensure_account(session=s, kind=AccountKind.consumer, owner_id=1)
    producer = await ensure_account(session=s, kind=AccountKind.producer, owner_id=2)
    return cash, consumer, producer


async def test_an_entry_needs_two_postings_that_sum_to_zero(db):
    async with db.session() as s:
        cash, consumer, _ = await _accounts(s)
        with pytest.raises(InvalidInput, match="sum to zero"):
            await post_entry(session=s, client_id="e1", kind="t", description="t",
                             lines=[Posting(cash, 100), Posting(consumer, -99)])
        with pytest.raises(InvalidInput, match="two"):
            await post_entry(session=s, client_id="e1", kind="t", description="t", lines=[Posting(cash, 100)])
        with pytest.raises(InvalidInput, match="integer centavos"):
            await post_entry(session=s, client_id="e1", kind="t", description="t",
                             lines=[Posting(cash, 1.5), Posting(consumer, -1.5)])


async def test_repeating_a_client_id_returns_the_first_entry_and_changes_nothing(db):
    async with db.session() as s:
        cash, consumer, _ = await _accounts(s)
        first = await post_entry(session=s, client_id="pay-1", kind="t", description="t",
                                 lines=[Posting(cash, 500), Posting(consumer, -500)])
        again = await post_entry(session=s, client_id="pay-1", kind="t", description="t",
                                 lines=[Posting(cash, 900), Posting(consumer, -900)])
        assert first.created and not again.created and again.id == first.id
        assert await derived_balance(session=s, account_id=cash) == 500
        count = (await s.execute(select(entries.c.id).where(entries.c.client_id == "pay-1"))).all()
        assert len(count) == 1
    await ledger_is_consistent(db)


async def test_accounts_not_designated_cannot_go_negative_and_nothing_is_posted(db):
    async with db.session() as s:
        cash, consumer, producer = await _accounts(s)
        with pytest.raises(Conflict) as refused:
            await post_entry(session=s, client_id="refund-too-much", kind="t", description="t",
                             lines=[Posting(consumer, 100), Posting(cash, -100)])
        assert refused.value.code == "insufficient_balance"
        assert refused.value.details["account"] == "cash_clearing"
    async with db.session() as s:
        assert (await s.execute(select(entries).where(entries.c.client_id == "refund-too-much"))).first() is None
        # the producer account (credit side) cannot be debited past zero either
        with pytest.raises(Conflict):
            await post_entry(session=s, client_id="overpay-producer", kind="t", description="t",
                             lines=[Posting(producer, 100), Posting(cash, -100)])


async def test_a_consumer_account_may_go_to_credit_because_it_is_designated(db):
    async with db.session() as s:
        cash, consumer, _ = await _accounts(s)
        await post_entry(session=s, client_id="prepay", kind="t", description="t",
                         lines=[Posting(cash, 300), Posting(consumer, -300)])
        row = (await s.execute(select(accounts).where(accounts.c.id == consumer))).one()
        assert row.balance == -300 and row.may_go_negative
    await ledger_is_consistent(db)


async def test_corrections_are_reversing_entries_and_an_entry_is_reversed_once(db):
    async with db.session() as s:
        cash, consumer, _ = await _accounts(s)
        wrong = await post_entry(session=s, client_id="typo", kind="t", description="t",
                                 lines=[Posting(cash, 1000), Posting(consumer, -1000)])
        fix = await reverse_entry(session=s, entry_id=wrong.id, client_id="typo-fix", reason="monto errado")
        assert fix.created
        again = await reverse_entry(session=s, entry_id=wrong.id, client_id="typo-fix", reason="monto errado")
        assert again.id == fix.id and not again.created
        with pytest.raises(Conflict, match="already reversed"):
            await reverse_entry(session=s, entry_id=wrong.id, client_id="typo-fix-2", reason="otra vez")
        assert await derived_balance(session=s, account_id=cash) == 0
        rows = (await s.execute(select(postings.c.amount).where(postings.c.entry_id == fix.id)
                                .order_by(postings.c.id))).scalars().all()
        assert rows == [-1000, 1000]
    await ledger_is_consistent(db)


async def test_the_database_refuses_to_update_entries_or_postings(db):
    async with db.session() as s:
        cash, consumer, _ = await _accounts(s)
        posted = await post_entry(session=s, client_id="fixed", kind="t", description="t",
                                  lines=[Posting(cash, 100), Posting(consumer, -100)])
    for statement in (update(postings).where(postings.c.entry_id == posted.id).values(amount=1),
                      update(entries).where(entries.c.id == posted.id).values(description="edited")):
        with pytest.raises(Exception, match="append-only"):
            async with db.session() as s:
                await s.execute(statement)


async def test_stored_balances_equal_the_sum_of_postings(db):
    async with db.session() as s:
        cash, consumer, _ = await _accounts(s)
        for i in range(5):
            await post_entry(session=s, client_id=f"p{i}", kind="t", description="t",
                             lines=[Posting(cash, 100 + i), Posting(consumer, -(100 + i))])
        stored = (await s.execute(text("SELECT balance FROM ledger_accounts WHERE id = :i"), {"i": cash})).scalar_one()
        assert stored == await derived_balance(session=s, account_id=cash) == 510
    await ledger_is_consistent(db)


async def test_admins_post_manual_entries_idempotently_and_correct_them_by_reversal(db, client, keys):
    admin = keys.headers("admin", account_id=1)
    async with db.session() as s:
        cash, consumer, _ = await _accounts(s)
    body = {"client_id": "ajuste-2026-11", "description": "Cobro en efectivo sin recibo",
            "postings": [{"account_id": cash, "amount": "15.50"}, {"account_id": consumer, "amount": "-15.50"}]}
    first = await client.post("/entries", json=body, headers=admin)
    assert first.status_code == 201, first.text
    again = await client.post("/entries", json={**body, "description": "otra"}, headers=admin)
    assert again.json()["id"] == first.json()["id"]
    unbalanced = await client.post("/entries", json={**body, "client_id": "x", "postings": [
        {"account_id": cash, "amount": "15.50"}, {"account_id": consumer, "amount": "-15.49"}]}, headers=admin)
    assert unbalanced.status_code == 422 and unbalanced.json()["error"]["code"] == "unbalanced_entry"
    assert (await client.post("/entries", json=body, headers=keys.headers("coordinator"))).status_code == 403
    fix = await client.post(f"/entries/{first.json()['id']}/reverse",
                            json={"client_id": "ajuste-2026-11-rev", "reason": "duplicado"}, headers=admin)
    assert fix.status_code == 201 and fix.json()["reverses_entry_id"] == first.json()["id"]
    assert [p["amount"] for p in fix.json()["postings"]] == ["-15.50", "15.50"]
    twice = await client.post(f"/entries/{first.json()['id']}/reverse",
                              json={"client_id": "otra-rev", "reason": "duplicado"}, headers=admin)
    assert twice.status_code == 409
    await ledger_is_consistent(db)


async def balances_of(s, ids: list[int]) -> list[int]:
    rows = dict((await s.execute(select(accounts.c.id, accounts.c.balance).where(accounts.c.id.in_(ids)))).all())
    return [rows[i] for i in ids]


async def test_a_lot_of_entries_has_the_effects_of_posting_them_one_by_one(db):
    """`post_entries` (what the order.placed consumer posts a batch with) against `post_entry` entry by
    entry on a mirror set of accounts: the same balances after every lot, the same refusal at the same
    entry, and a lot holding an entry posted before is refused as a whole."""
    import random

    from services.payments.ledger import EntryDraft, LotPostedMeanwhile, post_entries

    kinds = (AccountKind.cash_clearing, AccountKind.producer, AccountKind.consumer, AccountKind.adjustments)
    rng = random.Random(7)
    async with db.session() as s:
        one = [await ensure_account(session=s, kind=k, owner_id=100 + n) for n, k in enumerate(kinds)]
        lot = [await ensure_account(session=s, kind=k, owner_id=200 + n) for n, k in enumerate(kinds)]

        refused_lots = 0
        for round_ in range(40):
            shapes = []
            for _ in range(rng.randint(2, 5)):
                picked = rng.sample(range(4), rng.randint(2, 3))
                amounts = [rng.randint(-400, 400) or 1 for _ in picked[:-1]]
                shapes.append(list(zip(picked, [*amounts, -sum(amounts)], strict=True)))
            if round_ % 4 == 3:  # an entry that empties the cash account past zero: refused, wherever it is
                shapes.insert(rng.randint(0, len(shapes)), [(0, -1_000_000), (3, 1_000_000)])

            def drafts(ids, side, shapes=shapes, round_=round_):
                return [EntryDraft(client_id=f"{side}-{round_}-{n}", kind="t", description="t",
                                   lines=[Posting(ids[a], amount) for a, amount in shape])
                        for n, shape in enumerate(shapes)]

            outcome_one = outcome_lot = None
            try:
                for d in drafts(one, "one"):
                    await post_entry(session=s, client_id=d.client_id, kind=d.kind, description=d.description,
                                     lines=d.lines)
            except Conflict as exc:
                outcome_one = (exc.code, exc.details["change"])
            try:
                posted = await post_entries(session=s, drafts=drafts(lot, "lot"))
                assert [p.created for p in posted] == [True] * len(shapes)
            except Conflict as exc:
                outcome_lot = (exc.code, exc.details["change"])
            refused_lots += outcome_lot is not None
            assert outcome_lot == outcome_one
            assert await balances_of(s, lot) == await balances_of(s, one)
        assert refused_lots >= 10  # both ways were walked: lots posted at once, and refused ones

    await ledger_is_consistent(db)
    async with db.session() as s:
        before = await balances_of(s, lot)
    with pytest.raises(LotPostedMeanwhile):  # the consumer then posts the lot's entries one by one
        async with db.session() as s:
            await post_entries(session=s, drafts=[
                EntryDraft(client_id="fresh", kind="t", description="t", lines=[Posting(lot[2], 5), Posting(lot[3], -5)]),
                EntryDraft(client_id="lot-0-0", kind="t", description="t", lines=[Posting(lot[2], 7), Posting(lot[3], -7)])])
    async with db.session() as s:
        assert await balances_of(s, lot) == before
        assert (await s.execute(select(entries.c.id).where(entries.c.client_id == "fresh"))).first() is None
