"""Thin routers of the gateway's own API: accounts and tokens, health, metrics, merged docs."""
