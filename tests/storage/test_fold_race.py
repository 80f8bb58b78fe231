"""Two dispatchers storing the first leads about one subject from one source at the same time.

SQLite lets one write transaction run at a time, so the second lead always
finds the task the first opened. PostgreSQL runs both transactions at once:
the second must wait for the first to commit, then fold into its task
instead of opening another. Each test keeps the first transaction open
until the second is seen waiting for it, so the order is fixed, not left to
timing.
"""

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from dispatcher.setup import load_example_registry
from griddispatch.messages import LeadMessage, LeadSubjectRef
from storage.db import Database
from storage.directives.service import Accepted
from storage.intake import accept_batch
from storage.leads.models import Lead
from storage.leads.service import accept_lead_in
from storage.tasks.models import Task
from tests.storage.support import ESCALATION, START

CREDIT_CODE = "92150602MANDKQ4J2L"  # 东胜区丰泽家庭农场, bound to JG0010
WAIT_FOR_LOCK_S = 20.0

Store = Callable[[AsyncSession, LeadMessage], Awaitable[Accepted]]


@pytest.fixture
async def example_db(db: Database) -> Database:
    if db.dialect != "postgresql":
        pytest.skip("SQLite runs one write transaction at a time, so the leads cannot race")
    await load_example_registry(db)
    return db


def _lead(dedup_key: str) -> LeadMessage:
    return LeadMessage(
        message_id=f"race-{dedup_key}",
        source="opinion",
        dedup_key=dedup_key,
        title="舆情：农药残留超标",
        text="网络反映该农场韭菜农残超标。",
        subject=LeadSubjectRef(credit_code=CREDIT_CODE),
    )


async def _one_by_one(session: AsyncSession, message: LeadMessage) -> Accepted:
    return await accept_lead_in(
        session, message, cache_key="race", escalation=ESCALATION, now=START
    )


async def _in_a_batch(session: AsyncSession, message: LeadMessage) -> Accepted:
    (accepted,) = await accept_batch(
        session, [message], cache_key="race", escalation=ESCALATION, now=START
    )
    return accepted


async def _store_and_hold(
    db: Database, store: Store, message: LeadMessage, stored: asyncio.Event, release: asyncio.Event
) -> Accepted:
    """Store `message` in a transaction that commits only once `release` is set."""
    async with db.transaction() as session:
        accepted = await store(session, message)
        stored.set()
        await release.wait()
    return accepted


async def _store_alone(db: Database, store: Store, message: LeadMessage) -> Accepted:
    """Store `message` in a transaction of its own."""
    async with db.transaction() as session:
        return await store(session, message)


async def _lock_waiters(db: Database) -> int:
    async with db.reading() as session:
        count = await session.scalar(
            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        )
    return int(count or 0)


async def _wait_for_lock_waiter(db: Database) -> None:
    """Return once a transaction waits for an advisory lock; fail after WAIT_FOR_LOCK_S."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_FOR_LOCK_S
    while await _lock_waiters(db) == 0:
        if loop.time() > deadline:
            pytest.fail(
                f"the second lead did not wait for the first within {WAIT_FOR_LOCK_S} s: "
                "nothing keeps it from opening a second task"
            )
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param(_one_by_one, _one_by_one, id="one-by-one"),
        pytest.param(_in_a_batch, _in_a_batch, id="batches"),
        pytest.param(_in_a_batch, _one_by_one, id="batch-then-single"),
        pytest.param(_one_by_one, _in_a_batch, id="single-then-batch"),
    ],
)
async def test_concurrent_lead_folds_into_task(
    example_db: Database, first: Store, second: Store
) -> None:
    stored, release = asyncio.Event(), asyncio.Event()
    holding = asyncio.create_task(_store_and_hold(example_db, first, _lead("k1"), stored, release))
    await stored.wait()
    racing = asyncio.create_task(_store_alone(example_db, second, _lead("k2")))

    try:
        await _wait_for_lock_waiter(example_db)
    finally:
        release.set()
    opened, folded = await holding, await racing

    assert folded.routing == "folded"
    assert folded.task_ids == opened.task_ids
    async with example_db.reading() as session:
        tasks = await session.scalar(select(func.count()).select_from(Task))
        first_lead = await session.get(Lead, opened.record_id)
    assert tasks == 1
    assert first_lead is not None
    assert first_lead.lead_count == 2
