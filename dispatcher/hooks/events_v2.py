"""`POST /api/v1/hooks/events/v2/enqueue`: events in the shape of PagerDuty's Events API v2.

`event_action` trigger raises a lead keyed by `dedup_key`, acknowledge
marks that lead's task acknowledged by the source, and resolve cancels it.
A trigger without `dedup_key` gets one derived from its payload, so the same
event sent twice is one lead. The response returns the key, as PagerDuty's
does, for the acknowledge and resolve that follow. Senders that cannot set headers may
put a hook token in `routing_key`.

`payload.custom_details` may name the subject, grid or division under the
label names the settings give, and an `address`. The query parameter
`source` (default `events`) sets the lead source.
"""

import json
import uuid
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from dispatcher.api.errors import ApiError
from dispatcher.hooks.common import (
    accepted,
    check_callback,
    content_hash,
    publish_leads,
    receive,
    require_object,
    validated,
)
from dispatcher.hooks.context import HookContext
from griddispatch.messages import (
    LeadMessage,
    LeadSubjectRef,
    LeadUpdateAction,
    LeadUpdateMessage,
)
from griddispatch.settings import Settings

PATH = "/api/v1/hooks/events/v2/enqueue"
DEFAULT_SOURCE = "events"
MAX_TEXT_CHARS = 3000
MAX_DETAILS_CHARS = 1500


class EventPayload(BaseModel):
    """The Events API v2 `payload` object: the summary, origin and severity of the event."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    summary: Annotated[str, Field(min_length=1, max_length=1024)]
    source: Annotated[str, Field(min_length=1, max_length=255)]
    severity: Literal["critical", "error", "warning", "info"]
    timestamp: str | None = None
    component: str | None = None
    group: str | None = None
    event_class: str | None = Field(default=None, alias="class")
    custom_details: dict[str, Any] | str | None = None


class Event(BaseModel):
    """An Events API v2 event; `links`, `images` and client fields are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")

    routing_key: str | None = None
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    payload: EventPayload | None = None
    callback_url: Annotated[str, Field(max_length=2000)] | None = None

    @model_validator(mode="after")
    def _complete(self) -> "Event":
        if self.event_action == "trigger" and self.payload is None:
            raise ValueError("a trigger event needs a payload with summary, source and severity")
        if self.event_action != "trigger" and not self.dedup_key:
            raise ValueError(f"an {self.event_action} event needs the dedup_key of its trigger")
        return self


class HookQuery(BaseModel):
    """The query parameters of the hook URL."""

    model_config = ConfigDict(extra="forbid")

    source: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,40}$")] = DEFAULT_SOURCE


def _dedup_key(event: Event) -> str:
    if event.dedup_key is None:
        assert event.payload is not None
        return "ev-" + content_hash(event.payload.model_dump(mode="json", by_alias=True))
    # Keys longer than a lead's key are shortened to a digest that is still stable.
    if len(event.dedup_key) > 200:
        return "ev-" + content_hash(event.dedup_key)
    return event.dedup_key


def _details(payload: EventPayload) -> dict[str, Any]:
    return payload.custom_details if isinstance(payload.custom_details, dict) else {}


def _text(payload: EventPayload) -> str:
    lines = [f"来源：{payload.source}"]
    for label, value in (
        ("组件", payload.component),
        ("分组", payload.group),
        ("类别", payload.event_class),
        ("时间", payload.timestamp),
    ):
        if value:
            lines.append(f"{label}：{value}")
    if payload.custom_details:
        details = json.dumps(payload.custom_details, ensure_ascii=False, sort_keys=True)
        lines.append(f"详情：{details[:MAX_DETAILS_CHARS]}")
    return "\n".join(lines)[:MAX_TEXT_CHARS]


def _label(details: dict[str, Any], name: str, max_chars: int) -> str | None:
    value = details.get(name)
    if value is None:
        return None
    text = str(value).strip()[:max_chars]
    return text or None


def trigger_lead(
    event: Event, key: str, source: str, settings: Settings, callback_token: str
) -> LeadMessage:
    """Return the lead a trigger event raises."""
    payload = event.payload
    assert payload is not None
    details = _details(payload)
    subject_code = _label(details, settings.alert_label_subject, 40)
    return LeadMessage(
        message_id=f"ev2-{uuid.uuid4().hex}",
        source=source,
        dedup_key=key,
        title=payload.summary[:200],
        text=_text(payload),
        severity=payload.severity,
        subject=LeadSubjectRef(credit_code=subject_code, other_id=subject_code)
        if subject_code
        else None,
        grid_code=_label(details, settings.alert_label_grid, 20),
        division_code=_label(details, settings.alert_label_division, 20),
        address=_label(details, "address", 300),
        callback_url=event.callback_url,
        callback_token=callback_token if event.callback_url else None,
    )


async def enqueue_event(request: web.Request, context: HookContext) -> web.Response:
    """Accept one event and publish it as a lead, or as an acknowledge or resolve of one."""
    hook_request = await receive(request, context, routing_key_field="routing_key")
    query = validated(HookQuery, dict(request.query), prefix="query")
    event = validated(Event, require_object(hook_request.data))
    check_callback(context, hook_request.caller, event.callback_url)
    key = _dedup_key(event)

    message: LeadMessage | LeadUpdateMessage
    if event.event_action == "trigger":
        message = trigger_lead(
            event, key, query.source, context.settings, hook_request.caller.token.name
        )
    else:
        if event.callback_url:
            raise ApiError(
                422,
                "validation_failed",
                "callback_url is taken with the trigger event only",
                field="callback_url",
            )
        message = LeadUpdateMessage(
            message_id=f"ev2-{uuid.uuid4().hex}",
            action=LeadUpdateAction(event.event_action),
            source=query.source,
            dedup_key=key,
        )
    await publish_leads(context, hook_request.caller, [message])
    return accepted(
        {
            "status": "success",
            "message": "Event processed",
            "dedup_key": key,
            "message_id": message.message_id,
        }
    )
