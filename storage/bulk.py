"""Inserting many new rows with few statements, and giving them their ids.

SQLAlchemy sends the new rows of one flush as multi-row INSERTs when it can
get their generated ids back in insert order. PostgreSQL can, SQLite
cannot, so on SQLite the ORM inserts such rows one statement at a time.
A write transaction on SQLite holds the database's only write lock from its
BEGIN IMMEDIATE (see storage.db). So the next ids can be taken from the
largest id in the table without a race, and rows with ids set need nothing
back from the INSERT.

`insert_rows` skips ORM objects altogether for rows that nothing in the
transaction changes later, such as trail entries and outbox messages.
"""

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession


class _WithId(Protocol):
    id: Any


async def assign_ids(session: AsyncSession, model: Any, rows: Sequence[_WithId]) -> None:
    """On SQLite, set the ids of new `rows` of `model`; elsewhere leave them to the database.

    Call it before adding the rows to the session: the query flushes rows
    already pending, so their ids are counted.
    """
    if len(rows) < 2 or not _is_sqlite(session):
        return
    first = await _first_free_id(session, model)
    for offset, row in enumerate(rows):
        row.id = first + offset


async def insert_rows(
    session: AsyncSession, model: Any, rows: list[dict[str, Any]], *, with_ids: bool
) -> list[int]:
    """Insert `rows`, column values by attribute name, as one executemany INSERT.

    With `with_ids`, return the new rows' ids in the order of `rows`, else an
    empty list. Objects already pending in the session are flushed first, so
    ids keep the order in which the caller created the rows.
    """
    if not rows:
        return []
    await session.flush()

    if not with_ids:
        await session.execute(insert(model), rows)
        return []
    if _is_sqlite(session):
        first = await _first_free_id(session, model)
        ids = list(range(first, first + len(rows)))
        numbered = [{**row, "id": row_id} for row, row_id in zip(rows, ids, strict=True)]
        await session.execute(insert(model), numbered)
        return ids
    statement = insert(model).returning(model.id, sort_by_parameter_order=True)
    return list(await session.scalars(statement, rows))


async def _first_free_id(session: AsyncSession, model: Any) -> int:
    """Return the id after the largest in `model`'s table; safe under SQLite's write lock."""
    return int(await session.scalar(select(func.max(model.id))) or 0) + 1


def _is_sqlite(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "sqlite"
