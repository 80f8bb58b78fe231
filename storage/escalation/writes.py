"""The rows a sweep batch writes, collected while steps fire and written in bulk.

A batch of tasks fires its steps in memory first. Then one INSERT of trail
entries (with RETURNING, for the event ids), one INSERT of outbox messages
and one UPDATE of the tasks go out, each as an executemany, in the
transaction that claimed the tasks. The rows are the ones
`storage.tasks.service.record_event` and `notify` write one at a time.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from griddispatch.messages import NotificationKind
from storage.base import Base
from storage.outbox.models import OutboxMessage
from storage.tasks.models import Task, TaskEvent
from storage.tasks.service import Actor, event_message_row, event_row, notification_row

_EVENTS = Base.metadata.tables[TaskEvent.__tablename__]
_OUTBOX = Base.metadata.tables[OutboxMessage.__tablename__]
_TASKS = Base.metadata.tables[Task.__tablename__]

_UPDATE_TASKS = (
    update(_TASKS)
    .where(_TASKS.c.id == bindparam("b_id"))
    .values(
        inspector_id=bindparam("b_inspector_id"),
        fired_steps=bindparam("b_fired_steps"),
        escalation_step=bindparam("b_escalation_step"),
        next_step_at=bindparam("b_next_step_at"),
        updated_at=bindparam("b_updated_at"),
    )
)


@dataclass(frozen=True)
class _EventMessage:
    """An outbox row for the trail entry at `index`, whose id is known only after the insert."""

    index: int


class StepWrites:
    """Trail entries, outbox messages and task changes of one batch, in the order they happened."""

    def __init__(self, now: datetime) -> None:
        self._now = now
        self._events: list[dict[str, Any]] = []
        self._outbox: list[_EventMessage | dict[str, Any]] = []
        self._tasks: dict[int, dict[str, Any]] = {}

    def record_event(self, task: Task, *, kind: str, actor: Actor, detail: dict[str, Any]) -> None:
        """Queue a trail entry and its `gd.event.task.<kind>` message."""
        self._outbox.append(_EventMessage(len(self._events)))
        self._events.append(event_row(task, kind=kind, actor=actor, now=self._now, detail=detail))

    def notify(
        self,
        task: Task,
        *,
        inspector_id: int,
        kind: NotificationKind,
        condition: str | None = None,
    ) -> None:
        """Queue a Telegram notification about `task` for one inspector."""
        self._outbox.append(
            notification_row(
                task, inspector_id=inspector_id, kind=kind, now=self._now, condition=condition
            )
        )

    def update_task(self, task: Task) -> None:
        """Queue the task's escalation fields and assignee, as they are now, for the update."""
        self._tasks[task.id] = {
            "b_id": task.id,
            "b_inspector_id": task.inspector_id,
            "b_fired_steps": list(task.fired_steps or []),
            "b_escalation_step": task.escalation_step,
            "b_next_step_at": task.next_step_at,
            "b_updated_at": task.updated_at,
        }

    async def write(self, session: AsyncSession) -> None:
        """Insert the trail entries and outbox rows and update the tasks, one statement each."""
        event_ids = await self._insert_events(session)
        rows = [
            event_message_row(event_ids[item.index], self._events[item.index])
            if isinstance(item, _EventMessage)
            else item
            for item in self._outbox
        ]
        if rows:
            await session.execute(insert(_OUTBOX), rows)
        if self._tasks:
            await session.execute(_UPDATE_TASKS, list(self._tasks.values()))

    async def _insert_events(self, session: AsyncSession) -> list[int]:
        if not self._events:
            return []
        result = await session.execute(
            insert(_EVENTS).returning(_EVENTS.c.id, sort_by_parameter_order=True), self._events
        )
        return list(result.scalars())
