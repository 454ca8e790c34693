"""Tables of the payments service, on its own metadata (see services.common.db.service_base).

Three groups: the ledger (accounts, journal entries, postings; append-only), the projections of
other services' events this service needs (cycles, orders, order lines, producer profiles), and the
money workflows built on the ledger (receivables, consumer payments, financiers, funds, policies,
advances). Amounts are integer centavos of bolivianos (BigInteger).
"""

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from services.common.db import service_base
from services.common.tables import BigId, kernel_tables
from services.common.timestamps import UtcDateTime

Base = service_base("payments")
kernel = kernel_tables(Base.metadata)
metadata = Base.metadata

Money = BigInteger  # integer centavos

# ---------------------------------------------------------------- ledger
accounts = Table(
    "ledger_accounts", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("code", String(120), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("owner_id", BigInteger, nullable=True),
    Column("name", String(200), nullable=False),
    # 'debit' accounts (what is held or owed to the books) or 'credit' accounts (what the books owe)
    Column("normal_side", String(6), nullable=False),
    Column("may_go_negative", Boolean, nullable=False),
    # Sum of the account's postings (debits positive), kept in the same transaction as the postings.
    Column("balance", Money, nullable=False, server_default=text("0")),
    Column("created_at", UtcDateTime(), nullable=False),
    CheckConstraint("normal_side IN ('debit', 'credit')", name="normal_side"),
    Index("ix_ledger_accounts_kind_owner", "kind", "owner_id"),
)

entries = Table(
    "journal_entries", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("client_id", String(160), nullable=False, unique=True),
    Column("kind", String(40), nullable=False),
    Column("description", String(300), nullable=False),
    Column("currency", String(3), nullable=False, server_default=text("'BOB'")),
    Column("reverses_entry_id", BigInteger, ForeignKey("journal_entries.id"), nullable=True, unique=True),
    Column("producer_id", BigInteger, nullable=True),
    Column("cycle_id", BigInteger, nullable=True),
    Column("financier_id", BigInteger, nullable=True),
    Column("ref", String(120), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    CheckConstraint("currency = 'BOB'", name="currency_bob"),
    Index("ix_journal_entries_producer_cycle", "producer_id", "cycle_id"),
    Index("ix_journal_entries_financier", "financier_id", "id"),
)

postings = Table(
    "postings", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("entry_id", BigInteger, ForeignKey("journal_entries.id"), nullable=False),
    Column("account_id", BigInteger, ForeignKey("ledger_accounts.id"), nullable=False),
    Column("amount", Money, nullable=False),  # debit positive, credit negative
    CheckConstraint("amount <> 0", name="amount_not_zero"),
    Index("ix_postings_account_entry", "account_id", "entry_id"),
    Index("ix_postings_entry", "entry_id"),
)

# ---------------------------------------------------------------- projections of other services' events
cycles = Table(
    "cycles", metadata,
    Column("cycle_id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=True),
    Column("delivery_date", Date, nullable=True),
    Column("fee_rules", JSON, nullable=True),
    Column("coordinator_account_id", BigInteger, nullable=True),
    Column("organization_id", BigInteger, nullable=True),
    Column("municipality_code", String(16), nullable=True),
    Column("closed_at", UtcDateTime(), nullable=True),
    # product id -> name, from cycle.closed, so statements name what was delivered
    Column("product_names", JSON, nullable=True),
)

orders = Table(
    "orders", metadata,
    Column("order_id", BigInteger, primary_key=True, autoincrement=False),
    Column("cycle_id", BigInteger, nullable=False, index=True),
    Column("consumer_account_id", BigInteger, nullable=False, index=True),
    Column("delivery_point_id", BigInteger, nullable=True),
    Column("fees_total", Money, nullable=False),
    Column("total", Money, nullable=False),
    Column("status", String(16), nullable=False),  # placed | cancelled
    Column("placed_at", UtcDateTime(), nullable=False),
    Column("placement_entry_id", BigInteger, ForeignKey("journal_entries.id"), nullable=True),
)

order_lines = Table(
    "order_lines", metadata,
    Column("line_id", String(64), primary_key=True),
    Column("order_id", BigInteger, ForeignKey("orders.order_id"), nullable=False, index=True),
    Column("producer_id", BigInteger, nullable=False),
    Column("product_id", BigInteger, nullable=False),
    Column("quantity", Numeric(14, 3), nullable=False),
    Column("unit", String(16), nullable=False),
    Column("unit_price", Money, nullable=False),
    Column("line_total", Money, nullable=False),
    Column("cancelled", Boolean, nullable=False, server_default=text("false")),
    # after delivery: the value accepted for this line (ordered value minus what was short or rejected)
    Column("accepted_value", Money, nullable=True),
    Column("receivable_id", BigInteger, ForeignKey("receivables.id"), nullable=True, index=True),
    # consumer payments allocated to this line (see payments.allocate_payment)
    Column("paid", Money, nullable=False, server_default=text("0")),
    Index("ix_order_lines_matching", "producer_id", "product_id"),
)

producer_profiles = Table(
    "producer_profiles", metadata,
    Column("producer_id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=True),
    Column("gender", String(16), nullable=True),  # female | male | other | None (unknown)
    Column("municipality_code", String(16), nullable=True, index=True),
    Column("organization_id", BigInteger, nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# ---------------------------------------------------------------- producer receivables
receivables = Table(
    "receivables", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("consignment_id", BigInteger, nullable=False, unique=True),
    Column("cycle_id", BigInteger, nullable=False),
    Column("producer_id", BigInteger, nullable=False),
    Column("organization_id", BigInteger, nullable=True),
    Column("delivery_point_id", BigInteger, nullable=True),
    Column("accepted_value", Money, nullable=False),
    Column("fees", Money, nullable=False),
    Column("amount", Money, nullable=False),  # accepted_value - fees: what the producer is owed
    Column("collected", Money, nullable=False, server_default=text("0")),
    Column("status", String(16), nullable=False),  # open | collected | uncollectible
    Column("lines", JSON, nullable=False),
    Column("fee_lines", JSON, nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("expected_collection_on", Date, nullable=False),
    # the advance this receivable backs; set once by a conditional UPDATE (never two advances)
    Column("advance_id", BigInteger, ForeignKey("advances.id"), nullable=True, index=True),
    # the newest receipt correction delivery announced (its correction id) and payments has not applied
    # yet: no advance may be drawn on the receivable while it is set
    Column("held_for_correction", BigInteger, nullable=True),
    Column("entry_id", BigInteger, ForeignKey("journal_entries.id"), nullable=False),
    CheckConstraint("fees >= 0 AND amount >= 0 AND collected >= 0", name="amounts_non_negative"),
    Index("ix_receivables_producer_cycle", "producer_id", "cycle_id"),
)

# ---------------------------------------------------------------- consumer payments
consumer_payments = Table(
    "consumer_payments", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("client_id", String(160), nullable=False, unique=True),
    Column("order_id", BigInteger, ForeignKey("orders.order_id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # payment | refund
    Column("method", String(16), nullable=False),  # cash | qr | transfer
    Column("amount", Money, nullable=False),
    Column("source", String(16), nullable=False),  # coordinator | webhook
    Column("provider", String(40), nullable=True),
    Column("provider_event_id", String(120), nullable=True),
    Column("reference", String(120), nullable=True),
    Column("recorded_by", BigInteger, nullable=True),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("entry_id", BigInteger, ForeignKey("journal_entries.id"), nullable=False),
    CheckConstraint("amount > 0", name="amount_positive"),
    UniqueConstraint("provider", "provider_event_id"),
)

# ---------------------------------------------------------------- consumer credit (saldo a favor)
# Each movement of a consumer's credit balance (services/payments/credit.py): `banked` (an order's
# excess: cancellation after payment, short delivery, overpayment), `spent` (paid an order with it),
# `refunded` (paid back to her). The balance itself is her `consumer_credit` ledger account.
credit_movements = Table(
    "credit_movements", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("client_id", String(160), nullable=False, unique=True),
    Column("consumer_account_id", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount", Money, nullable=False),
    Column("order_id", BigInteger, nullable=True),
    Column("method", String(16), nullable=True),  # of a refund: cash | qr | transfer
    Column("recorded_by", BigInteger, nullable=True),
    Column("entry_id", BigInteger, ForeignKey("journal_entries.id"), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("kind IN ('banked', 'spent', 'refunded')", name="kind"),
    Index("ix_credit_movements_consumer", "consumer_account_id", "id"),
)

# A consumer asks for her credit back (pending), an administrator pays it (paid: `movement_id`).
credit_refund_requests = Table(
    "credit_refund_requests", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("consumer_account_id", BigInteger, nullable=False),
    Column("amount", Money, nullable=False),
    Column("method", String(16), nullable=False),  # how she wants it: cash | qr | transfer
    Column("status", String(16), nullable=False),  # pending | paid
    Column("movement_id", BigInteger, ForeignKey("credit_movements.id"), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("status IN ('pending', 'paid')", name="status"),
    Index("ix_credit_refund_requests_status", "status", "id"),
    Index("ix_credit_refund_requests_consumer", "consumer_account_id", "id"),
)

# ---------------------------------------------------------------- pronto pago
financiers = Table(
    "financiers", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("kind", String(32), nullable=False),  # development_bank | trust_fund | cooperative | other
    Column("created_at", UtcDateTime(), nullable=False),
)

funds = Table(
    "funds", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("financier_id", BigInteger, ForeignKey("financiers.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("cap", Money, nullable=False),
    # principal disbursed and not yet repaid; never above `cap` (conditional UPDATE)
    Column("outstanding_principal", Money, nullable=False, server_default=text("0")),
    Column("account_id", BigInteger, ForeignKey("ledger_accounts.id"), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    # a trust fund (fideicomiso): the settlor (fideicomitente) puts the money in, the financier is the
    # trustee (fiduciario) and only members of the beneficiary organizations may draw on it
    Column("kind", String(16), nullable=False, server_default=text("'own'")),  # own | trust_fund
    Column("settlor", String(200), nullable=True),
    Column("beneficiary_organization_ids", JSON, nullable=True),
    CheckConstraint("cap > 0", name="cap_positive"),
    CheckConstraint("outstanding_principal >= 0 AND outstanding_principal <= cap", name="within_cap"),
    UniqueConstraint("financier_id", "name"),
)

advance_policies = Table(
    "advance_policies", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("financier_id", BigInteger, ForeignKey("financiers.id"), nullable=False, index=True),
    Column("fund_id", BigInteger, ForeignKey("funds.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("advance_rate", Numeric(6, 4), nullable=False),  # 0.8000 = 80 % of the eligible value
    Column("fee_kind", String(16), nullable=False),  # flat | percent | daily
    Column("fee_value", Numeric(12, 4), nullable=False),  # flat: bolivianos; percent: %; daily: % per day
    Column("min_amount", Money, nullable=False),
    Column("max_amount", Money, nullable=False),
    Column("producer_limit", Money, nullable=False),  # a producer's outstanding advances, at most
    Column("auto_approve_up_to", Money, nullable=True),  # None: every request waits for the financier
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", UtcDateTime(), nullable=False),
    # versions: a change of terms is a new row of the same series (version + 1); the old one is kept,
    # inactive, with the day it stopped applying (retired_at)
    Column("series_id", BigInteger, nullable=True, index=True),  # the first version's id (None: itself)
    Column("version", BigInteger, nullable=False, server_default=text("1")),
    Column("retired_at", UtcDateTime(), nullable=True),
    CheckConstraint("fee_kind IN ('flat', 'percent', 'daily')", name="fee_kind"),
    CheckConstraint("advance_rate > 0 AND advance_rate <= 1", name="advance_rate"),
    CheckConstraint("min_amount > 0 AND max_amount >= min_amount", name="min_max"),
)

advances = Table(
    "advances", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("producer_id", BigInteger, nullable=False, index=True),
    Column("financier_id", BigInteger, ForeignKey("financiers.id"), nullable=False, index=True),
    Column("fund_id", BigInteger, ForeignKey("funds.id"), nullable=False),
    Column("policy_id", BigInteger, ForeignKey("advance_policies.id"), nullable=False),
    # requested -> approved -> disbursed -> repaid; requested|approved -> rejected;
    # disbursed -> producer_debt when a backing receivable is declared uncollectible
    Column("status", String(16), nullable=False),
    Column("eligible_value", Money, nullable=False),
    Column("principal", Money, nullable=False),
    Column("fee", Money, nullable=False),
    Column("principal_repaid", Money, nullable=False, server_default=text("0")),
    Column("fee_repaid", Money, nullable=False, server_default=text("0")),
    Column("expected_collection_on", Date, nullable=False),
    Column("auto_approved", Boolean, nullable=False, server_default=text("false")),
    Column("reason", Text, nullable=True),
    Column("receivable_ids", JSON, nullable=False),
    Column("requested_at", UtcDateTime(), nullable=False),
    Column("decided_at", UtcDateTime(), nullable=True),
    Column("disbursed_at", UtcDateTime(), nullable=True),
    Column("disbursal_entry_id", BigInteger, nullable=True),
    # the producer's acceptance of the policy version's terms this advance was asked under
    Column("acceptance_id", BigInteger, ForeignKey("terms_acceptances.id"), nullable=True),
    # the account that asked (the producer's own, or her organization's acting for her) and, when
    # her organization asked, how she agreed, as the organization recorded it
    Column("requested_by", BigInteger, nullable=True),
    Column("consent", Text, nullable=True),
    CheckConstraint("principal > 0 AND fee >= 0", name="amounts"),
    CheckConstraint("principal_repaid <= principal AND fee_repaid <= fee", name="repaid_within_due"),
)

# ---------------------------------------------------------------- payouts and organization shares
organization_shares = Table(
    # an organization's commission on its members' sales, with history: a new rate closes the old one
    "organization_shares", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("organization_id", BigInteger, nullable=False),
    Column("rate", Numeric(6, 4), nullable=False),  # percent of the member's accepted sales: 5.0000 = 5 %
    # the organization receives its members' payouts and passes them on (the split is on both statements)
    Column("collects_for_members", Boolean, nullable=False, server_default=text("false")),
    Column("valid_from", UtcDateTime(), nullable=False),
    Column("valid_to", UtcDateTime(), nullable=True),  # None: in force
    Column("set_by", BigInteger, nullable=True),
    CheckConstraint("rate >= 0 AND rate <= 50", name="rate_range"),
    Index("ix_organization_shares_org", "organization_id", "valid_from"),
)

cycle_settlements = Table(
    # a cycle's final settlement, made once: its payables are fixed from then on
    "cycle_settlements", metadata,
    Column("cycle_id", BigInteger, primary_key=True, autoincrement=False),
    Column("settled_at", UtcDateTime(), nullable=False),
    Column("settled_by", BigInteger, nullable=True),
)

payables = Table(
    # what the final settlement leaves payable to one producer for one cycle, and how much of it is
    # committed to payout lines; `committed` only grows by a conditional UPDATE that never passes `amount`
    "payables", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("cycle_id", BigInteger, nullable=False),
    Column("producer_id", BigInteger, nullable=False),
    Column("organization_id", BigInteger, nullable=True),  # her organization (its share was taken)
    Column("collected_by_organization", Boolean, nullable=False, server_default=text("false")),
    Column("sales", Money, nullable=False),
    Column("fees", Money, nullable=False),
    Column("advance_deduction", Money, nullable=False),
    Column("share_rate", Numeric(6, 4), nullable=False),
    Column("organization_share", Money, nullable=False),
    Column("amount", Money, nullable=False),
    Column("committed", Money, nullable=False, server_default=text("0")),  # in pending or paid payout lines
    Column("paid", Money, nullable=False, server_default=text("0")),
    Column("entry_id", BigInteger, ForeignKey("journal_entries.id"), nullable=True),
    CheckConstraint("amount >= 0 AND organization_share >= 0", name="amounts_non_negative"),
    CheckConstraint("committed >= 0 AND committed <= amount AND paid >= 0 AND paid <= committed",
                    name="committed_within_amount"),
    UniqueConstraint("cycle_id", "producer_id"),
)

payout_batches = Table(
    "payout_batches", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("cycle_id", BigInteger, nullable=False, index=True),
    Column("organization_id", BigInteger, nullable=True),  # set when an organization made it
    Column("created_by", BigInteger, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
)

payout_lines = Table(
    # one transfer, wallet payment or cash hand-over: pending -> paid | failed; a failed line is
    # retried as a new line (`retry_of`)
    "payout_lines", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("batch_id", BigInteger, ForeignKey("payout_batches.id"), nullable=False, index=True),
    Column("cycle_id", BigInteger, nullable=False),
    Column("payee_kind", String(16), nullable=False),  # producer | organization
    Column("payee_id", BigInteger, nullable=False),
    Column("method", String(16), nullable=False),  # bank_transfer | mobile_wallet | cash
    Column("bank", String(80), nullable=True),
    Column("account_number", String(40), nullable=True),
    Column("wallet_number", String(20), nullable=True),
    Column("amount", Money, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reference", String(120), nullable=True),  # the provider's reference once paid
    Column("received_by", String(120), nullable=True),  # cash: who received it
    Column("failure_reason", String(300), nullable=True),
    Column("retry_of", BigInteger, ForeignKey("payout_lines.id"), nullable=True, unique=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("settled_at", UtcDateTime(), nullable=True),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("status IN ('pending', 'paid', 'failed')", name="status"),
    CheckConstraint("method IN ('bank_transfer', 'mobile_wallet', 'cash')", name="method"),
    CheckConstraint("payee_kind IN ('producer', 'organization')", name="payee_kind"),
)

payout_parts = Table(
    # the split of a payout line per producer (one part for a producer's own line)
    "payout_parts", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("line_id", BigInteger, ForeignKey("payout_lines.id"), nullable=False, index=True),
    Column("payable_id", BigInteger, ForeignKey("payables.id"), nullable=False, index=True),
    Column("producer_id", BigInteger, nullable=False),
    Column("amount", Money, nullable=False),
    CheckConstraint("amount > 0", name="amount_positive"),
)

# ---------------------------------------------------------------- trust funds and accepted terms
fund_contributions = Table(
    "fund_contributions", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("fund_id", BigInteger, ForeignKey("funds.id"), nullable=False, index=True),
    Column("client_id", String(160), nullable=False, unique=True),
    Column("amount", Money, nullable=False),
    Column("note", String(300), nullable=True),
    Column("recorded_by", BigInteger, nullable=True),
    Column("entry_id", BigInteger, ForeignKey("journal_entries.id"), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    CheckConstraint("amount > 0", name="contribution_positive"),
)

terms_acceptances = Table(
    "terms_acceptances", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("policy_id", BigInteger, ForeignKey("advance_policies.id"), nullable=False),
    Column("producer_id", BigInteger, nullable=False, index=True),
    Column("accepted_by_account_id", BigInteger, nullable=False),
    Column("accepted_by_role", String(16), nullable=False),  # producer | organization
    Column("organization_id", BigInteger, nullable=True),  # the organization that accepted for her
    Column("consent", String(300), nullable=True),  # how she consented (when her organization accepted)
    # the administrative cost she agreed to, as the version stated it
    Column("fee_kind", String(16), nullable=False),
    Column("fee_value", Numeric(12, 4), nullable=False),
    Column("policy_version", BigInteger, nullable=False),
    Column("accepted_at", UtcDateTime(), nullable=False),
    UniqueConstraint("policy_id", "producer_id"),
)
