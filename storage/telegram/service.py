"""Recording what the bot delivered, and inspectors it cannot reach."""

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from storage.db import Database
from storage.registry.models import Inspector
from storage.tasks.models import Task
from storage.tasks.service import SYSTEM, record_event
from storage.telegram.models import Delivery

log = logging.getLogger(__name__)


async def is_delivered(db: Database, notification_id: str) -> bool:
    """Return whether a notification was already sent."""
    async with db.reading() as session:
        return await session.get(Delivery, notification_id) is not None


async def record_delivery(db: Database, delivery: Delivery) -> None:
    """Store a sent notification; a second record of the same notification is ignored."""
    try:
        async with db.transaction() as session:
            session.add(delivery)
            if delivery.task_id is None:
                return
            task = await session.get(Task, delivery.task_id)
            assert task is not None
            await record_event(
                session,
                task,
                kind="delivered",
                actor=SYSTEM,
                now=delivery.sent_at,
                detail={
                    "inspector_id": delivery.inspector_id,
                    "notification": delivery.kind,
                    "message_id": delivery.message_id,
                },
            )
    except IntegrityError:
        log.info("delivery already recorded notification=%s", delivery.notification_id)


async def task_messages(db: Database, task_id: int) -> list[Delivery]:
    """Return every message sent about a task, oldest first, to edit them when it changes."""
    async with db.reading() as session:
        rows = await session.scalars(
            select(Delivery).where(Delivery.task_id == task_id).order_by(Delivery.sent_at)
        )
        return list(rows)


async def record_not_delivered(
    db: Database, *, task_id: int, inspector_id: int, reason: str, now: datetime
) -> None:
    """Add a trail entry saying a notification could not be delivered, and why."""
    async with db.transaction() as session:
        task = await session.get(Task, task_id)
        if task is None:
            return
        await record_event(
            session,
            task,
            kind="not_delivered",
            actor=SYSTEM,
            now=now,
            detail={"inspector_id": inspector_id, "reason": reason},
        )


async def mark_unreachable(db: Database, inspector_id: int) -> None:
    """Mark an inspector as unreachable on Telegram (they blocked the bot)."""
    async with db.transaction() as session:
        inspector = await session.get(Inspector, inspector_id)
        if inspector is not None:
            inspector.reachable = False
    log.warning("inspector unreachable on telegram inspector=%s", inspector_id)
