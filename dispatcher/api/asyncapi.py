"""The AsyncAPI document of the NATS side, built by FastStream from the subscribers.

The bot's `register` functions attach its real subscribers, and
`dispatcher.consumers.document` describes the dispatcher's two consumers,
to a broker that is never connected. Documentation-only publishers add
the subjects griddispatch publishes, with their pydantic message models. The
subscribers take the raw NatsMessage, so FastStream cannot see their payload:
their payloads are pointed at the model of the same subject afterwards.
"""

import json
from typing import Any

from faststream.nats import NatsBroker
from faststream.specification.asyncapi import AsyncAPI

from dispatcher import consumers
from dispatcher.api.context import ApiContext
from griddispatch import subjects
from griddispatch.messages import (
    DeadLetter,
    DirectiveMessage,
    LeadMessage,
    Notification,
    TaskEventMessage,
)
from griddispatch.nats_connection import build_broker
from griddispatch.settings import LOCAL_BOT_TOKEN

ASYNCAPI_VERSION = "3.0.0"
APP_VERSION = "0.1.0"
# Never contacted: the bot only exists so that its subscribers can be registered.
UNUSED_BOT_API = "http://127.0.0.1:9"

PUBLISHED = [
    (
        subjects.DIRECTIVE_ISSUE,
        DirectiveMessage,
        "directives issued",
        "Directives from `griddispatch directive send`, POST /api/v1/directives or any sender, "
        "with the message id as Nats-Msg-Id.",
    ),
    (
        f"{subjects.LEAD_PREFIX}.{{source}}",
        LeadMessage,
        "leads injected",
        "Risk leads from monitoring hooks; the subject's last token is the source.",
    ),
    (
        f"{subjects.NOTIFY_TELEGRAM_PREFIX}.{{inspector_id}}",
        Notification,
        "notifications queued",
        "What the bot must tell one inspector, relayed from the outbox after each change.",
    ),
    (
        f"{subjects.TASK_EVENT_PREFIX}.{{kind}}",
        TaskEventMessage,
        "task events",
        "Every change to a task, for the console and integrations (stream GD_EVENTS).",
    ),
    (
        f"{subjects.DEAD_LETTER_PREFIX}.{{original_subject}}",
        DeadLetter,
        "dead letters",
        "Messages no consumer could use, with the reason (stream GD_DEADLETTER).",
    ),
]
# Subscribed subject to the schema of its payload.
SUBSCRIBED = {
    subjects.DIRECTIVE_ISSUE: "DirectiveMessage",
    subjects.LEAD_ANY: "LeadMessage",
    subjects.NOTIFY_TELEGRAM_ANY: "Notification",
}
TELEGRAM_UPDATE_SCHEMA = {
    "type": "object",
    "description": "A Telegram Bot API Update, as Telegram sent it (core.telegram.org/bots/api).",
}


def _add_publishers(broker: NatsBroker) -> None:
    for subject, model, title, description in PUBLISHED:
        broker.publisher(subject, schema=model, title=title, description=description)


async def _register_subscribers(broker: NatsBroker, context: ApiContext) -> None:
    # Imported on the first request for the document, not with the API,
    # because aiogram takes about 8 s to import on a 2.0 GHz core.
    from bots import delivery, updates  # noqa: PLC0415
    from bots.app import create_bot, create_dispatcher  # noqa: PLC0415

    consumers.document(broker)
    bot = create_bot(LOCAL_BOT_TOKEN, UNUSED_BOT_API)
    try:
        delivery.register(
            broker,
            delivery.DeliveryContext(bot=bot, db=context.db, js=context.js, clock=context.clock),
        )
        updates.register(
            broker,
            bot=bot,
            dispatcher=create_dispatcher(context.db),
            js=context.js,
            clock=context.clock,
            handler_kwargs={},
        )
    finally:
        await bot.session.close()


def _set_subscriber_payloads(document: dict[str, Any]) -> None:
    """Point each subscriber's message at the schema of its subject's payload."""
    messages = document["components"]["messages"]
    for channel in document["channels"].values():
        address = channel["address"]
        for reference in channel["messages"].values():
            name = reference["$ref"].rsplit("/", 1)[-1].replace("%20", " ")
            if not name.endswith(":SubscribeMessage"):
                continue
            if address in SUBSCRIBED:
                payload = {"$ref": f"#/components/schemas/{SUBSCRIBED[address]}"}
            elif address == subjects.TELEGRAM_UPDATE_ANY:
                payload = TELEGRAM_UPDATE_SCHEMA
            else:
                continue
            messages[name]["payload"] = payload
    document["components"]["schemas"].pop("EmptyPayload", None)


async def build_asyncapi(context: ApiContext) -> dict[str, Any]:
    """Build the AsyncAPI 3.0 document of every subject griddispatch consumes or publishes."""
    broker = build_broker(context.settings.resolved_nats_url, "griddispatch-asyncapi")
    _add_publishers(broker)
    await _register_subscribers(broker, context)
    specification = AsyncAPI(
        broker,
        title="griddispatch NATS messages",
        version=APP_VERSION,
        description=(
            "Subjects on NATS JetStream. Publish JSON with a Nats-Msg-Id header; the same id "
            "within 10 minutes, or the same message_id later, creates nothing new."
        ),
        schema_version=ASYNCAPI_VERSION,
    ).to_specification()
    document: dict[str, Any] = json.loads(specification.to_json())
    _set_subscriber_payloads(document)
    return document
