"""The routine inspection plan job: generate, release, re-grade and warn, once a day.

Each run, under a lease so that one worker at a time does it:
1. generates the entries and routine tasks of the current month (a no-op
   after the first run of the month, and a catch-up after missed runs);
2. queues the assignment notifications of tasks whose release time came;
3. lowers raised risk grades after a clean run;
4. warns the leader of every area whose projected coverage falls short.
"""

import logging
import re
import socket
import uuid
from dataclasses import dataclass

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from griddispatch.clock import Clock
from griddispatch.errors import ConfigurationError
from griddispatch.workcalendar import CHINA
from storage.db import Database
from storage.escalation.lease import acquire_lease, release_lease
from storage.escalation.policy import Escalation
from storage.plans.config import PlanSet
from storage.plans.coverage import check_warnings
from storage.plans.generate import GenerationReport, generate_month
from storage.plans.grades import lower_after_clean_runs
from storage.plans.periods import month_of
from storage.plans.progress import release_due
from workers.escalation import run_logged

log = logging.getLogger(__name__)

PLAN_JOB_ID = "inspection-plans"
PLAN_LEASE = "inspection-plans"
DEFAULT_PLAN_CRON = "30 8 * * *"
# Longer than a run takes for 100,000 subjects, so the lease does not lapse mid-run.
LEASE_TTL_S = 600.0


_CRON_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _weekday_names(field: str) -> str:
    """Rewrite crontab weekday numbers (0 or 7 is Sunday) as names.

    APScheduler 3 reads numbers as 0 = Monday, so "1-5" would run Tuesday to
    Saturday; names mean the same to both.
    """
    parts = []
    for part in field.split(","):
        match = re.fullmatch(r"([0-7])(?:-([0-7]))?", part)
        if match is None:
            parts.append(part)
            continue
        first = int(match.group(1))
        last = int(match.group(2) or first)
        parts.extend(_CRON_WEEKDAYS[day] for day in range(first, last + 1))
    return ",".join(dict.fromkeys(parts))


def crontab_trigger(cron: str) -> CronTrigger:
    """Build a trigger from a standard five-field crontab line, China Standard Time.

    Raises ConfigurationError naming the line when it is invalid.
    """
    fields = cron.split()
    if len(fields) != 5:
        raise ConfigurationError(
            "plan cron {cron!r} is invalid: give five fields, minute hour day month weekday",
            cron=cron,
        )
    minute, hour, day, month, weekday = fields
    try:
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_weekday_names(weekday),
            timezone=CHINA,
        )
    except ValueError as exc:
        raise ConfigurationError(
            "plan cron {cron!r} is invalid: {error}", cron=cron, error=exc
        ) from exc


@dataclass(frozen=True)
class PlanRun:
    """Counts from one run of the plan job."""

    generated: GenerationReport
    released: int
    lowered: int
    warnings: int


class PlanWorker:
    """Runs the daily plan job against one database."""

    def __init__(self, db: Database, plans: PlanSet, escalation: Escalation, clock: Clock) -> None:
        self._db = db
        self._plans = plans
        self._escalation = escalation
        self._clock = clock
        self._holder = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"

    async def run_once(self) -> PlanRun | None:
        """Run every step now; return None without doing anything if another worker runs it."""
        now = self._clock.now()
        if not await acquire_lease(
            self._db, name=PLAN_LEASE, holder=self._holder, ttl_s=LEASE_TTL_S, now=now
        ):
            log.info(
                "plan job skipped because another worker has the lease holder=%s", self._holder
            )
            return None
        try:
            generated = await generate_month(
                self._db, self._plans, self._escalation, month=month_of(now), now=now
            )
            released = await release_due(self._db, now=now)
            lowered = await lower_after_clean_runs(self._db, self._plans, now=now)
            warnings = await check_warnings(self._db, self._plans, self._escalation, now=now)
        finally:
            await release_lease(self._db, name=PLAN_LEASE, holder=self._holder)
        run = PlanRun(generated, released, lowered, len(warnings))
        log.info(
            "plan job ran month=%s entries=%d tasks=%d released=%d lowered=%d warnings=%d",
            generated.month.isoformat(),
            generated.entries,
            generated.tasks,
            released,
            lowered,
            run.warnings,
        )
        return run

    def schedule(self, scheduler: AsyncIOScheduler, *, cron: str) -> None:
        """Run the job on the crontab schedule `cron`, China Standard Time."""
        scheduler.add_job(
            run_logged,
            crontab_trigger(cron),
            args=[self.run_once, "inspection plan job"],
            id=PLAN_JOB_ID,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
        )
        log.info("inspection plan job scheduled cron=%r", cron)
