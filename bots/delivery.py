"""Delivering notifications from `gd.notify.telegram.*` to inspectors' chats.

Each notification is rendered from the task as it is when it is sent. A
notification whose id is already recorded as delivered is not sent again,
so a redelivery after a crash shows up twice only if the crash fell between
Telegram accepting the message and the delivery record being written.

Up to DELIVERY_WORKERS notifications are in flight at once (bots.ordered_pool),
so the bot's rate-limited sender always has sends queued for other chats while
one chat waits out its limit. Notifications about the same task, and copies of
the same notification, run one at a time in stream order. Each message is acked
by its own job after its delivery is recorded, and one that is still unacked
when the bot stops is redelivered after the ack wait.
"""

import asyncio
import logging
from dataclasses import dataclass

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InlineKeyboardMarkup
from faststream.nats import NatsBroker, NatsMessage
from nats.js import JetStreamContext

from bots.ordered_pool import OrderedPool, PoolClosedError
from bots.texts import digest_text, reassign_keyboard, task_keyboard, task_text
from griddispatch import subjects
from griddispatch.clock import Clock
from griddispatch.errors import NotFoundError
from griddispatch.i18n import Translator, locale_for
from griddispatch.messages import Notification, NotificationKind
from griddispatch.settle import (
    dead_letter,
    durable_subscriber,
    retry_or_dead_letter,
    stream_sequence,
)
from griddispatch.streams import ACK_WAIT_S
from storage.db import Database
from storage.digests.service import digest_for
from storage.escalation.service import escalate_unreachable
from storage.registry.models import Inspector
from storage.tasks.service import reassign_candidates
from storage.tasks.states import TaskState
from storage.tasks.views import TaskView, load_task_view
from storage.telegram import service as telegram_records
from storage.telegram.models import Delivery

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (2.0, 10.0, 30.0, 120.0)
TRANSIENT_ERRORS = (TelegramNetworkError, TelegramServerError, TelegramRetryAfter, OSError)

# Notifications in flight at once. The bot sends at most 30 a second, and each
# notification occupies its slot for about a second (the rate window) plus database
# time, so 48 leave headroom. The consumer's max_ack_pending (1000, set in
# griddispatch.streams) must stay above it.
DELIVERY_WORKERS = 48
# How often a message in flight sends JetStream an in-progress ack, which restarts its
# ack wait. Messages to one chat leave a second apart, so a message queued behind many
# others for the same chat can wait longer than the ack wait.
IN_PROGRESS_INTERVAL_S = ACK_WAIT_S / 3


@dataclass
class DeliveryContext:
    """The bot, database, JetStream context and clock that delivery uses."""

    bot: Bot
    db: Database
    js: JetStreamContext
    clock: Clock


async def _recipient(db: Database, inspector_id: int) -> Inspector | None:
    async with db.reading() as session:
        return await session.get(Inspector, inspector_id)


async def _keyboard(
    context: DeliveryContext,
    kind: NotificationKind,
    view: TaskView,
    recipient_id: int,
    _: Translator,
) -> InlineKeyboardMarkup | None:
    """Return the buttons a recipient gets: the assignee's actions, or a leader's reassignment."""
    if view.inspector_id == recipient_id:
        return task_keyboard(view, _)
    if kind is NotificationKind.DECLINED and view.state == TaskState.DECLINED.value:
        candidates = await reassign_candidates(context.db, view.id)
        return reassign_keyboard(view.id, [(c.id, c.name) for c in candidates], _)
    return None


async def _send_new(
    context: DeliveryContext, notification: Notification, inspector: Inspector, view: TaskView
) -> None:
    assert inspector.telegram_chat_id is not None
    _ = Translator(locale_for(inspector.language))
    keyboard = await _keyboard(context, notification.kind, view, inspector.id, _)
    sent = await context.bot.send_message(
        inspector.telegram_chat_id,
        task_text(view, notification.kind, _, notification.condition),
        reply_markup=keyboard,
    )
    await telegram_records.record_delivery(
        context.db,
        Delivery(
            notification_id=notification.notification_id,
            task_id=view.id,
            inspector_id=inspector.id,
            kind=notification.kind.value,
            condition=notification.condition,
            chat_id=sent.chat.id,
            message_id=sent.message_id,
            sent_at=context.clock.now(),
        ),
    )
    log.info(
        "notification sent notification=%s task=%s inspector=%s kind=%s",
        notification.notification_id,
        view.id,
        inspector.id,
        notification.kind.value,
    )


