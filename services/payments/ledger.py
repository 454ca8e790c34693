"""The double-entry ledger: typed accounts, balanced append-only journal entries, derived balances.

Every money movement of the service goes through `post_entry`. An entry has two or more postings
in BOB centavos that sum to zero (debits positive, credits negative) and a client-supplied id that
is unique: posting the same id again returns the first entry and changes nothing. Entries and
postings are never updated or deleted; a correction is a reversing entry (`reverse_entry`).

Each account carries `balance`, the sum of its postings, updated by the same transaction that
inserts them. The entry's accounts are locked first (`SELECT ... FOR UPDATE` in ascending id
order, so two entries touching the same accounts never deadlock), and an entry that would take an
account not designated to go negative across zero is refused before anything is written.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import case, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import Conflict, InvalidInput, NotFound
from services.common.tables import insert_ignoring_conflict, utcnow
from services.payments.models import accounts, entries, postings


class AccountKind(StrEnum):
    consumer = "consumer"  # debit: what a consumer owes (a credit balance is her credit with us)
    consumer_credit = "consumer_credit"  # credit: a consumer's saldo a favor, to spend or be refunded
    producer = "producer"  # credit: what is owed to a producer for accepted goods (net payable)
    organization = "organization"  # credit: what is owed to an organization
    producer_advances = "producer_advances"  # debit: a producer's advances to repay (principal + fee)
    financier_fund = "financier_fund"  # debit: a fund's money available for advances
    financier_capital = "financier_capital"  # credit: what the financier put into its funds
    financier_fees = "financier_fees"  # credit: advance fees earned by a financier
    platform_fees = "platform_fees"  # credit: the platform's fee income (cycle and order fees)
    cash_clearing = "cash_clearing"  # debit: cash collected at pickup, not yet banked
    qr_clearing = "qr_clearing"  # debit: QR transfers received
    bank_clearing = "bank_clearing"  # debit: bank transfers received
    order_clearing = "order_clearing"  # credit: goods ordered and owed by consumers, not yet delivered
    adjustments = "adjustments"  # debit: manual corrections, may go either way
    producer_payable = "producer_payable"  # credit: a producer's net payable after a cycle's final settlement
    payouts_in_transit = "payouts_in_transit"  # credit: payouts sent to a bank or wallet, not yet confirmed


NORMAL_SIDE = {
    AccountKind.consumer: "debit", AccountKind.consumer_credit: "credit", AccountKind.producer: "credit", AccountKind.organization: "credit",
    AccountKind.producer_advances: "debit", AccountKind.financier_fund: "debit",
    AccountKind.financier_capital: "credit", AccountKind.financier_fees: "credit",
    AccountKind.platform_fees: "credit", AccountKind.cash_clearing: "debit",
    AccountKind.qr_clearing: "debit", AccountKind.bank_clearing: "debit",
    AccountKind.order_clearing: "credit", AccountKind.adjustments: "debit",
    AccountKind.producer_payable: "credit", AccountKind.payouts_in_transit: "credit",
}

# The only kinds allowed to cross to the other side of their normal balance:
#  - a consumer's account goes to credit when she paid more than she now owes (cancellation, short
#    delivery): that credit is hers to spend or to be refunded;
#  - the order clearing account when a delivery is reported before its orders are known;
#  - manual adjustments.
MAY_GO_NEGATIVE = {AccountKind.consumer, AccountKind.order_clearing, AccountKind.adjustments}

# Accounts that exist once (no owner).
SINGLETONS = {
    AccountKind.platform_fees: "Comisiones de la plataforma",
    AccountKind.cash_clearing: "Efectivo cobrado en puntos de entrega",
    AccountKind.qr_clearing: "Cobros por QR",
    AccountKind.bank_clearing: "Cobros por transferencia bancaria",
    AccountKind.order_clearing: "Pedidos por entregar y liquidar",
    AccountKind.adjustments: "Ajustes manuales",
    AccountKind.payouts_in_transit: "Pagos a productoras en curso",
}

CURRENCY = "BOB"


@dataclass(frozen=True)
class Posting:
    account_id: int
    amount: int  # centavos, debit positive


def account_code(kind: AccountKind, owner_id: int | None) -> str:
    return kind.value if owner_id is None else f"{kind.value}:{owner_id}"


async def ensure_account(*, session: AsyncSession, kind: AccountKind, owner_id: int | None = None,
                         name: str | None = None) -> int:
    """The id of the account of this kind and owner, opening it on first use."""
    return (await ensure_accounts(session=session, wanted=[(kind, owner_id, name)]))[0]


async def ensure_accounts(*, session: AsyncSession,
                          wanted: list[tuple[AccountKind, int | None, str | None]]) -> list[int]:
    """The ids of several accounts (kind, owner, name), in order, opening those not yet open: one
    query when they all exist, as on every order after the first of a consumer."""
    codes = [account_code(kind, owner_id) for kind, owner_id, _ in wanted]
    found = await _account_ids(session, codes)
    missing = [(kind, owner_id, name) for (kind, owner_id, name), code in zip(wanted, codes, strict=True)
               if code not in found]
    if missing:
        now = utcnow()
        for kind, owner_id, name in missing:
            await session.execute(insert_ignoring_conflict(session, accounts).values(
                code=account_code(kind, owner_id), kind=kind.value, owner_id=owner_id,
                # a name composed from people's input (fund and financier names) is cut to fit its column
                name=(name or SINGLETONS.get(kind) or f"{kind.value} {owner_id}")[:accounts.c.name.type.length],
                normal_side=NORMAL_SIDE[kind], may_go_negative=kind in MAY_GO_NEGATIVE, balance=0,
                created_at=now))
        found = await _account_ids(session, codes)
    return [found[code] for code in codes]


async def _account_ids(session: AsyncSession, codes: list[str]) -> dict[str, int]:
    rows = await session.execute(select(accounts.c.code, accounts.c.id).where(accounts.c.code.in_(set(codes))))
    return {code: account_id for code, account_id in rows}


async def account_by_id(*, session: AsyncSession, account_id: int):
    row = (await session.execute(select(accounts).where(accounts.c.id == account_id))).one_or_none()
    if row is None:
        raise NotFound(f"account {account_id} does not exist", code="account_not_found")
    return row


@dataclass(frozen=True)
class PostedEntry:
    id: int
    client_id: str
    created: bool  # False when the client id had already been posted (nothing changed)


async def post_entry(*, session: AsyncSession, client_id: str, kind: str, description: str,
                     lines: list[Posting], producer_id: int | None = None, cycle_id: int | None = None,
                     financier_id: int | None = None, ref: str | None = None,
                     reverses_entry_id: int | None = None) -> PostedEntry:
    """Post one balanced entry, or return the one already posted under `client_id`."""
    lines, deltas = _checked(client_id, lines)
    # Lock the balance rows in ascending id order (PostgreSQL; SQLite's BEGIN IMMEDIATE serialises
    # writers), then refuse before writing anything if an account would cross a side it may not.
    rows = await _locked(session, deltas)
    refusal = _refusal(rows, {a: row.balance for a, row in rows.items()}, deltas)
    if refusal is not None:
        existing = await _entry_id_for(session, client_id)
        if existing is not None:  # a repeat of an entry posted when the balances allowed it
            return PostedEntry(existing, client_id, False)
        raise refusal
    result = await session.execute(insert_ignoring_conflict(session, entries).values(
        client_id=client_id, kind=kind, description=description[:300], currency=CURRENCY,
        reverses_entry_id=reverses_entry_id, producer_id=producer_id, cycle_id=cycle_id,
        financier_id=financier_id, ref=ref, created_at=utcnow()).returning(entries.c.id))
    entry_id = result.scalar_one_or_none()
    if entry_id is None:  # this client id was posted before: the first entry stands, nothing changes
        return PostedEntry(await _entry_id_for(session, client_id), client_id, False)
    await _apply(session, deltas, [{"entry_id": entry_id, "account_id": p.account_id, "amount": p.amount}
                                   for p in lines])
    return PostedEntry(entry_id, client_id, True)


@dataclass(frozen=True)
class EntryDraft:
    """An entry to post with `post_entries` (the arguments of `post_entry`)."""

    client_id: str
    kind: str
    description: str
    lines: list[Posting]
    producer_id: int | None = None
    cycle_id: int | None = None
    financier_id: int | None = None
    ref: str | None = None


class LotPostedMeanwhile(Exception):
    """An entry of a lot had been posted already: the lot's transaction is rolled back and its entries
    are posted one by one instead (the event consumer does that by itself)."""


async def post_entries(*, session: AsyncSession, drafts: list[EntryDraft]) -> list[PostedEntry]:
    """Post several entries with the effects of `post_entry` on each in turn, in five statements for
    the lot (lock the accounts, insert the entries, update the balances, insert the postings) instead
    of four per entry. Each entry is checked against the balances the ones before it leave; if one
    would be refused, or a client id repeats in the lot, they are posted one by one (same answers, same
    refusals). Raises `LotPostedMeanwhile` if a client id had been posted before."""
    checked = [(draft, *_checked(draft.client_id, draft.lines)) for draft in drafts]
    one_by_one = len(drafts) < 2 or len({d.client_id for d in drafts}) < len(drafts)
    if not one_by_one:
        rows = await _locked(session, {a for _, _, deltas in checked for a in deltas})
        running = {a: row.balance for a, row in rows.items()}
        for _, _, deltas in checked:
            if _refusal(rows, running, deltas) is not None:
                one_by_one = True
                break
            for account_id, delta in deltas.items():
                running[account_id] += delta
    if one_by_one:
        return [await post_entry(session=session, client_id=d.client_id, kind=d.kind, description=d.description,
                                 lines=d.lines, producer_id=d.producer_id, cycle_id=d.cycle_id,
                                 financier_id=d.financier_id, ref=d.ref) for d in drafts]
    now = utcnow()
    inserted = await session.execute(insert_ignoring_conflict(session, entries).returning(
        entries.c.id, entries.c.client_id), [dict(
            client_id=d.client_id, kind=d.kind, description=d.description[:300], currency=CURRENCY,
            reverses_entry_id=None, producer_id=d.producer_id, cycle_id=d.cycle_id, financier_id=d.financier_id,
            ref=d.ref, created_at=now) for d in drafts])
    ids = {client_id: entry_id for entry_id, client_id in inserted}
    if len(ids) != len(drafts):
        raise LotPostedMeanwhile(f"{len(drafts) - len(ids)} of {len(drafts)} entries were posted before")
    total: dict[int, int] = {}
    for _, _, deltas in checked:
        for account_id, delta in deltas.items():
            total[account_id] = total.get(account_id, 0) + delta
    await _apply(session, {a: d for a, d in total.items() if d}, [
        {"entry_id": ids[draft.client_id], "account_id": p.account_id, "amount": p.amount}
        for draft, lines, _ in checked for p in lines])
    return [PostedEntry(ids[d.client_id], d.client_id, True) for d in drafts]


def _checked(client_id: str, lines: list[Posting]) -> tuple[list[Posting], dict[int, int]]:
    """The entry's non-zero postings and the change of each account, or why the entry is malformed."""
    if not client_id or len(client_id) > 160:
        raise InvalidInput("an entry needs a client id of 1 to 160 characters", code="invalid_entry")
    lines = [p for p in lines if p.amount != 0]
    if len(lines) < 2:
        raise InvalidInput("an entry needs at least two non-zero postings", code="unbalanced_entry")
    if any(not isinstance(p.amount, int) for p in lines):
        raise InvalidInput("posting amounts are integer centavos", code="invalid_entry")
    if sum(p.amount for p in lines) != 0:
        raise InvalidInput("the postings of an entry must sum to zero",
                           code="unbalanced_entry", details={"sum": sum(p.amount for p in lines)})
    deltas: dict[int, int] = {}
    for p in lines:
        deltas[p.account_id] = deltas.get(p.account_id, 0) + p.amount
    return lines, {a: d for a, d in deltas.items() if d}


