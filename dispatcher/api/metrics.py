"""Prometheus metrics: request latency of this process, and figures read at each scrape.

At each scrape the API reads the griddispatch streams and consumers from
JetStream and counts tasks and trail entries in the database, so the
figures cover every process, not only this one. A source that cannot be
read is reported as down (`griddispatch_nats_up`, `griddispatch_database_up`)
and its series are left out of that scrape.

Not available here: Telegram retries and 429 responses, and digest sends,
which only the bot process observes and which leave no trail entry.
"""

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from nats.errors import Error as NatsError
from nats.js.errors import NotFoundError as StreamNotFoundError
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from dispatcher.api.context import ApiContext
from griddispatch import subjects
from storage.tasks.queries import count_tasks_by_state, count_trail_entries

log = logging.getLogger(__name__)

NATS_TIMEOUT_S = 2.0
CONSUMERS = [
    (subjects.INBOUND_STREAM, subjects.DIRECTIVE_CONSUMER),
    (subjects.INBOUND_STREAM, subjects.LEAD_CONSUMER),
    (subjects.NOTIFY_STREAM, subjects.NOTIFY_CONSUMER),
    (subjects.TELEGRAM_UPDATES_STREAM, subjects.TELEGRAM_UPDATE_CONSUMER),
]
STREAMS = [
    subjects.INBOUND_STREAM,
    subjects.NOTIFY_STREAM,
    subjects.EVENTS_STREAM,
    subjects.TELEGRAM_UPDATES_STREAM,
    subjects.DEAD_LETTER_STREAM,
]
# Trail entries of escalation steps. NOTE: a step that hands the task to the grid leader
# writes "reassigned", as a leader's own reassignment does, so it is not counted here.
ESCALATION_KINDS = ("reminded", "escalated", "escalation_skipped")
TELEGRAM_KINDS = ("delivered", "not_delivered")


@dataclass(frozen=True)
class ConsumerFigures:
    """JetStream's figures of one durable consumer."""

    stream: str
    consumer: str
    delivered: int
    ack_pending: int
    pending: int
    redelivered: int


@dataclass
class Snapshot:
    """Figures read at one scrape; a source that failed leaves its part empty."""

    nats_up: bool = False
    database_up: bool = False
    consumers: list[ConsumerFigures] = field(default_factory=list)
    stream_messages: dict[str, int] = field(default_factory=dict)
    dead_lettered: int | None = None
    tasks_by_state: dict[str, int] = field(default_factory=dict)
    escalations: dict[str, int] = field(default_factory=dict)
    telegram: dict[str, int] = field(default_factory=dict)


async def _read_consumers(context: ApiContext, snapshot: Snapshot) -> None:
    for stream, consumer in CONSUMERS:
        try:
            info = await context.js.consumer_info(stream, consumer, timeout=NATS_TIMEOUT_S)
        except StreamNotFoundError:
            continue  # the component that owns it has never started
        snapshot.consumers.append(
            ConsumerFigures(
                stream=stream,
                consumer=consumer,
                delivered=int(info.delivered.consumer_seq or 0) if info.delivered else 0,
                ack_pending=int(info.num_ack_pending or 0),
                pending=int(info.num_pending or 0),
                redelivered=int(info.num_redelivered or 0),
            )
        )


async def _read_streams(context: ApiContext, snapshot: Snapshot) -> None:
    for stream in STREAMS:
        try:
            info = await asyncio.wait_for(context.js.stream_info(stream), NATS_TIMEOUT_S)
        except StreamNotFoundError:
            continue
        snapshot.stream_messages[stream] = int(info.state.messages)
        if stream == subjects.DEAD_LETTER_STREAM:
            # Dead letters are only ever added, so the last sequence counts all ever stored.
            snapshot.dead_lettered = int(info.state.last_seq)


async def _read_database(context: ApiContext, snapshot: Snapshot) -> None:
    snapshot.tasks_by_state = await count_tasks_by_state(context.db)
    snapshot.escalations = await count_trail_entries(context.db, ESCALATION_KINDS)
    snapshot.telegram = await count_trail_entries(context.db, TELEGRAM_KINDS)


class _SnapshotCollector(Collector):
    """Turns the latest snapshot into metric families for the exposition."""

    def __init__(self) -> None:
        self.snapshot = Snapshot()

    def collect(self) -> Iterator[Metric]:
        snapshot = self.snapshot
        yield from _health_families(snapshot)
        yield from _nats_families(snapshot)
        yield from _database_families(snapshot)


def _health_families(snapshot: Snapshot) -> Iterator[Metric]:
    for name, up, source in (
        ("griddispatch_nats_up", snapshot.nats_up, "JetStream"),
        ("griddispatch_database_up", snapshot.database_up, "the database"),
    ):
        gauge = GaugeMetricFamily(name, f"1 when {source} responded at this scrape, else 0.")
        gauge.add_metric([], 1.0 if up else 0.0)
        yield gauge


