"""Accepting a directive: de-duplicate, resolve its target, create its tasks; and cancelling it."""

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from griddispatch.errors import NotFoundError
from griddispatch.i18n import mark
from griddispatch.messages import (
    DirectiveMessage,
    LeadMessage,
    NotificationKind,
    Target,
    TargetKind,
)
from storage.db import Database
from storage.directives.models import Directive
from storage.escalation.plan import replan
from storage.escalation.policy import Escalation
from storage.registry import queries
from storage.registry.models import Division, Inspector
from storage.registry.rows import LEVEL_NAMES
from storage.tasks.models import Task
from storage.tasks.service import Actor, NewTask, create_tasks, notify, record_event
from storage.tasks.states import TaskAction, is_open, next_state

log = logging.getLogger(__name__)


def message_ack_within(message: DirectiveMessage | LeadMessage) -> str | None:
    """Return the acknowledge deadline a message sets, as deadline text, or None."""
    if message.ack_within:
        return message.ack_within
    if message.ack_within_s:
        return f"{message.ack_within_s:.3f}".rstrip("0").rstrip(".") + "s"
    return None


@dataclass(frozen=True)
class Accepted:
    """The outcome of accepting a directive or lead."""

    record_id: int
    task_ids: list[int]
    created: bool
    routing: str = ""


async def _existing(session: AsyncSession, message_id: str) -> Accepted | None:
    directive = await session.scalar(select(Directive).where(Directive.message_id == message_id))
    if directive is None:
        return None
    task_ids = await session.scalars(
        select(Task.id).where(Task.directive_id == directive.id).order_by(Task.id)
    )
    return Accepted(record_id=directive.id, task_ids=list(task_ids), created=False)


# Target kinds as messages name them: the code in English, its label in translations.
_TARGET_NAMES = {
    TargetKind.INSPECTOR: mark("inspector"),
    TargetKind.SUBJECT: mark("subject"),
    TargetKind.GRID: mark("grid"),
    TargetKind.DIVISION: mark("division"),
}


async def resolve_target(session: AsyncSession, target: Target) -> list[Inspector]:
    """Return the inspectors a directive target stands for.

    Raises NotFoundError naming the target when it matches nothing or nobody.
    """
    is_division = target.kind in (TargetKind.GRID, TargetKind.DIVISION)
    division = await session.get(Division, target.code) if is_division else None
    if is_division and division is None:
        raise NotFoundError(
            "{kind} {code!r} not found in the registry; check the code",
            kind=_TARGET_NAMES[target.kind],
            code=target.code,
        )
    if target.kind is TargetKind.GRID and division is not None and division.level != "grid":
        raise NotFoundError(
            "{code!r} is a {level}, not a grid; address it as a division "
            "to reach every grid below it",
            code=target.code,
            level=LEVEL_NAMES.get(division.level, division.level),
        )
    inspectors = await _resolve(session, target)
    if not inspectors:
        raise NotFoundError(
            "{kind} {code!r} has no inspector to assign; check the code against the registry",
            kind=_TARGET_NAMES[target.kind],
            code=target.code,
        )
    return inspectors


async def _resolve(session: AsyncSession, target: Target) -> list[Inspector]:
    """Return the target's inspectors; raise NotFoundError for an unknown inspector or subject."""
    if target.kind is TargetKind.INSPECTOR:
        inspector = await queries.inspector_by_code(session, target.code)
        if inspector is None:
            raise NotFoundError(
                "inspector {code!r} not found; check the staff code", code=target.code
            )
        return [inspector]
    if target.kind is TargetKind.SUBJECT:
        subject = await queries.subject_by_identifier(session, target.code)
        if subject is None:
            raise NotFoundError(
                "subject {identifier!r} not found; give its credit code or other id",
                identifier=target.code,
            )
        if subject.inspector_id is None:
            return []
        inspector = await session.get(Inspector, subject.inspector_id)
        return [inspector] if inspector else []
    if await session.get(Division, target.code) is None:
        return []
    grid_codes = await queries.grids_below(session, target.code)
    inspectors: list[Inspector] = []
    for grid_code in grid_codes:
        inspectors.extend(await queries.grid_inspectors(session, grid_code))
    return inspectors


async def accept_directive(
    db: Database, message: DirectiveMessage, *, escalation: Escalation, now: datetime
) -> Accepted:
    """Store a directive and one task per resolved inspector, unless it was seen before.

    A directive whose message id is already stored returns the stored outcome
    with `created=False`, also when a concurrent dispatcher won the race.
    """
    try:
        async with db.transaction() as session:
            return await accept_directive_in(session, message, escalation=escalation, now=now)
    except IntegrityError:
        log.info("directive already stored by a concurrent consumer message=%s", message.message_id)
        async with db.reading() as session:
            existing = await _existing(session, message.message_id)
        if existing is None:
            raise
        return existing


async def accept_directive_in(
    session: AsyncSession, message: DirectiveMessage, *, escalation: Escalation, now: datetime
) -> Accepted:
    """Do what `accept_directive` does, in the caller's transaction.

    A unique-key conflict with a concurrent consumer surfaces as IntegrityError
    when the caller flushes or commits.
    """
    existing = await _existing(session, message.message_id)
    if existing is not None:
        return existing
    return await _create(session, message, escalation=escalation, now=now)


async def _create(
    session: AsyncSession, message: DirectiveMessage, *, escalation: Escalation, now: datetime
) -> Accepted:
    inspectors = await resolve_target(session, message.target)
    directive = new_directive(message, now=now)
    session.add(directive)
    await session.flush()

    specs = [directive_task(message, directive, inspector) for inspector in inspectors]
    tasks = await create_tasks(session, specs, escalation=escalation, now=now)
    log_accepted(directive, tasks=len(tasks))
    return Accepted(record_id=directive.id, task_ids=[task.id for task in tasks], created=True)


