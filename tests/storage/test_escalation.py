"""Escalation steps of unacknowledged tasks, swept at fixed clock times."""

import asyncio
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from griddispatch.messages import TargetKind
from storage.db import Database
from storage.outbox.models import OutboxMessage
from storage.tasks.models import Task, TaskEvent
from storage.tasks.service import act_on_task
from storage.tasks.states import TaskAction
from tests.storage.support import (
    ACK_WITHIN_S,
    ESCALATE_AFTER_S,
    ESCALATION,
    GRID,
    GRID_INSPECTORS,
    GRID_LEADER,
    LEADERLESS_INSPECTOR,
    START,
    bind_everyone,
    directive,
    import_small_registry,
    inspector_of,
    issue_directive,
    sweep_at,
    trail_kinds,
)

DEADLINE = START + timedelta(seconds=ACK_WITHIN_S)
ESCALATION_AT = DEADLINE + timedelta(seconds=ESCALATE_AFTER_S)
ONE_SECOND = timedelta(seconds=1)
ASSIGNEE = "JG0010"


@pytest.fixture
async def small_db(db: Database, tmp_path: Path) -> Database:
    await import_small_registry(db, tmp_path)
    await bind_everyone(db)
    return db


async def _issue(db: Database, message_id: str, inspector_code: str) -> int:
    message = directive(message_id, TargetKind.INSPECTOR, inspector_code)
    accepted = await issue_directive(db, message)
    return accepted.task_ids[0]


async def _notifications(db: Database, task_id: int, kind: str) -> list[OutboxMessage]:
    """Return the queued Telegram notifications of one kind about a task."""
    async with db.reading() as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.subject.startswith("gd.notify.telegram."))
            .order_by(OutboxMessage.id)
        )
        return [
            row for row in rows if row.payload["task_id"] == task_id and row.payload["kind"] == kind
        ]


async def _last_event(db: Database, task_id: int) -> TaskEvent:
    async with db.reading() as session:
        event = await session.scalar(
            select(TaskEvent)
            .where(TaskEvent.task_id == task_id)
            .order_by(TaskEvent.id.desc())
            .limit(1)
        )
    assert event is not None
    return event


async def _task(db: Database, task_id: int) -> Task:
    async with db.reading() as session:
        task = await session.get(Task, task_id)
    assert task is not None
    return task


async def test_nothing_before_deadline(small_db: Database) -> None:
    task_id = await _issue(small_db, "d-early", ASSIGNEE)

    fired = await sweep_at(small_db, DEADLINE - ONE_SECOND)

    assert fired == []
    assert await trail_kinds(small_db, task_id) == ["created"]
    assert (await _task(small_db, task_id)).escalation_step == 0


async def test_reminder_at_deadline(small_db: Database) -> None:
    task_id = await _issue(small_db, "d-remind", ASSIGNEE)
    assignee = await inspector_of(small_db, ASSIGNEE)

    fired = await sweep_at(small_db, DEADLINE)

    assert [(step.task_id, step.step, step.kind, step.late_s) for step in fired] == [
        (task_id, 1, "reminded", 0.0)
    ]
    assert await trail_kinds(small_db, task_id) == ["created", "reminded"]
    reminders = await _notifications(small_db, task_id, "reminder")
    assert [row.subject for row in reminders] == [f"gd.notify.telegram.{assignee.id}"]
    task = await _task(small_db, task_id)
    assert task.escalation_step == 1
    assert task.next_step_at == ESCALATION_AT


async def test_no_escalation_before_its_time(small_db: Database) -> None:
    task_id = await _issue(small_db, "d-wait", ASSIGNEE)
    await sweep_at(small_db, DEADLINE)

    fired = await sweep_at(small_db, ESCALATION_AT - ONE_SECOND)

    assert fired == []
    assert await trail_kinds(small_db, task_id) == ["created", "reminded"]


async def test_escalation_after_reminder(small_db: Database) -> None:
    task_id = await _issue(small_db, "d-escalate", ASSIGNEE)
    leader = await inspector_of(small_db, GRID_LEADER)
    await sweep_at(small_db, DEADLINE)

    fired = await sweep_at(small_db, ESCALATION_AT)

    assert [(step.task_id, step.step, step.kind, step.late_s) for step in fired] == [
        (task_id, 2, "escalated", 0.0)
    ]
    assert await trail_kinds(small_db, task_id) == ["created", "reminded", "escalated"]
    event = await _last_event(small_db, task_id)
    assert event.detail["to_inspector_ids"] == [leader.id]
    assert event.actor == "worker"
    escalations = await _notifications(small_db, task_id, "escalated")
    assert [row.subject for row in escalations] == [f"gd.notify.telegram.{leader.id}"]
    task = await _task(small_db, task_id)
    assert task.state == "new"
    assert task.escalation_step == 2
    assert task.next_step_at is None


