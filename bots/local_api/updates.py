"""The queue of one bot's updates, read by getUpdates or by webhook delivery.

Semantics follow telegram-bot-api (tdlib/telegram-bot-api, Client.cpp).
An offset confirms and drops every update with a smaller id, and a negative
offset counts from the end of the queue. A new long poll ends an older one
that is still open with 409 "terminated by other getUpdates request".
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable

from bots.local_api.errors import BotApiError
from bots.local_api.models import JsonObject, UpdateRecord
from bots.local_api.update_ids import UpdateIds

logger = logging.getLogger(__name__)

# Update types sent when the bot has not chosen any; Telegram leaves these three out.
ALL_UPDATE_TYPES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "message_reaction",
        "message_reaction_count",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)
DEFAULT_UPDATE_TYPES = ALL_UPDATE_TYPES - {
    "chat_member",
    "message_reaction",
    "message_reaction_count",
}

MAX_UPDATES_PER_CALL = 100

CONFLICT_OTHER_POLL = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
CONFLICT_SET_WEBHOOK = "Conflict: terminated by setWebhook request"


class UpdateQueue:
    """Updates not yet confirmed by the bot, in id order, with long-poll waiting."""

    def __init__(self, bot_id: int, ids: UpdateIds) -> None:
        self._bot_id = bot_id
        self._ids = ids
        self._pending: deque[UpdateRecord] = deque()
        self._next_update_id = ids.first_for(bot_id)
        self._poll_waiter: asyncio.Future[None] | None = None
        self._arrival = asyncio.Event()
        self.allowed_types: frozenset[str] = DEFAULT_UPDATE_TYPES

    @property
    def pending(self) -> list[UpdateRecord]:
        """The unconfirmed updates, oldest first."""
        return list(self._pending)

    @property
    def arrival(self) -> asyncio.Event:
        """An event set whenever an update is queued; webhook delivery clears and waits on it."""
        return self._arrival

    def set_allowed_types(self, types: Iterable[str]) -> None:
        """Choose the update types to queue from now on; an empty list restores the default."""
        chosen = frozenset(types) & ALL_UPDATE_TYPES
        self.allowed_types = chosen or DEFAULT_UPDATE_TYPES

    def push(self, update_type: str, payload: JsonObject) -> UpdateRecord | None:
        """Queue an update; return None when the bot did not ask for this type."""
        if update_type not in self.allowed_types:
            logger.debug("update dropped bot_id=%s type=%s", self._bot_id, update_type)
            return None

        update = UpdateRecord(self._next_update_id, update_type, payload)
        self._next_update_id += 1
        self._ids.given(self._bot_id, update.update_id)
        self._pending.append(update)

        self._arrival.set()
        self._wake_poll()
        return update

    def confirm(self, offset: int) -> None:
        """Drop the updates that an offset confirms.

        A positive offset confirms ids below it. A negative offset keeps only the
        last -offset updates. Zero confirms nothing.
        """
        if offset < 0:
            while len(self._pending) > -offset:
                self._pending.popleft()
            return

        while self._pending and self._pending[0].update_id < offset:
            self._pending.popleft()

    def confirm_one(self, update_id: int) -> None:
        """Drop one delivered update; webhook delivery confirms each on a 2xx reply."""
        self.confirm(update_id + 1)

    def clear(self) -> None:
        """Drop every pending update, as drop_pending_updates does."""
        self._pending.clear()

    def take(self, limit: int) -> list[UpdateRecord]:
        """Return up to `limit` pending updates without confirming them."""
        return [update for _, update in zip(range(limit), self._pending, strict=False)]

    async def poll(self, offset: int, limit: int, timeout_s: float) -> list[UpdateRecord]:
        """Confirm by offset, then return pending updates, waiting up to timeout_s for one.

        Raises BotApiError 409 when a newer long poll or setWebhook ends this one.
        """
        self.confirm(offset)
        ready = self.take(limit)
        if ready or timeout_s <= 0:
            return ready

        self.end_poll(CONFLICT_OTHER_POLL)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._poll_waiter = waiter

        try:
            await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError:
            pass
        finally:
            if self._poll_waiter is waiter:
                self._poll_waiter = None

        return self.take(limit)

    def end_poll(self, conflict: str | None) -> None:
        """End the open long poll: with a 409 `conflict`, or with an empty result when None."""
        waiter = self._poll_waiter
        self._poll_waiter = None
        if waiter is None or waiter.done():
            return

        if conflict is None:
            waiter.set_result(None)
            return

        logger.info("long poll ended bot_id=%s reason=%s", self._bot_id, conflict)
        waiter.set_exception(BotApiError(409, conflict))

    def _wake_poll(self) -> None:
        waiter = self._poll_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
