"""Accepting a lead: de-duplicate within its source, route it, fold it or create its task."""

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from griddispatch.messages import LeadMessage
from storage.db import Database
from storage.directives.service import Accepted, message_ack_within
from storage.escalation.policy import Escalation
from storage.leads.folding import compose_body, fold_lead, open_task_about
from storage.leads.models import Lead
from storage.leads.routing import Route, route_lead
from storage.tasks.models import Task
from storage.tasks.service import NewTask, create_task

log = logging.getLogger(__name__)


def dedup_key_of(message: LeadMessage) -> str:
    """Return the key that identifies a lead within its source."""
    return message.dedup_key or message.message_id


async def task_ids_of(session: AsyncSession, lead: Lead) -> list[int]:
    """Return the ids of the task a lead opened or was folded into."""
    owner = lead.folded_into_id or lead.id
    return list(await session.scalars(select(Task.id).where(Task.lead_id == owner)))


async def _latest_episode(session: AsyncSession, source: str, dedup_key: str) -> Lead | None:
    return await session.scalar(
        select(Lead)
        .where(Lead.source == source, Lead.dedup_key == dedup_key)
        .order_by(Lead.episode.desc())
        .limit(1)
    )


async def _existing(
    session: AsyncSession, message: LeadMessage, key: str
) -> tuple[Accepted | None, int]:
    """Return the stored outcome if this lead was seen before, and the episode a new one gets.

    A key whose latest lead was resolved by its source starts a new episode,
    unless the message is the very one that opened that lead (a redelivery).
    """
    lead = await _latest_episode(session, message.source, key)
    if lead is None:
        return None, 1
    if lead.resolved_at is not None and lead.message_id != message.message_id:
        return None, lead.episode + 1
    accepted = Accepted(
        record_id=lead.id,
        task_ids=await task_ids_of(session, lead),
        created=False,
        routing=lead.routing,
    )
    return accepted, lead.episode


async def accept_lead(
    db: Database, message: LeadMessage, *, escalation: Escalation, now: datetime
) -> Accepted:
    """Store a lead and its task, unless the same (source, dedup key) was seen before.

    A lead about a subject that already has an open task from the same source
    is folded into that task instead. A lead that no step can
    place is stored with routing "triage" and no task, for the command centre to route by hand.
    """
    key = dedup_key_of(message)
    try:
        async with db.transaction() as session:
            return await accept_lead_in(
                session, message, cache_key=db.url, escalation=escalation, now=now
            )
    except IntegrityError:
        log.info(
            "lead already stored by a concurrent consumer source=%s key=%s", message.source, key
        )
        async with db.reading() as session:
            existing, _ = await _existing(session, message, key)
        if existing is None:
            raise
        return existing


async def accept_lead_in(
    session: AsyncSession,
    message: LeadMessage,
    *,
    cache_key: str,
    escalation: Escalation,
    now: datetime,
) -> Accepted:
    """Do what `accept_lead` does, in the caller's transaction.

    `cache_key` names the database for the cache of grid boundaries. A
    unique-key conflict with a concurrent consumer surfaces as IntegrityError
    when the caller flushes or commits.
    """
    key = dedup_key_of(message)
    existing, episode = await _existing(session, message, key)
    if existing is not None:
        return existing
    route = await route_lead(session, message, cache_key=cache_key)
    if route.subject is not None:
        open_task = await open_task_about(session, message.source, route.subject.id)
        if open_task is not None:
            task, primary = open_task
            lead = new_lead(message, key, episode, route, now=now)
            return await fold_lead(session, lead, task, primary, now=now)
    return await _create(
        session, message, key, episode=episode, route=route, escalation=escalation, now=now
    )


def new_lead(message: LeadMessage, key: str, episode: int, route: Route, *, now: datetime) -> Lead:
    """Build the row of a lead placed by `route`, not yet added to a session."""
    longitude, latitude = route.point if route.point else (None, None)
    return Lead(
        source=message.source,
        dedup_key=key,
        episode=episode,
        message_id=message.message_id,
        title=message.title,
        text=message.text,
        severity=message.severity.value,
        subject_id=route.subject.id if route.subject else None,
        routing=route.routing,
        routing_detail=route.detail,
        address=message.address,
        longitude=longitude,
        latitude=latitude,
        callback_url=message.callback_url,
        callback_token=message.callback_token,
        lead_count=1,
        ack_within=message_ack_within(message),
        due_within=message.due_within,
        created_at=now,
    )


async def _create(
    session: AsyncSession,
    message: LeadMessage,
    key: str,
    *,
    episode: int,
    route: Route,
    escalation: Escalation,
    now: datetime,
) -> Accepted:
    lead = new_lead(message, key, episode, route, now=now)
    session.add(lead)
    await session.flush()

    task_ids = []
    if route.assignee is not None:
        spec = lead_task(message, lead, route)
        task = await create_task(session, spec, escalation=escalation, now=now)
        task_ids.append(task.id)
    log_accepted(lead, route, tasks=len(task_ids))
    return Accepted(record_id=lead.id, task_ids=task_ids, created=True, routing=route.routing)


def lead_task(message: LeadMessage, lead: Lead, route: Route) -> NewTask:
    """Return the task a stored lead opens for the assignee `route` found."""
    assert route.assignee is not None
    return NewTask(
        kind="lead",
        inspector_id=route.assignee.id,
        title=message.title,
        body=compose_body(message.text, message.address),
        priority=message.severity.value,
        routing=route.routing,
        ack_within=lead.ack_within,
        due_within=message.due_within,
        lead_id=lead.id,
        subject_id=route.subject.id if route.subject else None,
        route=route.detail,
    )


def log_accepted(lead: Lead, route: Route, *, tasks: int) -> None:
    """Log a newly stored lead with how it was routed."""
    log.info(
        "lead accepted lead=%s source=%s routing=%s episode=%d tasks=%d",
        lead.id,
        lead.source,
        route.routing,
        lead.episode,
        tasks,
    )
