"""Exactly-once firing under concurrent sweeps, the SQLite sweep lease, and daily digests."""

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from griddispatch.clock import ManualClock
from storage.db import Database
from storage.digests.service import queue_daily_digests
from storage.escalation.lease import SWEEP_LEASE, acquire_lease, release_lease
from storage.escalation.policy import Escalation
from storage.escalation.service import FiredStep, sweep
from storage.migrate import upgrade
from storage.outbox.models import OutboxMessage
from storage.tasks.models import TaskEvent
from tests.escalation.support import (
    ACK_DUE,
    COMMAND_CENTRE_STAFF,
    COUNTY_STAFF,
    GRID_INSPECTORS,
    GRID_LEADER,
    SECOND_GRID_LEADER,
    START,
    STEP_DUE,
    STEP_KINDS,
    TOWNSHIP_STAFF,
    bind,
    import_small_registry,
    issue_to,
    load_escalation,
    notifications,
)
from workers.digests import send_digests_now
from workers.escalation import EscalationWorker

TASK_COUNT = 300
SWEEPERS = 3
# Steps 1 to 4 of the chain (reminder, grid leader, township, county) are due then.
SWEEP_AT = STEP_DUE[4]
LEASE_TTL_S = 60.0


async def _step_counts(db: Database) -> Counter[tuple[int, int]]:
    """Count the step entries in task_events by (task id, step number)."""
    async with db.reading() as session:
        rows = await session.execute(
            select(TaskEvent.task_id, TaskEvent.detail).where(TaskEvent.kind.in_(STEP_KINDS))
        )
        return Counter((task_id, detail["step"]) for task_id, detail in rows.all())


async def test_concurrent_sweeps_fire_once(
    database_url: str, db: Database, staff: dict[str, int], escalation: Escalation
) -> None:
    await bind(db, staff, *GRID_INSPECTORS, GRID_LEADER, *TOWNSHIP_STAFF, *COUNTY_STAFF)
    task_ids = [
        await issue_to(db, escalation, GRID_INSPECTORS[n % len(GRID_INSPECTORS)], f"bulk-{n}")
        for n in range(TASK_COUNT)
    ]
    sweepers = [Database(database_url) for _ in range(SWEEPERS)]

    try:
        results = await asyncio.gather(
            *(sweep(sweeper, escalation=escalation, now=SWEEP_AT) for sweeper in sweepers)
        )
    finally:
        for sweeper in sweepers:
            await sweeper.dispose()

    counts = await _step_counts(db)
    expected = {(task_id, step) for task_id in task_ids for step in (1, 2, 3, 4)}
    fired: list[FiredStep] = [step for result in results for step in result]
    assert set(counts) == expected
    assert [key for key, count in counts.items() if count != 1] == []
    assert len(fired) == len(expected)
    assert {(step.task_id, step.step) for step in fired} == expected
    assert {step.kind for step in fired} == {"reminded", "escalated"}
    reminders = Counter(
        note["task_id"] for note in await notifications(db) if note["kind"] == "reminder"
    )
    assert set(reminders) == set(task_ids)
    assert set(reminders.values()) == {1}
    assert await sweep(db, escalation=escalation, now=SWEEP_AT) == []


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite database of its own, for the lease that only SQLite workers take."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'lease.sqlite3'}"
    await upgrade(url)
    return url


@pytest.fixture
async def sqlite_dbs(sqlite_url: str) -> AsyncIterator[list[Database]]:
    """Three Database objects on the same SQLite file, as three worker processes have."""
    databases = [Database(sqlite_url) for _ in range(SWEEPERS)]
    yield databases
    for database in databases:
        await database.dispose()


async def _acquire(db: Database, holder: str, now: datetime) -> bool:
    return await acquire_lease(db, name=SWEEP_LEASE, holder=holder, ttl_s=LEASE_TTL_S, now=now)


async def test_lease_one_holder(
    sqlite_dbs: list[Database], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="storage.escalation.lease")
    holders = ["worker-a", "worker-b", "worker-c"]

    taken = await asyncio.gather(
        *(_acquire(db, holder, START) for db, holder in zip(sqlite_dbs, holders, strict=True))
    )

    assert sorted(taken) == [False, False, True]
    first = holders[taken.index(True)]
    others = [holder for holder in holders if holder != first]
    db = sqlite_dbs[0]
    half_way = START + timedelta(seconds=LEASE_TTL_S / 2)
    assert await _acquire(db, others[0], half_way) is False
    # Renewing at half-time keeps the lease until half_way + LEASE_TTL_S.
    assert await _acquire(db, first, half_way) is True
    renewed_until = half_way + timedelta(seconds=LEASE_TTL_S)
    assert await _acquire(db, others[0], renewed_until - timedelta(seconds=1)) is False
    assert await _acquire(db, others[1], renewed_until - timedelta(seconds=1)) is False

    after_expiry = renewed_until + timedelta(seconds=1)

    assert await _acquire(db, others[1], after_expiry) is True
    assert await _acquire(db, first, after_expiry + timedelta(seconds=1)) is False
    takeovers = [record for record in caplog.records if "lease taken over" in record.getMessage()]
    assert len(takeovers) == 1
    assert f"previous={first}" in takeovers[0].getMessage()


