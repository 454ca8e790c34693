"""stock taking function: a batch of per-line conditional updates in one round trip (PostgreSQL)

Revision ID: 25554f741597
Revises: fe4a2415b144
Create Date: 2026-11-21 06:11:10.043755
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '25554f741597'
down_revision: str | None = 'fe4a2415b144'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Each line is still ONE conditional UPDATE (available >= q) in the order given (product id, then
# line id); the function only saves the round trip per line when many orders share a transaction.
TAKE_STOCK = """
CREATE OR REPLACE FUNCTION catalog_take_stock(p_line_ids text[], p_product_ids bigint[], p_quantities numeric[])
RETURNS TABLE (line_id text, price_centavos bigint)
LANGUAGE plpgsql AS $$
DECLARE
    i integer;
    price bigint;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_line_ids, 1), 0) LOOP
        UPDATE products
           SET available = round(products.available - p_quantities[i], 3),
               reserved = round(products.reserved + p_quantities[i], 3)
         WHERE products.id = p_product_ids[i]
           AND products.available >= p_quantities[i]
           AND products.active
        RETURNING products.price_centavos INTO price;
        IF FOUND THEN
            line_id := p_line_ids[i];
            price_centavos := price;
            RETURN NEXT;
        END IF;
    END LOOP;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(TAKE_STOCK)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS catalog_take_stock(text[], bigint[], numeric[])")
