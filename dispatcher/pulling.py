"""Fetching from a durable JetStream pull consumer in batches, straight into a batcher.

A FastStream subscriber starts a task for each fetched message and runs it
through its middlewares, parser and dependency injection before calling
the handler. The dispatcher's handler only queues the message for a
`dispatcher.batching.Batcher`, so that work bought nothing: it took about
a sixth of the dispatcher's py-spy samples at 1,000 leads a second.
`PullConsumer` fetches with nats-py and wraps each message in the
`NatsMessage` the settling code takes, with none of those steps.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from faststream.nats import NatsMessage
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from griddispatch.background import BackgroundLoop

log = logging.getLogger(__name__)

FETCH_TIMEOUT_S = 1.0
RETRY_AFTER_S = 1.0
# While fetches keep failing, one failure in this many is logged as a warning and
# the rest at debug level. With the default retry delay, that is one warning a minute.
WARN_EVERY_FAILURES = 60


def _wrap(raw: Msg) -> NatsMessage:
    """Return the NatsMessage of a fetched message, as FastStream would have passed it."""
    # A delivery's reply subject is unique, so it serves as the correlation id and
    # spares FastStream's default, a fresh UUID for each message.
    return NatsMessage(
        raw_message=raw,
        body=raw.data,
        headers=raw.headers or {},
        reply_to=raw.reply,
        correlation_id=raw.reply,
    )


class PullConsumer:
    """Fetches up to `max_batch` messages at a time from one durable and hands each to `deliver`.

    The consumer must exist already (`griddispatch.streams.ensure_consumer`).
    `deliver` settles nothing itself: the component it passes the message
    to acks or naks it later. Messages fetched but never settled are redelivered
    once JetStream's ack wait runs out.
    """

    def __init__(
        self,
        js: JetStreamContext,
        *,
        stream: str,
        durable: str,
        max_batch: int,
        deliver: Callable[[NatsMessage], Awaitable[None]],
        fetch_timeout_s: float = FETCH_TIMEOUT_S,
        retry_after_s: float = RETRY_AFTER_S,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"batch size {max_batch} must be 1 or more")
        self._js = js
        self._stream = stream
        self._durable = durable
        self._max_batch = max_batch
        self._deliver = deliver
        self._fetch_timeout_s = fetch_timeout_s
        self._retry_after_s = retry_after_s
        self._failures = 0
        self._subscription: JetStreamContext.PullSubscription | None = None
        self._loop = BackgroundLoop(f"pull-{durable}", self._run)

    async def start(self) -> None:
        """Bind to the durable and start fetching."""
        self._subscription = await self._js.pull_subscribe_bind(
            durable=self._durable, stream=self._stream
        )
        self._loop.start()
        log.info(
            "pull consumer started stream=%s durable=%s max_batch=%d",
            self._stream,
            self._durable,
            self._max_batch,
        )

    async def stop(self) -> None:
        """Finish the fetch under way, hand its messages on, then unsubscribe."""
        await self._loop.stop()
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None

    async def _run(self) -> None:
        while not self._loop.stopping:
            messages = await self._fetch()

            for raw in messages:
                await self._deliver(_wrap(raw))

    async def _fetch(self) -> list[Msg]:
        """Return the next messages, or none when none came within the fetch timeout."""
        assert self._subscription is not None
        try:
            messages = await self._subscription.fetch(
                self._max_batch, timeout=self._fetch_timeout_s
            )
        except TimeoutError:
            # Also nats-py's own TimeoutError, which subclasses it.
            messages = []
        except Exception as exc:
            await self._retry_later(exc)
            return []

        self._recovered()
        return messages

    async def _retry_later(self, error: Exception) -> None:
        """Log a failed fetch, as a warning once every WARN_EVERY_FAILURES failures, then wait."""
        self._failures += 1
        level = logging.WARNING if self._failures % WARN_EVERY_FAILURES == 1 else logging.DEBUG
        log.log(
            level,
            "fetch failed durable=%s failures=%d error=%r; retrying in %.1f s",
            self._durable,
            self._failures,
            error,
            self._retry_after_s,
        )
        await asyncio.sleep(self._retry_after_s)

    def _recovered(self) -> None:
        """Log the end of a run of failed fetches, if there was one."""
        if self._failures:
            log.info(
                "fetch recovered durable=%s after %d failed fetches",
                self._durable,
                self._failures,
            )
            self._failures = 0
