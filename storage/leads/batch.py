"""Accepting many leads at once, with a few statements for the whole batch.

Most leads under load are new and name their subject by credit code or
registry id. For those, the checks `accept_lead_in` makes one lead at a
time are made for the whole batch with one query each. The queries find
which keys were seen before, which subjects the leads name, and which of
those subjects have an open task from the lead's source. Each lead then opens a task or, when its
source already has one open about the subject (stored before, or opened by
an earlier lead of the batch), is folded into it, in arrival order. The
leads, tasks, trail entries and outbox rows are inserted with one
multi-row INSERT per table.

A lead that fails any check is not handled here: `accept_leads_in`
returns None in its place, and the caller stores it with `accept_lead_in`,
which returns the stored outcome of a repeat or routes the lead another
way. The caller keeps out of the batch any lead whose key another message
of the batch shares, since those must be handled in arrival order.

Unlike leads stored one at a time, the folds of a batch queue one "task
updated" notification per task, not one per fold.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from griddispatch.geo import to_wgs84
from griddispatch.messages import LeadMessage, NotificationKind
from storage.bulk import assign_ids, in_values
from storage.directives.service import Accepted
from storage.escalation.policy import Escalation
from storage.leads.folding import (
    FOLDED,
    fold_detail,
    folded_body,
    lock_source_subjects,
    log_folded,
    mark_folded,
)
from storage.leads.matching import normalize_code
from storage.leads.models import Lead
from storage.leads.routing import ROUTED_BY_SUBJECT, Route
from storage.leads.service import dedup_key_of, lead_task, log_accepted, new_lead
from storage.registry.models import Inspector, Subject
from storage.tasks.models import Task
from storage.tasks.service import SYSTEM, create_tasks, notification_row, record_events
from storage.tasks.states import OPEN_STATE_VALUES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Named:
    """The subject a lead names by an identifier, and which identifier matched."""

    subject: Subject
    matched_by: str


@dataclass
class _Owner:
    """The open task that leads about one subject from one source go to, and its first lead."""

    task: Task
    primary: Lead


@dataclass
class _Batch:
    """The leads being stored, their routes, the open task of each subject, and the outcomes."""

    messages: list[LeadMessage]
    routes: dict[int, Route]
    owners: dict[tuple[str, int], _Owner]
    outcomes: list[Accepted | None]
    now: datetime


async def accept_leads_in(
    session: AsyncSession,
    messages: list[LeadMessage],
    *,
    escalation: Escalation,
    now: datetime,
) -> list[Accepted | None]:
    """Store the leads that need no single handling; return None for each of the others.

    No two of `messages` may share a (source, dedup key).
    """
    named, inspectors = await _subjects_named(session, messages)
    seen = await _keys_seen(session, messages)
    owners = await _open_tasks(session, messages, named)

    routes: dict[int, Route] = {}
    for index, message in enumerate(messages):
        route = _route(message, named.get(index), inspectors)
        if route is not None and (message.source, dedup_key_of(message)) not in seen:
            routes[index] = route
    opening = _opening(messages, routes, owners)

    batch = _Batch(messages, routes, owners, [None] * len(messages), now)
    await _open(session, batch, opening, escalation=escalation)
    await _fold(session, batch)
    log.debug("leads stored together count=%d of=%d", len(routes), len(messages))
    return batch.outcomes


async def _subjects_named(
    session: AsyncSession, messages: list[LeadMessage]
) -> tuple[dict[int, _Named], dict[int, Inspector]]:
    """Return the subject each lead names, by message index, and their inspectors, by id.

    A lead names its subject by credit code or, lacking one, by id.
    """
    codes = {
        index: normalize_code(message.subject.credit_code)
        for index, message in enumerate(messages)
        if message.subject is not None and message.subject.credit_code
    }
    ids = {
        index: message.subject.id
        for index, message in enumerate(messages)
        if message.subject is not None and not message.subject.credit_code and message.subject.id
    }

    found: list[tuple[Subject, Inspector | None]] = []
    if codes:
        found += await _with_inspectors(
            session, Subject.credit_code.in_(in_values(set(codes.values())))
        )
    if ids:
        found += await _with_inspectors(session, Subject.id.in_(in_values(set(ids.values()))))

    by_code = {subject.credit_code: subject for subject, _ in found if subject.credit_code}
    by_id = {subject.id: subject for subject, _ in found}
    inspectors = {inspector.id: inspector for _, inspector in found if inspector is not None}
    named = {
        index: _Named(by_code[code], "credit_code")
        for index, code in codes.items()
        if code in by_code
    }
    named.update(
        (index, _Named(by_id[subject_id], "id"))
        for index, subject_id in ids.items()
        if subject_id in by_id
    )
    return named, inspectors


async def _with_inspectors(
    session: AsyncSession, condition: ColumnElement[bool]
) -> list[tuple[Subject, Inspector | None]]:
    """Return the subjects that meet `condition`, each with its bound inspector, in one query."""
    rows = await session.execute(
        select(Subject, Inspector)
        .outerjoin(Inspector, Inspector.id == Subject.inspector_id)
        .where(condition)
    )
    return [(subject, inspector) for subject, inspector in rows]


async def _keys_seen(session: AsyncSession, messages: list[LeadMessage]) -> set[tuple[str, str]]:
    """Return the (source, dedup key) pairs of `messages` that some stored lead already has."""
    pairs = {(message.source, dedup_key_of(message)) for message in messages}
    rows = await session.execute(
        select(Lead.source, Lead.dedup_key)
        .where(tuple_(Lead.source, Lead.dedup_key).in_(in_values(pairs)))
        .distinct()
    )
    return {(source, key) for source, key in rows}


async def _open_tasks(
    session: AsyncSession, messages: list[LeadMessage], named: dict[int, _Named]
) -> dict[tuple[str, int], _Owner]:
    """Return, by (source, subject id), the newest open task a lead of that source opened.

    Each query goes through one index and joins nothing: the open tasks
    about the subjects through the tasks' subject index, then their leads'
    sources, the chosen tasks and their leads by id. With a join filtered
    by source and subject, PostgreSQL may start from the leads and read
    every lead a busy source ever sent, as it did while its statistics
    still described a small table.

    As in `open_task_about`, the pairs and the chosen tasks are locked on
    PostgreSQL until the commit.
    """
    pairs = {(messages[index].source, match.subject.id) for index, match in named.items()}
    if not pairs:
        return {}
    await lock_source_subjects(session, pairs)
    subject_ids = {subject_id for _, subject_id in pairs}
    open_tasks = (
        await session.execute(
            select(Task.id, Task.lead_id, Task.subject_id).where(
                Task.subject_id.in_(in_values(subject_ids)),
                Task.state.in_(OPEN_STATE_VALUES),
                Task.lead_id.is_not(None),
            )
        )
    ).all()
    if not open_tasks:
        return {}
    lead_rows = await session.execute(
        select(Lead.id, Lead.source).where(
            Lead.id.in_(in_values({row.lead_id for row in open_tasks}))
        )
    )
    sources = {lead_id: source for lead_id, source in lead_rows}

    chosen = {
        row.id: row.lead_id for row in open_tasks if (sources[row.lead_id], row.subject_id) in pairs
    }
    if not chosen:
        return {}
    tasks = await session.scalars(
        select(Task)
        .where(Task.id.in_(in_values(chosen)), Task.state.in_(OPEN_STATE_VALUES))
        .order_by(Task.id)
        .with_for_update()
    )
    leads = await session.scalars(select(Lead).where(Lead.id.in_(in_values(chosen.values()))))
    lead_by_id = {lead.id: lead for lead in leads}

    owners = {}
    for task in tasks:
        lead = lead_by_id[chosen[task.id]]
        if task.subject_id is not None:
            owners[(lead.source, task.subject_id)] = _Owner(task, lead)
    return owners


def _opening(
    messages: list[LeadMessage], routes: dict[int, Route], owners: dict[tuple[str, int], _Owner]
) -> list[int]:
    """Return the indexes of the routed leads that open a task: the first about each subject."""
    opening = []
    owned_pairs = set(owners)
    for index, route in routes.items():
        pair = _pair(messages[index], route)
        if pair not in owned_pairs:
            owned_pairs.add(pair)
            opening.append(index)
    return opening


def _pair(message: LeadMessage, route: Route) -> tuple[str, int]:
    assert route.subject is not None
    return (message.source, route.subject.id)


def _route(
    message: LeadMessage, named: _Named | None, inspectors: dict[int, Inspector]
) -> Route | None:
    """Return the subject route of a lead, as `route_lead` would give it, or None."""
    if named is None or named.subject.inspector_id is None:
        return None
    assignee = inspectors.get(named.subject.inspector_id)
    if assignee is None:
        return None

    route = Route(
        ROUTED_BY_SUBJECT,
        subject=named.subject,
        assignee=assignee,
        detail={
            "subject_id": named.subject.id,
            "matched_by": named.matched_by,
            "inspector_id": assignee.id,
        },
    )
    if message.location is not None:
        location = message.location
        route.point = to_wgs84(location.longitude, location.latitude, location.system)
    return route


async def _open(
    session: AsyncSession, batch: _Batch, opening: list[int], *, escalation: Escalation
) -> None:
    """Insert the leads that open a task, and their tasks; make each task its subject's owner."""
    messages, routes, now = batch.messages, batch.routes, batch.now
    if not opening:
        return
    leads = [_lead(messages[index], routes[index], now) for index in opening]
    await _insert(session, leads)

    specs = [
        lead_task(messages[index], lead, routes[index])
        for index, lead in zip(opening, leads, strict=True)
    ]
    tasks = await create_tasks(session, specs, escalation=escalation, now=now)

    for index, lead, task in zip(opening, leads, tasks, strict=True):
        batch.owners[_pair(messages[index], routes[index])] = _Owner(task, lead)
        log_accepted(lead, routes[index], tasks=1)
        batch.outcomes[index] = Accepted(
            record_id=lead.id, task_ids=[task.id], created=True, routing=ROUTED_BY_SUBJECT
        )


