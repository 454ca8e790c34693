"""The orders service: Order cycles, orders and lines, the stock reservation saga, consolidation into pick and packing lists, exports."""
