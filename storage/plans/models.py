"""Plan tables: the risk grade trail, plan entries and coverage warnings."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, BigId, UTCDateTime


class GradeChange(Base):
    """One change of a subject's risk grade: from what to what, when, by whom and why.

    Rows are only ever inserted.
    """

    __tablename__ = "subject_grade_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"), index=True)
    old_grade: Mapped[str | None] = mapped_column(String(16))
    new_grade: Mapped[str] = mapped_column(String(16))
    # hand, import, result, lab or clean_run
    source: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(60))
    reason: Mapped[str] = mapped_column(Text)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class PlanEntry(Base):
    """One subject's inspection due in one plan period, and the routine task made for it.

    `(subject_id, period_key)` is unique, so generating a period twice, or
    from two workers at once, creates no second entry or task. An entry is
    `open` until an inspection of the subject is submitted in the period,
    then `done`; an entry for a subject inspected before the period's tasks
    were generated starts `done` and has no task.
    """

    __tablename__ = "plan_entries"
    __table_args__ = (
        UniqueConstraint("subject_id", "period_key"),
        Index("ix_plan_entries_release", "notified_at", "release_at"),
        Index("ix_plan_entries_period", "period_key", "grid_code"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"))
    period_key: Mapped[str] = mapped_column(String(40))
    plan_version: Mapped[str] = mapped_column(String(20))
    grade: Mapped[str] = mapped_column(String(16))
    industry: Mapped[str] = mapped_column(String(32))
    grid_code: Mapped[str] = mapped_column(String(20))
    inspector_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("inspectors.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("tasks.id"), index=True)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    release_at: Mapped[datetime] = mapped_column(UTCDateTime)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(8), index=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("inspection_results.id"))


class PlanWarning(Base):
    """The one early warning an area gets in a period when its projected coverage is short."""

    __tablename__ = "plan_warnings"
    __table_args__ = (UniqueConstraint("area_code", "period_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    area_code: Mapped[str] = mapped_column(String(20), ForeignKey("divisions.code"))
    period_key: Mapped[str] = mapped_column(String(40))
    task_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("tasks.id"))
    figures: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
