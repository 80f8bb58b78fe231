"""The escalation sweep on PostgreSQL while another transaction writes a task's trail."""

from datetime import timedelta

import pytest

from storage.tasks.models import Task
from storage.tasks.service import SYSTEM, record_event
from tests.bot.support import GRID_INSPECTORS, bind_codes, directive_for
from tests.harness.loop import Loop

ACK_WITHIN = timedelta(minutes=30)


async def test_sweep_fires_during_trail_write(loop: Loop) -> None:
    if loop.db.dialect != "postgresql":
        pytest.skip("row locks and SKIP LOCKED apply to PostgreSQL only")
    inspector, user = (await bind_codes(loop, GRID_INSPECTORS[0]))[GRID_INSPECTORS[0]]
    task = await directive_for(
        loop, inspector, "sweep-lock", "写入记录时的提醒", ack_within_s=ACK_WITHIN.total_seconds()
    )
    await loop.chats.receives(user, "写入记录时的提醒")
    loop.clock.advance(ACK_WITHIN)

    # The bot writes a trail entry for the task, as record_delivery does, and has not
    # committed yet when the sweep runs.
    async with loop.db.transaction() as session:
        stored = await session.get(Task, task.id)
        assert stored is not None
        await record_event(session, stored, kind="delivered", actor=SYSTEM, now=loop.clock.now())
        fired = await loop.sweep()

    assert [(step.task_id, step.kind) for step in fired] == [(task.id, "reminded")]
