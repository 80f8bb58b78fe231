"""The daily digest job: an APScheduler cron job in China Standard Time."""

import logging
from datetime import time

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from griddispatch.clock import Clock
from griddispatch.workcalendar import CHINA
from storage.db import Database
from storage.digests.service import queue_daily_digests
from workers.escalation import run_logged

log = logging.getLogger(__name__)

DIGEST_JOB_ID = "daily-digests"
DEFAULT_DIGEST_TIME = time(8, 0)


async def send_digests_now(db: Database, clock: Clock) -> int:
    """Queue today's digests (China date); a second call on the same day queues none."""
    now = clock.now()
    return await queue_daily_digests(db, day=now.astimezone(CHINA).date(), now=now)


def schedule_digests(scheduler: AsyncIOScheduler, db: Database, clock: Clock, *, at: time) -> None:
    """Queue the digests every day at `at`, China Standard Time."""

    async def job() -> int:
        return await send_digests_now(db, clock)

    scheduler.add_job(
        run_logged,
        "cron",
        args=[job, "daily digests"],
        hour=at.hour,
        minute=at.minute,
        timezone=CHINA,
        id=DIGEST_JOB_ID,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=3600,
    )
    log.info("daily digests scheduled at=%s", at.strftime("%H:%M"))