async def test_lease_release(sqlite_dbs: list[Database]) -> None:
    db = sqlite_dbs[0]
    assert await _acquire(db, "worker-a", START) is True

    await release_lease(db, name=SWEEP_LEASE, holder="worker-b")

    assert await _acquire(db, "worker-b", START + timedelta(seconds=1)) is False

    await release_lease(db, name=SWEEP_LEASE, holder="worker-a")

    assert await _acquire(db, "worker-b", START + timedelta(seconds=2)) is True


async def test_workers_share_lease(
    sqlite_url: str, sqlite_dbs: list[Database], tmp_path: Path
) -> None:
    # Two workers share one SQLite file. A worker that sweeps every 10 s holds the lease 30 s.
    setup_db = sqlite_dbs[0]
    escalation = load_escalation(tmp_path / "config")
    staff = await import_small_registry(setup_db, tmp_path / "registry")
    await bind(setup_db, staff, *GRID_INSPECTORS)
    first_task = await issue_to(setup_db, escalation, GRID_INSPECTORS[0], "lease-1")
    # Due 10 s and 40 s after the first, while the first sweeper's lease lasts and after.
    second_task = await issue_to(
        setup_db, escalation, GRID_INSPECTORS[1], "lease-2", now=START + timedelta(seconds=10)
    )
    third_task = await issue_to(
        setup_db, escalation, GRID_INSPECTORS[2], "lease-3", now=START + timedelta(seconds=40)
    )
    clock = ManualClock(ACK_DUE)
    worker_a = EscalationWorker(sqlite_dbs[1], escalation, clock, interval_s=10.0)
    worker_b = EscalationWorker(sqlite_dbs[2], escalation, clock, interval_s=10.0)

    by_a = await worker_a.sweep_once()
    clock.advance(timedelta(seconds=10))
    blocked = await worker_b.sweep_once()
    clock.advance(timedelta(seconds=21))
    taken_over = await worker_b.sweep_once()

    assert [(step.task_id, step.step) for step in by_a] == [(first_task, 1)]
    assert blocked == []
    assert [(step.task_id, step.step) for step in taken_over] == [(second_task, 1)]

    clock.advance(timedelta(seconds=10))
    assert await worker_a.sweep_once() == []

    await worker_b.stop()

    assert [(step.task_id, step.step) for step in await worker_a.sweep_once()] == [(third_task, 1)]


DIGEST_DAY = date(2026, 3, 2)


async def _digest_rows(db: Database, day: date) -> list[OutboxMessage]:
    async with db.reading() as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.msg_id.startswith(f"digest-{day.isoformat()}-"))
            .order_by(OutboxMessage.id)
        )
        return list(rows)


async def test_digests_queued_once(db: Database, staff: dict[str, int]) -> None:
    # JG0006 (county) stays unbound, and inspectors get no digest.
    await bind(db, staff, GRID_LEADER, SECOND_GRID_LEADER, "JG0005", "JG0010", *TOWNSHIP_STAFF)
    recipients = sorted(staff[code] for code in (GRID_LEADER, SECOND_GRID_LEADER, "JG0005"))

    first = await queue_daily_digests(db, day=DIGEST_DAY, now=START)
    second = await queue_daily_digests(db, day=DIGEST_DAY, now=START + timedelta(hours=1))

    assert first == len(recipients)
    assert second == 0
    rows = await _digest_rows(db, DIGEST_DAY)
    assert sorted(row.payload["inspector_id"] for row in rows) == recipients
    assert {row.payload["kind"] for row in rows} == {"digest"}
    assert {row.payload["digest_date"] for row in rows} == {DIGEST_DAY.isoformat()}
    assert [row.subject for row in rows] == [
        f"gd.notify.telegram.{row.payload['inspector_id']}" for row in rows
    ]
    next_day = DIGEST_DAY + timedelta(days=1)
    assert await queue_daily_digests(db, day=next_day, now=START + timedelta(days=1)) == 3


async def test_concurrent_digests_once(
    database_url: str, db: Database, staff: dict[str, int]
) -> None:
    await bind(db, staff, GRID_LEADER, SECOND_GRID_LEADER, *COUNTY_STAFF)
    workers = [Database(database_url) for _ in range(SWEEPERS)]

    try:
        queued = await asyncio.gather(
            *(queue_daily_digests(worker, day=DIGEST_DAY, now=START) for worker in workers)
        )
    finally:
        for worker in workers:
            await worker.dispose()

    rows = await _digest_rows(db, DIGEST_DAY)
    assert sum(queued) == 5
    assert len(rows) == 5
    assert len({row.payload["inspector_id"] for row in rows}) == 5


async def test_digest_day_in_china(db: Database, staff: dict[str, int]) -> None:
    await bind(db, staff, GRID_LEADER, *COMMAND_CENTRE_STAFF)
    # 17:30 UTC on Sunday 03-01 is 01:30 on Monday 03-02 in China.
    clock = ManualClock(datetime(2026, 3, 1, 17, 30, tzinfo=UTC))

    first = await send_digests_now(db, clock)
    clock.advance(timedelta(hours=12))
    second = await send_digests_now(db, clock)

    assert first == 1
    assert second == 0
    rows = await _digest_rows(db, DIGEST_DAY)
    assert [row.payload["inspector_id"] for row in rows] == [staff[GRID_LEADER]]
