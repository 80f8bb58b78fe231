"""The worker component: the escalation sweep and the outbox relay, in one process."""

import logging

from nats.aio.client import Client

from griddispatch.clock import Clock
from griddispatch.nats_connection import connect
from griddispatch.streams import ensure_streams
from storage.db import Database
from storage.escalation.policy import EscalationPolicy
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
        policy: EscalationPolicy,
        clock: Clock,
        sweep_interval_s: float,
        schedule_sweeps: bool = True,
    ) -> None:
        self._nats_url = nats_url
        self._db = db
        self._policy = policy
        self._clock = clock
        self._sweep_interval_s = sweep_interval_s
        self._schedule_sweeps = schedule_sweeps
        self._client: Client | None = None
        self.relay: OutboxRelay | None = None
        self.escalation: EscalationWorker | None = None

    async def start(self) -> None:
        """Connect to NATS, then start the relay and the sweep schedule."""
        self._client = await connect(self._nats_url, name="griddispatch-worker")
        js = self._client.jetstream()
        await ensure_streams(js)
        relay = OutboxRelay(self._db, js, self._clock)
        self.relay = relay
        self.escalation = EscalationWorker(
            self._db,
            self._policy,
            self._clock,
            interval_s=self._sweep_interval_s,
            on_fired=relay.wake,
        )
        relay.start()
        if self._schedule_sweeps:
            self.escalation.start()
        log.info("worker started")

    async def stop(self) -> None:
        """Stop sweeping, stop relaying, and close the NATS connection."""
        if self.escalation is not None:
            await self.escalation.stop()
        if self.relay is not None:
            await self.relay.stop()
        if self._client is not None:
            await self._client.drain()
            self._client = None
        log.info("worker stopped")
