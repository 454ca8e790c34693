"""Event machinery hook-up for a service app (outbox relay, inbox endpoint).

Placeholder until the events work lands: apps start without a relay, and events stay in the
outbox (visible in /healthz as backlog), so nothing is lost meanwhile.
"""


async def start_event_machinery(app, spec, settings) -> None:
    app.state.relay = None


async def stop_event_machinery(app) -> None:
    return None
