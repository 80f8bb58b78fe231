"""Services that create tasks and change their state.

Every change writes the task, its trail entry and the outbox messages it
causes in the caller's transaction, so they commit or roll back together.
"""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from griddispatch import subjects
from griddispatch.deadlines import parse_deadline
from griddispatch.errors import NotFoundError, PermissionDeniedError, ValidationError
from griddispatch.messages import Notification, NotificationKind, TaskEventMessage
from storage.bulk import assign_ids, insert_rows
from storage.db import Database
from storage.escalation.plan import replan
from storage.escalation.policy import Escalation
from storage.outbox.models import OutboxMessage
from storage.outbox.service import enqueue_rows, outbox_row
from storage.registry.models import Inspector
from storage.registry.queries import grid_inspectors, grid_leader_of
from storage.tasks.deadlines import set_deadlines
from storage.tasks.models import Task, TaskEvent
from storage.tasks.states import OPEN_STATE_VALUES, TaskAction, TaskState, next_state

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"


@dataclass(frozen=True)
class Actor:
    """The cause of a change: an inspector, or a named system component."""

    label: str
    inspector_id: int | None = None

    @classmethod
    def inspector(cls, inspector: Inspector) -> "Actor":
        return cls(label=f"inspector:{inspector.code}", inspector_id=inspector.id)


SYSTEM = Actor(label=SYSTEM_ACTOR)