def new_directive(message: DirectiveMessage, *, now: datetime) -> Directive:
    """Build the row of a directive, not yet added to a session."""
    return Directive(
        message_id=message.message_id,
        title=message.title,
        body=message.body,
        priority=message.priority.value,
        target_kind=message.target.kind.value,
        target_code=message.target.code,
        issued_by=message.issued_by,
        ack_within=message_ack_within(message),
        due_within=message.due_within,
        assignment=message.assignment.value,
        created_at=now,
    )


def directive_task(
    message: DirectiveMessage, directive: Directive, inspector: Inspector
) -> NewTask:
    """Return the task a stored directive gives one of the inspectors its target stands for."""
    return NewTask(
        kind="directive",
        inspector_id=inspector.id,
        title=message.title,
        body=message.body,
        priority=message.priority.value,
        routing=message.target.kind.value,
        ack_within=directive.ack_within,
        due_within=message.due_within,
        assignment=message.assignment.value,
        directive_id=directive.id,
    )


def log_accepted(directive: Directive, *, tasks: int) -> None:
    """Log a newly stored directive with its number of tasks."""
    log.info(
        "directive accepted directive=%s message=%s tasks=%d",
        directive.id,
        directive.message_id,
        tasks,
    )


async def target_is_registered(db: Database, target: Target) -> bool:
    """Return whether the code a target names exists in the registry, even if it reaches no one."""
    async with db.reading() as session:
        if target.kind is TargetKind.INSPECTOR:
            return await queries.inspector_by_code(session, target.code) is not None
        if target.kind is TargetKind.SUBJECT:
            return await queries.subject_by_identifier(session, target.code) is not None
        return await session.get(Division, target.code) is not None


@dataclass(frozen=True)
class DirectivePage:
    """One page of directives, newest first, with the number of directives in all pages."""

    directives: list[Directive]
    total: int


async def list_directives(db: Database, *, limit: int, offset: int) -> DirectivePage:
    """Return a page of directives, newest first."""
    async with db.reading() as session:
        total = await session.scalar(select(func.count()).select_from(Directive))
        rows = await session.scalars(
            select(Directive).order_by(Directive.id.desc()).limit(limit).offset(offset)
        )
        return DirectivePage(list(rows), int(total or 0))


async def directive_with_tasks(
    db: Database, message_id: str
) -> tuple[Directive, list[tuple[Task, Inspector]]]:
    """Return a directive by message id with its tasks by id and their assignees.

    Raises NotFoundError for an unknown message id.
    """
    async with db.reading() as session:
        directive = await _directive_by_message_id(session, message_id)
        rows = await session.execute(
            select(Task, Inspector)
            .join(Inspector, Inspector.id == Task.inspector_id)
            .where(Task.directive_id == directive.id)
            .order_by(Task.id)
        )
        return directive, [(task, inspector) for task, inspector in rows]


async def _directive_by_message_id(session: AsyncSession, message_id: str) -> Directive:
    directive = await session.scalar(select(Directive).where(Directive.message_id == message_id))
    if directive is None:
        raise NotFoundError(
            "directive {message_id!r} not found; a directive published moments ago "
            "appears once the dispatcher has stored it",
            message_id=message_id,
        )
    return directive


@dataclass(frozen=True)
class CancelledDirective:
    """The outcome of cancelling a directive: open tasks cancelled, the others left as they were."""

    directive_id: int
    cancelled_task_ids: list[int]
    untouched_task_ids: list[int]


async def cancel_directive(
    db: Database,
    message_id: str,
    *,
    actor: Actor,
    escalation: Escalation,
    now: datetime,
    reason: str | None = None,
) -> CancelledDirective:
    """Cancel every open task of a directive, with a "cancelled" trail entry each.

    Tasks already submitted, closed or cancelled stay as they are, so
    cancelling twice changes nothing the second time. Each assignee's
    messages about a cancelled task are edited. Raises NotFoundError for an
    unknown message id.
    """
    async with db.transaction() as session:
        directive = await _directive_by_message_id(session, message_id)
        tasks = await session.scalars(
            select(Task)
            .where(Task.directive_id == directive.id)
            .order_by(Task.id)
            .with_for_update()
        )
        cancelled, untouched = [], []
        for task in tasks:
            if not is_open(task.state):
                untouched.append(task.id)
                continue
            await _cancel_task(
                session, task, actor=actor, escalation=escalation, now=now, reason=reason
            )
            cancelled.append(task.id)
    log.info(
        "directive cancelled directive=%s message=%s actor=%s tasks_cancelled=%d",
        directive.id,
        message_id,
        actor.label,
        len(cancelled),
    )
    return CancelledDirective(directive.id, cancelled, untouched)


async def _cancel_task(
    session: AsyncSession,
    task: Task,
    *,
    actor: Actor,
    escalation: Escalation,
    now: datetime,
    reason: str | None,
) -> None:
    task.state = next_state(task.state, TaskAction.CANCEL).value
    task.updated_at = now
    replan(
        task,
        escalation.policy_named(task.policy_name, task.kind, task.priority),
        escalation.calendar,
    )
    detail = {"reason": reason} if reason else {}
    await record_event(session, task, kind="cancelled", actor=actor, now=now, detail=detail)
    notify(
        session, task, inspector_id=task.inspector_id, kind=NotificationKind.TASK_UPDATED, now=now
    )
