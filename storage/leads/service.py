"""Accepting a lead: de-duplicate within its source, route it, create its task."""

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from griddispatch.errors import NotFoundError
from griddispatch.messages import LeadMessage
from storage.db import Database
from storage.directives.service import Accepted, message_ack_within
from storage.escalation.policy import Escalation
from storage.leads.models import Lead
from storage.registry import queries
from storage.registry.models import Division, Inspector, Role, Subject
from storage.tasks.models import Task
from storage.tasks.service import NewTask, create_task

log = logging.getLogger(__name__)

ROUTED_BY_SUBJECT = "subject"
ROUTED_BY_GRID = "grid"
ROUTED_TO_TRIAGE = "triage"


def dedup_key_of(message: LeadMessage) -> str:
    """Return the key that identifies a lead within its source."""
    return message.dedup_key or message.message_id


async def _existing(session: AsyncSession, source: str, dedup_key: str) -> Accepted | None:
    lead = await session.scalar(
        select(Lead).where(Lead.source == source, Lead.dedup_key == dedup_key)
    )
    if lead is None:
        return None
    task_ids = await session.scalars(select(Task.id).where(Task.lead_id == lead.id))
    return Accepted(record_id=lead.id, task_ids=list(task_ids), created=False, routing=lead.routing)


async def _find_subject(session: AsyncSession, message: LeadMessage) -> Subject | None:
    """Return the subject a lead names. Raises NotFoundError if it names an unknown one."""
    if message.subject is None:
        return None
    identifier = message.subject.credit_code or message.subject.other_id or ""
    subject = await queries.subject_by_identifier(session, identifier)
    if subject is None:
        raise NotFoundError(
            f"subject {identifier!r} not found in the registry; check the code or import it first"
        )
    return subject


async def _grid_assignee(session: AsyncSession, grid_code: str) -> Inspector | None:
    """Return who handles a lead naming only a grid: its leader, else its first inspector."""
    if await session.get(Division, grid_code) is None:
        raise NotFoundError(f"grid {grid_code!r} not found; check the grid code")
    leader = await session.scalar(
        select(Inspector)
        .where(Inspector.division_code == grid_code, Inspector.role == Role.GRID_LEADER.value)
        .order_by(Inspector.id)
        .limit(1)
    )
    if leader is not None:
        return leader
    inspectors = await queries.grid_inspectors(session, grid_code)
    return inspectors[0] if inspectors else None


async def _route(
    session: AsyncSession, message: LeadMessage
) -> tuple[str, Subject | None, Inspector | None]:
    """Return (routing, subject, assignee) for a lead: subject, then grid, then triage."""
    subject = await _find_subject(session, message)
    if subject is not None and subject.inspector_id is not None:
        return ROUTED_BY_SUBJECT, subject, await session.get(Inspector, subject.inspector_id)
    grid_code = message.grid_code or (subject.grid_code if subject else None)
    if grid_code:
        assignee = await _grid_assignee(session, grid_code)
        if assignee is not None:
            return ROUTED_BY_GRID, subject, assignee
    return ROUTED_TO_TRIAGE, subject, None


async def accept_lead(
    db: Database, message: LeadMessage, *, escalation: Escalation, now: datetime
) -> Accepted:
    """Store a lead and its task, unless the same (source, dedup key) was seen before.

    A lead that reaches nobody is stored with routing "triage" and no task,
    for the command centre to route by hand.
    """
    key = dedup_key_of(message)
    try:
        async with db.transaction() as session:
            existing = await _existing(session, message.source, key)
            if existing is not None:
                return existing
            return await _create(session, message, key, escalation=escalation, now=now)
    except IntegrityError:
        log.info(
            "lead already stored by a concurrent consumer source=%s key=%s", message.source, key
        )
        async with db.reading() as session:
            existing = await _existing(session, message.source, key)
        if existing is None:
            raise
        return existing


async def _create(
    session: AsyncSession,
    message: LeadMessage,
    key: str,
    *,
    escalation: Escalation,
    now: datetime,
) -> Accepted:
    routing, subject, assignee = await _route(session, message)
    ack_within = message_ack_within(message)
    lead = Lead(
        source=message.source,
        dedup_key=key,
        title=message.title,
        text=message.text,
        severity=message.severity.value,
        subject_id=subject.id if subject else None,
        routing=routing,
        ack_within=ack_within,
        due_within=message.due_within,
        created_at=now,
    )
    session.add(lead)
    await session.flush()

    task_ids = []
    if assignee is not None:
        spec = NewTask(
            kind="lead",
            inspector_id=assignee.id,
            title=message.title,
            body=message.text,
            priority=message.severity.value,
            routing=routing,
            ack_within=ack_within,
            due_within=message.due_within,
            lead_id=lead.id,
            subject_id=subject.id if subject else None,
        )
        task = await create_task(session, spec, escalation=escalation, now=now)
        task_ids.append(task.id)
    log.info(
        "lead accepted lead=%s source=%s routing=%s tasks=%d",
        lead.id,
        message.source,
        routing,
        len(task_ids),
    )
    return Accepted(record_id=lead.id, task_ids=task_ids, created=True, routing=routing)
