"""Changes a source reports about its own lead: acknowledged there, or resolved there."""

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from griddispatch.messages import LeadUpdateAction, LeadUpdateMessage, NotificationKind
from storage.db import Database
from storage.directives.service import Accepted
from storage.escalation.plan import replan
from storage.escalation.policy import Escalation
from storage.leads.folding import FINAL_STATES
from storage.leads.models import Lead
from storage.tasks.models import Task
from storage.tasks.service import Actor, notify, record_event
from storage.tasks.states import TaskAction, TaskState, is_open, next_state

log = logging.getLogger(__name__)

RESOLVED_BY_SOURCE = "resolved_by_source"
LEAD_RESOLVED = "lead_resolved"


def source_actor(source: str) -> Actor:
    """Return the actor recorded for a change reported by a monitoring source."""
    return Actor(label=f"source:{source}"[:40])


async def update_lead(
    db: Database, message: LeadUpdateMessage, *, escalation: Escalation, now: datetime
) -> Accepted:
    """Apply an acknowledge or resolve from a source to its open lead and that lead's task.

    An update about a key with no open lead (never seen, or already resolved)
    changes nothing, so a resolve for an alert never seen firing creates nothing.
    """
    async with db.transaction() as session:
        return await update_lead_in(session, message, escalation=escalation, now=now)


async def update_lead_in(
    session: AsyncSession, message: LeadUpdateMessage, *, escalation: Escalation, now: datetime
) -> Accepted:
    """Do what `update_lead` does, in the caller's transaction."""
    lead = await session.scalar(
        select(Lead)
        .where(
            Lead.source == message.source,
            Lead.dedup_key == message.dedup_key,
            Lead.resolved_at.is_(None),
        )
        .order_by(Lead.episode.desc())
        .limit(1)
    )
    if lead is None:
        log.info(
            "update for no open lead ignored source=%s key=%s action=%s",
            message.source,
            message.dedup_key,
            message.action.value,
        )
        return Accepted(record_id=0, task_ids=[], created=False)
    task = await session.scalar(
        select(Task).where(Task.lead_id == (lead.folded_into_id or lead.id)).with_for_update()
    )
    if message.action is LeadUpdateAction.ACKNOWLEDGE:
        await _acknowledge(session, lead, task, message, escalation=escalation, now=now)
    else:
        await _resolve(session, lead, task, message, escalation=escalation, now=now)
    return Accepted(
        record_id=lead.id,
        task_ids=[task.id] if task else [],
        created=False,
        routing=lead.routing,
    )


def _detail(lead: Lead, message: LeadUpdateMessage) -> dict[str, Any]:
    detail: dict[str, Any] = {"lead_id": lead.id, "dedup_key": lead.dedup_key}
    if message.note:
        detail["note"] = message.note
    return detail


async def _acknowledge(
    session: AsyncSession,
    lead: Lead,
    task: Task | None,
    message: LeadUpdateMessage,
    *,
    escalation: Escalation,
    now: datetime,
) -> None:
    if task is None or task.state != TaskState.NEW.value:
        log.info(
            "acknowledge from source changes nothing lead=%s task=%s state=%s",
            lead.id,
            task.id if task else None,
            task.state if task else None,
        )
        return
    _change_state(task, TaskAction.ACKNOWLEDGE, escalation, now)
    await record_event(
        session,
        task,
        kind="acknowledged",
        actor=source_actor(lead.source),
        now=now,
        detail=_detail(lead, message),
    )
    notify(
        session, task, inspector_id=task.inspector_id, kind=NotificationKind.TASK_UPDATED, now=now
    )
    log.info("task acknowledged by its source task=%s lead=%s", task.id, lead.id)


async def _resolve(
    session: AsyncSession,
    lead: Lead,
    task: Task | None,
    message: LeadUpdateMessage,
    *,
    escalation: Escalation,
    now: datetime,
) -> None:
    """Mark the lead resolved, and cancel its open task once every lead of the task is resolved."""
    lead.resolved_at = now
    if task is None or task.state in FINAL_STATES:
        log.info("lead resolved by its source, no open task lead=%s", lead.id)
        return

    owner = lead.folded_into_id or lead.id
    still_open = list(
        await session.scalars(
            select(Lead.id).where(
                (Lead.id == owner) | (Lead.folded_into_id == owner),
                Lead.resolved_at.is_(None),
                Lead.id != lead.id,
            )
        )
    )

    detail = _detail(lead, message)
    actor = source_actor(lead.source)
    # A submitted result waits for its review rather than being cancelled under it.
    if still_open or not is_open(task.state):
        detail["open_leads"] = len(still_open)
        await record_event(session, task, kind=LEAD_RESOLVED, actor=actor, now=now, detail=detail)
        log.info(
            "lead resolved, task left as it is lead=%s task=%s state=%s open_leads=%d",
            lead.id,
            task.id,
            task.state,
            len(still_open),
        )
        return

    _change_state(task, TaskAction.CANCEL, escalation, now)
    await record_event(session, task, kind=RESOLVED_BY_SOURCE, actor=actor, now=now, detail=detail)
    notify(
        session, task, inspector_id=task.inspector_id, kind=NotificationKind.TASK_UPDATED, now=now
    )
    log.info("task cancelled, resolved by its source task=%s lead=%s", task.id, lead.id)


def _change_state(task: Task, action: TaskAction, escalation: Escalation, now: datetime) -> None:
    task.state = next_state(task.state, action).value
    task.updated_at = now
    replan(
        task,
        escalation.policy_named(task.policy_name, task.kind, task.priority),
        escalation.calendar,
    )
