"""The escalation sweep, run on an interval by APScheduler.

Deadlines live in the database (`tasks.next_step_at`), so the scheduler
keeps no state of its own: a restarted worker's first sweep fires whatever
came due while it was down.
"""

import asyncio
import logging
import time
from collections.abc import Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from griddispatch.clock import Clock
from storage.db import Database
from storage.escalation.policy import EscalationPolicy
from storage.escalation.service import FiredStep, sweep

log = logging.getLogger(__name__)

SWEEP_JOB_ID = "escalation-sweep"


class EscalationWorker:
    """Runs escalation sweeps on an interval and on demand."""

    def __init__(
        self,
        db: Database,
        policy: EscalationPolicy,
        clock: Clock,
        *,
        interval_s: float,
        on_fired: Callable[[], None] | None = None,
    ) -> None:
        self._db = db
        self._policy = policy
        self._clock = clock
        self._interval_s = interval_s
        self._on_fired = on_fired
        self._lock = asyncio.Lock()
        self._scheduler: AsyncIOScheduler | None = None

    async def sweep_once(self) -> list[FiredStep]:
        """Run one sweep now and return the steps it fired; sweeps never overlap."""
        async with self._lock:
            started = time.perf_counter()
            fired = await sweep(self._db, policy=self._policy, now=self._clock.now())
            elapsed_ms = (time.perf_counter() - started) * 1000
        if fired:
            log.info("sweep fired steps=%d duration_ms=%.0f", len(fired), elapsed_ms)
            if self._on_fired is not None:
                self._on_fired()
        return fired

    async def _scheduled_sweep(self) -> None:
        try:
            await self.sweep_once()
        except Exception:
            log.exception("sweep failed; the next sweep retries in %.0f s", self._interval_s)

    def start(self) -> None:
        """Schedule sweeps every `interval_s`; a late run still runs, overlapping runs merge."""
        scheduler = AsyncIOScheduler()
        scheduler.add_job(
            self._scheduled_sweep,
            "interval",
            seconds=self._interval_s,
            id=SWEEP_JOB_ID,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )
        scheduler.start()
        self._scheduler = scheduler
        log.info("escalation worker started interval_s=%.0f", self._interval_s)

    async def stop(self) -> None:
        """Stop scheduling and wait for a running sweep to finish."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is None:
            return
        scheduler.shutdown(wait=False)
        async with self._lock:
            pass
        log.info("escalation worker stopped")
