"""reference prices are a history with a fair band

Each price gets `valid_to` (closed by the next price of the same product or category and unit) and an
optional fair band. Prices entered before this revision were never closed: each one followed by a
later price of the same municipality, product (or category) and unit is closed on that price's
`valid_from`, so the history they already were is kept as one.

Revision ID: 148df9049ed5
Revises: 44813dffe209
Create Date: 2026-11-25 18:29:55.831794
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '148df9049ed5'
down_revision: str | None = '44813dffe209'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _close_superseded() -> None:
    prices = sa.table('reference_prices', sa.column('id'), sa.column('municipality_code'), sa.column('category'),
                      sa.column('search_name'), sa.column('unit'), sa.column('valid_from'), sa.column('valid_to'))
    bind = op.get_bind()
    rows = bind.execute(sa.select(prices.c.id, prices.c.municipality_code, prices.c.category, prices.c.search_name,
                                  prices.c.unit, prices.c.valid_from)
                        .order_by(prices.c.valid_from, prices.c.id)).all()
    latest: dict[tuple, tuple] = {}
    for row_id, code, category, search_name, unit, valid_from in rows:
        key = (code, None if search_name else category, search_name, unit)
        if key in latest:
            bind.execute(sa.update(prices).where(prices.c.id == latest[key]).values(valid_to=valid_from))
        latest[key] = row_id


def upgrade() -> None:
    with op.batch_alter_table('reference_prices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('band_min_centavos', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('band_max_centavos', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('valid_to', sa.Date(), nullable=True))
    _close_superseded()
    with op.batch_alter_table('reference_prices', schema=None) as batch_op:
        batch_op.create_check_constraint(op.f('ck_reference_prices_valid_to_not_before_from'),
                                         'valid_to IS NULL OR valid_to >= valid_from')
        batch_op.create_check_constraint(op.f('ck_reference_prices_band_min_not_above_price'),
                                         'band_min_centavos IS NULL OR band_min_centavos <= price_centavos')
        batch_op.create_check_constraint(op.f('ck_reference_prices_band_max_not_below_price'),
                                         'band_max_centavos IS NULL OR band_max_centavos >= price_centavos')


def downgrade() -> None:
    with op.batch_alter_table('reference_prices', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_reference_prices_band_max_not_below_price'), type_='check')
        batch_op.drop_constraint(op.f('ck_reference_prices_band_min_not_above_price'), type_='check')
        batch_op.drop_constraint(op.f('ck_reference_prices_valid_to_not_before_from'), type_='check')
        batch_op.drop_column('valid_to')
        batch_op.drop_column('band_max_centavos')
        batch_op.drop_column('band_min_centavos')
