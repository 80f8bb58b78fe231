"""Inserting and looking up many rows with few statements, and giving new rows their ids.

SQLAlchemy sends the new rows of one flush as multi-row INSERTs when it can
get their generated ids back in insert order. PostgreSQL can, SQLite
cannot, so on SQLite the ORM inserts such rows one statement at a time. On
PostgreSQL each multi-row INSERT of a new length is a new statement text,
which the driver prepares with a round trip of its own.

So rows inserted in bulk get their ids before the INSERT:

- SQLite: a write transaction holds the database's only write lock from its
  BEGIN IMMEDIATE (see storage.db), so the next ids can be taken from the
  largest id in the table without a race.
- PostgreSQL: the ids are drawn from the table's sequence in one query.

Rows with ids set need nothing back from the INSERT, which then goes out as
one executemany of a single statement text.

`insert_rows` skips ORM objects altogether for rows that nothing in the
transaction changes later, such as trail entries and outbox messages.

`in_values` serves the IN lists of lookups made for a whole batch: padded
to a few lengths, they render a few statement texts, each prepared once.
"""

from collections.abc import Collection, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

Value = TypeVar("Value")


class _WithId(Protocol):
    id: Any


async def assign_ids(session: AsyncSession, model: Any, rows: Sequence[_WithId]) -> None:
    """Set the ids of new `rows` of `model` in order. A single row gets its id from the database.

    Call it before adding the rows to the session: on SQLite the query
    flushes rows already pending, so their ids are counted.
    """
    if len(rows) < 2:
        return
    for row, row_id in zip(rows, await _new_ids(session, model, len(rows)), strict=True):
        row.id = row_id


async def insert_rows(
    session: AsyncSession, model: Any, rows: list[dict[str, Any]], *, with_ids: bool
) -> list[int]:
    """Insert `rows`, column values by attribute name, as one executemany INSERT.

    With `with_ids`, give the rows new ids and return them in the order of
    `rows`, else return an empty list. Objects already pending in the session
    are flushed first, so ids keep the order in which the caller created the rows.
    """
    if not rows:
        return []
    await session.flush()

    if not with_ids:
        await session.execute(insert(model), rows)
        return []
    ids = await _new_ids(session, model, len(rows))
    numbered = [{**row, "id": row_id} for row, row_id in zip(rows, ids, strict=True)]
    await session.execute(insert(model), numbered)
    return ids


def in_values(values: Collection[Value]) -> list[Value]:
    """Return `values` as a list padded to a power of two with copies of one of them.

    An IN list of n values renders a statement text of its own for each n.
    Padded, a batch's lookups render one of a few texts, which the driver
    keeps prepared, and the copies do not change what the IN matches.
    """
    listed = list(values)
    if not listed:
        return listed
    size = 1 << (len(listed) - 1).bit_length()
    return listed + [listed[-1]] * (size - len(listed))


async def _new_ids(session: AsyncSession, model: Any, count: int) -> list[int]:
    """Return `count` unused ids of `model`'s table, in increasing order."""
    if _is_sqlite(session):
        first = await _first_free_id(session, model)
        return list(range(first, first + count))
    return await _next_sequence_values(session, model, count)


async def _first_free_id(session: AsyncSession, model: Any) -> int:
    """Return the id after the largest in `model`'s table; safe under SQLite's write lock."""
    return int(await session.scalar(select(func.max(model.id))) or 0) + 1


async def _next_sequence_values(session: AsyncSession, model: Any, count: int) -> list[int]:
    """Draw `count` values from the sequence behind the id column of `model`'s table."""
    sequence = func.pg_get_serial_sequence(model.__table__.name, "id")
    values = await session.scalars(
        select(func.nextval(sequence)).select_from(func.generate_series(1, count))
    )
    return sorted(values)


def _is_sqlite(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "sqlite"
