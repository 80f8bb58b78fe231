"""The worker component: escalation sweeps, daily digests and the outbox relay."""

import logging
from datetime import time

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from nats.aio.client import Client

from griddispatch.clock import Clock
from griddispatch.nats_connection import connect
from griddispatch.streams import ensure_streams
from griddispatch.workcalendar import CHINA
from storage.db import Database
from storage.escalation.policy import Escalation
from workers.digests import DEFAULT_DIGEST_TIME, schedule_digests
from workers.escalation import EscalationWorker
from workers.outbox_relay import OutboxRelay

log = logging.getLogger(__name__)


class WorkerService:
    """Sweeps deadlines on an interval and relays the outbox to JetStream."""

    def __init__(
        self,
        *,
        nats_url: str,
        db: Database,
        escalation: Escalation,
        clock: Clock,
        sweep_interval_s: float,
        digest_time: time = DEFAULT_DIGEST_TIME,
        schedule_jobs: bool = True,
    ) -> None:
        self._nats_url = nats_url
        self._db = db
        self._escalation = escalation
        self._clock = clock
        self._sweep_interval_s = sweep_interval_s
        self._digest_time = digest_time
        self._schedule_jobs = schedule_jobs
        self._scheduler: AsyncIOScheduler | None = None
        self._client: Client | None = None
        self.relay: OutboxRelay | None = None
        self.escalation_worker: EscalationWorker | None = None

    async def start(self) -> None:
        """Connect to NATS, then start the relay and the sweep schedule."""
        self._client = await connect(self._nats_url, name="griddispatch-worker")
        js = self._client.jetstream()
        await ensure_streams(js)
        relay = OutboxRelay(self._db, js, self._clock)
        self.relay = relay
        self.escalation_worker = EscalationWorker(
            self._db,
            self._escalation,
            self._clock,
            interval_s=self._sweep_interval_s,
            on_fired=relay.wake,
        )
        relay.start()
        if self._schedule_jobs:
            scheduler = AsyncIOScheduler(timezone=CHINA)
            self.escalation_worker.schedule(scheduler)
            schedule_digests(scheduler, self._db, self._clock, at=self._digest_time)
            scheduler.start()
            self._scheduler = scheduler
        log.info("worker started")

    async def stop(self) -> None:
        """Stop sweeping, stop relaying, and close the NATS connection."""
        if self._scheduler is not None:
            # Pause first: shutting down would cancel a sweep in flight, while pausing lets
            # it finish, and EscalationWorker.stop waits for it.
            self._scheduler.pause()
        if self.escalation_worker is not None:
            await self.escalation_worker.stop()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self.relay is not None:
            await self.relay.stop()
        if self._client is not None:
            await self._client.drain()
            self._client = None
        log.info("worker stopped")
