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
    ended within `grace_s` is cancelled. A loop that any await may safely
    stop at passes 0, to be cancelled at once.
    """

    def __init__(
        self,
        name: str,
        run: Callable[[], Coroutine[Any, Any, None]],
        *,
        grace_s: float = STOP_GRACE_S,
    ) -> None:
        self._name = name
        self._run = run
        self._grace_s = grace_s
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
        done, _ = await asyncio.wait({task}, timeout=self._grace_s)
        if not done and self._grace_s > 0:
            log.warning("%s did not stop within %.0f s; cancelling it", self._name, self._grace_s)
        if not done:
            task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("%s had ended with an error before it was stopped", self._name)
        log.info("%s stopped", self._name)
