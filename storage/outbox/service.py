"""Writing to and draining the outbox."""

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.bulk import in_values, insert_rows
from storage.db import Database
from storage.outbox.models import OutboxMessage

log = logging.getLogger(__name__)


def enqueue(
    session: AsyncSession, *, subject: str, msg_id: str, payload: dict[str, Any], now: datetime
) -> OutboxMessage:
    """Add a message to the outbox inside the caller's transaction."""
    message = outbox_message(subject=subject, msg_id=msg_id, payload=payload, now=now)
    session.add(message)
    return message


def outbox_message(
    *, subject: str, msg_id: str, payload: dict[str, Any], now: datetime
) -> OutboxMessage:
    """Build an outbox message for the caller to add to its session."""
    return OutboxMessage(**outbox_row(subject=subject, msg_id=msg_id, payload=payload, now=now))


def outbox_row(
    *, subject: str, msg_id: str, payload: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """Return the column values of a new outbox message, for `enqueue_rows`."""
    return {
        "subject": subject,
        "msg_id": msg_id,
        "payload": payload,
        "created_at": now,
        "published_at": None,
        "attempts": 0,
        "last_error": None,
    }


async def enqueue_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Add outbox messages built by `outbox_row` with one INSERT, in the caller's transaction."""
    await insert_rows(session, OutboxMessage, rows, with_ids=False)


@dataclass(frozen=True)
class Pending:
    """An unpublished outbox message: what the relay publishes and the id it marks."""

    id: int
    subject: str
    msg_id: str
    payload: dict[str, Any]


def _unpublished(limit: int) -> Select[tuple[int, str, str, dict[str, Any]]]:
    """Select the columns of up to `limit` unpublished messages, oldest first.

    The relay only reads them, so they come as plain rows, without the ORM's
    identity map and change tracking.
    """
    return (
        select(OutboxMessage.id, OutboxMessage.subject, OutboxMessage.msg_id, OutboxMessage.payload)
        .where(OutboxMessage.published_at.is_(None))
        .order_by(OutboxMessage.id)
        .limit(limit)
    )


async def fetch_unpublished(db: Database, *, limit: int) -> list[Pending]:
    """Return up to `limit` unpublished messages, oldest first."""
    async with db.reading() as session:
        rows = await session.execute(_unpublished(limit))
        return [Pending(*row) for row in rows]


async def claim_unpublished(session: AsyncSession, *, limit: int) -> list[Pending]:
    """Lock up to `limit` unpublished messages, oldest first, for the caller's transaction.

    PostgreSQL only: `FOR UPDATE SKIP LOCKED` passes over the rows another
    relay's open transaction holds, so two relays never claim the same row.
    The locks end with the transaction, and with the connection when the
    claiming process dies, so the rows of a dead relay become claimable again.
    """
    rows = await session.execute(_unpublished(limit).with_for_update(skip_locked=True))
    return [Pending(*row) for row in rows]


async def set_published(session: AsyncSession, ids: list[int], *, now: datetime) -> None:
    """Record, in the caller's transaction, that JetStream stored the messages with `ids`."""
    if ids:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(in_values(ids)))
            .values(published_at=now)
        )


async def mark_published(db: Database, ids: list[int], *, now: datetime) -> None:
    """Record that the messages with `ids` were stored by JetStream."""
    if not ids:
        return
    async with db.transaction() as session:
        await set_published(session, ids, now=now)


async def count_failure(session: AsyncSession, message_id: int, *, error: str) -> None:
    """Count a failed publish attempt and keep its error, in the caller's transaction."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(attempts=OutboxMessage.attempts + 1, last_error=error[:2000])
    )


async def record_failure(db: Database, message_id: int, *, error: str) -> None:
    """Count a failed publish attempt and keep its error for operators."""
    async with db.transaction() as session:
        await count_failure(session, message_id, error=error)
