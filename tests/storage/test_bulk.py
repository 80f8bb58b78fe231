"""Rows inserted in bulk get their ids before the INSERT, in order, and never twice."""

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from storage.bulk import assign_ids, in_values, insert_rows
from storage.db import Database
from storage.directives.models import Directive
from storage.outbox.models import OutboxMessage

NOW = datetime(2026, 3, 6, 8, 30, tzinfo=UTC)


def _outbox_rows(prefix: str, count: int) -> list[dict[str, object]]:
    return [
        {
            "subject": "gd.event.task.bulk_test",
            "msg_id": f"{prefix}-{n}",
            "payload": {"n": n},
            "created_at": NOW,
            "attempts": 0,
        }
        for n in range(count)
    ]


def _directive(message_id: str) -> Directive:
    return Directive(
        message_id=message_id,
        title=message_id,
        body="",
        priority="normal",
        target_kind="inspector",
        target_code="JG0010",
        issued_by="test",
        created_at=NOW,
    )


async def _msg_ids_by_id(db: Database) -> dict[int, str]:
    async with db.reading() as session:
        rows = await session.execute(select(OutboxMessage.id, OutboxMessage.msg_id))
        return {row_id: msg_id for row_id, msg_id in rows}


async def test_insert_rows_ids_in_order(db: Database) -> None:
    async with db.transaction() as session:
        first = await insert_rows(session, OutboxMessage, _outbox_rows("a", 5), with_ids=True)
        second = await insert_rows(session, OutboxMessage, _outbox_rows("b", 3), with_ids=True)

    stored = await _msg_ids_by_id(db)
    assert [stored[row_id] for row_id in first] == [f"a-{n}" for n in range(5)]
    assert [stored[row_id] for row_id in second] == [f"b-{n}" for n in range(3)]
    assert first == sorted(first)
    assert max(first) < min(second)


async def test_assigned_ids_stored(db: Database) -> None:
    directives = [_directive(f"bulk-{n}") for n in range(4)]
    async with db.transaction() as session:
        await assign_ids(session, Directive, directives)
        assigned = [directive.id for directive in directives]
        session.add_all(directives)

    async with db.reading() as session:
        rows = await session.execute(select(Directive.id, Directive.message_id))
        stored = {message_id: row_id for row_id, message_id in rows}
    assert assigned == sorted(assigned)
    assert len(set(assigned)) == 4
    assert [stored[f"bulk-{n}"] for n in range(4)] == assigned


async def test_concurrent_writers_distinct_ids(database_url: str, db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("SQLite lets one writer in at a time")
    writers = [Database(database_url) for _ in range(3)]

    async def write(writer: Database, prefix: str) -> list[int]:
        ids: list[int] = []
        for round_number in range(5):
            async with writer.transaction() as session:
                rows = _outbox_rows(f"{prefix}-{round_number}", 20)
                ids += await insert_rows(session, OutboxMessage, rows, with_ids=True)
        return ids

    try:
        results = await asyncio.gather(
            *(write(writer, f"w{n}") for n, writer in enumerate(writers))
        )
    finally:
        for writer in writers:
            await writer.dispose()

    every_id = [row_id for ids in results for row_id in ids]
    assert len(every_id) == len(set(every_id)) == 300
    assert set(await _msg_ids_by_id(db)) == set(every_id)


def test_in_values_padding() -> None:
    assert in_values([]) == []
    assert in_values([7]) == [7]
    assert in_values([1, 2, 3]) == [1, 2, 3, 3]
    padded = in_values(range(1, 130))
    assert len(padded) == 256
    assert set(padded) == set(range(1, 130))
    assert len({len(in_values(range(n))) for n in range(1, 201)}) == 9
