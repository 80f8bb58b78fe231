"""Publishing outbox rows to JetStream, each once, with its Nats-Msg-Id.

Rows are claimed before they are published, so several worker processes
can relay one database:

- PostgreSQL: a relay claims a batch with `FOR UPDATE SKIP LOCKED` in a
  transaction that stays open while it publishes the batch, marks the rows
  published and commits. Other relays skip the locked rows and claim the
  next ones. If the relay dies, its connection closes, the locks go with it,
  and the rows it did not mark are claimed again.
- SQLite has no row locks to skip, so one relay at a time publishes, holding
  the `outbox-relay` lease. Another relay takes over once a dead holder's
  lease has expired.

Within a batch rows go out in id order. The relay sends the whole batch
before it waits for JetStream's acknowledgements, so a batch costs about one
round trip to the server rather than one for each row. Batches that
different relays hold at the same time go out side by side, so across relays
the order is only roughly the id order.

A row is marked published only after JetStream acknowledged storing it, and
only with the rows before it in its batch: when one row fails, the rows
after it stay unmarked and go out again with the next batch. A relay that
dies between publishing and marking leaves its rows unmarked too. In both
cases JetStream's duplicate window drops the copies by their Nats-Msg-Id,
and consumers de-duplicate by id beyond that window.
"""

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
from dataclasses import dataclass

from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import PubAck
from sqlalchemy.exc import SQLAlchemyError

from griddispatch.background import BackgroundLoop
from griddispatch.clock import Clock
from storage.db import Database
from storage.escalation.lease import acquire_lease, release_lease
from storage.outbox.service import (
    Pending,
    claim_unpublished,
    count_failure,
    fetch_unpublished,
    mark_published,
    record_failure,
    set_published,
)

log = logging.getLogger(__name__)

BATCH = 200
IDLE_POLL_S = 0.2
ERROR_BACKOFF_S = 2.0
PUBLISH_TIMEOUT_S = 5.0
RELAY_LEASE = "outbox-relay"
# How long a SQLite relay's lease lasts without renewal. The holder renews it after a third.
LEASE_TTL_S = 30.0