async def _edit_existing(context: DeliveryContext, view: TaskView) -> None:
    """Re-render every message sent about the task, so no stale button stays active."""
    for delivery in await telegram_records.task_messages(context.db, view.id):
        inspector = await _recipient(context.db, delivery.inspector_id)
        _ = Translator(locale_for(inspector.language if inspector else None))
        kind = NotificationKind(delivery.kind)
        keyboard = await _keyboard(context, kind, view, delivery.inspector_id, _)
        try:
            await context.bot.edit_message_text(
                text=task_text(view, NotificationKind(delivery.kind), _, delivery.condition),
                chat_id=delivery.chat_id,
                message_id=delivery.message_id,
                reply_markup=keyboard,
            )
        except TelegramBadRequest as exc:
            if "message is not modified" in exc.message:
                continue
            log.warning(
                "edit failed task=%s chat_message=%s error=%s",
                view.id,
                delivery.message_id,
                exc.message,
            )


async def deliver(context: DeliveryContext, notification: Notification) -> None:
    """Send or apply one notification. Raises Telegram errors that deserve a retry."""
    if await telegram_records.is_delivered(context.db, notification.notification_id):
        log.info("notification already delivered notification=%s", notification.notification_id)
        return
    if notification.kind is NotificationKind.DIGEST:
        await send_digest(context, notification)
        return
    assert notification.task_id is not None
    try:
        view = await load_task_view(context.db, notification.task_id)
    except NotFoundError:
        log.error(
            "notification for unknown task dropped notification=%s task=%s",
            notification.notification_id,
            notification.task_id,
        )
        return

    if notification.kind is NotificationKind.TASK_UPDATED:
        await _edit_existing(context, view)
        return

    inspector = await _recipient(context.db, notification.inspector_id)
    if inspector is None or inspector.telegram_chat_id is None:
        await telegram_records.record_not_delivered(
            context.db,
            task_id=view.id,
            inspector_id=notification.inspector_id,
            reason="not bound to Telegram",
            now=context.clock.now(),
        )
        log.warning(
            "inspector not bound to telegram, notification not sent task=%s inspector=%s",
            view.id,
            notification.inspector_id,
        )
        return
    await _send_or_mark_unreachable(context, notification, inspector, view)


async def _send_or_mark_unreachable(
    context: DeliveryContext, notification: Notification, inspector: Inspector, view: TaskView
) -> None:
    """Send the notification, or mark the inspector unreachable on 403.

    The bot's RateLimitedSender (bots.sender) already waited out any 429 and
    retried network and 5xx errors, so an error that reaches here is final for
    this attempt.
    """
    try:
        await _send_new(context, notification, inspector, view)
    except TelegramForbiddenError as exc:
        await telegram_records.mark_unreachable(context.db, inspector.id)
        await escalate_unreachable(context.db, inspector_id=inspector.id, now=context.clock.now())
        await telegram_records.record_not_delivered(
            context.db,
            task_id=view.id,
            inspector_id=inspector.id,
            reason=f"telegram refused: {exc.message}",
            now=context.clock.now(),
        )


def register(
    broker: NatsBroker, context: DeliveryContext, *, workers: int = DELIVERY_WORKERS
) -> OrderedPool:
    """Attach the notification consumer to `broker` and return the pool it delivers in.

    The consumer hands each message to the pool and takes the next one, so up to
    `workers` notifications are in flight at once, each acked by its own job.
    Notifications about the same task are delivered one at a time in stream order,
    so a task card is sent and recorded before the edits that follow it.
    Close the pool before the broker, so running jobs can still ack.
    """
    pool = OrderedPool(workers, name="telegram notifications")

    @durable_subscriber(
        broker,
        subject=subjects.NOTIFY_TELEGRAM_ANY,
        stream=subjects.NOTIFY_STREAM,
        durable=subjects.NOTIFY_CONSUMER,
        title="telegram notifications",
        description="Tasks to deliver, reminders and escalations for one inspector each.",
    )
    async def on_notification(message: NatsMessage) -> None:
        await _submit(pool, context, message)

    return pool