async def _fold(session: AsyncSession, batch: _Batch) -> None:
    """Insert the other routed leads as folded into their subject's open task, in order."""
    messages, routes, now = batch.messages, batch.routes, batch.now
    folding = [index for index in routes if batch.outcomes[index] is None]
    if not folding:
        return
    leads = [_lead(messages[index], routes[index], now) for index in folding]
    owned = [batch.owners[_pair(messages[index], routes[index])] for index in folding]
    counts = [mark_folded(lead, owner.primary) for lead, owner in zip(leads, owned, strict=True)]
    await _insert(session, leads)

    for lead, owner in zip(leads, owned, strict=True):
        owner.task.body = folded_body(owner.primary, lead)
        owner.task.updated_at = now
    entries = [
        (owner.task, fold_detail(lead, count))
        for lead, owner, count in zip(leads, owned, counts, strict=True)
    ]
    # One update per task, built after every fold of the batch, so a burst
    # of leads about one subject edits the inspector's card once.
    updated = {owner.task.id: owner.task for owner in owned}
    notifications = [
        notification_row(
            task, inspector_id=task.inspector_id, kind=NotificationKind.TASK_UPDATED, now=now
        )
        for task in updated.values()
    ]
    await record_events(
        session, entries, kind="lead_folded", actor=SYSTEM, now=now, queued_after=notifications
    )

    for index, lead, owner, count in zip(folding, leads, owned, counts, strict=True):
        log_folded(lead, owner.task, owner.primary, count)
        batch.outcomes[index] = Accepted(
            record_id=lead.id, task_ids=[owner.task.id], created=True, routing=FOLDED
        )


def _lead(message: LeadMessage, route: Route, now: datetime) -> Lead:
    return new_lead(message, dedup_key_of(message), 1, route, now=now)


async def _insert(session: AsyncSession, leads: list[Lead]) -> None:
    await assign_ids(session, Lead, leads)
    session.add_all(leads)
    await session.flush()
