"""The dispatcher component: JetStream consumers that turn directives and leads into tasks."""

import logging

from dispatcher.batching import Batcher
from dispatcher.consumers import Consumed, DispatchContext, intake
from dispatcher.pulling import PullConsumer
from griddispatch import subjects
from griddispatch.clock import Clock
from griddispatch.nats_connection import build_broker, connected_server
from griddispatch.settings import DEFAULT_DISPATCH_BATCH
from griddispatch.streams import ensure_consumer, ensure_streams
from storage.db import Database
from storage.escalation.policy import Escalation

log = logging.getLogger(__name__)


class DispatcherService:
    """Consumes `gd.directive.issue` and `gd.lead.*` until stopped."""

    def __init__(
        self,
        *,
        nats_url: str,
        db: Database,
        escalation: Escalation,
        clock: Clock,
        max_batch: int = DEFAULT_DISPATCH_BATCH,
    ) -> None:
        self._nats_url = nats_url
        self._db = db
        self._escalation = escalation
        self._clock = clock
        self._max_batch = max_batch
        self._batcher: Batcher[Consumed] | None = None
        self._consumers: list[PullConsumer] = []
        self.broker = build_broker(nats_url, "griddispatch-dispatcher")

    async def start(self) -> None:
        """Connect, make sure streams and consumers exist, and start consuming."""
        await self.broker.connect()
        server = connected_server(self.broker.connection)
        log.info("nats connected component=dispatcher server=%s", server)
        js = self.broker.connection.jetstream()
        await ensure_streams(js)
        for durable, subject in (
            (subjects.DIRECTIVE_CONSUMER, subjects.DIRECTIVE_ISSUE),
            (subjects.LEAD_CONSUMER, subjects.LEAD_ANY),
        ):
            await ensure_consumer(
                js, stream=subjects.INBOUND_STREAM, durable=durable, filter_subject=subject
            )
        self._batcher, self._consumers = intake(
            DispatchContext(db=self._db, js=js, escalation=self._escalation, clock=self._clock),
            max_batch=self._max_batch,
        )
        self._batcher.start()
        for consumer in self._consumers:
            await consumer.start()
        log.info("dispatcher started max_batch=%d", self._max_batch)

    async def stop(self) -> None:
        """Stop fetching, store what was fetched, then disconnect.

        Messages fetched but not stored in time are redelivered to the next consumer.
        """
        for consumer in self._consumers:
            await consumer.stop()
        self._consumers = []
        if self._batcher is not None:
            await self._batcher.stop()
        await self.broker.stop()
        log.info("dispatcher stopped")
