"""Fair-price alerts: the gateway's room that watches prices against each municipality's fair band.

A municipality enters reference prices with a band in the catalog (`services/catalog/reference_prices.py`):
the least a producer should be paid (`band_min`) and the most a consumer should pay (`band_max`).
This room raises an **alert** when
- a product is **sold below the minimum** (read from `order.placed`: each line's unit price), or
- a product is **offered above the maximum** (a periodic look at the catalog's offer against the
  references of every municipality: `/stats/supply`, whose `current_max` is the dearest offer).

A sale is judged in its delivery point's municipality (where it happens, as the fair-price index
does), an offer in its producer's municipality (as the catalog's offer figures do). Each
alert is kept once (`price_alerts`, unique on its key), listed on the municipality's page
(`GET /api/price-alerts`, a municipality sees only its own) and told as a notification to the
municipality's accounts and, for a low price, to the accounts of the producer's organization.

Modules: `models` (the table), `rules` (plain functions: which line or offer breaks which band),
`room` (event handler, periodic duty, notifications), `api` (HTTP).
"""
