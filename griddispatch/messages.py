"""Schemas of the messages carried on NATS.

Inbound messages (directives, leads) are validated here before anything is
written; a message that fails validation goes to the dead-letter subject
with the validation error as its reason.
"""

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from griddispatch.deadlines import check_deadline_text
from griddispatch.geo import CoordinateSystem

MAX_ACK_WITHIN_S = 90 * 24 * 3600.0

# A bounding box around China, in degrees: points outside it are input errors (swapped
# longitude and latitude, a missing minus sign, coordinates of another country).
CHINA_LONGITUDE = (73.0, 136.0)
CHINA_LATITUDE = (3.0, 54.0)


class Priority(StrEnum):
    """Task priority: 紧急 / 高 / 普通 / 低."""

    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class TargetKind(StrEnum):
    """The kind of addressee a directive names."""

    INSPECTOR = "inspector"
    GRID = "grid"
    SUBJECT = "subject"
    DIVISION = "division"


class Assignment(StrEnum):
    """The assignment mode of a directive to several inspectors."""

    EACH = "each"  # every inspector must respond: one task each
    CLAIM = "claim"  # the first to acknowledge takes it; the others' tasks are withdrawn


# The largest id a BIGINT column holds; a larger id can name no row.
MAX_ID = 2**63 - 1


def _reject_nul(value: Any, where: str) -> None:
    """Raise ValueError naming the first text with a NUL character under `value`."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError(f"field {where or 'message'!r} contains a NUL character; remove it")
    if isinstance(value, dict):
        for key, item in value.items():
            _reject_nul(item, f"{where}.{key}" if where else str(key))
    if isinstance(value, list):
        for index, item in enumerate(value):
            _reject_nul(item, f"{where}[{index}]")


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class _Inbound(_Message):
    """A message from outside, checked whole before its fields are validated."""

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        """Reject NUL characters, which PostgreSQL cannot store in a text column."""
        _reject_nul(data, "")
        return data


Text200 = Annotated[str, Field(min_length=1, max_length=200)]
Body = Annotated[str, Field(max_length=3000)]
AckWithin = Annotated[float, Field(gt=0, le=MAX_ACK_WITHIN_S)]


# A deadline as text: clock time ("30m") or working time ("3 working days").
DeadlineText = Annotated[str, Field(max_length=40), AfterValidator(check_deadline_text)]


class Target(_Message):
    """The addressee of a directive: an inspector's staff code, a grid or division code, or a
    subject's credit code (or other id)."""

    kind: TargetKind
    code: Annotated[str, Field(min_length=1, max_length=40)]


class DirectiveMessage(_Inbound):
    """A directive (指令) from the command centre, on `gd.directive.issue`."""

    message_id: Annotated[str, Field(min_length=1, max_length=100)]
    target: Target
    title: Text200
    body: Body = ""
    priority: Priority = Priority.NORMAL
    ack_within_s: AckWithin | None = None
    ack_within: DeadlineText | None = None
    due_within: DeadlineText | None = None
    assignment: Assignment = Assignment.EACH
    issued_by: Annotated[str, Field(max_length=100)] | None = None


class LeadSubjectRef(_Message):
    """The subject a lead is about, named by any of its identifiers or by its name.

    A name is matched tolerant of full-width characters, spaces and the 有限责任公司 /
    有限公司 variants of a company suffix.
    """

    credit_code: Annotated[str, Field(max_length=40)] | None = None
    other_id: Annotated[str, Field(max_length=40)] | None = None
    id: Annotated[int, Field(gt=0, le=MAX_ID)] | None = None
    name: Annotated[str, Field(max_length=200)] | None = None

    @model_validator(mode="after")
    def _one_id(self) -> "LeadSubjectRef":
        if not (self.credit_code or self.other_id or self.id or self.name):
            raise ValueError("subject needs a credit_code, other_id, id or name")
        return self


class Location(_Message):
    """A point in degrees with the coordinate system it was taken in.

    Chinese web maps give GCJ-02 and Baidu gives BD-09; the point is converted
    to WGS-84 before it is compared with grid boundaries.
    """

    longitude: float
    latitude: float
    system: CoordinateSystem = "wgs84"

    @model_validator(mode="after")
    def _inside_china(self) -> "Location":
        west, east = CHINA_LONGITUDE
        south, north = CHINA_LATITUDE
        if not (west <= self.longitude <= east and south <= self.latitude <= north):
            raise ValueError(
                f"point (longitude {self.longitude}, latitude {self.latitude}) lies outside "
                f"China ({west:g}-{east:g} E, {south:g}-{north:g} N); check that longitude "
                "comes first and that the values are in degrees"
            )
        return self


