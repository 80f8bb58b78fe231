"""Who may act on a task, and what acting writes."""

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from griddispatch.errors import IllegalTransitionError, NotFoundError, PermissionDeniedError
from griddispatch.messages import TargetKind
from storage.db import Database
from storage.outbox.models import OutboxMessage
from storage.tasks.models import Task, TaskEvent
from storage.tasks.service import act_on_task
from storage.tasks.states import TaskAction
from tests.storage.support import (
    ESCALATION,
    GRID_LEADER,
    LEADERLESS_INSPECTOR,
    START,
    count_rows,
    directive,
    import_small_registry,
    inspector_of,
    issue_directive,
    trail_kinds,
)

ASSIGNEE = "JG0010"
LATER = START + timedelta(minutes=10)


@pytest.fixture
async def task_id(db: Database, tmp_path: Path) -> int:
    """The id of a new task for ASSIGNEE, in the small registry."""
    await import_small_registry(db, tmp_path)
    message = directive("d-act", TargetKind.INSPECTOR, ASSIGNEE)
    accepted = await issue_directive(db, message)
    return accepted.task_ids[0]


async def _task(db: Database, task_id: int) -> Task:
    async with db.reading() as session:
        task = await session.get(Task, task_id)
    assert task is not None
    return task


async def _events(db: Database, task_id: int) -> list[TaskEvent]:
    async with db.reading() as session:
        rows = await session.scalars(
            select(TaskEvent).where(TaskEvent.task_id == task_id).order_by(TaskEvent.id)
        )
        return list(rows)


async def _acknowledge(db: Database, task_id: int, inspector_code: str) -> Task:
    inspector = await inspector_of(db, inspector_code)
    return await act_on_task(
        db,
        escalation=ESCALATION,
        task_id=task_id,
        action=TaskAction.ACKNOWLEDGE,
        inspector_id=inspector.id,
        now=LATER,
    )


async def test_assignee_acknowledges(db: Database, task_id: int) -> None:
    assignee = await inspector_of(db, ASSIGNEE)

    returned = await _acknowledge(db, task_id, ASSIGNEE)

    assert returned.state == "acknowledged"
    task = await _task(db, task_id)
    assert task.state == "acknowledged"
    assert task.updated_at == LATER
    assert task.next_step_at is None
    events = await _events(db, task_id)
    assert [event.kind for event in events] == ["created", "acknowledged"]
    assert events[-1].actor == f"inspector:{ASSIGNEE}"
    assert events[-1].actor_inspector_id == assignee.id
    assert events[-1].at == LATER
    async with db.reading() as session:
        subjects = list(await session.scalars(select(OutboxMessage.subject)))
    assert "gd.event.task.acknowledged" in subjects


async def test_grid_leader_acknowledges(db: Database, task_id: int) -> None:
    leader = await inspector_of(db, GRID_LEADER)

    await _acknowledge(db, task_id, GRID_LEADER)

    assert (await _task(db, task_id)).state == "acknowledged"
    events = await _events(db, task_id)
    assert events[-1].kind == "acknowledged"
    assert events[-1].actor_inspector_id == leader.id


async def test_grid_leader_declines(db: Database, task_id: int) -> None:
    leader = await inspector_of(db, GRID_LEADER)

    await act_on_task(
        db,
        escalation=ESCALATION,
        task_id=task_id,
        action=TaskAction.DECLINE,
        inspector_id=leader.id,
        now=LATER,
        reason="该主体已停业",
    )

    task = await _task(db, task_id)
    assert task.state == "declined"
    assert task.decline_reason == "该主体已停业"
    events = await _events(db, task_id)
    assert events[-1].kind == "declined"
    assert events[-1].detail == {"reason": "该主体已停业"}


@pytest.mark.parametrize(
    "other_code", ["JG0011", LEADERLESS_INSPECTOR], ids=["same-grid", "other-grid"]
)
async def test_other_inspector_denied(db: Database, task_id: int, other_code: str) -> None:
    before = await _task(db, task_id)
    outbox_rows = await count_rows(db, OutboxMessage)

    with pytest.raises(PermissionDeniedError) as raised:
        await _acknowledge(db, task_id, other_code)

    assert other_code in str(raised.value)
    after = await _task(db, task_id)
    assert after.state == "new"
    assert after.updated_at == before.updated_at
    assert after.next_step_at == before.next_step_at
    assert await trail_kinds(db, task_id) == ["created"]
    assert await count_rows(db, OutboxMessage) == outbox_rows


async def test_acknowledge_twice(db: Database, task_id: int) -> None:
    await _acknowledge(db, task_id, ASSIGNEE)

    with pytest.raises(IllegalTransitionError) as raised:
        await _acknowledge(db, task_id, ASSIGNEE)

    assert "cannot acknowledge a task that is acknowledged" in str(raised.value)
    assert (await _task(db, task_id)).state == "acknowledged"
    assert await trail_kinds(db, task_id) == ["created", "acknowledged"]


async def test_unknown_task(db: Database, task_id: int) -> None:
    assignee = await inspector_of(db, ASSIGNEE)

    with pytest.raises(NotFoundError) as raised:
        await act_on_task(
            db,
            escalation=ESCALATION,
            task_id=task_id + 1000,
            action=TaskAction.ACKNOWLEDGE,
            inspector_id=assignee.id,
            now=LATER,
        )

    assert f"task {task_id + 1000} not found" in str(raised.value)
