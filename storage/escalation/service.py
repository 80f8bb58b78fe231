"""Firing due escalation steps, exactly once per step.

A step fires inside one transaction that locks the task row, re-checks its
state and step, records the step in the trail and queues its notification.
Two workers that pick the same task serialise on that lock (PostgreSQL:
`FOR UPDATE SKIP LOCKED` lets the second skip it; SQLite: `BEGIN IMMEDIATE`
makes it wait, after which it sees the step already taken).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from griddispatch.messages import NotificationKind
from storage.db import Database
from storage.escalation.policy import LAST_STEP, STEP_ESCALATE, STEP_REMIND, EscalationPolicy
from storage.registry.queries import grid_leader_of
from storage.tasks.models import Task
from storage.tasks.service import SYSTEM, Actor, notify, record_event
from storage.tasks.states import TaskState

log = logging.getLogger(__name__)

WORKER = Actor(label="worker")


@dataclass(frozen=True)
class FiredStep:
    """A step that a sweep fired."""

    task_id: int
    step: int
    kind: str
    late_s: float


async def due_task_ids(db: Database, *, now: datetime, limit: int) -> list[int]:
    """Return ids of tasks whose next step is due, the most overdue first."""
    async with db.reading() as session:
        rows = await session.scalars(
            select(Task.id)
            .where(Task.next_step_at.is_not(None), Task.next_step_at <= now)
            .order_by(Task.next_step_at, Task.id)
            .limit(limit)
        )
        return list(rows)


async def _claim(session: AsyncSession, task_id: int, now: datetime) -> Task | None:
    """Lock a due task for this transaction, or return None if it is taken or no longer due."""
    query = select(Task).where(
        Task.id == task_id,
        Task.state == TaskState.NEW.value,
        Task.next_step_at.is_not(None),
        Task.next_step_at <= now,
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return await session.scalar(query)


async def fire_due_step(
    db: Database, task_id: int, *, policy: EscalationPolicy, now: datetime
) -> FiredStep | None:
    """Fire the next step of one task if it is still due; return what fired."""
    async with db.transaction() as session:
        task = await _claim(session, task_id, now)
        if task is None:
            return None
        assert task.next_step_at is not None
        late_s = (now - task.next_step_at).total_seconds()
        step = task.escalation_step + 1

        if step == STEP_REMIND:
            kind = await _remind(session, task, now=now, late_s=late_s)
            task.next_step_at = task.next_step_at + timedelta(seconds=policy.escalate_after_s)
        else:
            kind = await _escalate_to_leader(session, task, now=now, late_s=late_s)
            task.next_step_at = None
        task.escalation_step = step
        task.updated_at = now
        log.info(
            "escalation step fired task=%s step=%d kind=%s late_s=%.0f", task.id, step, kind, late_s
        )
        return FiredStep(task_id=task.id, step=step, kind=kind, late_s=late_s)


async def _remind(session: AsyncSession, task: Task, *, now: datetime, late_s: float) -> str:
    await record_event(
        session, task, kind="reminded", actor=WORKER, now=now, detail={"late_s": round(late_s)}
    )
    notify(session, task, inspector_id=task.inspector_id, kind=NotificationKind.REMINDER, now=now)
    return "reminded"


async def _escalate_to_leader(
    session: AsyncSession, task: Task, *, now: datetime, late_s: float
) -> str:
    leader = await grid_leader_of(session, task.inspector_id)
    if leader is None or leader.id == task.inspector_id:
        await record_event(
            session,
            task,
            kind="escalation_skipped",
            actor=SYSTEM,
            now=now,
            detail={"step": LAST_STEP, "reason": "no grid leader"},
        )
        log.warning(
            "escalation skipped, no grid leader task=%s inspector=%s", task.id, task.inspector_id
        )
        return "escalation_skipped"
    await record_event(
        session,
        task,
        kind="escalated",
        actor=WORKER,
        now=now,
        detail={"to_inspector_id": leader.id, "step": STEP_ESCALATE, "late_s": round(late_s)},
    )
    notify(session, task, inspector_id=leader.id, kind=NotificationKind.ESCALATED, now=now)
    return "escalated"


async def sweep(
    db: Database, *, policy: EscalationPolicy, now: datetime, batch: int = 500
) -> list[FiredStep]:
    """Fire every step due at `now`, in due order, and return those that fired."""
    fired: list[FiredStep] = []
    while True:
        task_ids = await due_task_ids(db, now=now, limit=batch)
        if not task_ids:
            return fired
        fired_now = [
            step
            for task_id in task_ids
            if (step := await fire_due_step(db, task_id, policy=policy, now=now)) is not None
        ]
        fired.extend(fired_now)
        if not fired_now:
            return fired
