"""Firing due escalation steps exactly once, snoozing, and fixing provisional deadlines.

A step fires inside one transaction that locks the task row, re-checks that
its condition still holds and that it has not fired, records it in the
trail and queues its notifications. Two workers that pick the same task
serialise on that lock (PostgreSQL: `FOR UPDATE SKIP LOCKED` lets the
second skip it; SQLite: `BEGIN IMMEDIATE` makes it wait, after which the
step is no longer pending).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from griddispatch.errors import NotFoundError, PermissionDeniedError, ValidationError
from griddispatch.messages import NotificationKind
from storage.db import Database
from storage.escalation.plan import PlannedStep, pending_steps, replan
from storage.escalation.policies import Action, PolicyConfig
from storage.escalation.policy import Escalation
from storage.escalation.recipients import recipients_of
from storage.registry.models import Inspector
from storage.registry.queries import grid_leader_of
from storage.tasks.deadlines import set_deadlines
from storage.tasks.models import Task
from storage.tasks.service import SYSTEM, Actor, notify, record_event
from storage.tasks.states import OPEN_STATES

log = logging.getLogger(__name__)

WORKER = Actor(label="worker")
# A step that fires more than this after its due time is marked late in the trail.
LATE_AFTER_S = 120.0
_EVENT_OF_ACTION = {
    Action.REMIND_ASSIGNEE: "reminded",
    Action.REASSIGN_TO_GRID_LEADER: "reassigned",
}


@dataclass(frozen=True)
class FiredStep:
    """A step that a sweep fired or skipped."""

    task_id: int
    step: int
    action: str
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
        Task.state.in_([state.value for state in OPEN_STATES] + ["submitted"]),
        Task.next_step_at.is_not(None),
        Task.next_step_at <= now,
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        # NO KEY UPDATE: inserting a trail entry or a delivery takes a key-share lock on the
        # task, which a plain FOR UPDATE SKIP LOCKED would treat as taken and skip.
        query = query.with_for_update(skip_locked=True, key_share=True)
    return await session.scalar(query)


def _policy(escalation: Escalation, task: Task) -> PolicyConfig:
    return escalation.policy_named(task.policy_name, task.kind, task.priority)


async def fire_due_steps(
    db: Database, task_id: int, *, escalation: Escalation, now: datetime
) -> list[FiredStep]:
    """Fire every step of one task that is due at `now`, in order; return what fired."""
    async with db.transaction() as session:
        task = await _claim(session, task_id, now)
        if task is None:
            return []
        policy = _policy(escalation, task)
        fired: list[FiredStep] = []
        hurry_after: PlannedStep | None = None
        while True:
            step = _next_due(task, policy, escalation, now, hurry_after)
            if step is None:
                break
            outcome = await _fire(session, task, step, now=now)
            fired.append(outcome)
            hurry_after = step if outcome.kind == "escalation_skipped" else None
        replan(task, policy, escalation.calendar)
        task.updated_at = now
        return fired


def _next_due(
    task: Task,
    policy: PolicyConfig,
    escalation: Escalation,
    now: datetime,
    hurry_after: PlannedStep | None,
) -> PlannedStep | None:
    """Return the next step to fire now: the earliest due one, or after a skip, the next step
    of the skipped step's condition, which then fires at once instead of waiting its turn."""
    pending = pending_steps(task, policy, escalation.calendar)
    if hurry_after is not None:
        following = [
            step
            for step in pending
            if step.step.when is hurry_after.step.when and step.index > hurry_after.index
        ]
        if following:
            return min(following, key=lambda step: step.index)
    if task.snoozed_until is not None and task.snoozed_until > now:
        return None
    if pending and pending[0].due_at <= now:
        return pending[0]
    return None


