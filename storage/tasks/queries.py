"""Task lists as the bot shows them: an inspector's own, and a grid leader's grid."""

from datetime import datetime

from sqlalchemy import select

from storage.db import Database
from storage.registry.models import Inspector
from storage.tasks.models import Task
from storage.tasks.states import OPEN_STATES, TaskState

_OPEN = [state.value for state in OPEN_STATES]


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
                select(Task).where(Task.inspector_id == inspector_id, Task.state.in_(_OPEN))
            )
        )
    return sorted(tasks, key=next_deadline)[:limit]


async def open_tasks_of_grid(db: Database, grid_code: str, *, limit: int = 50) -> list[Task]:
    """Return the open tasks of every inspector of a grid, the most urgent first."""
    async with db.reading() as session:
        in_grid = select(Inspector.id).where(Inspector.division_code == grid_code)
        tasks = list(
            await session.scalars(
                select(Task).where(Task.inspector_id.in_(in_grid), Task.state.in_(_OPEN))
            )
        )
    return sorted(tasks, key=next_deadline)[:limit]