async def test_chain_ends_after_escalation(small_db: Database) -> None:
    task_id = await _issue(small_db, "d-end", ASSIGNEE)
    await sweep_at(small_db, ESCALATION_AT)

    fired = await sweep_at(small_db, ESCALATION_AT + timedelta(days=30))

    assert fired == []
    assert await trail_kinds(small_db, task_id) == ["created", "reminded", "escalated"]


async def test_acknowledge_stops_chain(small_db: Database) -> None:
    task_id = await _issue(small_db, "d-ack", ASSIGNEE)
    assignee = await inspector_of(small_db, ASSIGNEE)
    await act_on_task(
        small_db,
        escalation=ESCALATION,
        task_id=task_id,
        action=TaskAction.ACKNOWLEDGE,
        inspector_id=assignee.id,
        now=DEADLINE - timedelta(minutes=10),
    )

    at_deadline = await sweep_at(small_db, DEADLINE)
    much_later = await sweep_at(small_db, START + timedelta(days=7))

    assert at_deadline == []
    assert much_later == []
    assert await trail_kinds(small_db, task_id) == ["created", "acknowledged"]
    assert await _notifications(small_db, task_id, "reminder") == []


async def test_long_outage_fires_both(small_db: Database) -> None:
    task_id = await _issue(small_db, "d-outage", ASSIGNEE)
    now = START + timedelta(days=3)

    fired = await sweep_at(small_db, now)

    assert [(step.task_id, step.step, step.kind) for step in fired] == [
        (task_id, 1, "reminded"),
        (task_id, 2, "escalated"),
    ]
    assert fired[0].late_s == (now - DEADLINE).total_seconds()
    assert fired[1].late_s == (now - ESCALATION_AT).total_seconds()
    assert await trail_kinds(small_db, task_id) == ["created", "reminded", "escalated"]


async def test_concurrent_sweeps_fire_once(small_db: Database) -> None:
    # 50 directives to a grid of 4 inspectors make 200 due tasks.
    task_ids: list[int] = []
    for number in range(50):
        message = directive(f"d-load-{number}", TargetKind.GRID, GRID)
        accepted = await issue_directive(small_db, message)
        task_ids.extend(accepted.task_ids)
    assert len(task_ids) == 50 * len(GRID_INSPECTORS)
    now = START + timedelta(days=1)

    # Each worker has its own engine and connection pool, as two processes would.
    worker_a = Database(small_db.url)
    worker_b = Database(small_db.url)
    try:
        fired_a, fired_b = await asyncio.gather(sweep_at(worker_a, now), sweep_at(worker_b, now))
    finally:
        await worker_a.dispose()
        await worker_b.dispose()

    async with small_db.reading() as session:
        rows = (
            await session.execute(
                select(TaskEvent.task_id, TaskEvent.kind).where(
                    TaskEvent.kind.in_(["reminded", "escalated"])
                )
            )
        ).all()
    per_step = Counter((task_id, kind) for task_id, kind in rows)
    expected = {(task_id, kind): 1 for task_id in task_ids for kind in ("reminded", "escalated")}
    assert dict(per_step) == expected
    fired_steps = [(step.task_id, step.step) for step in fired_a + fired_b]
    assert len(fired_steps) == 2 * len(task_ids)
    assert len(set(fired_steps)) == len(fired_steps)


async def test_leaderless_grid_skipped(small_db: Database) -> None:
    task_id = await _issue(small_db, "d-leaderless", LEADERLESS_INSPECTOR)

    fired = await sweep_at(small_db, START + timedelta(days=1))

    assert [step.kind for step in fired] == ["reminded", "escalation_skipped"]
    assert await trail_kinds(small_db, task_id) == ["created", "reminded", "escalation_skipped"]
    event = await _last_event(small_db, task_id)
    assert event.detail["reason"] == "no grid leader"
    assert event.detail["step"] == 2
    assert await _notifications(small_db, task_id, "escalated") == []
    assert (await _task(small_db, task_id)).next_step_at is None


async def test_leader_assignee_skip_reason(small_db: Database) -> None:
    task_id = await _issue(small_db, "d-leader", GRID_LEADER)

    await sweep_at(small_db, START + timedelta(days=1))

    event = await _last_event(small_db, task_id)
    assert event.kind == "escalation_skipped"
    assert event.detail["reason"] == "the assignee is the grid leader"
