"""cycles remember the closing-soon notice

Revision ID: 7b1e0c4d2a91
Revises: 14a9f4ab5ac7
Create Date: 2026-11-26 01:10:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '7b1e0c4d2a91'
down_revision: str | None = '14a9f4ab5ac7'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('cycles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('closing_soon_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('cycles', schema=None) as batch_op:
        batch_op.drop_column('closing_soon_at')
