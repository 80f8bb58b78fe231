"""Keeping plan entries current: releasing tasks, closing them on inspection, moving them.

Each function works in the caller's transaction, like the task services.
"""

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from griddispatch.errors import NotFoundError, ValidationError
from griddispatch.messages import NotificationKind
from storage.db import Database
from storage.plans.generate import ENTRY_DONE, ENTRY_OPEN
from storage.plans.models import PlanEntry
from storage.registry.models import Subject
from storage.registry.queries import inspector_by_code
from storage.results.models import InspectionResult
from storage.tasks.models import Task
from storage.tasks.service import SYSTEM, notify, record_event
from storage.tasks.states import TaskAction, TaskState, is_open, next_state

log = logging.getLogger(__name__)

RELEASE_BATCH = 2000


async def close_entries_for_result(
    session: AsyncSession, result: InspectionResult, *, now: datetime
) -> list[int]:
    """Mark the subject's open entries of the result's periods done; return their ids.

    A result counts for every entry whose period contains its submission,
    whichever task it was submitted for. The routine task of such an entry,
    if it is another task and still open, is cancelled with a "covered"
    trail entry that names the result.
    """
    if result.subject_id is None:
        return []
    entries = list(
        await session.scalars(
            select(PlanEntry)
            .where(
                PlanEntry.subject_id == result.subject_id,
                PlanEntry.state == ENTRY_OPEN,
                PlanEntry.period_start <= result.submitted_at,
                PlanEntry.period_end > result.submitted_at,
            )
            .with_for_update()
        )
    )
    for entry in entries:
        entry.state = ENTRY_DONE
        entry.done_at = now
        entry.result_id = result.id
        if entry.task_id is not None and entry.task_id != result.task_id:
            await _cancel_covered(session, entry, result, now=now)
        log.info(
            "plan entry done entry=%s subject=%s period=%s result=%s task=%s",
            entry.id,
            entry.subject_id,
            entry.period_key,
            result.id,
            entry.task_id,
        )
    return [entry.id for entry in entries]


async def _cancel_covered(
    session: AsyncSession, entry: PlanEntry, result: InspectionResult, *, now: datetime
) -> None:
    task = await session.get(Task, entry.task_id, with_for_update=True)
    if task is None or not is_open(task.state):
        return
    _cancel(task, now=now)
    await record_event(
        session,
        task,
        kind="covered",
        actor=SYSTEM,
        now=now,
        detail={
            "reason": "subject inspected in the plan period",
            "plan_period": entry.period_key,
            "result_id": result.id,
            "result_task_id": result.task_id,
        },
    )
    if entry.notified_at is not None:
        notify(
            session,
            task,
            inspector_id=task.inspector_id,
            kind=NotificationKind.TASK_UPDATED,
            now=now,
        )


async def release_due(db: Database, *, now: datetime) -> int:
    """Send the assignment notification of every routine task whose release time has come.

    Returns how many notifications were queued. Entries done before release
    are marked released without a notification.
    """
    sent = 0
    while True:
        async with db.transaction() as session:
            entries = list(
                await session.scalars(
                    select(PlanEntry)
                    .where(PlanEntry.notified_at.is_(None), PlanEntry.release_at <= now)
                    .order_by(PlanEntry.id)
                    .limit(RELEASE_BATCH)
                    .with_for_update(skip_locked=True)
                )
            )
            if not entries:
                break
            sent += await _release(session, entries, now=now)
    if sent:
        log.info("routine tasks released count=%d", sent)
    return sent


async def _release(session: AsyncSession, entries: list[PlanEntry], *, now: datetime) -> int:
    task_ids = [entry.task_id for entry in entries if entry.task_id is not None]
    tasks = {
        task.id: task for task in await session.scalars(select(Task).where(Task.id.in_(task_ids)))
    }
    sent = 0
    for entry in entries:
        entry.notified_at = now
        task = tasks.get(entry.task_id) if entry.task_id is not None else None
        if task is None or entry.state != ENTRY_OPEN or not is_open(task.state):
            continue
        notify(
            session,
            task,
            inspector_id=task.inspector_id,
            kind=NotificationKind.TASK_ASSIGNED,
            now=now,
        )
        sent += 1
    return sent


async def move_open_entries(
    session: AsyncSession,
    subject: Subject,
    *,
    to_inspector_id: int | None,
    reason: str,
    now: datetime,
) -> int:
    """Move a subject's open plan entries and their open routine tasks to its new inspector.

    Call it after rebinding the subject in the same transaction. Returns how
    many tasks moved; each gets a "reassigned" trail entry with the reason.
    """
    entries = list(
        await session.scalars(
            select(PlanEntry)
            .where(PlanEntry.subject_id == subject.id, PlanEntry.state == ENTRY_OPEN)
            .with_for_update()
        )
    )
    moved = 0
    for entry in entries:
        previous = entry.inspector_id
        entry.inspector_id = to_inspector_id
        entry.grid_code = subject.grid_code
        if entry.task_id is None or to_inspector_id is None or previous == to_inspector_id:
            continue
        task = await session.get(Task, entry.task_id, with_for_update=True)
        if task is None or not is_open(task.state) or task.inspector_id == to_inspector_id:
            continue
        await _move_task(session, task, entry, to_inspector_id, reason=reason, now=now)
        moved += 1
    return moved


