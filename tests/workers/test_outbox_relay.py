"""Outbox relays that share one database: each row is published once, and a relay killed
between publishing a row and marking it leaves the row to be published again.

A core NATS subscription on the event subjects sees every publish, including the copies
JetStream drops by Nats-Msg-Id, so it counts how often each row went out.
"""

import asyncio
import signal
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.errors import NoStreamResponseError
from sqlalchemy import select, update

from griddispatch import subjects
from griddispatch.clock import ManualClock
from griddispatch.nats_connection import connect
from griddispatch.nats_server import NatsServer
from griddispatch.streams import ensure_streams
from storage.db import Database
from storage.outbox.models import OutboxMessage
from storage.outbox.service import enqueue
from tests.workers.test_worker_processes import WorkerLauncher
from workers.outbox_relay import LEASE_TTL_S, OutboxRelay

ROWS = 500
RELAY_BATCH = 50
# The killed worker's relay claims its default batch of 200, so it dies inside a batch.
KILL_ROWS = 1000
SUBJECT = subjects.task_event_subject("relay_test")
FIRST_PUBLISH_TIMEOUT_S = 60.0


class PublishLog:
    """Every message published on the event subjects, by Nats-Msg-Id, in arrival order."""

    def __init__(self) -> None:
        self.msg_ids: list[str] = []
        self.first = asyncio.Event()

    async def on_message(self, message: Msg) -> None:
        self.msg_ids.append((message.headers or {}).get("Nats-Msg-Id", ""))
        self.first.set()

    def counts(self) -> Counter[str]:
        return Counter(self.msg_ids)


@pytest.fixture
async def nats_client(nats_server: NatsServer) -> AsyncIterator[Client]:
    """A NATS connection with the product's streams created."""
    client = await connect(nats_server.url, name="outbox-relay-test")
    await ensure_streams(client.jetstream())
    yield client
    await client.close()


@pytest.fixture
async def publishes(nats_server: NatsServer) -> AsyncIterator[PublishLog]:
    """A PublishLog fed by a core subscription of its own connection."""
    client = await connect(nats_server.url, name="outbox-relay-test-subscriber")
    log = PublishLog()
    await client.subscribe(subjects.task_event_subject("*"), cb=log.on_message)
    await client.flush()
    yield log
    await client.close()


async def _enqueue_rows(db: Database, count: int, prefix: str) -> list[str]:
    """Write `count` outbox rows in one transaction and return their msg ids in id order."""
    now = datetime.now(UTC)
    msg_ids = [f"{prefix}-{n}" for n in range(count)]
    async with db.transaction() as session:
        for n, msg_id in enumerate(msg_ids):
            enqueue(session, subject=SUBJECT, msg_id=msg_id, payload={"n": n}, now=now)
    return msg_ids


async def _unpublished(db: Database) -> set[str]:
    async with db.reading() as session:
        rows = await session.scalars(
            select(OutboxMessage.msg_id).where(OutboxMessage.published_at.is_(None))
        )
        return set(rows)


async def _stored_messages(client: Client) -> int:
    info = await client.jetstream().stream_info(subjects.EVENTS_STREAM)
    return int(info.state.messages)


async def _settle(client: Client, log: PublishLog, expected: int) -> None:
    """Wait until `log` has seen `expected` messages, or two seconds of silence."""
    await client.flush()
    for _ in range(20):
        if len(log.msg_ids) >= expected:
            return
        await asyncio.sleep(0.1)


async def test_two_relays_publish_once(
    database_url: str,
    db: Database,
    nats_client: Client,
    publishes: PublishLog,
) -> None:
    msg_ids = await _enqueue_rows(db, ROWS, "two-relays")
    clock = ManualClock(datetime.now(UTC))
    first_db, second_db = Database(database_url), Database(database_url)
    js = nats_client.jetstream()
    first = OutboxRelay(first_db, js, clock, batch=RELAY_BATCH)
    second = OutboxRelay(second_db, js, clock, batch=RELAY_BATCH)

    try:
        totals = await asyncio.gather(first.drain(), second.drain())
    finally:
        await first.stop()
        await second.stop()
        await first_db.dispose()
        await second_db.dispose()
    await _settle(nats_client, publishes, ROWS)

    assert sum(totals) == ROWS
    if db.dialect == "postgresql":
        # Both relays published: rows the other one had claimed were skipped, not waited for.
        assert min(totals) > 0, totals
    else:
        # SQLite: the relay without the lease publishes nothing.
        assert sorted(totals) == [0, ROWS]
    counts = publishes.counts()
    assert set(counts) == set(msg_ids)
    assert {msg_id: count for msg_id, count in counts.items() if count != 1} == {}
    assert await _unpublished(db) == set()
    assert await _stored_messages(nats_client) == ROWS


