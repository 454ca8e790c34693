"""How events travel between services: one small interface, two transports.

A service never talks to a transport: it calls `events.emit` inside its transaction, and lists
handlers in `ServiceSpec.event_handlers`. The relay publishes outbox rows through a `Transport`;
subscribed events come back through `inbox.handle_event`, which dedupes by event id.

- `HttpTransport` (default, no broker): POST the envelope to `/internal/events` of every process
  (service or gateway) that handles the event type. Published = every subscriber answered 2xx.
- `NatsTransport` (`EVENTS_URL=nats://...`): JetStream. Published = the stream stored it (PubAck),
  with `Nats-Msg-Id` = event id so a re-publish is dropped by the stream's duplicate window. Each
  service pulls from its own durable consumer with `max_ack_pending=1`, so it handles events one
  at a time in stream order (which keeps the order of every aggregate, see docs/events.md).
"""

import asyncio
import contextlib
import importlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Protocol

import orjson

from services.common.errors import DomainError
from services.common.events import Envelope
from services.common.http import ServiceClient
from services.common.inbox import EVENTS_PATH
from services.common.settings import EVENT_PROCESSES, ServiceSettings

log = logging.getLogger("mercado.events")

Handle = Callable[[Envelope], Awaitable[object]]
Subscribers = Callable[[str], Iterable[str]]


class PublishError(Exception):
    """The event was not acknowledged; the relay keeps it and retries later."""


class Transport(Protocol):
    """What the relay and the consumer loop need from a transport."""

    name: str
    #: True when this process must pull its incoming events (broker); False when they are pushed to
    #: the service's `/internal/events` endpoint.
    pulls: bool

    async def publish(self, envelope: Envelope) -> None:
        """Return once the event is acknowledged; raise `PublishError` otherwise."""

    async def receive(self, handle: Handle, *, max_messages: int = 10, wait_seconds: float = 1.0) -> int:
        """Pull and handle pending incoming events (pull transports); return how many were acked."""

    async def close(self) -> None:
        """Release connections."""


def handled_event_types(process: str) -> frozenset[str]:
    """The event types a process handles: its `SPEC.event_handlers`, or, for the gateway (whose spec
    is built per app), the `HANDLED_EVENTS` its module declares."""
    module = importlib.import_module("gateway.app" if process == "gateway" else f"services.{process}.app")
    spec = getattr(module, "SPEC", None)
    if spec is not None:
        return frozenset(spec.event_handlers)
    return frozenset(getattr(module, "HANDLED_EVENTS", ()))


def spec_subscribers(source: str) -> Subscribers:
    """Subscribers of an event type: the other processes (services, gateway) that handle it.

    Modules are imported lazily, on first use, so a service does not import its peers at start-up.
    """
    cache: dict[str, tuple[str, ...]] = {}

    def subscribers(event_type: str) -> tuple[str, ...]:
        if event_type not in cache:
            cache[event_type] = tuple(name for name in EVENT_PROCESSES
                                      if name != source and event_type in handled_event_types(name))
        return cache[event_type]

    return subscribers


def table_subscribers(table: Mapping[str, Iterable[str]]) -> Subscribers:
    """Subscribers from an explicit `{event_type: [service, ...]}` table (tests, tooling)."""
    frozen = {k: tuple(v) for k, v in table.items()}
    return lambda event_type: frozen.get(event_type, ())


