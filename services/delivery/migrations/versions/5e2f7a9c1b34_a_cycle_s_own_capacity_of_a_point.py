"""a cycle's own capacity of a point

Revision ID: 5e2f7a9c1b34
Revises: 6ae5465e825f
Create Date: 2026-11-26 01:15:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '5e2f7a9c1b34'
down_revision: str | None = '6ae5465e825f'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('point_capacities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cycle_capacity', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('point_capacities', schema=None) as batch_op:
        batch_op.drop_column('cycle_capacity')
