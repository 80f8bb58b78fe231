"""Task lists for the bot (an inspector's own, a grid leader's grid) and the API, and counts."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from griddispatch.errors import NotFoundError
from storage.db import Database
from storage.registry.models import Inspector
from storage.registry.queries import divisions_below, inspector_by_code
from storage.tasks.models import Task, TaskEvent
from storage.tasks.states import OPEN_STATE_VALUES, TaskState


def next_deadline(task: Task) -> datetime:
    """Return the deadline that matters now: acknowledge-by while new, else result-due-by."""
    return task.ack_due_at if task.state == TaskState.NEW.value else task.due_at


def is_overdue(task: Task, now: datetime) -> bool:
    """Return whether the deadline that matters now has passed."""
    return next_deadline(task) < now


async def open_tasks_of(db: Database, inspector_id: int, *, limit: int = 30) -> list[Task]:
    """Return an inspector's open tasks, the most urgent first."""
    async with db.reading() as session:
        tasks = list(
            await session.scalars(
                select(Task).where(
                    Task.inspector_id == inspector_id, Task.state.in_(OPEN_STATE_VALUES)
                )
            )
        )
    return sorted(tasks, key=next_deadline)[:limit]


async def open_tasks_of_grid(db: Database, grid_code: str, *, limit: int = 50) -> list[Task]:
    """Return the open tasks of every inspector of a grid, the most urgent first."""
    async with db.reading() as session:
        in_grid = select(Inspector.id).where(Inspector.division_code == grid_code)
        tasks = list(
            await session.scalars(
                select(Task).where(
                    Task.inspector_id.in_(in_grid), Task.state.in_(OPEN_STATE_VALUES)
                )
            )
        )
    return sorted(tasks, key=next_deadline)[:limit]


@dataclass(frozen=True)
class TaskFilter:
    """Conditions a task listing applies; None means any."""

    state: str | None = None
    division_code: str | None = None
    kind: str | None = None
    priority: str | None = None
    inspector_code: str | None = None
    # The county (or any division) the reader is restricted to, on top of division_code.
    area_code: str | None = None


@dataclass(frozen=True)
class TaskPage:
    """One page of tasks with their assignees, and the number of tasks in all pages."""

    tasks: list[tuple[Task, Inspector]]
    total: int


async def _filter_conditions(session: AsyncSession, task_filter: TaskFilter) -> list[Any]:
    """Translate a filter into WHERE conditions; raises NotFoundError for unknown codes."""
    conditions: list[Any] = []
    for column, value in (
        (Task.state, task_filter.state),
        (Task.kind, task_filter.kind),
        (Task.priority, task_filter.priority),
    ):
        if value is not None:
            conditions.append(column == value)
    if task_filter.inspector_code is not None:
        inspector = await inspector_by_code(session, task_filter.inspector_code)
        if inspector is None:
            raise NotFoundError(
                "inspector {code!r} not found; check the staff code",
                code=task_filter.inspector_code,
            )
        conditions.append(Task.inspector_id == inspector.id)
    for division_code in (task_filter.division_code, task_filter.area_code):
        if division_code is not None:
            codes = await divisions_below(session, division_code)
            conditions.append(Inspector.division_code.in_(codes))
    return conditions


async def find_tasks(db: Database, task_filter: TaskFilter, *, limit: int, offset: int) -> TaskPage:
    """Return a page of the tasks that match a filter, newest first, with their assignees.

    Raises NotFoundError when the filter names an unknown inspector or division.
    """
    async with db.reading() as session:
        conditions = await _filter_conditions(session, task_filter)
        matching = select(Task, Inspector).join(Inspector, Inspector.id == Task.inspector_id)
        matching = matching.where(*conditions)
        total = await session.scalar(select(func.count()).select_from(matching.subquery()))
        rows = await session.execute(matching.order_by(Task.id.desc()).limit(limit).offset(offset))
        return TaskPage([(task, inspector) for task, inspector in rows], int(total or 0))


async def count_tasks_by_state(db: Database) -> dict[str, int]:
    """Return how many tasks are in each state; states without tasks count 0."""
    async with db.reading() as session:
        rows = await session.execute(select(Task.state, func.count()).group_by(Task.state))
        counts = {state.value: 0 for state in TaskState}
        counts.update({state: int(count) for state, count in rows})
        return counts


async def count_trail_entries(db: Database, kinds: Iterable[str]) -> dict[str, int]:
    """Return how many trail entries of each kind exist; kinds without entries count 0."""
    wanted = list(kinds)
    async with db.reading() as session:
        rows = await session.execute(
            select(TaskEvent.kind, func.count())
            .where(TaskEvent.kind.in_(wanted))
            .group_by(TaskEvent.kind)
        )
        counts = dict.fromkeys(wanted, 0)
        counts.update({kind: int(count) for kind, count in rows})
        return counts
