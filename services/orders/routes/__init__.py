"""HTTP routes of the orders service: thin, the rules live in cycles, placement, consolidation."""