def _nats_families(snapshot: Snapshot) -> Iterator[Metric]:
    labels = ["stream", "consumer"]
    consumed = CounterMetricFamily(
        "griddispatch_messages_consumed",
        "Deliveries to a durable consumer, redeliveries included, as JetStream counts them.",
        labels=labels,
    )
    ack_pending = GaugeMetricFamily(
        "griddispatch_consumer_ack_pending", "Messages delivered and not yet acked.", labels=labels
    )
    pending = GaugeMetricFamily(
        "griddispatch_consumer_pending", "Messages not yet delivered.", labels=labels
    )
    for figures in snapshot.consumers:
        values = [figures.stream, figures.consumer]
        consumed.add_metric(values, figures.delivered)
        ack_pending.add_metric(values, figures.ack_pending)
        pending.add_metric(values, figures.pending)
    stored = GaugeMetricFamily(
        "griddispatch_stream_messages", "Messages a stream keeps.", labels=["stream"]
    )
    for stream, count in snapshot.stream_messages.items():
        stored.add_metric([stream], count)
    yield from (consumed, ack_pending, pending, stored)
    if snapshot.dead_lettered is not None:
        dead = CounterMetricFamily(
            "griddispatch_messages_dead_lettered",
            "Messages ever put on gd.deadletter.> (the last sequence of GD_DEADLETTER).",
        )
        dead.add_metric([], snapshot.dead_lettered)
        yield dead


def _database_families(snapshot: Snapshot) -> Iterator[Metric]:
    tasks = GaugeMetricFamily("griddispatch_tasks", "Tasks in each state.", labels=["state"])
    for state, count in snapshot.tasks_by_state.items():
        tasks.add_metric([state], count)
    escalations = CounterMetricFamily(
        "griddispatch_escalations_fired",
        "Escalation steps fired, by trail entry kind: reminded, escalated, escalation_skipped.",
        labels=["kind"],
    )
    for kind, count in snapshot.escalations.items():
        escalations.add_metric([kind], count)
    sends = CounterMetricFamily(
        "griddispatch_telegram_sends",
        "Task notifications the bot delivered, from 'delivered' trail entries.",
    )
    errors = CounterMetricFamily(
        "griddispatch_telegram_send_errors",
        "Task notifications the bot gave up on, from 'not_delivered' trail entries.",
    )
    if snapshot.telegram:
        sends.add_metric([], snapshot.telegram.get("delivered", 0))
        errors.add_metric([], snapshot.telegram.get("not_delivered", 0))
    yield from (tasks, escalations, sends, errors)


class SourceStatus:
    """The sources (NATS, the database) that failed last time, to log each change once."""

    def __init__(self, purpose: str) -> None:
        self._purpose = purpose
        self._failing: set[str] = set()

    def note(self, source: str, error: Exception | None) -> bool:
        """Log a source that starts or stops failing; return whether it is up."""
        if error is None:
            if source in self._failing:
                self._failing.discard(source)
                log.info("%s source responds again source=%s", self._purpose, source)
            return True
        if source not in self._failing:
            self._failing.add(source)
            log.warning("%s source failed source=%s error=%r", self._purpose, source, error)
        return False


class ApiMetrics:
    """The metrics registry of one application."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "griddispatch_http_request_duration_seconds",
            "Time from receiving a request to its response, by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self._collector = _SnapshotCollector()
        self.registry.register(self._collector)
        self._lock = asyncio.Lock()
        self._status = SourceStatus("metrics")

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record the latency of one request."""
        self.latency.labels(method, route, str(status)).observe(seconds)

    async def _take_snapshot(self, context: ApiContext) -> Snapshot:
        snapshot = Snapshot()
        nats_error: Exception | None = None
        try:
            await _read_streams(context, snapshot)
            await _read_consumers(context, snapshot)
        except (NatsError, TimeoutError) as exc:
            nats_error = exc
            snapshot.consumers = []
            snapshot.stream_messages = {}
            snapshot.dead_lettered = None
        snapshot.nats_up = self._status.note("nats", nats_error)
        database_error: Exception | None = None
        try:
            await _read_database(context, snapshot)
        except (SQLAlchemyError, OSError) as exc:
            database_error = exc
            snapshot.tasks_by_state = {}
            snapshot.escalations = {}
            snapshot.telegram = {}
        snapshot.database_up = self._status.note("database", database_error)
        return snapshot

    async def render(self, context: ApiContext) -> bytes:
        """Read the current figures and return every metric in Prometheus text format."""
        async with self._lock:
            self._collector.snapshot = await self._take_snapshot(context)
            return generate_latest(self.registry)