async def _fire(
    session: AsyncSession, task: Task, planned: PlannedStep, *, now: datetime
) -> FiredStep:
    """Carry out one step, or record why it was skipped, and mark it done on the task."""
    step = planned.step
    late_s = max(0.0, (now - planned.due_at).total_seconds())
    detail: dict[str, object] = {
        "step": planned.index + 1,
        "action": step.action.value,
        "condition": step.when.value,
        "due_at": planned.due_at.isoformat(),
    }
    if late_s > LATE_AFTER_S:
        detail.update(late=True, late_s=round(late_s))
    task.fired_steps = [*(task.fired_steps or []), planned.index]
    task.escalation_step = len(task.fired_steps)

    recipients = await recipients_of(session, task, step.action)
    if recipients.problem:
        detail["reason"] = recipients.problem
        await record_event(
            session, task, kind="escalation_skipped", actor=SYSTEM, now=now, detail=detail
        )
        log.warning(
            "escalation step skipped task=%s step=%d action=%s reason=%s",
            task.id,
            planned.index + 1,
            step.action.value,
            recipients.problem,
        )
        return FiredStep(
            task.id, planned.index + 1, step.action.value, "escalation_skipped", late_s
        )

    kind = _EVENT_OF_ACTION.get(step.action, "escalated")
    if step.action is Action.REASSIGN_TO_GRID_LEADER:
        await _reassign(session, task, recipients.inspectors[0], now=now, detail=detail)
    else:
        detail["to_inspector_ids"] = [person.id for person in recipients.inspectors]
        await record_event(session, task, kind=kind, actor=WORKER, now=now, detail=detail)
        notification = (
            NotificationKind.REMINDER
            if step.action is Action.REMIND_ASSIGNEE
            else NotificationKind.ESCALATED
        )
        for person in recipients.inspectors:
            notify(
                session,
                task,
                inspector_id=person.id,
                kind=notification,
                now=now,
                condition=step.when.value,
            )
    log.info(
        "escalation step fired task=%s step=%d action=%s late_s=%.0f",
        task.id,
        planned.index + 1,
        step.action.value,
        late_s,
    )
    return FiredStep(task.id, planned.index + 1, step.action.value, kind, late_s)


async def _reassign(
    session: AsyncSession,
    task: Task,
    leader: Inspector,
    *,
    now: datetime,
    detail: dict[str, object],
) -> None:
    previous = task.inspector_id
    task.inspector_id = leader.id
    detail.update(from_inspector_id=previous, to_inspector_id=leader.id)
    await record_event(session, task, kind="reassigned", actor=WORKER, now=now, detail=detail)
    notify(session, task, inspector_id=leader.id, kind=NotificationKind.TASK_ASSIGNED, now=now)
    notify(session, task, inspector_id=previous, kind=NotificationKind.TASK_UPDATED, now=now)


async def sweep(
    db: Database,
    *,
    escalation: Escalation,
    now: datetime,
    batch: int = 500,
    should_stop: Callable[[], bool] = lambda: False,
) -> list[FiredStep]:
    """Fire every step due at `now`, task by task in due order, and return them.

    `should_stop` is asked between tasks, so a worker that is shutting down
    finishes the task in hand and leaves the rest to the next sweep.
    """
    # TODO: each task's steps fire in their own transaction through the ORM, about 7 ms of
    # CPU a step (bench/README.md), so 1,000 due steps take seconds, not the 1 s goal; claim
    # tasks in batches and write trail and outbox rows in bulk to reach it.
    fired: list[FiredStep] = []
    seen: set[int] = set()
    while not should_stop():
        task_ids = [
            task_id
            for task_id in await due_task_ids(db, now=now, limit=batch)
            if task_id not in seen
        ]
        if not task_ids:
            return fired
        for task_id in task_ids:
            if should_stop():
                return fired
            seen.add(task_id)
            fired.extend(await fire_due_steps(db, task_id, escalation=escalation, now=now))
    return fired