class OutboxRelay:
    """Drains the outbox into JetStream until stopped."""

    def __init__(
        self,
        db: Database,
        js: JetStreamContext,
        clock: Clock,
        *,
        batch: int = BATCH,
        lease_ttl_s: float = LEASE_TTL_S,
    ) -> None:
        self._db = db
        self._js = js
        self._clock = clock
        self._batch = batch
        self._lease_ttl_s = lease_ttl_s
        self._lease_renewed_at: float | None = None
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wakeup = asyncio.Event()
        self._loop = BackgroundLoop("outbox relay", self.run)

    def wake(self) -> None:
        """Ask the relay to look at the outbox now rather than at its next poll."""
        self._wakeup.set()

    async def relay_once(self) -> int:
        """Claim and publish one batch of pending rows; return how many were published."""
        if self._db.dialect == "postgresql":
            return await self._relay_claimed_batch()
        if not await self._hold_lease():
            return 0
        return await self._relay_batch()

    async def _relay_claimed_batch(self) -> int:
        """Publish a batch claimed with row locks, and mark it, in one transaction."""
        async with self._db.transaction() as session:
            claimed = await claim_unpublished(session, limit=self._batch)
            sent = await self._publish(claimed)
            if sent.failed is not None:
                await count_failure(session, sent.failed.id, error=repr(sent.error))
            await set_published(session, sent.published, now=self._clock.now())
        if sent.error is not None:
            raise sent.error
        return len(sent.published)

    async def _hold_lease(self) -> bool:
        """Take or renew the SQLite relay lease; return whether this relay holds it."""
        now = self._clock.now()
        renewed_at = self._lease_renewed_at
        if renewed_at is not None and now.timestamp() - renewed_at < self._lease_ttl_s / 3:
            return True
        held = await acquire_lease(
            self._db, name=RELAY_LEASE, holder=self.holder, ttl_s=self._lease_ttl_s, now=now
        )
        self._lease_renewed_at = now.timestamp() if held else None
        return held

    async def _relay_batch(self) -> int:
        """Publish a batch read without locks, then mark it; the lease keeps other relays off."""
        pending = await fetch_unpublished(self._db, limit=self._batch)
        sent = await self._publish(pending)
        await mark_published(self._db, sent.published, now=self._clock.now())
        if sent.failed is not None:
            await record_failure(self._db, sent.failed.id, error=repr(sent.error))
        if sent.error is not None:
            raise sent.error
        return len(sent.published)

    async def _publish(self, messages: list[Pending]) -> "_Sent":
        """Send `messages` in order without waiting in between, then collect the acks.

        The result names the rows JetStream acknowledged before the first
        one that failed or was not acknowledged within PUBLISH_TIMEOUT_S.
        """
        acks: list[asyncio.Future[PubAck]] = []
        try:
            for message in messages:
                if self._loop.stopping:
                    break
                acks.append(await self._send(message))
        except (NatsError, TimeoutError) as exc:
            return await _collect(messages, acks, sending_error=exc)
        return await _collect(messages, acks, sending_error=None)

    async def _send(self, message: Pending) -> "asyncio.Future[PubAck]":
        # Without a stall timeout the call does not yield, so the client writes the whole batch
        # at once. A default batch (200) is far below nats-py's default of 4,000 pending acks.
        return await self._js.publish_async(
            message.subject, _encode(message), headers={"Nats-Msg-Id": message.msg_id}
        )

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
        """Stop sending the batch in hand, wait for its acknowledgements and the end of the
        loop, and hand the SQLite lease on, so another relay need not wait for it to expire."""
        self.wake()
        await self._loop.stop()
        if self._lease_renewed_at is not None:
            self._lease_renewed_at = None
            await release_lease(self._db, name=RELAY_LEASE, holder=self.holder)


@dataclass(frozen=True)
class _Sent:
    """The outcome of a batch: the ids JetStream stored, in order, and the first failure."""

    published: list[int]
    failed: Pending | None = None
    error: NatsError | TimeoutError | None = None


async def _collect(
    messages: list[Pending],
    acks: list["asyncio.Future[PubAck]"],
    *,
    sending_error: NatsError | TimeoutError | None,
) -> _Sent:
    """Wait for the acks of the rows sent, then take them in order until the first failure.

    `sending_error` is the error that stopped the sending at row len(acks).
    The acks after the first failure are cancelled.
    """
    if acks:
        await asyncio.wait(acks, timeout=PUBLISH_TIMEOUT_S)
    published: list[int] = []
    for position, (message, ack) in enumerate(zip(messages, acks, strict=False)):
        error = _ack_error(ack)
        if error is not None:
            _cancel(acks[position:])
            return _Sent(published, failed=message, error=error)
        published.append(message.id)
    if sending_error is not None:
        return _Sent(published, failed=messages[len(acks)], error=sending_error)
    return _Sent(published)


def _ack_error(ack: "asyncio.Future[PubAck]") -> NatsError | TimeoutError | None:
    """Return why a publish was not acknowledged, or None if JetStream stored it."""
    if not ack.done():
        return TimeoutError(f"timed out after {PUBLISH_TIMEOUT_S:.0f} s waiting for the ack")
    if ack.cancelled():
        return NatsError("the publish was cancelled before JetStream acknowledged it")
    error = ack.exception()
    if error is None:
        return None
    if isinstance(error, NatsError | TimeoutError):
        return error
    raise error


def _cancel(acks: list["asyncio.Future[PubAck]"]) -> None:
    """Cancel `acks`. The errors of those that already failed are retrieved, so asyncio
    does not report them as never retrieved."""
    for ack in acks:
        if ack.done() and not ack.cancelled():
            ack.exception()
        ack.cancel()


def _encode(message: Pending) -> bytes:
    return json.dumps(message.payload, ensure_ascii=False).encode()
