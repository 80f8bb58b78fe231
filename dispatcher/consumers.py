"""JetStream consumers for directives and leads.

Messages are settled by hand as `griddispatch.settle` describes: accepted
ones are acked, invalid ones and those naming unknown targets are
dead-lettered, and database failures are retried with a delay.

Each consumer (`dispatcher.pulling.PullConsumer`) passes its messages to a
`dispatcher.batching.Batcher`. A batch of several is stored in one
transaction by `storage.intake.accept_batch` and acked after the commit.
If storing fails, the transaction is rolled back and the batch is handled
again one message at a time, so that only the failing message is retried
or dead-lettered.
"""

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pydantic
from faststream.nats import NatsBroker, NatsMessage
from nats.js import JetStreamContext
from sqlalchemy.exc import SQLAlchemyError

from dispatcher.batching import Batcher
from dispatcher.pulling import PullConsumer
from griddispatch import subjects
from griddispatch.clock import Clock
from griddispatch.errors import GridDispatchError, InfrastructureError
from griddispatch.messages import DirectiveMessage, LeadMessage, LeadUpdateAction, LeadUpdateMessage
from griddispatch.settle import (
    dead_letter,
    durable_subscriber,
    headers_of,
    retry_or_dead_letter,
    stream_sequence,
)
from storage.db import Database
from storage.directives.service import Accepted, accept_directive
from storage.escalation.policy import Escalation
from storage.intake import Inbound, accept_batch
from storage.leads.service import accept_lead
from storage.leads.updates import update_lead

log = logging.getLogger(__name__)


class RejectedMessage(GridDispatchError):
    """Raised when a message is malformed or names something unknown; it is dead-lettered."""


@dataclass
class DispatchContext:
    """The database, JetStream context, escalation set-up and clock the consumers use."""

    db: Database
    js: JetStreamContext
    escalation: Escalation
    clock: Clock


