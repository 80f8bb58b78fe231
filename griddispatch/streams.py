"""JetStream streams and durable consumers, created or updated at start.

Binding to an existing durable consumer does not change its settings in
nats-py, so every process that starts calls `ensure_streams` and
`ensure_consumer`, which create or update them to the settings below.
"""

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
from nats.js.errors import NotFoundError

from griddispatch import subjects

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


async def ensure_streams(js: JetStreamContext, *, replicas: int = 1) -> None:
    """Create each stream, or update it when it exists."""
    for spec in STREAMS:
        config = _stream_config(spec, replicas)
        try:
            await js.stream_info(spec.name)
        except NotFoundError:
            await js.add_stream(config)
            log.info("stream created stream=%s replicas=%d", spec.name, replicas)
            continue
        await js.update_stream(config)
        log.debug("stream updated stream=%s", spec.name)


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
