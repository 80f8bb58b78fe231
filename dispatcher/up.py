"""`griddispatch up`: every component in one process, on embedded defaults.

Start order: nats-server (unless GRIDDISPATCH_NATS_URL is set), database
migrations, the example registry on an empty database, the local Bot API
server (unless TELEGRAM_BOT_TOKEN is set), then the dispatcher, the worker,
the bot and the HTTP API. Stop order is the reverse, so consumers stop taking
messages before the services they write to go away.
"""

import asyncio
import contextlib
import logging
import re
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from bots.local_api.client import LocalBotApiControl
from bots.local_api.server import LocalBotApiServer
from dispatcher import local_mode
from dispatcher.api.service import ApiService
from dispatcher.console import add_console_routes
from dispatcher.console.setup import console_url, ensure_first_admin
from dispatcher.hooks import add_hook_routes
from dispatcher.service import DispatcherService
from dispatcher.setup import escalation_from, load_example_registry
from griddispatch.clock import SystemClock
from griddispatch.errors import ConfigurationError
from griddispatch.heap import freeze_start_up_objects
from griddispatch.nats_connection import server_addresses
from griddispatch.nats_server import NatsServer, port_is_free
from griddispatch.settings import LOCAL_BOT_TOKEN, Settings
from storage.db import Database
from storage.escalation.policy import Escalation
from storage.files import open_file_store
from storage.migrate import upgrade
from storage.registry.service import registry_is_empty
from storage.results.service import ResultRules
from workers.service import WorkerService

if TYPE_CHECKING:
    from bots.app import BotService, WebhookConfig

log = logging.getLogger(__name__)

# In the data folder: the local Bot API server's last update ids, so they survive a restart.
LOCAL_UPDATE_IDS_FILE = "local-bot-api-update-ids.json"


async def _start_nats(settings: Settings, stack: AsyncExitStack) -> str:
    if settings.nats_url:
        log.info("using external NATS servers=%s", server_addresses(settings.nats_url))
        return settings.nats_url
    server = NatsServer(port=settings.nats_port, store_dir=settings.data_dir / "jetstream")
    await server.start()
    stack.push_async_callback(server.stop)
    return server.url


async def _prepare_database(settings: Settings, stack: AsyncExitStack) -> Database:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await upgrade(settings.resolved_database_url)
    db = Database(settings.resolved_database_url)
    stack.push_async_callback(db.dispose)
    if settings.load_example_registry and await registry_is_empty(db):
        await load_example_registry(db)
    return db


async def _start_local_bot_api(
    settings: Settings, db: Database, stack: AsyncExitStack
) -> tuple[str, str]:
    """Start the local Bot API server and bind inspectors to simulated users there."""
    if not port_is_free(settings.bot_api_port):
        raise ConfigurationError(
            "port {port} on 127.0.0.1 is in use, so the local Bot API server "
            "cannot start; set GRIDDISPATCH_BOT_API_PORT to a free port",
            port=settings.bot_api_port,
        )
    server = LocalBotApiServer(
        port=settings.bot_api_port, update_ids_file=settings.data_dir / LOCAL_UPDATE_IDS_FILE
    )
    await server.start()
    stack.push_async_callback(server.stop)
    async with LocalBotApiControl(server.base_url, LOCAL_BOT_TOKEN) as control:
        await local_mode.create_local_users(db, control)
        await local_mode.bind_all_locally(db, control, now=SystemClock().now())
    log.info(
        "local Bot API server ready url=%s control=%s/control/", server.base_url, server.base_url
    )
    return LOCAL_BOT_TOKEN, server.base_url


async def _telegram_endpoint(
    settings: Settings, db: Database, stack: AsyncExitStack
) -> tuple[str, str | None]:
    if settings.telegram_bot_token is not None:
        log.info("bot uses the Telegram Bot API api=%s", settings.telegram_api_url or "default")
        return settings.telegram_bot_token.get_secret_value(), settings.telegram_api_url
    return await _start_local_bot_api(settings, db, stack)


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[None]:
    """Start every component, yield while they run, and stop them all on exit."""
    async with AsyncExitStack() as stack:
        nats_url = await _start_nats(settings, stack)
        db = await _prepare_database(settings, stack)
        token, api_url = await _telegram_endpoint(settings, db, stack)

        endpoint = BotEndpoint(token, api_url)
        for name in COMPONENTS:
            component = build_component(name, settings, db, nats_url=nats_url, bot=endpoint)
            await component.start()
            stack.push_async_callback(component.stop)

        log.info(
            "griddispatch is up nats=%s database=%s", nats_url, db.engine.url.render_as_string()
        )
        await _announce_console(settings, db)
        freeze_start_up_objects()
        yield
        log.info("griddispatch stopping")
    log.info("griddispatch stopped")


