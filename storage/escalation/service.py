"""Firing due escalation steps exactly once, snoozing, and fixing provisional deadlines.

A sweep claims due tasks in batches. One transaction locks a batch of task
rows with a query that re-checks each task's state and due time. It fires
the due steps of each task in memory, then writes the trail entries, outbox
rows and task updates in bulk and commits. Two workers never
hold the same task: on PostgreSQL `FOR NO KEY UPDATE SKIP LOCKED` lets the
second skip rows the first holds; on SQLite `BEGIN IMMEDIATE` makes the
second wait, after which the steps are no longer due (and the
`escalation-sweep` lease normally keeps the second from sweeping at all).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from griddispatch.errors import NotFoundError, PermissionDeniedError, ValidationError
from griddispatch.messages import NotificationKind
from storage.db import Database
from storage.escalation.plan import PlannedStep, first_due_time, pending_steps, replan
from storage.escalation.policies import Action, PolicyConfig
from storage.escalation.policy import Escalation
from storage.escalation.recipients import RecipientDirectory
from storage.escalation.writes import StepWrites
from storage.registry.models import Inspector
from storage.registry.queries import grid_leader_of
from storage.tasks.deadlines import set_deadlines
from storage.tasks.models import Task
from storage.tasks.service import SYSTEM, Actor, notify, record_event
from storage.tasks.states import OPEN_STATE_VALUES, TaskState

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


# Every state in which a condition of a policy can hold (see plan.anchor_of).
SWEPT_STATES = [*OPEN_STATE_VALUES, TaskState.SUBMITTED.value]
# Tasks claimed per transaction. Larger batches mean fewer commits, and smaller ones
# release their row locks sooner to acknowledgements waiting on them.
BATCH = 500


def due_tasks_query(now: datetime, limit: int, dialect: str) -> Select[Task]:
    """Return the query that claims up to `limit` tasks whose next step is due, most overdue
    first. It uses the partial index `ix_tasks_next_step_due` on (next_step_at, id)."""
    query = (
        select(Task)
        .where(
            Task.next_step_at.is_not(None),
            Task.next_step_at <= now,
            Task.state.in_(SWEPT_STATES),
        )
        .order_by(Task.next_step_at, Task.id)
        .limit(limit)
    )
    if dialect == "postgresql":
        # SKIP LOCKED: a worker passes over the tasks another worker's batch holds.
        # NO KEY UPDATE: inserting a trail entry or a delivery takes a key-share lock on the
        # task, which a plain FOR UPDATE SKIP LOCKED would treat as taken and skip.
        query = query.with_for_update(skip_locked=True, key_share=True)
    return query


async def _claim_due(session: AsyncSession, now: datetime, limit: int) -> list[Task]:
    """Lock a batch of due tasks for this transaction and detach them from the session.

    The WHERE clause is the re-check. PostgreSQL evaluates it again on the
    newest version of each row it locks, and SQLite runs it inside the
    `BEGIN IMMEDIATE` write transaction. So a task acknowledged, submitted or
    cancelled before the claim is not returned. The tasks are detached
    because `StepWrites` updates them in bulk, not the session's flush.
    """
    dialect = session.bind.dialect.name if session.bind is not None else ""
    tasks = list(await session.scalars(due_tasks_query(now, limit, dialect)))
    # The session contains nothing else yet, so clearing it detaches exactly these tasks.
    session.expunge_all()
    return tasks


def _policy(escalation: Escalation, task: Task) -> PolicyConfig:
    return escalation.policy_named(task.policy_name, task.kind, task.priority)


@dataclass(frozen=True)
class Batch:
    """The result of one batch transaction: the steps it fired and the ids of the tasks it
    claimed."""

    fired: list[FiredStep]
    claimed: list[int]


async def fire_due_batch(
    db: Database,
    *,
    escalation: Escalation,
    now: datetime,
    limit: int = BATCH,
    skip: frozenset[int] = frozenset(),
) -> Batch:
    """Claim up to `limit` due tasks and fire each one's due steps, in one transaction.

    Tasks in `skip` are claimed but left alone. Trail entries, outbox rows
    and task updates are written in bulk before the commit, so either all
    steps of the batch fire or, on a crash or error, none does.
    """
    async with db.transaction() as session:
        tasks = await _claim_due(session, now, limit)
        todo = [task for task in tasks if task.id not in skip]
        directory = RecipientDirectory(session)
        await directory.preload(task.inspector_id for task in todo)
        writes = StepWrites(now)
        fired: list[FiredStep] = []
        for task in todo:
            fired.extend(await _fire_task(task, escalation, directory, writes, now))
        await writes.write(session)
    return Batch(fired, [task.id for task in tasks])


async def _fire_task(
    task: Task,
    escalation: Escalation,
    directory: RecipientDirectory,
    writes: StepWrites,
    now: datetime,
) -> list[FiredStep]:
    """Fire every step of one claimed task that is due at `now`, in order; return what fired.

    The plan is worked out once: firing a step changes neither the task's
    state nor its deadlines, so the other pending steps keep their times.
    """
    pending = pending_steps(task, _policy(escalation, task), escalation.calendar)
    fired: list[FiredStep] = []
    hurry_after: PlannedStep | None = None
    while True:
        step = _next_due(task, pending, now, hurry_after)
        if step is None:
            break
        pending.remove(step)
        outcome = await _fire(task, step, directory, writes, now=now)
        fired.append(outcome)
        hurry_after = step if outcome.kind == "escalation_skipped" else None
    task.next_step_at = first_due_time(task, pending)
    task.updated_at = now
    writes.update_task(task)
    return fired


def _next_due(
    task: Task, pending: list[PlannedStep], now: datetime, hurry_after: PlannedStep | None
) -> PlannedStep | None:
    """Return the next step to fire now: the earliest due one, or after a skip, the next step
    of the skipped step's condition, which then fires at once instead of waiting its turn."""
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
    task: Task,
    planned: PlannedStep,
    directory: RecipientDirectory,
    writes: StepWrites,
    *,
    now: datetime,
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

    recipients = await directory.recipients(task, step.action)
    if recipients.problem:
        detail["reason"] = recipients.problem
        writes.record_event(task, kind="escalation_skipped", actor=SYSTEM, detail=detail)
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
        _reassign(task, recipients.inspectors[0], writes, detail=detail)
    else:
        detail["to_inspector_ids"] = [person.id for person in recipients.inspectors]
        writes.record_event(task, kind=kind, actor=WORKER, detail=detail)
        notification = (
            NotificationKind.REMINDER
            if step.action is Action.REMIND_ASSIGNEE
            else NotificationKind.ESCALATED
        )
        for person in recipients.inspectors:
            writes.notify(
                task, inspector_id=person.id, kind=notification, condition=step.when.value
            )
    log.info(
        "escalation step fired task=%s step=%d action=%s late_s=%.0f",
        task.id,
        planned.index + 1,
        step.action.value,
        late_s,
    )
    return FiredStep(task.id, planned.index + 1, step.action.value, kind, late_s)


