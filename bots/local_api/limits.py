"""Send rate limits of one bot, and counts of its sends and 429 responses.

The limits are the figures of Telegram's Bots FAQ: about 30 messages a
second in total, 1 a second in one private chat and 20 a minute in one group.
Telegram applies them loosely, but this server applies them exactly, so it is
the stricter of the two.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from bots.local_api.errors import BotApiError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Window:
    """At most `max_sends` sends in any `seconds`-long span."""

    max_sends: int
    seconds: float


BOT_WINDOW = Window(max_sends=30, seconds=1.0)
PRIVATE_CHAT_WINDOW = Window(max_sends=1, seconds=1.0)
GROUP_CHAT_WINDOW = Window(max_sends=20, seconds=60.0)


@dataclass
class ChatCounts:
    """Sends accepted in one chat and sends rejected there with 429."""

    sends: int = 0
    rejected: int = 0


@dataclass
class SendLimiter:
    """Sliding-window limits on one bot's sends, with counters for benchmarks.

    Counters run whether or not limits are enforced.
    """

    bot_id: int
    enforce: bool = False
    clock: Callable[[], float] = time.monotonic
    sends: int = 0
    rejected: int = 0
    per_chat: dict[int, ChatCounts] = field(default_factory=dict)
    _bot_times: deque[float] = field(default_factory=deque)
    _chat_times: dict[int, deque[float]] = field(default_factory=dict)

    def admit(self, chat_id: int) -> None:
        """Record a send to `chat_id`, or raise 429 when it would exceed a limit."""
        now = self.clock()
        counts = self.per_chat.setdefault(chat_id, ChatCounts())
        chat_times = self._chat_times.setdefault(chat_id, deque())
        chat_window = GROUP_CHAT_WINDOW if chat_id < 0 else PRIVATE_CHAT_WINDOW

        # The wait is computed even when limits are off, because that also trims old times.
        wait_s = max(
            _wait_seconds(self._bot_times, BOT_WINDOW, now),
            _wait_seconds(chat_times, chat_window, now),
        )
        if self.enforce and wait_s > 0:
            self._reject(chat_id, counts, wait_s)

        self._bot_times.append(now)
        chat_times.append(now)
        self.sends += 1
        counts.sends += 1

    def _reject(self, chat_id: int, counts: ChatCounts, wait_s: float) -> None:
        self.rejected += 1
        counts.rejected += 1

        retry_after = max(1, math.ceil(wait_s))
        logger.info(
            "send rejected bot_id=%s chat_id=%s retry_after=%s", self.bot_id, chat_id, retry_after
        )
        raise BotApiError(
            429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
        )

    def to_json(self) -> dict[str, object]:
        """Build the control view of the counters."""
        return {
            "enforce_limits": self.enforce,
            "sends": self.sends,
            "rejected_429": self.rejected,
            "per_chat": {
                str(chat_id): {"sends": counts.sends, "rejected_429": counts.rejected}
                for chat_id, counts in self.per_chat.items()
            },
        }


def _wait_seconds(times: deque[float], window: Window, now: float) -> float:
    """Drop send times older than the window; return how long until one more send fits."""
    while times and times[0] <= now - window.seconds:
        times.popleft()

    if len(times) < window.max_sends:
        return 0.0

    return times[-window.max_sends] + window.seconds - now
