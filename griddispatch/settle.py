"""Settling JetStream messages by hand: ack, retry later, or dead-letter.

Every griddispatch consumer uses manual acks, because FastStream's default
policy drops a message whose handler raised. The rules:

- processed (or already seen): ack;
- malformed, or naming something unknown: dead-letter with the reason, then ack;
- failed for a reason that may pass (database busy, network): nak with a
  growing delay, until the last allowed delivery, which dead-letters instead.
"""

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from faststream.middlewares import AckPolicy
from faststream.nats import NatsBroker, NatsMessage, PullSub
from faststream.nats.schemas import JStream
from nats.js import JetStreamContext

from griddispatch import subjects
from griddispatch.messages import DeadLetter
from griddispatch.nats_fetch import convert_fetch_timeouts
from griddispatch.streams import MAX_DELIVER

log = logging.getLogger(__name__)

MAX_PAYLOAD_CHARS = 64_000
RETRY_DELAYS_S = (1.0, 5.0, 15.0, 60.0)


def headers_of(message: NatsMessage) -> dict[str, str]:
    """Return a message's headers as plain strings."""
    return {key: str(value) for key, value in (message.headers or {}).items()}


def delivery_count(message: NatsMessage) -> int:
    """Return how many times JetStream has delivered this message, this time included."""
    return int(message.raw_message.metadata.num_delivered or 1)


def stream_sequence(message: NatsMessage) -> int:
    """Return the message's sequence number in its stream."""
    return int(message.raw_message.metadata.sequence.stream)


async def dead_letter(
    js: JetStreamContext, message: NatsMessage, *, consumer: str, reason: str, now: datetime
) -> None:
    """Store a message on `gd.deadletter.<subject>` with its reason, then ack it.

    The dead letter's Nats-Msg-Id is derived from the original stream sequence,
    so dead-lettering the same delivery twice stores one letter.
    """
    original_subject = message.raw_message.subject
    letter = DeadLetter(
        subject=original_subject,
        reason=reason,
        payload=message.body.decode("utf-8", errors="replace")[:MAX_PAYLOAD_CHARS],
        headers=headers_of(message),
        received_at=now,
        consumer=consumer,
    )
    sequence = stream_sequence(message)
    await js.publish(
        subjects.dead_letter_subject(original_subject),
        letter.model_dump_json().encode(),
        stream=subjects.DEAD_LETTER_STREAM,
        headers={"Nats-Msg-Id": f"dl-{consumer}-{sequence}"},
    )
    await message.ack()
    log.warning(
        "message dead-lettered subject=%s consumer=%s seq=%s reason=%s",
        original_subject,
        consumer,
        sequence,
        reason,
    )


async def retry_or_dead_letter(
    js: JetStreamContext,
    message: NatsMessage,
    *,
    consumer: str,
    error: BaseException,
    now: datetime,
    delays_s: tuple[float, ...] = RETRY_DELAYS_S,
) -> None:
    """Ask for redelivery after a delay, or dead-letter on the last allowed delivery."""
    delivered = delivery_count(message)
    sequence = stream_sequence(message)
    if delivered >= MAX_DELIVER:
        log.error(
            "giving up after %d deliveries consumer=%s seq=%s error=%r",
            delivered,
            consumer,
            sequence,
            error,
        )
        reason = f"failed {delivered} times, last error: {error!r}"
        await dead_letter(js, message, consumer=consumer, reason=reason, now=now)
        return
    delay_s = delays_s[min(delivered, len(delays_s)) - 1]
    log.warning(
        "will retry in %.0f s consumer=%s seq=%s delivery=%d error=%r",
        delay_s,
        consumer,
        sequence,
        delivered,
        error,
    )
    await message.nack(delay=delay_s)


# Consumers whose handlers must start one at a time keep one message a fetch.
PULL_BATCH = 1
PULL_TIMEOUT_S = 1.0

Handler = Callable[[NatsMessage], Awaitable[None]]


async def _whole_message(message: NatsMessage) -> NatsMessage:
    """Decode a message into itself, so that the handler is passed the message as its body."""
    return message


def durable_subscriber(
    broker: NatsBroker,
    *,
    subject: str,
    stream: str,
    durable: str,
    title: str,
    description: str,
    pull_batch: int = PULL_BATCH,
) -> Callable[[Handler], Any]:
    """Return a decorator that makes a handler a durable pull consumer with manual acks.

    The stream and consumer are created beforehand by `griddispatch.streams`,
    so FastStream only binds to them. Each fetch requests up to `pull_batch`
    messages, and FastStream starts their handlers together.

    The handler receives the message as its decoded body. A parameter
    annotated NatsMessage would be filled from FastStream's context instead,
    which costs a worker-thread round trip per message.
    """
    if pull_batch > 1:
        convert_fetch_timeouts()
    subscriber = broker.subscriber(
        subject,
        stream=JStream(name=stream, declare=False),
        durable=durable,
        pull_sub=PullSub(batch_size=pull_batch, timeout=PULL_TIMEOUT_S),
        ack_policy=AckPolicy.MANUAL,
        decoder=_whole_message,
        title=title,
        description=description,
    )

    def register(handler: Handler) -> Any:
        async def consume(message: Any) -> None:
            await handler(message)

        # Not functools.wraps, because FastDepends unwraps __wrapped__ and would see the annotation.
        consume.__name__ = handler.__name__
        consume.__qualname__ = handler.__qualname__
        consume.__doc__ = handler.__doc__
        return subscriber(consume)

    return register
