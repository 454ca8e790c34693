"""Thin routers of the catalog service; the rules live in the domain modules."""
