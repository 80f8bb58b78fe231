"""The last update id the local server gave each bot, kept so ids go on rising after a restart.

Telegram never gives an update id twice, and the bot relies on that: it
stores each update under its id and drops one whose id it has seen.
The local server keeps its chats in memory, so without this file a
restarted server would start its ids again from the first, and the bot
would drop the new updates as repeats of the old ones.
"""

import json
import os
from pathlib import Path

# Update ids start far from 1, so that code mixing them up with message ids fails here.
FIRST_UPDATE_ID = 100_000_001


class UpdateIds:
    """The last update id of each bot, in a JSON file when `path` is given, else in memory."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._last = self._read()

    def first_for(self, bot_id: int) -> int:
        """Return the id a bot's next update gets after a (re)start."""
        return max(FIRST_UPDATE_ID, self._last.get(bot_id, 0) + 1)

    def given(self, bot_id: int, update_id: int) -> None:
        """Record that a bot's update got `update_id`, replacing the file in one step."""
        self._last[bot_id] = update_id
        if self._path is None:
            return
        temporary = self._path.with_suffix(".tmp")
        temporary.write_text(json.dumps({str(k): v for k, v in self._last.items()}))
        os.replace(temporary, self._path)

    def _read(self) -> dict[int, int]:
        if self._path is None or not self._path.exists():
            return {}
        try:
            stored = json.loads(self._path.read_text())
            return {int(bot_id): int(last) for bot_id, last in stored.items()}
        except (ValueError, AttributeError, TypeError) as exc:
            raise ValueError(
                f"update id file {str(self._path)!r} is unreadable ({exc}); delete it, and "
                "restart the bot too, since new ids may then repeat old ones"
            ) from exc