def _order_key(message: NatsMessage, notification: Notification | None) -> tuple[str, object]:
    """Return the key that orders a notification: its task, or else its own id."""
    if notification is None:
        return ("message", message.message_id)
    if notification.task_id is not None:
        return ("task", notification.task_id)
    return ("notification", notification.notification_id)


def _parse(message: NatsMessage) -> Notification | ValueError:
    try:
        return Notification.model_validate_json(message.body)
    except ValueError as exc:
        return exc


async def _submit(pool: OrderedPool, context: DeliveryContext, message: NatsMessage) -> None:
    """Queue one message in the pool, keeping JetStream from redelivering it while it waits.

    A message left unacked when the pool closes is redelivered after the ack wait.
    """
    parsed = _parse(message)
    notification = parsed if isinstance(parsed, Notification) else None
    heartbeat = asyncio.create_task(_keep_in_progress(message))
    try:
        task = await pool.submit(
            _order_key(message, notification), lambda: _handle(context, message, parsed)
        )
    except PoolClosedError:
        # Not nacked, because a nak would hand it straight back to this stopping consumer.
        heartbeat.cancel()
        log.info("bot stopping, notification left for redelivery seq=%s", stream_sequence(message))
        return
    except BaseException:
        heartbeat.cancel()
        raise
    task.add_done_callback(lambda _: heartbeat.cancel())


async def _keep_in_progress(message: NatsMessage) -> None:
    """Reset the message's ack wait now and then, while it waits in a chat's queue."""
    while True:
        await asyncio.sleep(IN_PROGRESS_INTERVAL_S)
        await message.in_progress()


async def _handle(
    context: DeliveryContext, message: NatsMessage, parsed: Notification | ValueError
) -> None:
    now = context.clock.now()
    consumer = subjects.NOTIFY_CONSUMER
    if isinstance(parsed, ValueError):
        reason = f"invalid notification: {parsed}"
        await dead_letter(context.js, message, consumer=consumer, reason=reason, now=now)
        return
    notification = parsed
    try:
        await deliver(context, notification)
    except Exception as exc:
        if not isinstance(exc, TRANSIENT_ERRORS):
            log.exception("notification failed notification=%s", notification.notification_id)
        await retry_or_dead_letter(
            context.js, message, consumer=consumer, error=exc, now=now, delays_s=RETRY_DELAYS_S
        )
        return
    await message.ack()


async def send_digest(context: DeliveryContext, notification: Notification) -> None:
    """Send a daily digest, counted as it stands when it is sent."""
    inspector = await _recipient(context.db, notification.inspector_id)
    if inspector is None or inspector.telegram_chat_id is None or not inspector.reachable:
        log.warning(
            "digest not sent, recipient unreachable inspector=%s", notification.inspector_id
        )
        return
    digest = await digest_for(context.db, inspector.id, now=context.clock.now())
    if digest is None or notification.digest_date is None:
        log.warning("digest not sent, inspector has no area inspector=%s", inspector.id)
        return
    _ = Translator(locale_for(inspector.language))
    try:
        sent = await context.bot.send_message(
            inspector.telegram_chat_id, digest_text(digest, notification.digest_date, _)
        )
    except TelegramForbiddenError:
        await telegram_records.mark_unreachable(context.db, inspector.id)
        return
    await telegram_records.record_delivery(
        context.db,
        Delivery(
            notification_id=notification.notification_id,
            task_id=None,
            inspector_id=inspector.id,
            kind=notification.kind.value,
            chat_id=sent.chat.id,
            message_id=sent.message_id,
            sent_at=context.clock.now(),
        ),
    )
    log.info("digest sent inspector=%s area=%s", inspector.id, digest.summary.area_code)
