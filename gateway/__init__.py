"""The gateway: the one public entry point (accounts, tokens, proxy, limits, docs, pages)."""
