"""The worker component: escalation sweeps, daily digests, lead callbacks and the outbox relay."""

import logging
from datetime import time

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from nats.aio.client import Client

from griddispatch.clock import Clock
from griddispatch.nats_connection import connect
from griddispatch.settings import Settings
from griddispatch.streams import ensure_streams
from griddispatch.workcalendar import CHINA
from storage.db import Database
from storage.escalation.policy import Escalation
from storage.plans.grades import plans_in
from workers.callbacks import CallbackWorker
from workers.digests import DEFAULT_DIGEST_TIME, schedule_digests
from workers.escalation import EscalationWorker
from workers.outbox_relay import OutboxRelay
from workers.plans import PlanWorker

log = logging.getLogger(__name__)


class WorkerService:
    """Sweeps deadlines, delivers lead callbacks, and relays the outbox to JetStream.

    Without `schedule_jobs` nothing runs on a timer: the callback worker still
    queues callbacks from task events, and the caller delivers them with
    `callback_worker.deliver_due()`.
    """

    def __init__(
        self,
        *,
        nats_url: str,
        db: Database,
        escalation: Escalation,
        clock: Clock,
        sweep_interval_s: float,
        settings: Settings,
        digest_time: time = DEFAULT_DIGEST_TIME,
        schedule_jobs: bool = True,
    ) -> None:
        self._nats_url = nats_url
        self._db = db
        self._escalation = escalation
        self._clock = clock
        self._sweep_interval_s = sweep_interval_s
        self._digest_time = digest_time
        self._settings = settings
        self._schedule_jobs = schedule_jobs
        self._scheduler: AsyncIOScheduler | None = None
        self._client: Client | None = None
        self.relay: OutboxRelay | None = None
        self.escalation_worker: EscalationWorker | None = None
        self.callback_worker: CallbackWorker | None = None
        self.plan_worker: PlanWorker | None = None

    async def start(self) -> None:
        """Connect to NATS, then start the relay, the callback worker and the schedule."""
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
        self.callback_worker = CallbackWorker(
            self._db, js, self._clock, self._settings, interval_s=self._settings.callback_interval_s
        )
        await self.callback_worker.start()
        self.plan_worker = PlanWorker(
            self._db, plans_in(self._settings.plan_dir), self._escalation, self._clock
        )
        if self._schedule_jobs:
            scheduler = AsyncIOScheduler(timezone=CHINA)
            self.escalation_worker.schedule(scheduler)
            schedule_digests(scheduler, self._db, self._clock, at=self._digest_time)
            self.callback_worker.schedule(scheduler)
            self.plan_worker.schedule(scheduler, cron=self._settings.plan_cron)
            scheduler.start()
            self._scheduler = scheduler
        log.info("worker started")

    async def stop(self) -> None:
        """Stop sweeping and delivering callbacks, stop relaying, and close the NATS connection."""
        if self._scheduler is not None:
            # Pause first: shutting down would cancel a sweep in flight, while pausing lets
            # it finish, and EscalationWorker.stop waits for it.
            self._scheduler.pause()
        if self.escalation_worker is not None:
            await self.escalation_worker.stop()
        if self.callback_worker is not None:
            await self.callback_worker.stop()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self.relay is not None:
            await self.relay.stop()
        if self._client is not None:
            await self._client.drain()
            self._client = None
        log.info("worker stopped")
