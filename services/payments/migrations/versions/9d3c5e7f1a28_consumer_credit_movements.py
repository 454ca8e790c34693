"""consumer credit movements and refund requests (saldo a favor)

Revision ID: 9d3c5e7f1a28
Revises: 6a14583d5cb0
Create Date: 2026-11-26 01:20:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '9d3c5e7f1a28'
down_revision: str | None = '6a14583d5cb0'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'credit_movements',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('client_id', sa.String(length=160), nullable=False),
        sa.Column('consumer_account_id', sa.BigInteger(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('order_id', sa.BigInteger(), nullable=True),
        sa.Column('method', sa.String(length=16), nullable=True),
        sa.Column('recorded_by', sa.BigInteger(), nullable=True),
        sa.Column('entry_id', sa.BigInteger(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('amount > 0', name=op.f('ck_credit_movements_amount_positive')),
        sa.CheckConstraint("kind IN ('banked', 'spent', 'refunded')", name=op.f('ck_credit_movements_kind')),
        sa.ForeignKeyConstraint(['entry_id'], ['journal_entries.id'],
                                name=op.f('fk_credit_movements_entry_id_journal_entries')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_movements')),
        sa.UniqueConstraint('client_id', name=op.f('uq_credit_movements_client_id')),
    )
    op.create_index('ix_credit_movements_consumer', 'credit_movements', ['consumer_account_id', 'id'], unique=False)
    op.create_table(
        'credit_refund_requests',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('consumer_account_id', sa.BigInteger(), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('method', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('movement_id', sa.BigInteger(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('amount > 0', name=op.f('ck_credit_refund_requests_amount_positive')),
        sa.CheckConstraint("status IN ('pending', 'paid')", name=op.f('ck_credit_refund_requests_status')),
        sa.ForeignKeyConstraint(['movement_id'], ['credit_movements.id'],
                                name=op.f('fk_credit_refund_requests_movement_id_credit_movements')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_refund_requests')),
    )
    op.create_index('ix_credit_refund_requests_status', 'credit_refund_requests', ['status', 'id'], unique=False)
    op.create_index('ix_credit_refund_requests_consumer', 'credit_refund_requests', ['consumer_account_id', 'id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_credit_refund_requests_consumer', table_name='credit_refund_requests')
    op.drop_index('ix_credit_refund_requests_status', table_name='credit_refund_requests')
    op.drop_table('credit_refund_requests')
    op.drop_index('ix_credit_movements_consumer', table_name='credit_movements')
    op.drop_table('credit_movements')