async def _apply(session: AsyncSession, deltas: dict[int, int], posting_rows: list[dict]) -> None:
    """Move the balances by `deltas` and insert the postings (the entries exist)."""
    if deltas:
        change = case(*[(accounts.c.id == a, d) for a, d in sorted(deltas.items())], else_=0)
        await session.execute(update(accounts).where(accounts.c.id.in_(sorted(deltas)))
                              .values(balance=accounts.c.balance + change))
    await session.execute(insert(postings), posting_rows)


async def _entry_id_for(session: AsyncSession, client_id: str) -> int | None:
    return (await session.execute(select(entries.c.id).where(entries.c.client_id == client_id))).scalar_one_or_none()


async def _locked(session: AsyncSession, account_ids: Iterable[int]) -> dict:
    """The accounts' rows, locked in ascending id order (an unknown account is refused)."""
    account_ids = sorted(account_ids)
    query = select(accounts).where(accounts.c.id.in_(account_ids)).order_by(accounts.c.id)
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    rows = {r.id: r for r in (await session.execute(query)).all()}
    for account_id in account_ids:
        if account_id not in rows:
            raise NotFound(f"account {account_id} does not exist", code="account_not_found")
    return rows


def _refusal(rows: dict, balances: dict[int, int], deltas: dict[int, int]) -> Conflict | None:
    """Why the entry must be refused at these balances, if it must: an account not designated to go
    negative would cross to the other side of its normal balance."""
    for account_id, delta in sorted(deltas.items()):
        row = rows[account_id]
        if not row.may_go_negative and _normal(row.normal_side, balances[account_id] + delta) < 0:
            return Conflict(f"account {row.code} would go negative; it is not designated to",
                            code="insufficient_balance",
                            details={"account": row.code, "balance": _normal(row.normal_side, balances[account_id]),
                                     "change": _normal(row.normal_side, delta)})
    return None


