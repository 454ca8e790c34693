"""How far behind a service's event handling is: for `/healthz` and `/metrics`.

The consumer side of a service: events waiting for it (in the broker, not yet pulled, and in its
incoming queue, not yet handled), the age of the oldest, and the parked ones. `/healthz` turns
`degraded` when the oldest waits longer than `events_lag_degraded_seconds`, when an event is parked,
or when the broker does not answer; `/metrics` exports the same figures as gauges, next to the
counters of handled, failed and parked events (a parked event is an alert).
"""

import asyncio
import logging

from services.common.incoming import HandleRound, aware
from services.common.tables import utcnow

log = logging.getLogger("mercado.events")
BROKER_TIMEOUT_SECONDS = 2.0


async def consumer_health(state) -> dict | None:
    """The consumer part of `/healthz`, with `"status"` ok or degraded; None if nothing is consumed."""
    incoming = getattr(state, "incoming_events", None)
    if incoming is None:
        return None
    transport = state.event_transport
    backlog = await incoming.backlog()
    now = utcnow()
    oldest = backlog.oldest_occurred_at and aware(backlog.oldest_occurred_at)
    report = {"transport": transport.name, "pending": backlog.pending, "oldest_age_seconds": None,
              "parked": backlog.parked, "in_queue": backlog.pending}
    problems = []
    if transport.pulls:
        try:
            in_broker, broker_oldest = await asyncio.wait_for(transport.backlog(), timeout=BROKER_TIMEOUT_SECONDS)
        except Exception as exc:  # report, never raise
            report["in_broker"] = None
            report["broker"] = f"unreachable ({type(exc).__name__})"
            problems.append("broker unreachable")
        else:
            report["in_broker"] = in_broker
            report["pending"] += in_broker
            if broker_oldest is not None and (oldest is None or broker_oldest < oldest):
                oldest = broker_oldest
    if oldest is not None:
        report["oldest_age_seconds"] = round(max(0.0, (now - oldest).total_seconds()), 3)
    threshold = state.settings.events_lag_degraded_seconds
    report["degraded_after_seconds"] = threshold
    if report["oldest_age_seconds"] is not None and report["oldest_age_seconds"] > threshold:
        problems.append(f"oldest event waits more than {threshold:g} s")
    if backlog.parked:
        problems.append(f"{backlog.parked} parked event(s)")
    report["status"] = "degraded" if problems else "ok"
    if problems:
        report["problems"] = problems
    return report


def install_event_metrics(state, service: str) -> None:
    """Counters fed by the relay and the incoming queue, and gauges refreshed at each scrape."""
    metrics = getattr(state, "metrics", None)
    if metrics is None:
        return
    instruments = getattr(state, "event_instruments", None)
    if instruments is None:  # once per app, even if its lifespan runs again
        from prometheus_client import Counter, Gauge

        registry = metrics.registry
        instruments = {
            "published": Counter("events_published_total", "Outbox events acknowledged by the transport",
                                 ["service"], registry=registry),
            "publish_failed": Counter("events_publish_failures_total", "Outbox event publish attempts that failed",
                                      ["service"], registry=registry),
            "handled": Counter("events_handled_total", "Incoming events handled", ["service"], registry=registry),
            "failed": Counter("events_handler_failures_total", "Incoming event handler failures",
                              ["service"], registry=registry),
            "parked": Counter("events_parked_total", "Incoming events parked after failing every attempt (alerts)",
                              ["service"], registry=registry),
            "pending": Gauge("events_consumer_pending", "Events waiting for this service (broker and queue)",
                             ["service"], registry=registry),
            "age": Gauge("events_consumer_oldest_age_seconds", "Age of the oldest event waiting for this service",
                         ["service"], registry=registry),
            "parked_now": Gauge("events_parked_waiting", "Parked events waiting for an operator", ["service"],
                                registry=registry),
        }
        state.event_instruments = instruments

    def count_published(result) -> None:  # a RelayRound
        instruments["published"].labels(service).inc(result.published)
        instruments["publish_failed"].labels(service).inc(result.failed)

    def count_handled(result: HandleRound) -> None:
        instruments["handled"].labels(service).inc(result.handled)
        instruments["failed"].labels(service).inc(result.failed)
        instruments["parked"].labels(service).inc(result.parked)

    state.relay.on_round.append(count_published)
    incoming = getattr(state, "incoming_events", None)
    if incoming is not None:
        incoming.on_round.append(count_handled)


async def refresh_event_gauges(state, service: str) -> None:
    """Before `/metrics` renders: the consumer gauges from `consumer_health`."""
    instruments = getattr(state, "event_instruments", None)
    if instruments is None:
        return
    try:
        report = await consumer_health(state)
    except Exception:  # a scrape must render even when the database is down
        log.exception("consumer lag not measured")
        return
    if report is None:
        return
    instruments["pending"].labels(service).set(report["pending"])
    instruments["age"].labels(service).set(report["oldest_age_seconds"] or 0.0)
    instruments["parked_now"].labels(service).set(report["parked"])
