"""Gathering consumed messages into batches, so that several share one transaction.

The consumers hand each message to a `Batcher` and go on fetching. Its
ack comes later, after the batch is stored. The batcher takes whatever has
arrived, up to its size, and hands it on as one batch. Under a light load a
batch contains one message and adds no delay. Under a heavy load, the
messages that arrive while a batch is stored make up the next batch, so
they share the cost of one commit.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")

DRAIN_TIMEOUT_S = 30.0


class Batcher(Generic[Item]):
    """Feeds items to `handle` in batches of at most `max_batch`, one batch at a time."""

    def __init__(
        self, handle: Callable[[list[Item]], Awaitable[None]], *, max_batch: int, name: str
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"batch size {max_batch} must be 1 or more")
        self._handle = handle
        self._max_batch = max_batch
        self._name = name
        # Holding at most one batch makes the consumers wait, so no more
        # messages are fetched than the next batch can take.
        self._queue: asyncio.Queue[Item] = asyncio.Queue(maxsize=max_batch)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start handing batches on."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"batcher-{self._name}")
            log.info("batcher started name=%s max_batch=%d", self._name, self._max_batch)

    async def put(self, item: Item) -> None:
        """Queue an item, waiting while a full batch is already waiting."""
        await self._queue.put(item)

    async def stop(self, timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Handle what is queued, then stop. Call it once nothing puts any more."""
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), timeout_s)
        except TimeoutError:
            log.warning(
                "batcher stopped with %d items unhandled name=%s; they are redelivered",
                self._queue.qsize(),
                self._name,
            )
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        log.info("batcher stopped name=%s", self._name)

    async def _run(self) -> None:
        while True:
            batch = await self._next_batch()
            try:
                await self._handle(batch)
            except Exception:
                # The handler settles each message itself; one that escaped it
                # stays unacked, and JetStream delivers it again after ack_wait.
                log.exception("batch failed name=%s size=%d", self._name, len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _next_batch(self) -> list[Item]:
        """Wait for one item, then take those already queued behind it, up to the batch size."""
        batch = [await self._queue.get()]
        while len(batch) < self._max_batch and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch
