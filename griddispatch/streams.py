"""JetStream streams and durable consumers, created or updated at start.

Binding to an existing durable consumer does not change its settings in
nats-py, so every process that starts calls `ensure_streams` and
`ensure_consumer`, which create or update them to the settings below.
"""

import asyncio
import logging
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import APIError, NoStreamResponseError, NotFoundError, ServiceUnavailableError

from griddispatch import subjects
from griddispatch.errors import ConfigurationError
from griddispatch.settings import Settings

log = logging.getLogger(__name__)

DAY_S = 24 * 3600.0
# JetStream drops a message id it has seen within this window; after it, the
# database's unique keys stop duplicates.
DUPLICATE_WINDOW_S = 10 * 60.0
ACK_WAIT_S = 30.0
MAX_DELIVER = 5


@dataclass(frozen=True)
class StreamSpec:
    """A stream and what it keeps."""

    name: str
    subjects: list[str]
    retention: RetentionPolicy
    max_age_s: float


STREAMS = [
    StreamSpec(
        subjects.INBOUND_STREAM,
        [f"{subjects.DIRECTIVE_ISSUE}", f"{subjects.LEAD_PREFIX}.*"],
        RetentionPolicy.LIMITS,
        30 * DAY_S,
    ),
    StreamSpec(
        subjects.NOTIFY_STREAM,
        [subjects.NOTIFY_TELEGRAM_ANY],
        RetentionPolicy.WORK_QUEUE,
        7 * DAY_S,
    ),
    StreamSpec(
        subjects.EVENTS_STREAM, [subjects.TASK_EVENT_ANY], RetentionPolicy.LIMITS, 7 * DAY_S
    ),
    StreamSpec(
        subjects.TELEGRAM_UPDATES_STREAM,
        [subjects.TELEGRAM_UPDATE_ANY],
        RetentionPolicy.LIMITS,
        DAY_S,
    ),
    StreamSpec(
        subjects.DEAD_LETTER_STREAM, [subjects.DEAD_LETTER_ANY], RetentionPolicy.LIMITS, 90 * DAY_S
    ),
]


def _stream_config(spec: StreamSpec, replicas: int) -> StreamConfig:
    return StreamConfig(
        name=spec.name,
        subjects=spec.subjects,
        retention=spec.retention,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=spec.max_age_s,
        duplicate_window=DUPLICATE_WINDOW_S,
        num_replicas=replicas,
    )


REPLICAS_SETTING = "GRIDDISPATCH_STREAM_REPLICAS"
# JetStream's error codes for a replica count it cannot place (seen on nats-server 2.15):
# replicas > 1 on a server without a cluster, fewer servers than replicas, and too few
# resources on them.
REPLICA_ERROR_CODES = frozenset({10074, 10005, 10023})


# Errors a JetStream cluster returns while it elects stream leaders.
TRANSIENT_STREAM_ERRORS = (TimeoutError, ServiceUnavailableError, NoStreamResponseError)
STREAM_PATIENCE_S = 60.0
STREAM_RETRY_FIRST_S = 0.5
STREAM_RETRY_MAX_S = 5.0


def _replica_error(spec: StreamSpec, replicas: int, exc: APIError) -> ConfigurationError:
    return ConfigurationError(
        "JetStream rejected stream {stream} with {replicas} replicas ({reason}); "
        "{setting}={replicas} needs a nats-server cluster of at least {replicas} JetStream "
        "nodes: set {setting}=1 for a single server, or connect to the cluster",
        stream=spec.name,
        replicas=replicas,
        reason=exc.description,
        setting=REPLICAS_SETTING,
    )


async def _ensure_stream(js: JetStreamContext, spec: StreamSpec, replicas: int) -> None:
    config = _stream_config(spec, replicas)
    try:
        await js.stream_info(spec.name)
    except NotFoundError:
        await js.add_stream(config)
        log.info("stream created stream=%s replicas=%d", spec.name, replicas)
        return
    await js.update_stream(config)
    log.debug("stream updated stream=%s replicas=%d", spec.name, replicas)


async def _ensure_stream_patiently(
    js: JetStreamContext, spec: StreamSpec, replicas: int, *, patience_s: float
) -> None:
    """Ensure one stream, retrying while JetStream is unavailable, for up to `patience_s`.

    A cluster that lost a node returns timeouts or "temporarily unavailable" until
    its streams have elected leaders again. A component starting then waits, so it
    does not exit.
    """
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + patience_s
    delay_s = STREAM_RETRY_FIRST_S
    while True:
        try:
            await _ensure_stream(js, spec, replicas)
            return
        except TRANSIENT_STREAM_ERRORS as exc:
            if loop.time() + delay_s > give_up_at:
                raise
            log.warning(
                "JetStream unavailable, retrying stream=%s in=%.1fs error=%r",
                spec.name,
                delay_s,
                exc,
            )
        await asyncio.sleep(delay_s)
        delay_s = min(delay_s * 2, STREAM_RETRY_MAX_S)


async def ensure_streams(
    js: JetStreamContext,
    *,
    replicas: int | None = None,
    patience_s: float = STREAM_PATIENCE_S,
) -> None:
    """Create each stream, or update it when it exists, with `replicas` copies.

    Without `replicas`, the count comes from GRIDDISPATCH_STREAM_REPLICAS
    (default 1). A count the server cannot place raises ConfigurationError
    naming that setting. While JetStream reports that it is unavailable (a
    cluster electing leaders), it retries with back-off for up to `patience_s`.
    """
    count = Settings().stream_replicas if replicas is None else replicas
    for spec in STREAMS:
        try:
            await _ensure_stream_patiently(js, spec, count, patience_s=patience_s)
        except APIError as exc:
            if count > 1 and exc.err_code in REPLICA_ERROR_CODES:
                raise _replica_error(spec, count, exc) from exc
            raise


async def ensure_consumer(
    js: JetStreamContext, *, stream: str, durable: str, filter_subject: str
) -> None:
    """Create or update a durable pull consumer with explicit acks and bounded redelivery."""
    config = ConsumerConfig(
        durable_name=durable,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=ACK_WAIT_S,
        max_deliver=MAX_DELIVER,
        filter_subject=filter_subject,
        max_ack_pending=1000,
    )
    await js.add_consumer(stream, config)
    log.debug("consumer ensured stream=%s consumer=%s", stream, durable)