async def _announce_console(settings: Settings, db: Database) -> None:
    """Print the console's address, and the first admin's password when it was just made."""
    print(f"console: {console_url(settings)}", flush=True)
    password = await ensure_first_admin(db, now=SystemClock().now())
    if password is not None:
        # Printed once, never logged: it is not stored anywhere else in plain text.
        print(f"console user: admin  password: {password}  (shown only this once)", flush=True)


async def _wait_for_stop_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):
                loop.remove_signal_handler(signum)


async def run_up(settings: Settings) -> None:
    """Run everything until SIGINT or SIGTERM."""
    async with running(settings):
        await _wait_for_stop_signal()


COMPONENTS = ("dispatcher", "worker", "bot", "api")
Component: TypeAlias = "DispatcherService | WorkerService | BotService | ApiService"


@dataclass(frozen=True)
class BotEndpoint:
    """The token and Bot API server the bot uses."""

    token: str
    api_url: str | None


def build_component(
    name: str, settings: Settings, db: Database, *, nats_url: str, bot: BotEndpoint
) -> Component:
    """Build the component `name` (dispatcher, worker, bot or api) from settings."""
    clock = SystemClock()
    escalation = escalation_from(settings)
    if name == "api":
        return ApiService(
            nats_url=nats_url,
            db=db,
            escalation=escalation,
            clock=clock,
            settings=settings,
            host=settings.api_host,
            port=settings.api_port,
            configure=[add_hook_routes, add_console_routes],
        )
    if name == "dispatcher":
        return DispatcherService(
            nats_url=nats_url,
            db=db,
            escalation=escalation,
            clock=clock,
            max_batch=settings.dispatch_batch,
        )
    if name == "worker":
        return WorkerService(
            nats_url=nats_url,
            db=db,
            escalation=escalation,
            clock=clock,
            sweep_interval_s=settings.sweep_interval_s,
            digest_time=settings.digest_time,
            settings=settings,
        )
    return _build_bot(settings, db, nats_url=nats_url, bot=bot, escalation=escalation, clock=clock)


def _build_bot(
    settings: Settings,
    db: Database,
    *,
    nats_url: str,
    bot: BotEndpoint,
    escalation: Escalation,
    clock: SystemClock,
) -> "BotService":
    # Imported here, not at the top, because aiogram takes about 8 s to import
    # on a 2.0 GHz core and the other components do not need it.
    from bots.app import BotService  # noqa: PLC0415

    return BotService(
        nats_url=nats_url,
        db=db,
        clock=clock,
        escalation=escalation,
        files=open_file_store(settings, clock=clock),
        token=bot.token,
        api_url=bot.api_url,
        rules=ResultRules(
            flag_distance_m=settings.location_tolerance_m,
            followup_within=settings.followup_within,
        ),
        webhook=_webhook(settings),
    )


_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


def _webhook(settings: Settings) -> "WebhookConfig | None":
    from bots.app import WebhookConfig  # noqa: PLC0415  (see _build_bot)

    if not settings.telegram_webhook_url:
        return None
    secret = settings.telegram_webhook_secret
    if secret is None or not _WEBHOOK_SECRET.fullmatch(secret.get_secret_value()):
        raise ConfigurationError(
            "a webhook needs GRIDDISPATCH_TELEGRAM_WEBHOOK_SECRET of 1-256 letters, digits, "
            "_ or -, as Telegram accepts; set it beside GRIDDISPATCH_TELEGRAM_WEBHOOK_URL"
        )
    return WebhookConfig(
        url=settings.telegram_webhook_url,
        secret=secret.get_secret_value(),
        host=settings.webhook_host,
        port=settings.webhook_port,
    )


def _bot_endpoint(settings: Settings) -> BotEndpoint:
    if settings.telegram_bot_token is not None:
        return BotEndpoint(
            settings.telegram_bot_token.get_secret_value(), settings.telegram_api_url
        )
    if settings.telegram_api_url:
        return BotEndpoint(LOCAL_BOT_TOKEN, settings.telegram_api_url)
    raise ConfigurationError(
        "the bot needs TELEGRAM_BOT_TOKEN, or GRIDDISPATCH_TELEGRAM_API_URL pointing at a local "
        "Bot API server (python -m bots.local_api)"
    )


async def run_component(settings: Settings, name: str) -> None:
    """Run one component on its own until SIGINT or SIGTERM, against external NATS and database.

    The database must already be migrated (`griddispatch migrate`), so that
    several processes starting together do not race to migrate it.
    """
    db = Database(settings.resolved_database_url)
    try:
        bot = _bot_endpoint(settings) if name == "bot" else BotEndpoint(LOCAL_BOT_TOKEN, None)
        component = build_component(
            name, settings, db, nats_url=settings.resolved_nats_url, bot=bot
        )
        await component.start()
        freeze_start_up_objects()
        try:
            await _wait_for_stop_signal()
        finally:
            await component.stop()
    finally:
        await db.dispose()
