"""Read models of a task with the names a message or a listing shows."""

from dataclasses import dataclass
from datetime import datetime

from griddispatch.errors import NotFoundError
from storage.db import Database
from storage.registry.models import Division, Inspector, Subject
from storage.tasks.models import Task


@dataclass(frozen=True)
class TaskView:
    """A task with its assignee's, grid's and subject's names resolved."""

    id: int
    kind: str
    state: str
    title: str
    body: str
    priority: str
    routing: str
    ack_due_at: datetime
    due_at: datetime
    deadline_provisional: bool
    claimed_by_name: str | None
    escalation_step: int
    decline_reason: str | None
    inspector_id: int
    inspector_name: str
    inspector_code: str
    grid_name: str
    subject_name: str | None
    created_at: datetime


async def load_task_view(db: Database, task_id: int) -> TaskView:
    """Return the current view of one task. Raises NotFoundError if it does not exist."""
    async with db.reading() as session:
        task = await session.get(Task, task_id)
        if task is None:
            raise NotFoundError("task {task_id} not found; check the task id", task_id=task_id)
        inspector = await session.get(Inspector, task.inspector_id)
        assert inspector is not None
        grid = await session.get(Division, inspector.division_code)
        subject = await session.get(Subject, task.subject_id) if task.subject_id else None
        claimer = (
            await session.get(Inspector, task.claimed_by_inspector_id)
            if task.claimed_by_inspector_id
            else None
        )
        return TaskView(
            id=task.id,
            kind=task.kind,
            state=task.state,
            title=task.title,
            body=task.body,
            priority=task.priority,
            routing=task.routing,
            ack_due_at=task.ack_due_at,
            due_at=task.due_at,
            deadline_provisional=task.deadline_provisional,
            claimed_by_name=claimer.name if claimer else None,
            escalation_step=task.escalation_step,
            decline_reason=task.decline_reason,
            inspector_id=inspector.id,
            inspector_name=inspector.name,
            inspector_code=inspector.code,
            grid_name=grid.name if grid else inspector.division_code,
            subject_name=subject.name if subject else None,
            created_at=task.created_at,
        )
