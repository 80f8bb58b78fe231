"""Per-chat expectations on the local Bot API server.

Each expectation consumes the first unclaimed bot message in a chat that
matches it. `assert_no_unexpected` fails the test on any message that no
expectation claimed, so a scenario states every message it causes.
"""

import asyncio
import time
from dataclasses import dataclass, field

from bots.local_api.client import LocalBotApiControl, SentMessage

DEFAULT_TIMEOUT_S = 10.0
POLL_S = 0.05


@dataclass
class ChatExpectations:
    """Tracks which bot messages of which chats a scenario has claimed."""

    control: LocalBotApiControl
    claimed: dict[int, set[int]] = field(default_factory=dict)

    async def receives(
        self, chat_id: int, *fragments: str, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> SentMessage:
        """Wait for a new bot message in `chat_id` whose text contains every fragment."""
        deadline = time.monotonic() + timeout_s
        while True:
            for message in await self.control.messages(chat_id):
                if message.message_id in self.claimed.setdefault(chat_id, set()):
                    continue
                if all(fragment in (message.text or "") for fragment in fragments):
                    self.claimed[chat_id].add(message.message_id)
                    return message
            if time.monotonic() > deadline:
                unclaimed = await self.unclaimed(chat_id)
                raise AssertionError(
                    f"chat {chat_id} received no message containing {fragments!r} within "
                    f"{timeout_s} s; unclaimed messages: {[m.text for m in unclaimed]}"
                )
            await asyncio.sleep(POLL_S)

    async def message_becomes(
        self, chat_id: int, message_id: int, *fragments: str, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> SentMessage:
        """Wait until a message already sent is edited to contain every fragment."""
        deadline = time.monotonic() + timeout_s
        while True:
            current = await self._find(chat_id, message_id)
            if all(fragment in (current.text or "") for fragment in fragments):
                return current
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"message {message_id} in chat {chat_id} still reads {current.text!r}, "
                    f"expected it to contain {fragments!r}"
                )
            await asyncio.sleep(POLL_S)

    async def _find(self, chat_id: int, message_id: int) -> SentMessage:
        for message in await self.control.messages(chat_id):
            if message.message_id == message_id:
                return message
        raise AssertionError(f"chat {chat_id} has no message {message_id}")

    async def unclaimed(self, chat_id: int) -> list[SentMessage]:
        """Return the bot messages in `chat_id` that no expectation claimed."""
        claimed = self.claimed.get(chat_id, set())
        return [m for m in await self.control.messages(chat_id) if m.message_id not in claimed]

    async def assert_no_unexpected(self, chat_ids: list[int]) -> None:
        """Fail if any of these chats holds a bot message nobody expected."""
        for chat_id in chat_ids:
            unexpected = await self.unclaimed(chat_id)
            assert not unexpected, (
                f"chat {chat_id} received unexpected messages: {[m.text for m in unexpected]}"
            )