def _normal(side: str, raw: int) -> int:
    return raw if side == "debit" else -raw


def normal_balance(row) -> int:
    """The balance as its owner reads it: positive on the account's normal side."""
    return _normal(row.normal_side, row.balance)


async def reverse_entry(*, session: AsyncSession, entry_id: int, client_id: str, reason: str) -> PostedEntry:
    """Correct an entry by posting its mirror image; an entry is reversed at most once."""
    original = (await session.execute(select(entries).where(entries.c.id == entry_id))).one_or_none()
    if original is None:
        raise NotFound(f"entry {entry_id} does not exist", code="entry_not_found")
    again = await _entry_id_for(session, client_id)
    if again is not None:
        return PostedEntry(again, client_id, False)
    already = (await session.execute(select(entries.c.id).where(entries.c.reverses_entry_id == entry_id))
               ).scalar_one_or_none()
    if already is not None:
        raise Conflict(f"entry {entry_id} was already reversed by entry {already}", code="already_reversed",
                       details={"reversal_entry_id": already})
    if original.reverses_entry_id is not None:
        raise Conflict("a reversing entry is not reversed; post a new entry instead", code="reversal_of_reversal")
    rows = (await session.execute(select(postings.c.account_id, postings.c.amount)
                                  .where(postings.c.entry_id == entry_id).order_by(postings.c.id))).all()
    return await post_entry(session=session, client_id=client_id, kind="reversal",
                            description=f"Reversión de asiento {entry_id}: {reason}"[:300],
                            lines=[Posting(r.account_id, -r.amount) for r in rows],
                            producer_id=original.producer_id, cycle_id=original.cycle_id,
                            financier_id=original.financier_id, ref=original.ref, reverses_entry_id=entry_id)


async def entry_with_postings(*, session: AsyncSession, entry_id: int) -> dict:
    row = (await session.execute(select(entries).where(entries.c.id == entry_id))).one_or_none()
    if row is None:
        raise NotFound(f"entry {entry_id} does not exist", code="entry_not_found")
    lines = (await session.execute(
        select(postings.c.account_id, accounts.c.code, postings.c.amount)
        .join(accounts, accounts.c.id == postings.c.account_id)
        .where(postings.c.entry_id == entry_id).order_by(postings.c.id))).all()
    return {"entry": row, "postings": lines}


async def derived_balance(*, session: AsyncSession, account_id: int) -> int:
    """The balance recomputed from the postings (the truth the stored balance must equal)."""
    total = (await session.execute(select(func.coalesce(func.sum(postings.c.amount), 0))
                                   .where(postings.c.account_id == account_id))).scalar_one()
    return int(total)


# the clearing account a consumer payment or a disbursement goes through, by its method
CLEARING_BY_METHOD = {"cash": AccountKind.cash_clearing, "qr": AccountKind.qr_clearing, "transfer": AccountKind.bank_clearing}
