"""The triage queue: leads no routing step could place, routed by hand from the command centre.

Routing by hand creates the lead's task as the dispatcher would have. The
task goes to the chosen inspector, or to the inspector of the chosen grid
with the fewest open tasks. Its "created" trail entry records who routed it
and to what.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from griddispatch.errors import NotFoundError, ValidationError
from storage.db import Database
from storage.escalation.policy import Escalation
from storage.leads.folding import compose_body
from storage.leads.models import Lead
from storage.leads.routing import ROUTED_TO_TRIAGE
from storage.registry.models import Division, Inspector
from storage.registry.queries import grid_inspectors, inspector_by_code
from storage.tasks.models import Task
from storage.tasks.service import NewTask, create_task
from storage.tasks.states import OPEN_STATE_VALUES

log = logging.getLogger(__name__)

ROUTED_BY_HAND = "manual"


@dataclass(frozen=True)
class HandRouting:
    """The destination of a lead routed by hand: an inspector's staff code or a grid code."""

    inspector_code: str | None = None
    grid_code: str | None = None

    def check(self) -> None:
        """Raise ValidationError unless exactly one of the two is given."""
        if (self.inspector_code is None) == (self.grid_code is None):
            raise ValidationError("route a lead to an inspector or a grid: give exactly one code")


def _waiting() -> list[ColumnElement[bool]]:
    has_task = select(Task.id).where(Task.lead_id == Lead.id).exists()
    return [
        Lead.routing == ROUTED_TO_TRIAGE,
        Lead.folded_into_id.is_(None),
        Lead.resolved_at.is_(None),
        ~has_task,
    ]


async def triage_queue(db: Database, *, limit: int = 100) -> list[Lead]:
    """Return the leads waiting in the triage queue, oldest first."""
    async with db.reading() as session:
        rows = await session.scalars(select(Lead).where(*_waiting()).order_by(Lead.id).limit(limit))
        return list(rows)


async def _least_busy(session: AsyncSession, grid_code: str) -> Inspector:
    grid = await session.get(Division, grid_code)
    if grid is None or grid.level != "grid":
        raise NotFoundError("grid {code!r} not found; give the code of a grid", code=grid_code)
    inspectors = await grid_inspectors(session, grid_code)
    if not inspectors:
        raise NotFoundError("grid {code!r} has no inspector to assign", code=grid_code)
    counts = dict(
        (
            await session.execute(
                select(Task.inspector_id, func.count())
                .where(
                    Task.inspector_id.in_([i.id for i in inspectors]),
                    Task.state.in_(OPEN_STATE_VALUES),
                )
                .group_by(Task.inspector_id)
            )
        ).all()
    )
    return min(inspectors, key=lambda inspector: (counts.get(inspector.id, 0), inspector.id))


async def _assignee(session: AsyncSession, routing: HandRouting) -> Inspector:
    if routing.grid_code is not None:
        return await _least_busy(session, routing.grid_code)
    assert routing.inspector_code is not None
    inspector = await inspector_by_code(session, routing.inspector_code)
    if inspector is None:
        raise NotFoundError(
            "inspector {code!r} not found; check the staff code", code=routing.inspector_code
        )
    return inspector


async def _waiting_lead(session: AsyncSession, lead_id: int) -> Lead:
    query = select(Lead).where(Lead.id == lead_id)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    lead = await session.scalar(query)
    if lead is None:
        raise NotFoundError("lead {lead_id} not found; check the id", lead_id=lead_id)
    waiting = await session.scalar(select(Lead.id).where(Lead.id == lead_id, *_waiting()))
    if waiting is None:
        raise ValidationError(
            "lead {lead_id} is not waiting in the triage queue; reload it", lead_id=lead_id
        )
    return lead


async def route_by_hand(
    db: Database,
    lead_id: int,
    routing: HandRouting,
    *,
    actor: str,
    escalation: Escalation,
    now: datetime,
) -> Task:
    """Create the task of a lead in the triage queue for the chosen inspector or grid."""
    routing.check()
    async with db.transaction() as session:
        lead = await _waiting_lead(session, lead_id)
        inspector = await _assignee(session, routing)
        spec = NewTask(
            kind="lead",
            inspector_id=inspector.id,
            title=lead.title,
            body=compose_body(lead.text, lead.address),
            priority=lead.severity,
            routing=ROUTED_BY_HAND,
            ack_within=lead.ack_within,
            due_within=lead.due_within,
            lead_id=lead.id,
            subject_id=lead.subject_id,
            route={
                "by": actor,
                "inspector": routing.inspector_code,
                "grid": routing.grid_code,
            },
        )
        task = await create_task(session, spec, escalation=escalation, now=now)
        lead.routing = ROUTED_BY_HAND
    log.info(
        "lead routed by hand lead=%s task=%s inspector=%s by=%s",
        lead_id,
        task.id,
        inspector.id,
        actor,
    )
    return task