# Severity names of alerting systems, mapped to task priorities: Prometheus and Grafana
# label values, and the four severities of PagerDuty's Events API v2.
SEVERITY_ALIASES = {
    "critical": "urgent",
    "emergency": "urgent",
    "error": "high",
    "major": "high",
    "warning": "normal",
    "minor": "normal",
    "info": "low",
    "informational": "low",
}


def _priority_from_severity(value: object) -> object:
    if isinstance(value, str):
        lowered = value.strip().lower()
        return SEVERITY_ALIASES.get(lowered, lowered)
    return value


Severity = Annotated[Priority, BeforeValidator(_priority_from_severity)]
LeadSource = Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,40}$")]
MessageId = Annotated[str, Field(min_length=1, max_length=100)]
DedupKey = Annotated[str, Field(min_length=1, max_length=200)]


class LeadMessage(_Inbound):
    """A risk lead (线索) from a monitoring source, on `gd.lead.<source>`.

    `dedup_key` identifies the lead within its source; when absent, the
    message id is used, so a re-sent message is still the same lead. The
    lead is routed by its subject, then its grid or division code, then its
    location, then the division named in its address. A lead none of them
    places waits in the command centre's triage queue. `callback_url` gets
    the state changes of the lead's task, signed with the HMAC secret of the
    API token named `callback_token`.
    """

    message_id: MessageId
    action: Literal["trigger"] = "trigger"
    source: LeadSource
    dedup_key: DedupKey | None = None
    title: Text200
    text: Body = ""
    severity: Severity = Priority.NORMAL
    subject: LeadSubjectRef | None = None
    grid_code: Annotated[str, Field(max_length=20)] | None = None
    division_code: Annotated[str, Field(max_length=20)] | None = None
    address: Annotated[str, Field(max_length=300)] | None = None
    location: Location | None = None
    callback_url: Annotated[str, Field(max_length=2000)] | None = None
    callback_token: Annotated[str, Field(max_length=32)] | None = None
    ack_within_s: AckWithin | None = None
    ack_within: DeadlineText | None = None
    due_within: DeadlineText | None = None


class LeadUpdateAction(StrEnum):
    """A change a source reports about a lead it sent before."""

    ACKNOWLEDGE = "acknowledge"  # someone at the source took it on: the task is acknowledged
    RESOLVE = "resolve"  # the condition cleared at the source: the open task is cancelled


class LeadUpdateMessage(_Inbound):
    """A change a source reports about its lead `dedup_key`, on `gd.lead.<source>`."""

    message_id: MessageId
    action: LeadUpdateAction
    source: LeadSource
    dedup_key: DedupKey
    note: Body = ""


class NotificationKind(StrEnum):
    """The reason the bot contacts an inspector."""

    TASK_ASSIGNED = "task_assigned"
    REMINDER = "reminder"
    ESCALATED = "escalated"
    TASK_UPDATED = "task_updated"
    DECLINED = "declined"  # to the grid leader: the assignee cannot do it, reassign
    DIGEST = "digest"


class Notification(_Message):
    """An instruction to the bot, on `gd.notify.telegram.<inspector_id>`.

    It carries ids only: the bot renders the task as it is when it sends, so
    a late reminder never shows a stale state.
    """

    notification_id: str
    kind: NotificationKind
    task_id: int | None = None
    inspector_id: int
    condition: str | None = None
    digest_date: date | None = None

    @model_validator(mode="after")
    def _task_or_digest(self) -> "Notification":
        if self.kind is NotificationKind.DIGEST:
            if self.digest_date is None:
                raise ValueError("a digest notification needs digest_date")
        elif self.task_id is None:
            raise ValueError(f"a {self.kind.value} notification needs task_id")
        return self


class TaskEventMessage(_Message):
    """A change to a task, on `gd.event.task.<kind>`, for the console and integrations."""

    event_id: int
    task_id: int
    kind: str
    state: str
    actor: str
    at: datetime
    detail: dict[str, Any] = Field(default_factory=dict)


class DeadLetter(_Message):
    """A message no consumer could use, on `gd.deadletter.<original subject>`."""

    subject: str
    reason: str
    payload: str
    headers: dict[str, str] = Field(default_factory=dict)
    received_at: datetime
    consumer: str
    kind: Literal["dead_letter"] = "dead_letter"
