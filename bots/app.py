"""The bot component: aiogram bot, durable update intake and notification delivery."""

import logging
from dataclasses import dataclass

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import BotCommand

from bots import delivery, updates
from bots.deps import BotDeps
from bots.fsm_storage import DatabaseStorage
from bots.handlers import commands, fallback, plan, start, submission, tasks
from bots.ordered_pool import OrderedPool
from bots.sender import RateLimitedSender, SenderMiddleware
from bots.webhook import WebhookReceiver
from griddispatch import subjects
from griddispatch.clock import Clock
from griddispatch.i18n import DEFAULT_LOCALE, ENGLISH, gettext, mark
from griddispatch.nats_connection import build_broker
from griddispatch.streams import ensure_consumer, ensure_streams
from storage.db import Database
from storage.escalation.policy import Escalation
from storage.files import FileStore
from storage.results.service import ResultRules

log = logging.getLogger(__name__)

# How long stop() lets queued sends finish before it cancels them.
SENDER_DRAIN_TIMEOUT_S = 10.0


def create_bot(token: str, api_url: str | None) -> Bot:
    """Create an aiogram Bot for `token`, talking to `api_url` when it is given."""
    if api_url:
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_url))
        return Bot(token, session=session)
    return Bot(token)


async def set_commands(bot: Bot) -> None:
    """Publish the command menu in Chinese, and in English for English-speaking users."""
    for locale, language in ((DEFAULT_LOCALE, None), (ENGLISH, "en")):
        menu = [
            BotCommand(command=name, description=gettext(text, locale))
            for name, text in COMMAND_MENU
        ]
        await bot.set_my_commands(menu, language_code=language)


COMMAND_MENU = (
    ("tasks", mark("My open tasks")),
    ("task", mark("One task and its trail: /task 12")),
    ("grid", mark("Open tasks of my grid (grid leaders)")),
    ("plan", mark("This period's routine inspections, nearest first")),
)


def create_dispatcher(db: Database) -> Dispatcher:
    """Create the aiogram dispatcher with every handler router and database-backed drafts."""
    dispatcher = Dispatcher(storage=DatabaseStorage(db))
    dispatcher.include_routers(
        start.create_router(),
        commands.create_router(),
        plan.create_router(),
        tasks.create_router(),
        submission.create_router(),
        fallback.create_router(),
    )
    return dispatcher


@dataclass(frozen=True)
class WebhookConfig:
    """Webhook settings: the public URL, the secret Telegram sends, and the listening address."""

    url: str
    secret: str
    host: str
    port: int


class BotService:
    """Polls Telegram, handles stored updates and delivers notifications."""

    def __init__(
        self,
        *,
        nats_url: str,
        db: Database,
        clock: Clock,
        escalation: Escalation,
        files: FileStore,
        token: str,
        api_url: str | None,
        poll_timeout_s: int = updates.POLL_TIMEOUT_S,
        rules: ResultRules | None = None,
        webhook: WebhookConfig | None = None,
        private_chat_interval_s: float = 1.0,
    ) -> None:
        self._db = db
        self._clock = clock
        self._escalation = escalation
        self._deps = BotDeps(db, clock, escalation, files, rules or ResultRules())
        self.bot = create_bot(token, api_url)
        # Every send and edit of the bot, from handlers and delivery alike, waits in
        # the sender's per-chat queue within Telegram's rate limits.
        self.sender = RateLimitedSender(self.bot, private_chat_interval_s=private_chat_interval_s)
        self.bot.session.middleware(SenderMiddleware(self.sender))
        self.dispatcher = create_dispatcher(db)
        self.broker = build_broker(nats_url, "griddispatch-bot")
        self._poll_timeout_s = poll_timeout_s
        self.poller: updates.UpdatePoller | None = None
        self._webhook = webhook
        self.receiver: WebhookReceiver | None = None
        # Notifications delivered at once; set before start() to change it.
        self.delivery_workers = delivery.DELIVERY_WORKERS
        self.delivery_pool: OrderedPool | None = None

    @property
    def files(self) -> FileStore:
        """The file store photos are saved in."""
        return self._deps.files

    async def start(self) -> None:
        """Check the file store, connect, check the token with getMe, and start polling."""
        # The file store is checked first, so a bad bucket or folder stops start-up
        # before the bot takes any update rather than at the first photo.
        await self._deps.files.start()
        try:
            me = await self.bot.get_me()
        except BaseException:
            await self._deps.files.close()
            raise
        await set_commands(self.bot)
        await self.sender.start()
        await self.broker.connect()
        js = self.broker.connection.jetstream()
        await ensure_streams(js)
        await ensure_consumer(
            js,
            stream=subjects.NOTIFY_STREAM,
            durable=subjects.NOTIFY_CONSUMER,
            filter_subject=subjects.NOTIFY_TELEGRAM_ANY,
        )
        await ensure_consumer(
            js,
            stream=subjects.TELEGRAM_UPDATES_STREAM,
            durable=subjects.TELEGRAM_UPDATE_CONSUMER,
            filter_subject=subjects.TELEGRAM_UPDATE_ANY,
        )
        updates.register(
            self.broker,
            bot=self.bot,
            dispatcher=self.dispatcher,
            js=js,
            clock=self._clock,
            handler_kwargs={"deps": self._deps},
        )
        self.delivery_pool = delivery.register(
            self.broker,
            delivery.DeliveryContext(bot=self.bot, db=self._db, js=js, clock=self._clock),
            workers=self.delivery_workers,
        )
        await self.broker.start()
        if self._webhook is not None:
            self.receiver = WebhookReceiver(
                self.bot,
                js,
                secret=self._webhook.secret,
                host=self._webhook.host,
                port=self._webhook.port,
            )
            await self.receiver.start(self._webhook.url)
        else:
            self.poller = updates.UpdatePoller(self.bot, js, poll_timeout_s=self._poll_timeout_s)
            self.poller.start()
        log.info("bot started bot=%s username=%s", me.id, me.username)

    async def stop(self) -> None:
        """Stop polling and consuming, then close the HTTP session."""
        if self.poller is not None:
            await self.poller.stop()
        if self.receiver is not None:
            await self.receiver.stop()
        # Deliveries in flight finish (and ack) while the sender and broker still run.
        if self.delivery_pool is not None:
            await self.delivery_pool.close(timeout_s=SENDER_DRAIN_TIMEOUT_S)
        await self.broker.stop()
        await self.sender.stop(timeout_s=SENDER_DRAIN_TIMEOUT_S)
        await self.bot.session.close()
        await self._deps.files.close()
        log.info("bot stopped")