async def snooze_task(
    db: Database,
    *,
    task_id: int,
    inspector_id: int,
    until: datetime,
    reason: str,
    escalation: Escalation,
    now: datetime,
) -> Task:
    """Hold a task's escalation until `until`, as its grid leader decides, with a reason.

    Raises PermissionDeniedError unless `inspector_id` leads the assignee's
    grid, and ValidationError for a time in the past or an empty reason.
    """
    if until <= now:
        raise ValidationError(f"snooze until {until.isoformat()} is in the past; pick a later time")
    if not reason.strip():
        raise ValidationError("a snooze needs a reason, for the trail")
    async with db.transaction() as session:
        task = await session.get(Task, task_id)
        if task is None:
            raise NotFoundError(f"task {task_id} not found; check the task id")
        leader = await grid_leader_of(session, task.inspector_id)
        if leader is None or leader.id != inspector_id:
            raise PermissionDeniedError(
                f"only the grid leader of task {task_id}'s assignee can snooze it"
            )
        task.snoozed_until = until
        replan(task, _policy(escalation, task), escalation.calendar)
        task.updated_at = now
        actor = Actor.inspector(leader)
        await record_event(
            session,
            task,
            kind="snoozed",
            actor=actor,
            now=now,
            detail={"until": until.isoformat(), "reason": reason.strip()},
        )
        log.info("task snoozed task=%s leader=%s until=%s", task_id, inspector_id, until)
        return task


async def recompute_provisional(db: Database, *, escalation: Escalation, now: datetime) -> int:
    """Recompute open tasks' provisional deadlines now that more years are official.

    Returns how many tasks got final deadlines.
    """
    async with db.reading() as session:
        ids = list(
            await session.scalars(
                select(Task.id).where(
                    Task.deadline_provisional.is_(True),
                    Task.state.in_([state.value for state in OPEN_STATES]),
                )
            )
        )
    fixed = 0
    for task_id in ids:
        async with db.transaction() as session:
            task = await session.get(Task, task_id)
            if task is None or not task.deadline_provisional:
                continue
            before = (task.ack_due_at, task.due_at)
            provisional = set_deadlines(task, escalation.calendar, start=task.created_at)
            if provisional:
                # Still provisional: keep the deadlines the task and its plan were built on.
                task.ack_due_at, task.due_at = before
                task.deadline_provisional = True
                continue
            replan(task, _policy(escalation, task), escalation.calendar)
            task.updated_at = now
            await record_event(
                session,
                task,
                kind="deadline_recomputed",
                actor=SYSTEM,
                now=now,
                detail={
                    "ack_due_at": [before[0].isoformat(), task.ack_due_at.isoformat()],
                    "due_at": [before[1].isoformat(), task.due_at.isoformat()],
                },
            )
            fixed += 1
    if fixed:
        log.info("provisional deadlines recomputed tasks=%d", fixed)
    return fixed


UNREACHABLE = "unreachable"


async def escalate_unreachable(db: Database, *, inspector_id: int, now: datetime) -> int:
    """Tell the grid leader about every open task of an inspector Telegram cannot reach.

    Returns how many tasks were escalated. Tasks stay with the inspector, so
    the leader decides whether to reassign them.
    """
    async with db.transaction() as session:
        leader = await grid_leader_of(session, inspector_id)
        tasks = list(
            await session.scalars(
                select(Task)
                .where(
                    Task.inspector_id == inspector_id,
                    Task.state.in_([state.value for state in OPEN_STATES]),
                )
                .with_for_update()
            )
        )
        for task in tasks:
            if leader is None or leader.id == inspector_id:
                await record_event(
                    session,
                    task,
                    kind="escalation_skipped",
                    actor=SYSTEM,
                    now=now,
                    detail={"condition": UNREACHABLE, "reason": "no grid leader"},
                )
                continue
            await record_event(
                session,
                task,
                kind="escalated",
                actor=SYSTEM,
                now=now,
                detail={"condition": UNREACHABLE, "to_inspector_ids": [leader.id]},
            )
            notify(
                session,
                task,
                inspector_id=leader.id,
                kind=NotificationKind.ESCALATED,
                now=now,
                condition=UNREACHABLE,
            )
    log.warning(
        "open tasks of unreachable inspector escalated inspector=%s tasks=%d",
        inspector_id,
        len(tasks),
    )
    return len(tasks)
