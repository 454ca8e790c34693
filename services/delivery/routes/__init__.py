"""Thin HTTP routers of the delivery service; the rules live in the domain modules."""