async def test_killed_relay_rows_published_again(
    database_url: str,
    db: Database,
    nats_client: Client,
    publishes: PublishLog,
    launcher: WorkerLauncher,
) -> None:
    # The worker's relay publishes rows written after it started, and dies while doing so.
    worker = await launcher.start(sweep_interval_s=3600.0)
    msg_ids = await _enqueue_rows(db, KILL_ROWS, "killed-relay")
    await asyncio.wait_for(publishes.first.wait(), FIRST_PUBLISH_TIMEOUT_S)
    worker.process.kill()
    assert await worker.process.wait() == -signal.SIGKILL
    killed_at = datetime.now(UTC)
    await _settle(nats_client, publishes, KILL_ROWS)

    sent_before_kill = set(publishes.msg_ids)
    unmarked = await _unpublished(db)
    sent_not_marked = sent_before_kill & unmarked
    assert unmarked, "the killed relay had published and marked every row"
    assert sent_not_marked, "no row was published and left unmarked by the kill"

    clock = ManualClock(killed_at)
    relay_db = Database(database_url)
    relay = OutboxRelay(relay_db, nats_client.jetstream(), clock)
    try:
        if db.dialect == "sqlite":
            # The dead worker's lease holds until it expires.
            assert await relay.relay_once() == 0
            clock.advance(timedelta(seconds=LEASE_TTL_S + 1))
        republished = await relay.drain()
    finally:
        await relay.stop()
        await relay_db.dispose()
    await _settle(nats_client, publishes, len(sent_before_kill) + len(unmarked))

    assert republished == len(unmarked)
    assert await _unpublished(db) == set()
    counts = publishes.counts()
    assert set(counts) == set(msg_ids)
    twice = {msg_id for msg_id, count in counts.items() if count == 2}
    assert twice == sent_not_marked
    assert max(counts.values()) == 2
    # JetStream kept one copy of each row: the second publish had the same Nats-Msg-Id.
    assert await _stored_messages(nats_client) == KILL_ROWS


async def test_failed_row_ends_batch(
    db: Database, nats_client: Client, publishes: PublishLog
) -> None:
    """A row JetStream rejects is counted as failed and the rows before it are marked. The
    rows after it stay unmarked and go out with the next batch, stored once each."""
    before = await _enqueue_rows(db, 3, "before")
    now = datetime.now(UTC)
    async with db.transaction() as session:
        # No stream takes this subject, so JetStream replies that it has no responders.
        enqueue(session, subject="gd.nowhere.relay_test", msg_id="rejected", payload={}, now=now)
    after = await _enqueue_rows(db, 3, "after")
    relay = OutboxRelay(db, nats_client.jetstream(), ManualClock(now), batch=RELAY_BATCH)

    try:
        with pytest.raises(NoStreamResponseError):
            await relay.relay_once()
        unmarked_after_failure = await _unpublished(db)
        rejected = await _outbox_row(db, "rejected")
        async with db.transaction() as session:
            await session.execute(
                update(OutboxMessage).where(OutboxMessage.id == rejected.id).values(subject=SUBJECT)
            )
        republished = await relay.drain()
    finally:
        await relay.stop()
    await _settle(nats_client, publishes, len(before) + 1 + 2 * len(after))

    assert unmarked_after_failure == {"rejected", *after}
    assert rejected.attempts == 1
    assert "NoStreamResponseError" in (rejected.last_error or "")
    assert republished == 1 + len(after)
    assert await _unpublished(db) == set()
    # The rows after the rejected one went out before it and again after it, in id order.
    assert publishes.msg_ids == [*before, *after, "rejected", *after]
    assert await _stored_messages(nats_client) == len(before) + 1 + len(after)


async def _outbox_row(db: Database, msg_id: str) -> OutboxMessage:
    async with db.reading() as session:
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.msg_id == msg_id))
        assert row is not None
        return row
