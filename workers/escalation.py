"""The escalation sweep, run on an interval by APScheduler.

Deadlines live in the database (`tasks.next_step_at`), so the scheduler
keeps no state of its own: a restarted worker's first sweep fires whatever
came due while it was down. On SQLite one worker at a time sweeps, holding
a lease; on PostgreSQL every worker sweeps and row locks keep each step to
one firing.
"""

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from griddispatch.clock import Clock
from storage.db import Database
from storage.escalation.lease import SWEEP_LEASE, acquire_lease, release_lease
from storage.escalation.policy import Escalation
from storage.escalation.service import FiredStep, recompute_provisional, sweep

log = logging.getLogger(__name__)

SWEEP_JOB_ID = "escalation-sweep"
RECOMPUTE_JOB_ID = "provisional-deadlines"
RECOMPUTE_INTERVAL_S = 3600.0
MIN_LEASE_S = 30.0


class EscalationWorker:
    """Runs escalation sweeps on an interval and on demand."""

    def __init__(
        self,
        db: Database,
        escalation: Escalation,
        clock: Clock,
        *,
        interval_s: float,
        on_fired: Callable[[], None] | None = None,
    ) -> None:
        self._db = db
        self._escalation = escalation
        self._clock = clock
        self._interval_s = interval_s
        self._on_fired = on_fired
        self._lock = asyncio.Lock()
        self._stopping = False
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    async def _may_sweep(self) -> bool:
        if self._db.dialect != "sqlite":
            return True
        ttl_s = max(MIN_LEASE_S, 3 * self._interval_s)
        return await acquire_lease(
            self._db, name=SWEEP_LEASE, holder=self.holder, ttl_s=ttl_s, now=self._clock.now()
        )

    async def sweep_once(self) -> list[FiredStep]:
        """Run one sweep now and return the steps it fired; sweeps in a process never overlap."""
        async with self._lock:
            if not await self._may_sweep():
                log.debug("another worker holds the sweep lease; skipping this sweep")
                return []
            started = time.perf_counter()
            fired = await sweep(
                self._db,
                escalation=self._escalation,
                now=self._clock.now(),
                should_stop=lambda: self._stopping,
            )
            elapsed_ms = (time.perf_counter() - started) * 1000
        if fired:
            log.info("sweep fired steps=%d duration_ms=%.0f", len(fired), elapsed_ms)
            if self._on_fired is not None:
                self._on_fired()
        return fired

    async def recompute_once(self) -> int:
        """Reload the calendar files and fix provisional deadlines they now cover."""
        self._escalation.calendar.reload()
        return await recompute_provisional(
            self._db, escalation=self._escalation, now=self._clock.now()
        )

    def schedule(self, scheduler: AsyncIOScheduler) -> None:
        """Add sweeps every `interval_s` and the hourly provisional-deadline check.

        A late run still runs (no misfire grace limit) and overlapping runs merge.
        """
        scheduler.add_job(
            run_logged,
            "interval",
            args=[self.sweep_once, "sweep"],
            seconds=self._interval_s,
            id=SWEEP_JOB_ID,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )
        scheduler.add_job(
            run_logged,
            "interval",
            args=[self.recompute_once, "deadline recompute"],
            seconds=RECOMPUTE_INTERVAL_S,
            id=RECOMPUTE_JOB_ID,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )
        log.info(
            "escalation sweeps scheduled interval_s=%.1f holder=%s", self._interval_s, self.holder
        )

    async def stop(self) -> None:
        """Let a running sweep commit its batch in hand, then hand the SQLite lease on."""
        self._stopping = True
        async with self._lock:
            if self._db.dialect == "sqlite":
                await release_lease(self._db, name=SWEEP_LEASE, holder=self.holder)
        log.info("escalation worker stopped")


async def run_logged(job: Callable[[], Awaitable[object]], name: str) -> None:
    """Run a scheduled job, logging its failure; the scheduler runs it again at its next time."""
    try:
        await job()
    except Exception:
        log.exception("%s failed; it runs again at its next time", name)
