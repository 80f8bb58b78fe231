"""Schemas of the messages carried on NATS.

Inbound messages (directives, leads) are validated here before anything is
written; a message that fails validation goes to the dead-letter subject
with the validation error as its reason.
"""

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from griddispatch.deadlines import check_deadline_text

MAX_ACK_WITHIN_S = 90 * 24 * 3600.0


class Priority(StrEnum):
    """Task priority: 紧急 / 高 / 普通 / 低."""

    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class TargetKind(StrEnum):
    """What a directive is addressed to."""

    INSPECTOR = "inspector"
    GRID = "grid"
    SUBJECT = "subject"
    DIVISION = "division"


class Assignment(StrEnum):
    """How a directive to several inspectors is assigned."""

    EACH = "each"  # every inspector must respond: one task each
    CLAIM = "claim"  # the first to acknowledge takes it; the others' tasks are withdrawn


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


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


class DirectiveMessage(_Message):
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
    """How a lead names the subject it is about."""

    credit_code: str | None = None
    other_id: str | None = None

    @model_validator(mode="after")
    def _one_id(self) -> "LeadSubjectRef":
        if not self.credit_code and not self.other_id:
            raise ValueError("subject needs a credit_code or an other_id")
        return self


class LeadMessage(_Message):
    """A risk lead (线索) from a monitoring source, on `gd.lead.<source>`.

    `dedup_key` identifies the lead within its source; when absent, the
    message id is used, so a re-sent message is still the same lead.
    """

    message_id: Annotated[str, Field(min_length=1, max_length=100)]
    source: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,40}$")]
    dedup_key: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    title: Text200
    text: Body = ""
    severity: Priority = Priority.NORMAL
    subject: LeadSubjectRef | None = None
    grid_code: Annotated[str, Field(max_length=20)] | None = None
    ack_within_s: AckWithin | None = None
    ack_within: DeadlineText | None = None
    due_within: DeadlineText | None = None


class NotificationKind(StrEnum):
    """Why the bot is told to contact an inspector."""

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
