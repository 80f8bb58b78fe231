"""`POST /api/v1/hooks/alertmanager`: Prometheus Alertmanager's webhook, and Grafana's variant.

One notification carries a group of alerts, and the group's own `status`
only tells whether any of them still fires. So each alert in `alerts[]` is
judged by its own `status` and known by its `fingerprint` (or, where the
sender gives none, by its sorted label set): a firing alert becomes a lead
keyed by that identity, and a resolved one resolves the lead with that key,
which cancels its open task. A resolved alert never seen firing changes
nothing.

Labels name the subject, grid or division under the names the settings give
(by default `subject_credit_code`, `grid_code`, `division_code`); an alert
that names none goes to the command centre's triage queue. The query
parameters `source` (default `alertmanager`) and `callback_url` apply to
every alert of the request, because neither sender can add body fields.
"""

from typing import Annotated, Literal

import pydantic
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from dispatcher.api.errors import ApiError, validation_error
from dispatcher.hooks.common import (
    accepted,
    check_callback,
    content_hash,
    publish_leads,
    receive,
    validated,
)
from dispatcher.hooks.context import HookContext
from griddispatch.messages import (
    SEVERITY_ALIASES,
    LeadMessage,
    LeadSubjectRef,
    LeadUpdateAction,
    LeadUpdateMessage,
    Priority,
)
from griddispatch.settings import Settings

PATH = "/api/v1/hooks/alertmanager"
DEFAULT_SOURCE = "alertmanager"
MAX_TEXT_CHARS = 3000


class Alert(BaseModel):
    """One alert of a notification; fields other than these are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: str = Field(default="", alias="startsAt")
    ends_at: str = Field(default="", alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = ""


class Notification(BaseModel):
    """An Alertmanager (version 4) or Grafana webhook notification."""

    model_config = ConfigDict(extra="ignore")

    alerts: Annotated[list[Alert], Field(min_length=1, max_length=1000)]


class HookQuery(BaseModel):
    """The query parameters of the hook URL."""

    model_config = ConfigDict(extra="forbid")

    source: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,40}$")] = DEFAULT_SOURCE
    callback_url: Annotated[str, Field(max_length=2000)] | None = None


def alert_identity(alert: Alert) -> str:
    """Return the key of an alert: its fingerprint, else a digest of its sorted labels."""
    if alert.fingerprint:
        return alert.fingerprint[:200]
    return "labels-" + content_hash(sorted(alert.labels.items()))


def _message_id(identity: str, alert: Alert) -> str:
    return f"am-{content_hash([identity, alert.starts_at, alert.status])}"


def _severity(labels: dict[str, str]) -> Priority:
    value = labels.get("severity", "").strip().lower()
    value = SEVERITY_ALIASES.get(value, value)
    known = {priority.value for priority in Priority}
    return Priority(value) if value in known else Priority.NORMAL


def _text(alert: Alert) -> str:
    lines = []
    description = alert.annotations.get("description") or alert.annotations.get("message")
    if description:
        lines.append(description)
    labels = ", ".join(f"{name}={value}" for name, value in sorted(alert.labels.items()))
    if labels:
        lines.append(f"标签：{labels}")
    if alert.starts_at:
        lines.append(f"开始时间：{alert.starts_at}")
    if alert.generator_url:
        lines.append(f"来源：{alert.generator_url}")
    return "\n".join(lines)[:MAX_TEXT_CHARS]


def _subject(labels: dict[str, str], settings: Settings) -> LeadSubjectRef | None:
    code = labels.get(settings.alert_label_subject, "").strip()
    if not code:
        return None
    # The label may hold a credit code or, for a smallholder, another id.
    return LeadSubjectRef(credit_code=code[:40], other_id=code[:40])


def firing_lead(
    alert: Alert, query: HookQuery, settings: Settings, callback_token: str | None
) -> LeadMessage:
    """Return the lead a firing alert raises."""
    identity = alert_identity(alert)
    labels = alert.labels
    title = (
        alert.annotations.get("summary")
        or alert.annotations.get("title")
        or labels.get("alertname")
        or "监控告警"
    )
    return LeadMessage(
        message_id=_message_id(identity, alert),
        source=query.source,
        dedup_key=identity,
        title=title[:200],
        text=_text(alert),
        severity=_severity(labels),
        subject=_subject(labels, settings),
        grid_code=labels.get(settings.alert_label_grid) or None,
        division_code=labels.get(settings.alert_label_division) or None,
        address=(alert.annotations.get("address") or None),
        callback_url=query.callback_url,
        callback_token=callback_token if query.callback_url else None,
    )


def resolved_update(alert: Alert, query: HookQuery) -> LeadUpdateMessage:
    """Return the update a resolved alert sends to its lead."""
    identity = alert_identity(alert)
    note = f"告警已恢复：{alert.ends_at}" if alert.ends_at else "告警已恢复"
    return LeadUpdateMessage(
        message_id=_message_id(identity, alert),
        action=LeadUpdateAction.RESOLVE,
        source=query.source,
        dedup_key=identity,
        note=note,
    )


async def receive_alerts(request: web.Request, context: HookContext) -> web.Response:
    """Turn each alert of a notification into a lead or a resolve, and publish them in order."""
    hook_request = await receive(request, context)
    query = validated(HookQuery, dict(request.query), prefix="query")
    notification = validated(Notification, hook_request.data)
    check_callback(context, hook_request.caller, query.callback_url)
    if len(notification.alerts) != len({alert_identity(a) for a in notification.alerts}):
        raise ApiError(
            422,
            "validation_failed",
            "two alerts of the notification have the same fingerprint; send each alert once",
            field="alerts",
        )

    token_name = hook_request.caller.token.name
    messages: list[LeadMessage | LeadUpdateMessage] = []
    for index, alert in enumerate(notification.alerts):
        try:
            if alert.status == "firing":
                messages.append(firing_lead(alert, query, context.settings, token_name))
            else:
                messages.append(resolved_update(alert, query))
        except pydantic.ValidationError as exc:
            raise validation_error(exc, prefix=("alerts", str(index), "labels")) from None
    await publish_leads(context, hook_request.caller, messages)
    return accepted(
        {
            "status": "accepted",
            "messages": [
                {
                    "message_id": message.message_id,
                    "dedup_key": message.dedup_key,
                    "action": message.action,
                }
                for message in messages
            ],
        }
    )