class HttpTransport:
    """Push delivery: POST to each subscriber's `/internal/events` with the service credential."""

    name = "http"
    pulls = False

    def __init__(self, clients: Mapping[str, ServiceClient], subscribers: Subscribers):
        self.clients = clients
        self.subscribers = subscribers

    async def publish(self, envelope: Envelope) -> None:
        targets = list(self.subscribers(envelope.type))
        if not targets:
            return
        body = envelope.model_dump(mode="json")
        results = await asyncio.gather(*(self._deliver(name, body) for name in targets),
                                        return_exceptions=True)
        failures = [f"{name}: {result}" for name, result in zip(targets, results, strict=True)
                    if isinstance(result, BaseException)]
        if failures:
            raise PublishError("; ".join(failures))

    async def _deliver(self, name: str, body: dict) -> None:
        client = self.clients.get(name)
        if client is None:
            raise PublishError(f"no client configured for the {name} service")
        try:
            response = await client.request("POST", EVENTS_PATH, json=body,
                                            headers={"X-Event-Id": body["id"]})
        except DomainError as exc:  # ServiceUnavailable: connection refused, timeout
            raise PublishError(exc.message) from None
        if not 200 <= response.status_code < 300:
            raise PublishError(f"{name} answered {response.status_code}: {response.text[:300]}")

    async def receive(self, handle: Handle, *, max_messages: int = 10, wait_seconds: float = 1.0) -> int:
        return 0  # pushed: events arrive at /internal/events

    async def close(self) -> None:
        return None  # the clients belong to the app


async def _log_nats_error(exc: Exception) -> None:
    # The relay or the consumer reports the failure that matters; this keeps nats-py from printing
    # a traceback for every connection attempt.
    log.info("NATS connection error", extra={"error": repr(exc)})


