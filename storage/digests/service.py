"""Queueing the daily digest of every grid leader and county staff member, once a day each."""

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from griddispatch import subjects
from griddispatch.messages import Notification, NotificationKind
from griddispatch.workcalendar import CHINA
from storage.db import Database
from storage.digests.queries import AreaSummary, area_of, summarize_area
from storage.outbox.models import OutboxMessage
from storage.outbox.service import enqueue
from storage.registry.models import Inspector, Role
from storage.stats.service import AreaRates, area_rates

log = logging.getLogger(__name__)

DIGEST_ROLES = (Role.GRID_LEADER.value, Role.COUNTY.value)


def digest_id(day: date, inspector_id: int) -> str:
    """Return the notification id of one recipient's digest for one day."""
    return f"digest-{day.isoformat()}-{inspector_id}"


async def _recipients(db: Database) -> list[int]:
    async with db.reading() as session:
        rows = await session.scalars(
            select(Inspector.id)
            .where(
                Inspector.role.in_(DIGEST_ROLES),
                Inspector.telegram_chat_id.is_not(None),
                Inspector.reachable.is_(True),
            )
            .order_by(Inspector.id)
        )
        return list(rows)


async def queue_daily_digests(db: Database, *, day: date, now: datetime) -> int:
    """Queue one digest per recipient for `day`; return how many were queued now.

    The digest's id is its outbox key, so a second run for the same day (a
    second worker, a restart) queues nothing again.
    """
    queued = 0
    for inspector_id in await _recipients(db):
        notification_id = digest_id(day, inspector_id)
        notification = Notification(
            notification_id=notification_id,
            kind=NotificationKind.DIGEST,
            inspector_id=inspector_id,
            digest_date=day,
        )
        try:
            async with db.transaction() as session:
                if await session.scalar(
                    select(OutboxMessage.id).where(OutboxMessage.msg_id == notification_id)
                ):
                    continue
                enqueue(
                    session,
                    subject=subjects.notify_subject(inspector_id),
                    msg_id=notification_id,
                    payload=notification.model_dump(mode="json"),
                    now=now,
                )
        except IntegrityError:
            log.info(
                "digest already queued by another worker inspector=%s day=%s", inspector_id, day
            )
            continue
        queued += 1
    log.info("daily digests queued day=%s count=%d", day, queued)
    return queued


@dataclass(frozen=True)
class Digest:
    """A digest's content: task counts now and the three rates of the month so far."""

    summary: AreaSummary
    rates: AreaRates


def month_start(now: datetime) -> datetime:
    """Return the start of `now`'s month in China Standard Time."""
    local = now.astimezone(CHINA)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


async def digest_for(db: Database, inspector_id: int, *, now: datetime) -> Digest | None:
    """Return the digest of the area an inspector oversees, or None if they have no area."""
    async with db.reading() as session:
        inspector = await session.get(Inspector, inspector_id)
        if inspector is None:
            return None
        area = await area_of(session, inspector)
        if area is None:
            return None
        summary = await summarize_area(session, area, now)
    rates = await area_rates(db, area.code, start=month_start(now), end=now + timedelta(seconds=1))
    return Digest(summary=summary, rates=rates)
