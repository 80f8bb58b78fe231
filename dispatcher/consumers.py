"""JetStream consumers for directives and leads.

Messages are settled by hand as `griddispatch.settle` describes: accepted
ones are acked, invalid ones and those naming unknown targets are
dead-lettered, and database failures are retried with a delay.
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
    log.debug(
        "message processed consumer=%s record=%s created=%s tasks=%d",
        consumer,
        accepted.record_id,
        accepted.created,
        len(accepted.task_ids),
    )


def register(broker: NatsBroker, context: DispatchContext) -> None:
    """Attach the directive and lead consumers to `broker`."""

    async def accept_directive_message(message: NatsMessage) -> Accepted:
        parsed: DirectiveMessage = _parse(DirectiveMessage, message)
        return await accept_directive(
            context.db, parsed, escalation=context.escalation, now=context.clock.now()
        )

    async def accept_lead_message(message: NatsMessage) -> Accepted:
        parsed: LeadMessage | LeadUpdateMessage = _parse(_lead_model(message), message)
        source = message.raw_message.subject.removeprefix(subjects.LEAD_PREFIX + ".")
        if parsed.source != source:
            raise RejectedMessage(
                f"source {parsed.source!r} in the body differs from subject {source!r}"
            )
        if isinstance(parsed, LeadUpdateMessage):
            return await update_lead(
                context.db, parsed, escalation=context.escalation, now=context.clock.now()
            )
        return await accept_lead(
            context.db, parsed, escalation=context.escalation, now=context.clock.now()
        )

    @durable_subscriber(
        broker,
        subject=subjects.DIRECTIVE_ISSUE,
        stream=subjects.INBOUND_STREAM,
        durable=subjects.DIRECTIVE_CONSUMER,
        title="directives",
        description="Directives from the command centre; each becomes one task per inspector.",
    )
    async def on_directive(message: NatsMessage) -> None:
        await process(
            context, message, consumer=subjects.DIRECTIVE_CONSUMER, handle=accept_directive_message
        )

    @durable_subscriber(
        broker,
        subject=subjects.LEAD_ANY,
        stream=subjects.INBOUND_STREAM,
        durable=subjects.LEAD_CONSUMER,
        title="leads",
        description="Risk leads from monitoring hooks, de-duplicated per source.",
    )
    async def on_lead(message: NatsMessage) -> None:
        await process(context, message, consumer=subjects.LEAD_CONSUMER, handle=accept_lead_message)
