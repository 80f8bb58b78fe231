"""Giving new rows their ids before a flush, so SQLite inserts them in one statement.

SQLAlchemy sends the new rows of one flush as multi-row INSERTs when it can
get their generated ids back in insert order. PostgreSQL can, SQLite
cannot, so on SQLite the ORM inserts such rows one statement at a time.
A write transaction on SQLite holds the database's only write lock from its
BEGIN IMMEDIATE (see storage.db). So the next ids can be taken from the
largest id in the table without a race, and rows with ids set need nothing
back from the INSERT.
"""

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession


class _WithId(Protocol):
    id: Any


async def assign_ids(session: AsyncSession, model: Any, rows: Sequence[_WithId]) -> None:
    """On SQLite, set the ids of new `rows` of `model`; elsewhere leave them to the database.

    Call it before adding the rows to the session: the query flushes rows
    already pending, so their ids are counted.
    """
    if len(rows) < 2 or session.bind is None or session.bind.dialect.name != "sqlite":
        return
    largest = await session.scalar(select(func.max(model.id)))
    first = int(largest or 0) + 1
    for offset, row in enumerate(rows):
        row.id = first + offset
