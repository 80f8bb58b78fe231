"""Running jobs concurrently while keeping the order of jobs that share a key.

OrderedPool runs up to `size` jobs at once. Jobs with the same key run one at a
time, in the order they were submitted; jobs with different keys overlap.
submit() waits while every slot is taken, so a caller that submits in a loop
(a message consumer) takes no more work than the pool can hold.

A job waiting for an earlier job with its key occupies a slot. That cannot
deadlock, because the earlier job already occupies a slot of its own and finishes
without waiting for later ones.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


class PoolClosedError(RuntimeError):
    """Raised by submit() once close() has started."""


class OrderedPool:
    """Up to `size` jobs at once, one at a time per key, in submission order per key."""

    def __init__(self, size: int, *, name: str) -> None:
        if size < 1:
            raise ValueError(f"invalid pool size {size}; expected at least 1")
        self.size = size
        self._name = name
        self._slots = asyncio.Semaphore(size)
        # The completion of the last submitted job of each key that has not finished yet.
        self._tails: dict[Hashable, asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def running(self) -> int:
        """How many jobs are submitted and not finished, waiting ones included."""
        return len(self._tasks)

    async def submit(self, key: Hashable, job: Job) -> asyncio.Task[None]:
        """Wait for a free slot, then start `job` after the earlier jobs with `key`.

        Returns the task that runs the job. Raises PoolClosedError after close().
        """
        if self._closed:
            raise PoolClosedError(f"pool {self._name} is closed")
        await self._slots.acquire()
        if self._closed:
            self._slots.release()
            raise PoolClosedError(f"pool {self._name} is closed")
        previous = self._tails.get(key)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tails[key] = done
        task = asyncio.create_task(self._run(key, previous, done, job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(
        self,
        key: Hashable,
        previous: asyncio.Future[None] | None,
        done: asyncio.Future[None],
        job: Job,
    ) -> None:
        try:
            if previous is not None:
                # asyncio.wait does not cancel `previous` when this task is cancelled.
                await asyncio.wait([previous])
            await job()
        except Exception:
            log.exception("job failed pool=%s key=%r", self._name, key)
        finally:
            done.set_result(None)
            if self._tails.get(key) is done:
                del self._tails[key]
            self._slots.release()

    async def close(self, timeout_s: float) -> None:
        """Reject new jobs, let running ones finish for `timeout_s`, then cancel the rest."""
        self._closed = True
        pending = set(self._tasks)
        if not pending:
            return
        _, still_running = await asyncio.wait(pending, timeout=timeout_s)
        for task in still_running:
            task.cancel()
        if still_running:
            log.warning(
                "pool closed with jobs cancelled pool=%s cancelled=%d",
                self._name,
                len(still_running),
            )
            await asyncio.wait(still_running)
