"""an advance asked by the producer's organization keeps who asked and her recorded consent

Revision ID: 5b7e2c9d1a40
Revises: 9d3c5e7f1a28
Create Date: 2026-11-26 01:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '5b7e2c9d1a40'
down_revision: str | None = '9d3c5e7f1a28'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('advances', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requested_by', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('consent', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('advances', schema=None) as batch_op:
        batch_op.drop_column('consent')
        batch_op.drop_column('requested_by')