async def _move_task(
    session: AsyncSession,
    task: Task,
    entry: PlanEntry,
    to_inspector_id: int,
    *,
    reason: str,
    now: datetime,
) -> None:
    previous = task.inspector_id
    if task.state == TaskState.ACKNOWLEDGED.value:
        # The state machine lets only new or declined tasks change hands, and the new
        # inspector has not acknowledged, so an acknowledged task is replaced.
        await _replace_task(session, task, entry, to_inspector_id, reason=reason, now=now)
        return
    task.state = next_state(task.state, TaskAction.REASSIGN).value
    task.inspector_id = to_inspector_id
    task.decline_reason = None
    task.updated_at = now
    await record_event(
        session,
        task,
        kind="reassigned",
        actor=SYSTEM,
        now=now,
        detail={
            "from_inspector_id": previous,
            "to_inspector_id": to_inspector_id,
            "reason": reason,
            "plan_period": entry.period_key,
        },
    )
    if entry.notified_at is not None:
        _notify_move(session, task, task, to_inspector_id, previous, now=now)
    log.info(
        "routine task moved with its subject task=%s subject=%s from=%s to=%s",
        task.id,
        entry.subject_id,
        previous,
        to_inspector_id,
    )


async def _replace_task(
    session: AsyncSession,
    task: Task,
    entry: PlanEntry,
    to_inspector_id: int,
    *,
    reason: str,
    now: datetime,
) -> None:
    """Cancel an acknowledged routine task and give the entry a copy for the new inspector."""
    copy = Task(
        kind=task.kind,
        inspector_id=to_inspector_id,
        subject_id=task.subject_id,
        title=task.title,
        body=task.body,
        priority=task.priority,
        routing=task.routing,
        state=TaskState.NEW.value,
        assignment=task.assignment,
        policy_name=task.policy_name,
        ack_within=task.ack_within,
        due_within=task.due_within,
        ack_due_at=max(task.ack_due_at, now),
        due_at=task.due_at,
        deadline_provisional=False,
        fired_steps=[],
        escalation_step=0,
        next_step_at=task.next_step_at,
        created_at=now,
        updated_at=now,
    )
    session.add(copy)
    await session.flush()

    previous = task.inspector_id
    _cancel(task, now=now)
    entry.task_id = copy.id

    moved = {"from_inspector_id": previous, "to_inspector_id": to_inspector_id, "reason": reason}
    await record_event(
        session,
        task,
        kind="reassigned",
        actor=SYSTEM,
        now=now,
        detail={**moved, "replaced_by_task_id": copy.id, "plan_period": entry.period_key},
    )
    await record_event(
        session,
        copy,
        kind="created",
        actor=SYSTEM,
        now=now,
        detail={**moved, "replaces_task_id": task.id, "plan_period": entry.period_key},
    )
    if entry.notified_at is not None:
        _notify_move(session, copy, task, to_inspector_id, previous, now=now)


def _cancel(task: Task, *, now: datetime) -> None:
    """Cancel an open task: it takes no further escalation step."""
    task.state = next_state(task.state, TaskAction.CANCEL).value
    task.next_step_at = None
    task.updated_at = now


def _notify_move(
    session: AsyncSession,
    assigned: Task,
    left: Task,
    to_inspector_id: int,
    previous: int,
    *,
    now: datetime,
) -> None:
    """Tell the new inspector of `assigned` and the previous one of `left` about a move."""
    notify(
        session,
        assigned,
        inspector_id=to_inspector_id,
        kind=NotificationKind.TASK_ASSIGNED,
        now=now,
    )
    notify(session, left, inspector_id=previous, kind=NotificationKind.TASK_UPDATED, now=now)


async def hand_over_subjects(
    db: Database, *, from_code: str, to_code: str, now: datetime
) -> tuple[int, int]:
    """Rebind every subject of an inspector who leaves to another; return (subjects, tasks moved).

    Open routine tasks move with their subjects, each with a trail entry.
    Raises NotFoundError for an unknown staff code and ValidationError when
    both codes name the same inspector.
    """
    async with db.transaction() as session:
        leaving = await inspector_by_code(session, from_code)
        taking = await inspector_by_code(session, to_code)
        for code, found in ((from_code, leaving), (to_code, taking)):
            if found is None:
                raise NotFoundError("inspector {code!r} not found; check the staff code", code=code)
        assert leaving is not None and taking is not None
        if leaving.id == taking.id:
            raise ValidationError(
                "inspectors {from_code!r} and {to_code!r} are the same person",
                from_code=from_code,
                to_code=to_code,
            )
        subjects = list(
            await session.scalars(
                select(Subject).where(Subject.inspector_id == leaving.id).with_for_update()
            )
        )
        moved = 0
        for subject in subjects:
            subject.inspector_id = taking.id
            moved += await move_open_entries(
                session,
                subject,
                to_inspector_id=taking.id,
                reason=f"inspector {leaving.code} handed over to {taking.code}",
                now=now,
            )
    log.info(
        "subjects handed over from=%s to=%s subjects=%d tasks=%d",
        leaving.id,
        taking.id,
        len(subjects),
        moved,
    )
    return len(subjects), moved