async def record_event(
    session: AsyncSession,
    task: Task,
    *,
    kind: str,
    actor: Actor,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> int:
    """Append a trail entry, queue its `gd.event.task.<kind>` message, return the entry's id."""
    (event_id,) = await record_events(
        session, [(task, detail or {})], kind=kind, actor=actor, now=now
    )
    return event_id


async def record_events(
    session: AsyncSession,
    entries: list[tuple[Task, dict[str, Any]]],
    *,
    kind: str,
    actor: Actor,
    now: datetime,
    queued_after: Sequence[dict[str, Any]] = (),
) -> list[int]:
    """Append one trail entry of `kind` per (task, detail) and queue their event messages.

    Return the entries' ids. The entries go out as one INSERT. Their event
    messages, which need those ids, and then the outbox rows `queued_after`
    go out as a second, so a caller's notifications cost no INSERT of their own.
    """
    rows = [
        event_row(task, kind=kind, actor=actor, now=now, detail=detail) for task, detail in entries
    ]
    event_ids = await insert_rows(session, TaskEvent, rows, with_ids=True)

    messages = [
        event_message_row(event_id, row) for event_id, row in zip(event_ids, rows, strict=True)
    ]
    await enqueue_rows(session, [*messages, *queued_after])
    return event_ids


def event_row(
    task: Task, *, kind: str, actor: Actor, now: datetime, detail: dict[str, Any]
) -> dict[str, Any]:
    """Return the column values of a trail entry of `task` in its present state."""
    return {
        "task_id": task.id,
        "kind": kind,
        "state": task.state,
        "actor": actor.label,
        "actor_inspector_id": actor.inspector_id,
        "at": now,
        "detail": detail,
    }


def event_message_row(event_id: int, event: dict[str, Any]) -> dict[str, Any]:
    """Return the outbox row of the `gd.event.task.<kind>` message of a stored trail entry."""
    message = TaskEventMessage(
        event_id=event_id,
        task_id=event["task_id"],
        kind=event["kind"],
        state=event["state"],
        actor=event["actor"],
        at=event["at"],
        detail=event["detail"],
    )
    return outbox_row(
        subject=subjects.task_event_subject(event["kind"]),
        msg_id=f"event-{event_id}",
        payload=message.model_dump(mode="json"),
        now=event["at"],
    )


def notify(
    session: AsyncSession,
    task: Task,
    *,
    inspector_id: int,
    kind: NotificationKind,
    now: datetime,
    condition: str | None = None,
) -> str:
    """Queue a Telegram notification about `task` for one inspector; return its id."""
    message = notification_message(
        task, inspector_id=inspector_id, kind=kind, now=now, condition=condition
    )
    session.add(message)
    return message.msg_id


def notification_message(
    task: Task,
    *,
    inspector_id: int,
    kind: NotificationKind,
    now: datetime,
    condition: str | None = None,
) -> OutboxMessage:
    """Build the outbox message of a notification about `task` for one inspector."""
    row = notification_row(task, inspector_id=inspector_id, kind=kind, now=now, condition=condition)
    return OutboxMessage(**row)


def notification_row(
    task: Task,
    *,
    inspector_id: int,
    kind: NotificationKind,
    now: datetime,
    condition: str | None = None,
) -> dict[str, Any]:
    """Return the outbox row of a notification about `task` for one inspector."""
    notification = task_notification(
        task, inspector_id=inspector_id, kind=kind, condition=condition
    )
    return outbox_row(
        subject=subjects.notify_subject(inspector_id),
        msg_id=notification.notification_id,
        payload=notification.model_dump(mode="json"),
        now=now,
    )


def task_notification(
    task: Task, *, inspector_id: int, kind: NotificationKind, condition: str | None = None
) -> Notification:
    """Build a notification about `task` for one inspector, with a new unique id."""
    return Notification(
        notification_id=f"{kind.value}-{task.id}-{inspector_id}-{uuid.uuid4().hex[:12]}",
        kind=kind,
        task_id=task.id,
        inspector_id=inspector_id,
        condition=condition,
    )


@dataclass(frozen=True)
class NewTask:
    """The fields a task is created from. Deadlines left None come from the task's policy."""

    kind: str
    inspector_id: int
    title: str
    body: str
    priority: str
    routing: str
    ack_within: str | None = None
    due_within: str | None = None
    assignment: str = "each"
    directive_id: int | None = None
    lead_id: int | None = None
    subject_id: int | None = None
    # How the target was found, kept in the "created" trail entry under "route".
    route: dict[str, Any] | None = None


async def create_task(
    session: AsyncSession, spec: NewTask, *, escalation: Escalation, now: datetime
) -> Task:
    """Create a task in state NEW with its deadlines, first trail entry and notification."""
    (task,) = await create_tasks(session, [spec], escalation=escalation, now=now)
    return task


async def create_tasks(
    session: AsyncSession, specs: list[NewTask], *, escalation: Escalation, now: datetime
) -> list[Task]:
    """Create tasks in state NEW, each with its deadlines, first trail entry and notification.

    The tasks, their trail entries and their outbox rows are inserted with one
    multi-row INSERT each, so a directive to a thousand inspectors costs
    a few statements, not three thousand.
    """
    clocks: dict[tuple[str, str, str], _Clocks] = {}
    built = [_new_task(spec, escalation=escalation, now=now, clocks=clocks) for spec in specs]
    tasks = [task for task, _ in built]
    await assign_ids(session, Task, tasks)
    session.add_all(tasks)
    await session.flush()

    entries = [
        (task, _created_detail(task, spec, provisional=provisional))
        for (task, provisional), spec in zip(built, specs, strict=True)
    ]
    notifications = [
        notification_row(
            task, inspector_id=spec.inspector_id, kind=NotificationKind.TASK_ASSIGNED, now=now
        )
        for task, spec in zip(tasks, specs, strict=True)
    ]
    await record_events(
        session, entries, kind="created", actor=SYSTEM, now=now, queued_after=notifications
    )

    for (task, provisional), spec in zip(built, specs, strict=True):
        log.info(
            "task created task=%s inspector=%s directive=%s lead=%s policy=%s provisional=%s",
            task.id,
            spec.inspector_id,
            spec.directive_id,
            spec.lead_id,
            task.policy_name,
            provisional,
        )
    return tasks


@dataclass(frozen=True)
class _Clocks:
    """Deadlines and next escalation time of a new task, the same for tasks created alike."""

    ack_due_at: datetime
    due_at: datetime
    provisional: bool
    next_step_at: datetime | None

    @classmethod
    def of(cls, task: Task) -> "_Clocks":
        return cls(task.ack_due_at, task.due_at, task.deadline_provisional, task.next_step_at)

    def set_on(self, task: Task) -> None:
        task.ack_due_at = self.ack_due_at
        task.due_at = self.due_at
        task.deadline_provisional = self.provisional
        task.next_step_at = self.next_step_at


def _new_task(
    spec: NewTask,
    *,
    escalation: Escalation,
    now: datetime,
    clocks: dict[tuple[str, str, str], _Clocks],
) -> tuple[Task, bool]:
    """Build a task from `spec` with its deadlines, and whether those deadlines are provisional.

    New tasks with the same policy and deadline specs, created at the same
    moment, get the same clocks. `clocks` keeps those computed so far,
    because the working-calendar arithmetic was about a fifth of the cost
    of creating a task (measured under cProfile).
    """
    policy = escalation.policy_for(spec.kind, spec.priority)
    task = Task(
        kind=spec.kind,
        directive_id=spec.directive_id,
        lead_id=spec.lead_id,
        inspector_id=spec.inspector_id,
        subject_id=spec.subject_id,
        title=spec.title,
        body=spec.body,
        priority=spec.priority,
        routing=spec.routing,
        state=TaskState.NEW.value,
        assignment=spec.assignment,
        policy_name=policy.name,
        ack_within=spec.ack_within or policy.ack_within,
        due_within=spec.due_within or policy.due_within,
        fired_steps=[],
        escalation_step=0,
        created_at=now,
        updated_at=now,
    )
    key = (policy.name, task.ack_within, task.due_within)
    if key in clocks:
        clocks[key].set_on(task)
    else:
        set_deadlines(task, escalation.calendar, start=now)
        replan(task, policy, escalation.calendar)
        clocks[key] = _Clocks.of(task)
    return task, task.deadline_provisional


def _created_detail(task: Task, spec: NewTask, *, provisional: bool) -> dict[str, Any]:
    """Return the detail of a task's "created" trail entry: its routing, policy and deadlines."""
    detail: dict[str, Any] = {
        "routing": spec.routing,
        "policy": task.policy_name,
        "ack_due_at": task.ack_due_at.isoformat(),
        "due_at": task.due_at.isoformat(),
    }
    if provisional:
        detail["provisional"] = True
    if spec.route:
        detail["route"] = spec.route
    return detail


async def _may_act(session: AsyncSession, task: Task, inspector: Inspector) -> bool:
    """Return whether `inspector` is the task's assignee or the assignee's grid leader."""
    if task.inspector_id == inspector.id:
        return True
    leader = await grid_leader_of(session, task.inspector_id)
    return leader is not None and leader.id == inspector.id


async def act_on_task(
    db: Database,
    *,
    task_id: int,
    action: TaskAction,
    inspector_id: int,
    escalation: Escalation,
    now: datetime,
    reason: str | None = None,
) -> Task:
    """Apply an inspector's action to a task after checking they may act on it.

    Raises NotFoundError for an unknown task or inspector, PermissionDeniedError
    when the inspector is neither the assignee nor their grid leader, and
    IllegalTransitionError when the task's state does not allow the action.
    The escalation chain is re-planned in the same transaction, so no step
    fires for work already done.
    """
    async with db.transaction() as session:
        task = await _load_for_update(session, task_id)
        inspector = await session.get(Inspector, inspector_id)
        if inspector is None:
            raise NotFoundError("inspector {inspector_id} not found", inspector_id=inspector_id)
        if not await _may_act(session, task, inspector):
            raise PermissionDeniedError(
                "inspector {code} is not assigned to task {task_id} and does not lead its grid",
                code=inspector.code,
                task_id=task_id,
            )

        task.state = next_state(task.state, action).value
        task.updated_at = now
        if action is TaskAction.DECLINE:
            task.decline_reason = reason
        if action is TaskAction.SUBMIT:
            policy = escalation.policy_named(task.policy_name, task.kind, task.priority)
            review = parse_deadline(policy.review_within).resolve(now, escalation.calendar)
            task.review_due_at = review.at
        replan(
            task,
            escalation.policy_named(task.policy_name, task.kind, task.priority),
            escalation.calendar,
        )

        detail = {"reason": reason} if reason else {}
        await record_event(
            session,
            task,
            kind=_EVENT_OF_ACTION[action],
            actor=Actor.inspector(inspector),
            now=now,
            detail=detail,
        )
        notify(
            session,
            task,
            inspector_id=task.inspector_id,
            kind=NotificationKind.TASK_UPDATED,
            now=now,
        )
        if action is TaskAction.ACKNOWLEDGE and task.assignment == "claim":
            await _withdraw_other_claims(session, task, inspector, now=now)
        if action is TaskAction.DECLINE:
            await _ask_leader_to_reassign(session, task, now=now)
        log.info("task %s task=%s inspector=%s", action.value, task_id, inspector.id)
        return task


async def _ask_leader_to_reassign(session: AsyncSession, task: Task, *, now: datetime) -> None:
    """Tell the grid leader that the assignee cannot do the task, so they reassign it."""
    leader = await grid_leader_of(session, task.inspector_id)
    if leader is None or leader.id == task.inspector_id:
        log.warning("declined task has no grid leader to reassign it task=%s", task.id)
        return
    notify(session, task, inspector_id=leader.id, kind=NotificationKind.DECLINED, now=now)


async def _withdraw_other_claims(
    session: AsyncSession, task: Task, claimer: Inspector, *, now: datetime
) -> None:
    """Cancel the other open tasks of a claim-mode directive once one inspector took it."""
    others = await session.scalars(
        select(Task)
        .where(
            Task.directive_id == task.directive_id,
            Task.id != task.id,
            Task.state == TaskState.NEW.value,
        )
        .with_for_update()
    )
    for other in others:
        other.state = next_state(other.state, TaskAction.CANCEL).value
        other.claimed_by_inspector_id = claimer.id
        other.next_step_at = None
        other.updated_at = now
        await record_event(
            session,
            other,
            kind="claimed_elsewhere",
            actor=Actor.inspector(claimer),
            now=now,
            detail={"claimed_by_inspector_id": claimer.id, "claimed_task_id": task.id},
        )
        notify(
            session,
            other,
            inspector_id=other.inspector_id,
            kind=NotificationKind.TASK_UPDATED,
            now=now,
        )


_EVENT_OF_ACTION = {
    TaskAction.ACKNOWLEDGE: "acknowledged",
    TaskAction.DECLINE: "declined",
    TaskAction.SUBMIT: "submitted",
    TaskAction.CLOSE: "closed",
    TaskAction.CANCEL: "cancelled",
    TaskAction.REASSIGN: "reassigned",
}


async def _load_for_update(session: AsyncSession, task_id: int) -> Task:
    """Load a task and lock its row until the transaction ends (PostgreSQL).

    The tasks of a claim-mode directive are locked together in id order,
    because acknowledging one withdraws the others: two claimers that each
    locked their own task first would deadlock.
    """
    task = await session.get(Task, task_id)
    if task is None:
        raise NotFoundError("task {task_id} not found; check the task id", task_id=task_id)
    if task.assignment == "claim" and task.directive_id is not None:
        group = select(Task).where(Task.directive_id == task.directive_id).order_by(Task.id)
    else:
        group = select(Task).where(Task.id == task_id)
    await session.execute(group.with_for_update().execution_options(populate_existing=True))
    return task


async def get_task(db: Database, task_id: int) -> Task:
    """Return one task. Raises NotFoundError if there is none with that id."""
    async with db.reading() as session:
        task = await session.get(Task, task_id)
        if task is None:
            raise NotFoundError("task {task_id} not found; check the task id", task_id=task_id)
        return task


async def list_tasks(db: Database, *, open_only: bool, limit: int = 500) -> list[Task]:
    """Return tasks, newest first, optionally only those still open."""
    query = select(Task).order_by(Task.id.desc()).limit(limit)
    if open_only:
        query = query.where(Task.state.in_(OPEN_STATE_VALUES))
    async with db.reading() as session:
        return list(await session.scalars(query))


async def trail(db: Database, task_id: int) -> list[TaskEvent]:
    """Return a task's trail in the order it happened."""
    async with db.reading() as session:
        rows = await session.scalars(
            select(TaskEvent).where(TaskEvent.task_id == task_id).order_by(TaskEvent.id)
        )
        return list(rows)


async def reassign_task(
    db: Database,
    *,
    task_id: int,
    leader_id: int,
    to_inspector_id: int,
    escalation: Escalation,
    now: datetime,
) -> Task:
    """Hand a new or declined task to another inspector of the same grid, as its grid leader.

    The new assignee gets fresh deadlines from now and the chain starts over.
    Raises PermissionDeniedError unless `leader_id` leads the assignee's grid,
    ValidationError when the new assignee is not in that grid, and
    IllegalTransitionError for a task that is not new or declined.
    """
    async with db.transaction() as session:
        task = await _load_for_update(session, task_id)
        leader = await grid_leader_of(session, task.inspector_id)
        if leader is None or leader.id != leader_id:
            raise PermissionDeniedError(
                "only the grid leader of task {task_id}'s assignee can reassign it", task_id=task_id
            )
        target = await session.get(Inspector, to_inspector_id)
        if target is None or target.division_code != leader.division_code:
            raise ValidationError(
                "inspector {to_inspector_id} is not in the grid of task {task_id}; "
                "pick an inspector of the same grid",
                to_inspector_id=to_inspector_id,
                task_id=task_id,
            )
        if task.directive_id is not None and await session.scalar(
            select(Task.id).where(
                Task.directive_id == task.directive_id, Task.inspector_id == target.id
            )
        ):
            raise ValidationError(
                "inspector {code} already has a task of this directive; pick another",
                code=target.code,
            )
        task.state = next_state(task.state, TaskAction.REASSIGN).value
        previous = task.inspector_id
        task.inspector_id = target.id
        task.decline_reason = None
        task.fired_steps = []
        task.escalation_step = 0
        set_deadlines(task, escalation.calendar, start=now)
        replan(
            task,
            escalation.policy_named(task.policy_name, task.kind, task.priority),
            escalation.calendar,
        )
        task.updated_at = now
        await record_event(
            session,
            task,
            kind="reassigned",
            actor=Actor.inspector(leader),
            now=now,
            detail={"from_inspector_id": previous, "to_inspector_id": target.id},
        )
        notify(session, task, inspector_id=target.id, kind=NotificationKind.TASK_ASSIGNED, now=now)
        notify(session, task, inspector_id=previous, kind=NotificationKind.TASK_UPDATED, now=now)
        log.info(
            "task reassigned task=%s from=%s to=%s leader=%s",
            task_id,
            previous,
            target.id,
            leader_id,
        )
        return task


async def reassign_candidates(db: Database, task_id: int) -> list[Inspector]:
    """Return the inspectors of the assignee's grid a leader may hand the task to."""
    async with db.reading() as session:
        task = await session.get(Task, task_id)
        if task is None:
            return []
        assignee = await session.get(Inspector, task.inspector_id)
        if assignee is None:
            return []
        inspectors = await grid_inspectors(session, assignee.division_code)
        holders = set()
        if task.directive_id is not None:
            holders = set(
                await session.scalars(
                    select(Task.inspector_id).where(Task.directive_id == task.directive_id)
                )
            )
        # Someone who already holds a task of the same directive cannot take a second one.
        return [i for i in inspectors if i.id != task.inspector_id and i.id not in holders]
