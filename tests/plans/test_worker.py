"""The plan job: its schedule, and two workers running it at once."""

import asyncio
from datetime import date
from pathlib import Path

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func, select

from griddispatch.clock import ManualClock
from griddispatch.errors import ConfigurationError
from storage.db import Database
from storage.plans.generate import ROUTINE_KIND, generate_month
from storage.tasks.models import Task
from tests.plans.support import (
    ESCALATION,
    PLANS,
    china,
    entries,
    import_small_registry_with_grades,
)
from workers.plans import PLAN_JOB_ID, PlanWorker, crontab_trigger


async def test_schedule_uses_cron_in_china_time(db: Database) -> None:
    scheduler = AsyncIOScheduler()
    worker = PlanWorker(db, PLANS, ESCALATION, ManualClock(china(date(2026, 1, 1))))

    worker.schedule(scheduler, cron="15 7 * * 1-5")

    job = scheduler.get_job(PLAN_JOB_ID)
    assert job is not None
    assert isinstance(job.trigger, CronTrigger)
    assert str(job.trigger.timezone) == "Asia/Shanghai"
    assert "hour='7'" in str(job.trigger)
    assert "minute='15'" in str(job.trigger)
    sunday = china(date(2026, 12, 6))
    next_run = job.trigger.get_next_fire_time(None, sunday)
    assert next_run.strftime("%a %H:%M") == "Mon 07:15"


def test_cron_weekday_numbers_follow_crontab() -> None:
    saturday = china(date(2026, 12, 5))

    weekdays = crontab_trigger("0 9 * * 1-5").get_next_fire_time(None, saturday)
    sunday = crontab_trigger("0 9 * * 0").get_next_fire_time(None, saturday)
    seven = crontab_trigger("0 9 * * 7").get_next_fire_time(None, saturday)

    assert weekdays.strftime("%a") == "Mon"
    assert sunday.strftime("%a") == "Sun"
    assert seven.strftime("%a") == "Sun"
    with pytest.raises(ConfigurationError, match="five fields"):
        crontab_trigger("0 9 * *")
    with pytest.raises(ConfigurationError, match="'0 99 \\* \\* \\*' is invalid"):
        crontab_trigger("0 99 * * *")


async def test_two_generators_make_no_duplicate(db: Database, tmp_path: Path) -> None:
    rows = await import_small_registry_with_grades(db, tmp_path)
    month = date(2026, 1, 1)

    reports = await asyncio.gather(
        generate_month(db, PLANS, ESCALATION, month=month, now=china(month)),
        generate_month(db, PLANS, ESCALATION, month=month, now=china(month)),
    )

    assert sum(report.tasks for report in reports) == len(rows)
    assert len(await entries(db)) == len(rows)
    async with db.reading() as session:
        tasks = await session.scalar(
            select(func.count()).select_from(Task).where(Task.kind == ROUTINE_KIND)
        )
    assert tasks == len(rows)


async def test_worker_run_reports_steps(db: Database, tmp_path: Path) -> None:
    rows = await import_small_registry_with_grades(db, tmp_path)
    clock = ManualClock(china(date(2026, 1, 5)))
    worker = PlanWorker(db, PLANS, ESCALATION, clock)

    first = await worker.run_once()
    second = await worker.run_once()

    assert first is not None and second is not None
    assert first.generated.tasks == len(rows)
    assert first.released > 0
    assert second.generated.tasks == 0
    assert second.released == 0
