"""A loop that runs in its own asyncio task until stopped."""

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


STOP_GRACE_S = 5.0


class BackgroundLoop:
    """Owns one asyncio task: `start` creates it, `stop` asks it to end and waits for it.

    The loop should return soon after `stopping` becomes true; one that has not
    ended within `STOP_GRACE_S` is cancelled.
    """

    def __init__(self, name: str, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._name = name
        self._run = run
        self._task: asyncio.Task[None] | None = None
        self.stopping = False

    def start(self) -> None:
        """Start the loop in a background task."""
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        """Ask the loop to end, cancel it if it does not within the grace time, and wait."""
        task, self._task = self._task, None
        if task is None:
            return
        self.stopping = True
        done, _ = await asyncio.wait({task}, timeout=STOP_GRACE_S)
        if not done:
            log.warning("%s did not stop within %.0f s; cancelling it", self._name, STOP_GRACE_S)
            task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("%s had ended with an error before it was stopped", self._name)
        log.info("%s stopped", self._name)
