"""Writing to and draining the outbox."""

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.outbox.models import OutboxMessage

log = logging.getLogger(__name__)


def enqueue(
    session: AsyncSession, *, subject: str, msg_id: str, payload: dict[str, Any], now: datetime
) -> OutboxMessage:
    """Add a message to the outbox inside the caller's transaction."""
    message = OutboxMessage(
        subject=subject, msg_id=msg_id, payload=payload, created_at=now, attempts=0
    )
    session.add(message)
    return message


async def fetch_unpublished(db: Database, *, limit: int) -> list[OutboxMessage]:
    """Return up to `limit` unpublished messages, oldest first."""
    async with db.reading() as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.published_at.is_(None))
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        return list(rows)


async def mark_published(db: Database, ids: list[int], *, now: datetime) -> None:
    """Record that the messages with `ids` were stored by JetStream."""
    if not ids:
        return
    async with db.transaction() as session:
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(published_at=now)
        )


async def record_failure(db: Database, message_id: int, *, error: str) -> None:
    """Count a failed publish attempt and keep its error for operators."""
    async with db.transaction() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(attempts=OutboxMessage.attempts + 1, last_error=error[:2000])
        )
