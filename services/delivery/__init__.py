"""The delivery service: Delivery points, schedules and per-cycle capacity, nearest-point search, route planning, receiving and pickup."""