def _reassign(
    task: Task, leader: Inspector, writes: StepWrites, *, detail: dict[str, object]
) -> None:
    previous = task.inspector_id
    task.inspector_id = leader.id
    detail.update(from_inspector_id=previous, to_inspector_id=leader.id)
    writes.record_event(task, kind="reassigned", actor=WORKER, detail=detail)
    writes.notify(task, inspector_id=leader.id, kind=NotificationKind.TASK_ASSIGNED)
    writes.notify(task, inspector_id=previous, kind=NotificationKind.TASK_UPDATED)


async def sweep(
    db: Database,
    *,
    escalation: Escalation,
    now: datetime,
    batch: int = BATCH,
    should_stop: Callable[[], bool] = lambda: False,
) -> list[FiredStep]:
    """Fire every step due at `now`, batch by batch in due order, and return them.

    Each batch of up to `batch` tasks is one transaction (`fire_due_batch`).
    `should_stop` is asked between batches, so a worker that is shutting
    down commits the batch in hand and leaves the rest to the next sweep.
    """
    fired: list[FiredStep] = []
    seen: set[int] = set()
    while not should_stop():
        result = await fire_due_batch(
            db, escalation=escalation, now=now, limit=batch, skip=frozenset(seen)
        )
        fresh = [task_id for task_id in result.claimed if task_id not in seen]
        fired.extend(result.fired)
        if not fresh:
            # Nothing is left to claim, or only tasks this sweep already handled. Firing leaves
            # no step due at `now`, so a task claimed twice would mean a bug in the plan, and
            # the sweep ends instead of looping on it.
            return fired
        seen.update(fresh)
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
        raise ValidationError(
            "snooze until {until} is in the past; pick a later time", until=until.isoformat()
        )
    if not reason.strip():
        raise ValidationError("a snooze needs a reason, for the trail")
    async with db.transaction() as session:
        task = await session.get(Task, task_id)
        if task is None:
            raise NotFoundError("task {task_id} not found; check the task id", task_id=task_id)
        leader = await grid_leader_of(session, task.inspector_id)
        if leader is None or leader.id != inspector_id:
            raise PermissionDeniedError(
                "only the grid leader of task {task_id}'s assignee can snooze it", task_id=task_id
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
                    Task.state.in_(OPEN_STATE_VALUES),
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
                    Task.state.in_(OPEN_STATE_VALUES),
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
