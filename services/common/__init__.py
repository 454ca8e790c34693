"""The shared kernel: infrastructure every Mercado Corto service uses the same way.

Only infrastructure lives here (settings, database, errors, auth, money, units, pagination,
idempotency, events, service HTTP client); domain rules stay in each service.
"""
