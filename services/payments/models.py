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
    # the account that asked (the producer's own, or her organization's acting for her) and, when
    # her organization asked, how she agreed, as the organization recorded it
    Column("requested_by", BigInteger, nullable=True),
    Column("consent", Text, nullable=True),
    CheckConstraint("principal > 0 AND fee >= 0", name="amounts"),
    CheckConstraint("principal_repaid <= principal AND fee_repaid <= fee", name="repaid_within_due"),
)
