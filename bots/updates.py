"""Receiving Telegram updates without losing one.

aiogram's own polling confirms an update (advances the offset) as soon as
it is handed out, so a crash while handling it loses it. Here the poller
first stores each update on JetStream, with `Nats-Msg-Id` derived from the
update id so a re-polled update is stored once, and only then confirms it
to Telegram. A durable consumer feeds stored updates to the aiogram
dispatcher and acks each one after its handler returned.
"""

import asyncio
import logging
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramConflictError, TelegramNetworkError, TelegramServerError
from aiogram.types import Update
from faststream.nats import NatsBroker, NatsMessage
from nats.js import JetStreamContext

from griddispatch import subjects
from griddispatch.background import BackgroundLoop
from griddispatch.clock import Clock
from griddispatch.settle import dead_letter, durable_subscriber, retry_or_dead_letter

log = logging.getLogger(__name__)

POLL_TIMEOUT_S = 25
POLL_ERROR_BACKOFF_S = 3.0
CONFLICT_BACKOFF_S = 10.0


async def store_update(js: JetStreamContext, bot_id: int, update: Update) -> bool:
    """Store an update on JetStream; return False if JetStream already had this update id.

    The Nats-Msg-Id is derived from the update id, so an update polled or
    posted twice within the stream's duplicate window is kept once.
    """
    ack = await js.publish(
        subjects.telegram_update_subject(bot_id),
        update.model_dump_json(exclude_none=True).encode(),
        stream=subjects.TELEGRAM_UPDATES_STREAM,
        headers={"Nats-Msg-Id": f"tg-{bot_id}-{update.update_id}"},
    )
    log.debug("update stored update=%s duplicate=%s", update.update_id, bool(ack.duplicate))
    return not ack.duplicate


class UpdatePoller:
    """Long-polls getUpdates and stores every update on JetStream before confirming it."""

    def __init__(self, bot: Bot, js: JetStreamContext, *, poll_timeout_s: int = POLL_TIMEOUT_S):
        self._bot = bot
        self._js = js
        self._poll_timeout_s = poll_timeout_s
        self._offset: int | None = None
        # Cancelling mid-poll or mid-store loses nothing: Telegram keeps an update until a
        # later getUpdates offset confirms it, and a stored copy has the same Nats-Msg-Id.
        self._loop = BackgroundLoop("telegram poller", self.run, grace_s=0.0)

    async def poll_once(self) -> int:
        """Fetch one batch of updates, store them, and return how many there were."""
        updates = await self._bot.get_updates(
            offset=self._offset, timeout=self._poll_timeout_s, allowed_updates=[]
        )
        for update in updates:
            await store_update(self._js, self._bot.id, update)
            self._offset = update.update_id + 1
        return len(updates)

    async def run(self) -> None:
        """Poll until cancelled, backing off after errors."""
        await self._bot.delete_webhook(drop_pending_updates=False)
        log.info("telegram poller started bot=%s", self._bot.id)
        while not self._loop.stopping:
            try:
                await self.poll_once()
            except TelegramConflictError as exc:
                log.error(
                    "another poller or a webhook uses this bot token, retrying in %.0f s: %s",
                    CONFLICT_BACKOFF_S,
                    exc.message,
                )
                await asyncio.sleep(CONFLICT_BACKOFF_S)
            except (TelegramNetworkError, TelegramServerError, OSError, TimeoutError) as exc:
                log.warning(
                    "getUpdates failed, retrying in %.0f s error=%r", POLL_ERROR_BACKOFF_S, exc
                )
                await asyncio.sleep(POLL_ERROR_BACKOFF_S)

    def start(self) -> None:
        """Poll in a background task."""
        self._loop.start()

    async def stop(self) -> None:
        """Stop polling at once; updates already stored stay on the stream."""
        await self._loop.stop()


def register(
    broker: NatsBroker,
    *,
    bot: Bot,
    dispatcher: Dispatcher,
    js: JetStreamContext,
    clock: Clock,
    handler_kwargs: dict[str, Any],
) -> None:
    """Attach the consumer that hands stored updates to the aiogram dispatcher."""

    @durable_subscriber(
        broker,
        subject=subjects.TELEGRAM_UPDATE_ANY,
        stream=subjects.TELEGRAM_UPDATES_STREAM,
        durable=subjects.TELEGRAM_UPDATE_CONSUMER,
        title="telegram updates",
        description="Updates received from Telegram, stored before they are handled.",
    )
    async def on_update(message: NatsMessage) -> None:
        consumer = subjects.TELEGRAM_UPDATE_CONSUMER
        try:
            update = Update.model_validate_json(message.body, context={"bot": bot})
        except ValueError as exc:
            reason = f"invalid Telegram update: {exc}"
            await dead_letter(js, message, consumer=consumer, reason=reason, now=clock.now())
            return
        try:
            await dispatcher.feed_update(bot, update, **handler_kwargs)
        except Exception as exc:
            log.exception("update handling failed update=%s", update.update_id)
            await retry_or_dead_letter(js, message, consumer=consumer, error=exc, now=clock.now())
            return
        await message.ack()
