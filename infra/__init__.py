"""How Mercado Corto runs: the process supervisor for `make run`, demo data, deployment manifests."""