def _parse(model: type[pydantic.BaseModel], message: NatsMessage) -> Any:
    """Decode and validate a message body, adding the Nats-Msg-Id as message_id if missing."""
    try:
        data = json.loads(message.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RejectedMessage(f"body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise RejectedMessage(f"body must be a JSON object, got {type(data).__name__}")
    msg_id = headers_of(message).get("Nats-Msg-Id")
    if msg_id and "message_id" not in data:
        data["message_id"] = msg_id
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise RejectedMessage(_describe(exc)) from exc


def _lead_model(message: NatsMessage) -> type[pydantic.BaseModel]:
    """Return the schema of a lead message: a new lead, or an acknowledge or resolve of one."""
    try:
        action = json.loads(message.body).get("action")
    except (ValueError, AttributeError):
        return LeadMessage  # _parse reports what is wrong with the body
    updates = {item.value for item in LeadUpdateAction}
    # An action of another JSON type (a list, an object) is unhashable: LeadMessage rejects it.
    is_update = isinstance(action, str) and action in updates
    return LeadUpdateMessage if is_update else LeadMessage


def _describe(exc: pydantic.ValidationError) -> str:
    problems = [
        f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
        for error in exc.errors()
    ]
    return "invalid message: " + "; ".join(problems)


async def process(
    context: DispatchContext,
    message: NatsMessage,
    *,
    consumer: str,
    handle: Callable[[NatsMessage], Awaitable[Accepted]],
) -> None:
    """Run `handle` on one message and settle the message as the module docstring says."""
    now = context.clock.now()
    try:
        accepted = await handle(message)
    except (InfrastructureError, SQLAlchemyError) as exc:
        await retry_or_dead_letter(context.js, message, consumer=consumer, error=exc, now=now)
        return
    except GridDispatchError as exc:
        await dead_letter(context.js, message, consumer=consumer, reason=str(exc), now=now)
        return
    except Exception as exc:
        log.exception("unexpected error consumer=%s seq=%s", consumer, stream_sequence(message))
        await retry_or_dead_letter(context.js, message, consumer=consumer, error=exc, now=now)
        return

    await message.ack()
    _log_processed(consumer, accepted)


@dataclass(frozen=True)
class Handling:
    """How a consumer's messages are stored alone, and parsed to be stored in a batch.

    `parse` returns a message's validated body or raises RejectedMessage.
    """

    consumer: str
    alone: Callable[[NatsMessage], Awaitable[Accepted]]
    parse: Callable[[NatsMessage], Inbound]


@dataclass(frozen=True)
class Consumed:
    """A message a subscriber took, and how to store it."""

    message: NatsMessage
    handling: Handling


async def process_batch(context: DispatchContext, batch: list[Consumed]) -> None:
    """Store a batch in one transaction and ack it, or fall back to one message at a time."""
    if len(batch) == 1:
        await _process_alone(context, batch[0])
        return

    parsed = await _parse_batch(context, batch)
    if not parsed:
        return

    try:
        async with context.db.transaction() as session:
            outcomes = await accept_batch(
                session,
                [body for _, body in parsed],
                cache_key=context.db.url,
                escalation=context.escalation,
                now=context.clock.now(),
            )
    except Exception as exc:
        log.warning(
            "batch rolled back, storing its %d messages one at a time error=%r", len(parsed), exc
        )
        for consumed, _ in parsed:
            await _process_alone(context, consumed)
        return

    for (consumed, _), accepted in zip(parsed, outcomes, strict=True):
        await consumed.message.ack()
        _log_processed(consumed.handling.consumer, accepted)
    log.debug("batch stored messages=%d", len(parsed))


async def _process_alone(context: DispatchContext, consumed: Consumed) -> None:
    handling = consumed.handling
    await process(context, consumed.message, consumer=handling.consumer, handle=handling.alone)


async def _parse_batch(
    context: DispatchContext, batch: list[Consumed]
) -> list[tuple[Consumed, Inbound]]:
    """Parse each message of a batch; dead-letter those that do not parse."""
    parsed = []
    for consumed in batch:
        try:
            parsed.append((consumed, consumed.handling.parse(consumed.message)))
        except RejectedMessage as exc:
            await dead_letter(
                context.js,
                consumed.message,
                consumer=consumed.handling.consumer,
                reason=str(exc),
                now=context.clock.now(),
            )
    return parsed


def _log_processed(consumer: str, accepted: Accepted) -> None:
    log.debug(
        "message processed consumer=%s record=%s created=%s tasks=%d",
        consumer,
        accepted.record_id,
        accepted.created,
        len(accepted.task_ids),
    )


def _parse_lead(message: NatsMessage) -> LeadMessage | LeadUpdateMessage:
    """Parse a lead message and check that its body names the source its subject names."""
    parsed: LeadMessage | LeadUpdateMessage = _parse(_lead_model(message), message)
    source = message.raw_message.subject.removeprefix(subjects.LEAD_PREFIX + ".")
    if parsed.source != source:
        raise RejectedMessage(
            f"source {parsed.source!r} in the body differs from subject {source!r}"
        )
    return parsed


def _parse_directive(message: NatsMessage) -> DirectiveMessage:
    parsed: DirectiveMessage = _parse(DirectiveMessage, message)
    return parsed


def directive_handling(context: DispatchContext) -> Handling:
    """Return how directive messages are stored."""

    async def alone(message: NatsMessage) -> Accepted:
        return await accept_directive(
            context.db,
            _parse_directive(message),
            escalation=context.escalation,
            now=context.clock.now(),
        )

    return Handling(consumer=subjects.DIRECTIVE_CONSUMER, alone=alone, parse=_parse_directive)


def lead_handling(context: DispatchContext) -> Handling:
    """Return how lead messages, new leads and updates of them, are stored."""

    async def alone(message: NatsMessage) -> Accepted:
        parsed = _parse_lead(message)
        now = context.clock.now()
        if isinstance(parsed, LeadUpdateMessage):
            return await update_lead(context.db, parsed, escalation=context.escalation, now=now)
        return await accept_lead(context.db, parsed, escalation=context.escalation, now=now)

    return Handling(consumer=subjects.LEAD_CONSUMER, alone=alone, parse=_parse_lead)


@dataclass(frozen=True)
class Channel:
    """A subject the dispatcher consumes, its durable consumer, and its AsyncAPI description."""

    subject: str
    durable: str
    title: str
    description: str


DIRECTIVES = Channel(
    subject=subjects.DIRECTIVE_ISSUE,
    durable=subjects.DIRECTIVE_CONSUMER,
    title="directives",
    description="Directives from the command centre; each becomes one task per inspector.",
)
LEADS = Channel(
    subject=subjects.LEAD_ANY,
    durable=subjects.LEAD_CONSUMER,
    title="leads",
    description="Risk leads from monitoring hooks, de-duplicated per source.",
)


def intake(
    context: DispatchContext, *, max_batch: int = 1
) -> tuple[Batcher[Consumed], list[PullConsumer]]:
    """Return the batcher that stores directives and leads, and the consumers that feed it.

    The caller starts the batcher before the consumers and stops it after
    them, so that the messages they handed over are stored and acked.
    """

    async def handle(batch: list[Consumed]) -> None:
        await process_batch(context, batch)

    batcher: Batcher[Consumed] = Batcher(handle, max_batch=max_batch, name="dispatcher")
    consumers = [
        PullConsumer(
            context.js,
            stream=subjects.INBOUND_STREAM,
            durable=channel.durable,
            max_batch=max_batch,
            deliver=_queue_into(batcher, handling),
        )
        for channel, handling in (
            (DIRECTIVES, directive_handling(context)),
            (LEADS, lead_handling(context)),
        )
    ]
    return batcher, consumers


def _queue_into(
    batcher: Batcher[Consumed], handling: Handling
) -> Callable[[NatsMessage], Awaitable[None]]:
    async def queue(message: NatsMessage) -> None:
        await batcher.put(Consumed(message, handling))

    return queue


def document(broker: NatsBroker) -> None:
    """Describe the dispatcher's two consumers on `broker`, for the AsyncAPI document.

    The dispatcher consumes through `PullConsumer`, not FastStream, so these
    subscribers only describe the channels. `broker` must never be started.
    """
    for channel in (DIRECTIVES, LEADS):
        durable_subscriber(
            broker,
            subject=channel.subject,
            stream=subjects.INBOUND_STREAM,
            durable=channel.durable,
            title=channel.title,
            description=channel.description,
        )(_described_only)


async def _described_only(message: NatsMessage) -> None:
    raise RuntimeError(
        f"the subscriber of {message.raw_message.subject} only describes a channel; "
        "the dispatcher consumes it with dispatcher.pulling.PullConsumer"
    )