class NatsTransport:
    """NATS JetStream: one stream for all services, one durable pull consumer per service."""

    name = "nats"
    pulls = True

    def __init__(self, url: str, *, service: str, stream: str = "MERCADO",
                 subject_prefix: str = "mercado.events", durable: str | None = None,
                 subscribed: Iterable[str] = (), ack_wait_seconds: float = 30.0,
                 max_age_seconds: float = 14 * 86400, duplicate_window_seconds: float = 120.0,
                 timeout: float = 5.0, retry_delay_seconds: float = 1.0):
        self.url = url
        self.service = service
        self.stream = stream
        self.subject_prefix = subject_prefix
        self.durable = durable or service
        self.subscribed = frozenset(subscribed)
        self.ack_wait_seconds = ack_wait_seconds
        self.max_age_seconds = max_age_seconds
        self.duplicate_window_seconds = duplicate_window_seconds
        self.timeout = timeout
        self.retry_delay_seconds = retry_delay_seconds
        self._nc = None
        self._js = None
        self._stream_ready = False
        self._sub = None
        self._lock = asyncio.Lock()

    def subject(self, envelope: Envelope) -> str:
        return f"{self.subject_prefix}.{envelope.source or 'unknown'}.{envelope.type}"

    async def _jetstream(self):
        async with self._lock:
            if self._nc is None or self._nc.is_closed:
                import nats

                try:
                    # Few reconnect attempts: nats-py also applies them to the first connect. Once the
                    # client gives up it is closed, and the next call here connects afresh.
                    self._nc = await asyncio.wait_for(
                        nats.connect(self.url, connect_timeout=self.timeout, allow_reconnect=True,
                                     max_reconnect_attempts=3, reconnect_time_wait=0.5,
                                     name=f"mercado-{self.service}", error_cb=_log_nats_error),
                        timeout=self.timeout * 2 + 2)
                except Exception as exc:  # unreachable broker: keep the events, retry later
                    self._nc = None
                    raise PublishError(f"NATS not reachable at {self.url}: {exc!r}") from None
                self._js = self._nc.jetstream(timeout=self.timeout)
                self._stream_ready = False
                self._sub = None
            if not self._stream_ready:
                await self._ensure_stream()
                self._stream_ready = True
            return self._js

    async def _ensure_stream(self) -> None:
        from nats.js.api import RetentionPolicy, StorageType, StreamConfig
        from nats.js.errors import NotFoundError

        try:
            await self._js.stream_info(self.stream)
        except NotFoundError:
            # Limits retention (not interest): a service that subscribes later, or whose consumer
            # does not exist yet, still finds every event of the last `max_age`.
            try:
                await self._js.add_stream(StreamConfig(
                    name=self.stream, subjects=[f"{self.subject_prefix}.>"], retention=RetentionPolicy.LIMITS,
                    storage=StorageType.FILE, max_age=self.max_age_seconds,
                    duplicate_window=self.duplicate_window_seconds))
            except Exception:
                await self._js.stream_info(self.stream)  # another service created it meanwhile: fine

    async def publish(self, envelope: Envelope) -> None:
        js = await self._jetstream()
        data = orjson.dumps(envelope.model_dump(mode="json"))
        try:
            ack = await js.publish(self.subject(envelope), data, timeout=self.timeout, stream=self.stream,
                                   headers={"Nats-Msg-Id": envelope.id})
        except Exception as exc:
            raise PublishError(f"JetStream did not store {envelope.id}: {exc!r}") from None
        if ack.duplicate:
            log.info("event already in the stream", extra={"event_id": envelope.id})

    async def _subscription(self):
        js = await self._jetstream()
        if self._sub is None:
            from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

            config = ConsumerConfig(
                durable_name=self.durable, ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL,
                # One unacknowledged event at a time for the whole service (all its processes):
                # events are handled in stream order, hence in order per aggregate.
                max_ack_pending=1, ack_wait=self.ack_wait_seconds, max_deliver=-1,
                filter_subject=f"{self.subject_prefix}.>")
            try:
                await js.add_consumer(self.stream, config)
            except Exception as exc:  # exists with another config: keep it, it still delivers
                log.warning("JetStream consumer kept as it is", extra={"durable": self.durable,
                                                                       "error": repr(exc)})
            self._sub = await js.pull_subscribe_bind(durable=self.durable, stream=self.stream)
        return self._sub

    async def receive(self, handle: Handle, *, max_messages: int = 10, wait_seconds: float = 1.0) -> int:
        if not self.subscribed:
            return 0
        sub = await self._subscription()
        try:
            messages = await sub.fetch(max_messages, timeout=wait_seconds)
        except TimeoutError:
            return 0
        except Exception:
            self._sub = None  # e.g. the consumer was deleted: bind (or create) it again next time
            raise
        handled = 0
        for msg in messages:
            try:
                envelope = Envelope.model_validate_json(msg.data)
            except ValueError as exc:
                # Not an envelope: no retry can fix it; terminate it so it cannot block the consumer.
                log.error("malformed event dropped", extra={"subject": msg.subject, "error": str(exc)})
                await msg.term()
                continue
            try:
                if envelope.source != self.service:
                    await handle(envelope)
            except Exception as exc:
                log.warning("event handler failed; redelivered later",
                            extra={"event_id": envelope.id, "event_type": envelope.type, "error": repr(exc)})
                await msg.nak(delay=self.retry_delay_seconds)
                continue
            await msg.ack_sync(timeout=self.timeout)
            handled += 1
        return handled

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            # Plain close, not drain: unacked messages are simply redelivered to the next consumer.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._nc.close(), timeout=self.timeout)
        self._nc = self._js = self._sub = None


def make_transport(settings: ServiceSettings, *, service: str, clients: Mapping[str, ServiceClient],
                   subscribers: Subscribers | None = None, subscribed: Iterable[str] = ()) -> Transport:
    """The transport the settings ask for: NATS JetStream when EVENTS_URL is nats://, else HTTP."""
    url = settings.events_url.strip()
    if url.startswith(("nats://", "tls://")):
        return NatsTransport(url, service=service, stream=settings.events_stream,
                             subject_prefix=settings.events_subject_prefix,
                             durable=f"{settings.events_durable_prefix}{service}", subscribed=subscribed,
                             timeout=settings.http_timeout_seconds,
                             retry_delay_seconds=settings.relay_backoff_seconds)
    if url and not url.startswith(("http://", "https://")):
        raise RuntimeError(f"EVENTS_URL={url!r} is not supported: use nats://host:4222 or leave it empty")
    return HttpTransport(clients, subscribers or spec_subscribers(service))


__all__ = ["EVENTS_PATH", "HttpTransport", "NatsTransport", "PublishError", "Transport",
           "handled_event_types", "make_transport", "spec_subscribers", "table_subscribers"]
