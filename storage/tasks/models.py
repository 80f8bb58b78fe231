"""Task and task event tables."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, BigId, UTCDateTime


class Task(Base):
    """One piece of work for one inspector, created from a directive or a lead.

    Two clocks: `ack_due_at` (acknowledge by) and `due_at` (result due by),
    computed from `ack_within` and `due_within` on the working calendar.
    `next_step_at` is when the next escalation step of policy `policy_name`
    is due and `fired_steps` lists the steps that fired or were skipped, so
    the worker keeps no deadline in memory.
    """

    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("directive_id", "inspector_id"),
        Index(
            "ix_tasks_next_step_due",
            "next_step_at",
            "id",
            postgresql_where=text("next_step_at IS NOT NULL"),
            sqlite_where=text("next_step_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    directive_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("directives.id"))
    lead_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("leads.id"), index=True)
    inspector_id: Mapped[int] = mapped_column(BigId, ForeignKey("inspectors.id"), index=True)
    subject_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("subjects.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(16))
    routing: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    assignment: Mapped[str] = mapped_column(String(8), default="each")
    claimed_by_inspector_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("inspectors.id"))
    policy_name: Mapped[str] = mapped_column(String(40))
    ack_within: Mapped[str] = mapped_column(String(40))
    due_within: Mapped[str] = mapped_column(String(40))
    ack_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    review_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deadline_provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    fired_steps: Mapped[list[int]] = mapped_column(JSON, default=list)
    escalation_step: Mapped[int] = mapped_column(Integer, default=0)
    next_step_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decline_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TaskEvent(Base):
    """One entry of a task's trail: who did what, when. Rows are only ever inserted."""

    __tablename__ = "task_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(BigId, ForeignKey("tasks.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    actor_inspector_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("inspectors.id"))
    actor: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
