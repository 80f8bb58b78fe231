"""Task counts of an area, as a digest reports them."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.registry.models import Division, Inspector
from storage.registry.queries import grids_below
from storage.tasks.models import Task
from storage.tasks.states import OPEN_STATE_VALUES, TaskState


@dataclass(frozen=True)
class AreaSummary:
    """Open, overdue and escalated tasks of the inspectors of one area."""

    area_code: str
    area_name: str
    open: int
    overdue: int
    escalated: int


async def area_of(session: AsyncSession, inspector: Inspector) -> Division | None:
    """Return the area an inspector oversees: their own division."""
    return await session.get(Division, inspector.division_code)


async def summarize_area(session: AsyncSession, area: Division, now: datetime) -> AreaSummary:
    """Count the open, overdue and escalated tasks of every inspector at or below `area`."""
    grid_codes = await grids_below(session, area.code)
    in_area = select(Inspector.id).where(Inspector.division_code.in_(grid_codes))
    open_states = OPEN_STATE_VALUES
    base = (
        select(func.count())
        .select_from(Task)
        .where(Task.inspector_id.in_(in_area), Task.state.in_(open_states))
    )
    overdue = base.where(
        or_(
            (Task.state == TaskState.NEW.value) & (Task.ack_due_at < now),
            Task.due_at < now,
        )
    )
    escalated = base.where(Task.escalation_step > 0)
    return AreaSummary(
        area_code=area.code,
        area_name=area.name,
        open=int(await session.scalar(base) or 0),
        overdue=int(await session.scalar(overdue) or 0),
        escalated=int(await session.scalar(escalated) or 0),
    )
