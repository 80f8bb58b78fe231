"""Sweeps that claim due tasks in batches: several sweepers with small batches, and
acknowledgements committed while a sweep runs."""

import asyncio
from collections import defaultdict

from sqlalchemy import select

from storage.db import Database
from storage.escalation.policy import Escalation
from storage.escalation.service import sweep
from storage.outbox.models import OutboxMessage
from storage.tasks.models import TaskEvent
from storage.tasks.service import act_on_task
from storage.tasks.states import TaskAction
from tests.escalation.support import (
    COUNTY_STAFF,
    GRID_INSPECTORS,
    GRID_LEADER,
    STEP_DUE,
    STEP_KINDS,
    TOWNSHIP_STAFF,
    bind,
    issue_to,
    load_task,
)

TASKS = 60
SMALL_BATCH = 7
SWEEPERS = 3
# Steps 1 to 4 of the chain (reminder, grid leader, township, county) are due then.
SWEEP_AT = STEP_DUE[4]


async def _trail(db: Database) -> dict[int, list[TaskEvent]]:
    """Return every task's trail entries, in id order."""
    async with db.reading() as session:
        rows = await session.scalars(select(TaskEvent).order_by(TaskEvent.id))
        trails: dict[int, list[TaskEvent]] = defaultdict(list)
        for event in rows:
            trails[event.task_id].append(event)
        return trails


async def _issue(db: Database, escalation: Escalation, prefix: str) -> list[int]:
    return [
        await issue_to(db, escalation, GRID_INSPECTORS[n % len(GRID_INSPECTORS)], f"{prefix}-{n}")
        for n in range(TASKS)
    ]


async def test_small_batches_fire_once_in_order(
    database_url: str, db: Database, staff: dict[str, int], escalation: Escalation
) -> None:
    await bind(db, staff, *GRID_INSPECTORS, GRID_LEADER, *TOWNSHIP_STAFF, *COUNTY_STAFF)
    task_ids = await _issue(db, escalation, "batches")
    sweepers = [Database(database_url) for _ in range(SWEEPERS)]

    try:
        results = await asyncio.gather(
            *(
                sweep(sweeper, escalation=escalation, now=SWEEP_AT, batch=SMALL_BATCH)
                for sweeper in sweepers
            )
        )
    finally:
        for sweeper in sweepers:
            await sweeper.dispose()

    fired = [(step.task_id, step.step) for result in results for step in result]
    assert len(fired) == len(set(fired))
    assert set(fired) == {(task_id, step) for task_id in task_ids for step in (1, 2, 3, 4)}
    trails = await _trail(db)
    for task_id in task_ids:
        steps = [event.detail["step"] for event in trails[task_id] if event.kind in STEP_KINDS]
        assert steps == [1, 2, 3, 4], f"task {task_id} trail steps {steps}"
        task = await load_task(db, task_id)
        assert task.fired_steps == [0, 1, 2, 3]
        assert task.escalation_step == 4
        assert task.next_step_at == STEP_DUE[5]
    async with db.reading() as session:
        event_messages = set(
            await session.scalars(
                select(OutboxMessage.msg_id).where(OutboxMessage.msg_id.startswith("event-"))
            )
        )
    step_event_ids = {
        event.id for trail in trails.values() for event in trail if event.kind in STEP_KINDS
    }
    assert {f"event-{event_id}" for event_id in step_event_ids} <= event_messages
    assert await sweep(db, escalation=escalation, now=SWEEP_AT) == []


async def test_acknowledged_tasks_get_no_reminder(
    database_url: str, db: Database, staff: dict[str, int], escalation: Escalation
) -> None:
    # Acknowledgements commit while a sweep with small batches runs on another connection.
    await bind(db, staff, *GRID_INSPECTORS, GRID_LEADER, *TOWNSHIP_STAFF, *COUNTY_STAFF)
    task_ids = await _issue(db, escalation, "race")
    sweeper = Database(database_url)

    async def acknowledge_all() -> None:
        for task_id in task_ids:
            task = await load_task(db, task_id)
            await act_on_task(
                db,
                task_id=task_id,
                action=TaskAction.ACKNOWLEDGE,
                inspector_id=task.inspector_id,
                escalation=escalation,
                now=SWEEP_AT,
            )

    try:
        await asyncio.gather(
            sweep(sweeper, escalation=escalation, now=SWEEP_AT, batch=SMALL_BATCH),
            acknowledge_all(),
        )
    finally:
        await sweeper.dispose()

    trails = await _trail(db)
    for task_id in task_ids:
        kinds = [event.kind for event in trails[task_id]]
        acknowledged_at = kinds.index("acknowledged")
        after = [kind for kind in kinds[acknowledged_at:] if kind in STEP_KINDS]
        assert after == [], f"task {task_id} got steps after it was acknowledged: {kinds}"
    assert await sweep(db, escalation=escalation, now=SWEEP_AT) == []
