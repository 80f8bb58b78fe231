"""Publishing outbox rows to JetStream, in order, each with its Nats-Msg-Id.

A row is marked published only after JetStream acknowledged storing it. A
relay that dies between the two publishes the row again after the restart;
JetStream's duplicate window drops the copy, and consumers de-duplicate by
id beyond that window.
"""

import asyncio
import contextlib
import json
import logging

from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from sqlalchemy.exc import SQLAlchemyError

from griddispatch.background import BackgroundLoop
from griddispatch.clock import Clock
from storage.db import Database
from storage.outbox.models import OutboxMessage
from storage.outbox.service import fetch_unpublished, mark_published, record_failure

log = logging.getLogger(__name__)

BATCH = 200
IDLE_POLL_S = 0.2
ERROR_BACKOFF_S = 2.0
PUBLISH_TIMEOUT_S = 5.0


class OutboxRelay:
    """Drains the outbox into JetStream until stopped."""

    def __init__(self, db: Database, js: JetStreamContext, clock: Clock) -> None:
        self._db = db
        self._js = js
        self._clock = clock
        self._wakeup = asyncio.Event()
        self._loop = BackgroundLoop("outbox relay", self.run)

    def wake(self) -> None:
        """Ask the relay to look at the outbox now rather than at its next poll."""
        self._wakeup.set()

    async def relay_once(self) -> int:
        """Publish one batch of pending rows; return how many were published."""
        # TODO: claim rows (a lease per batch) before publishing: today every worker's relay
        # publishes every pending row, and only JetStream's duplicate window keeps one copy.
        pending = await fetch_unpublished(self._db, limit=BATCH)
        published: list[int] = []
        try:
            for message in pending:
                if self._loop.stopping:
                    break
                await self._publish(message)
                published.append(message.id)
        finally:
            await mark_published(self._db, published, now=self._clock.now())
        return len(published)

    async def _publish(self, message: OutboxMessage) -> None:
        try:
            await self._js.publish(
                message.subject,
                _encode(message),
                headers={"Nats-Msg-Id": message.msg_id},
                timeout=PUBLISH_TIMEOUT_S,
            )
        except (NatsError, TimeoutError) as exc:
            await record_failure(self._db, message.id, error=repr(exc))
            raise

    async def drain(self) -> int:
        """Publish until the outbox is empty; return how many were published."""
        total = 0
        while published := await self.relay_once():
            total += published
        return total

    async def run(self) -> None:
        """Relay forever, backing off after errors."""
        log.info("outbox relay started")
        while not self._loop.stopping:
            try:
                published = await self.relay_once()
            except (NatsError, TimeoutError, OSError, SQLAlchemyError) as exc:
                log.warning(
                    "outbox relay failed, retrying in %.0f s error=%r", ERROR_BACKOFF_S, exc
                )
                await asyncio.sleep(ERROR_BACKOFF_S)
                continue
            if published:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), IDLE_POLL_S)
            self._wakeup.clear()

    def start(self) -> None:
        """Run the relay in a background task."""
        self._loop.start()

    async def stop(self) -> None:
        """Stop after the row being published, and wait for the loop to end."""
        self.wake()
        await self._loop.stop()


def _encode(message: OutboxMessage) -> bytes:
    return json.dumps(message.payload, ensure_ascii=False).encode()
