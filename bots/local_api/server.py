"""A local Telegram Bot API server for tests and manual runs without the internet.

It serves the Bot API at /bot<token>/<method>, file downloads at
/file/bot<token>/<file_path> and the control routes at /control/bot<token>/...
so that aiogram's Bot, given TelegramAPIServer.from_base(server.base_url),
talks to it as it would to api.telegram.org.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType

from aiohttp import web

from bots.local_api.call import MethodCall
from bots.local_api.control import REGISTRY_KEY, add_control_routes
from bots.local_api.errors import BotApiError, ControlError
from bots.local_api.methods import NOT_FOUND, run_method
from bots.local_api.params import MAX_UPLOAD_BYTES, Params, read_params
from bots.local_api.state import BotRegistry, BotState
from bots.local_api.update_ids import UpdateIds
from bots.local_api.webhook import WebhookManager

logger = logging.getLogger(__name__)

# Leaves room above the 50 MB upload limit for the other parts of a multipart body,
# and lets the control routes accept user files larger than getFile's 20 MB limit.
CLIENT_MAX_BODY_BYTES = MAX_UPLOAD_BYTES + 16 * 1024 * 1024

# Open long polls are ended before shutdown, so requests still running after this are stuck.
SHUTDOWN_TIMEOUT_S = 2.0

DEFAULT_PORT = 8081

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class LocalBotApiServer:
    """The local Bot API server; bind it with start() or `async with`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        enforce_limits: bool = False,
        update_ids_file: Path | None = None,
    ) -> None:
        """Serve on `host`:`port`; `update_ids_file` keeps update ids rising across restarts."""
        self._host = host
        self._port = port
        update_ids = UpdateIds(update_ids_file)
        self._registry = BotRegistry(enforce_limits=enforce_limits, update_ids=update_ids)
        self._webhooks = WebhookManager(self._run_webhook_reply)
        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None

    @property
    def base_url(self) -> str:
        """The server's root URL, such as "http://127.0.0.1:8081"; start() sets the port."""
        if self._bound_port is None:
            raise ControlError(503, "the server is not started; call start() first")
        return f"http://{self._host}:{self._bound_port}"

    @property
    def registry(self) -> BotRegistry:
        """The bots served, by token."""
        return self._registry

    async def start(self) -> None:
        """Bind and serve; port 0 picks a free port."""
        await self._webhooks.open()
        self._runner = web.AppRunner(
            self._build_app(), shutdown_timeout=SHUTDOWN_TIMEOUT_S, access_log=None
        )
        await self._runner.setup()

        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self._bound_port = int(self._runner.addresses[0][1])
        logger.info("local Bot API server started url=%s", self.base_url)

    async def stop(self) -> None:
        """End open long polls and webhook deliveries, then close the server."""
        for bot in self._registry.all():
            bot.updates.end_poll(None)
        await self._webhooks.close()

        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            logger.info("local Bot API server stopped port=%s", self._bound_port)
        self._bound_port = None

    async def __aenter__(self) -> LocalBotApiServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def _build_app(self) -> web.Application:
        app = web.Application(
            client_max_size=CLIENT_MAX_BODY_BYTES, middlewares=[_error_middleware]
        )
        app[REGISTRY_KEY] = self._registry
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_file)
        add_control_routes(app)
        return app

    async def _handle_method(self, request: web.Request) -> web.Response:
        if request.method not in {"GET", "POST"}:
            return web.json_response(NOT_FOUND.to_json(), status=NOT_FOUND.status)

        bot = self._registry.get(request.match_info["token"])
        params = await read_params(request)
        call = MethodCall(bot, params, self._webhooks)
        status, body = await run_method(request.match_info["method"], call)
        return web.json_response(body, status=status)

    async def _handle_file(self, request: web.Request) -> web.Response:
        bot = self._registry.get(request.match_info["token"])
        stored = bot.file_by_path(request.match_info["file_path"])
        if stored is None:
            return web.json_response(NOT_FOUND.to_json(), status=NOT_FOUND.status)

        content_type = stored.mime_type or "application/octet-stream"
        return web.Response(body=stored.content, content_type=content_type)

    async def _run_webhook_reply(self, bot: BotState, method: str, params: Params) -> None:
        call = MethodCall(bot, params, self._webhooks)
        status, body = await run_method(method, call)
        if status != 200:
            logger.warning(
                "method in webhook response failed bot_id=%s method=%s status=%s description=%s",
                bot.bot_id,
                method,
                status,
                body.get("description"),
            )


@web.middleware
async def _error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn errors into JSON bodies: Bot API errors as Telegram sends them, control errors."""
    try:
        return await handler(request)
    except BotApiError as error:
        return web.json_response(error.to_json(), status=error.status)
    except ControlError as error:
        return web.json_response({"ok": False, "error": error.message}, status=error.status)
    except web.HTTPRequestEntityTooLarge:
        too_large = BotApiError(413, "Request Entity Too Large")
        return web.json_response(too_large.to_json(), status=too_large.status)
    except web.HTTPNotFound:
        # Telegram returns its JSON 404 for any unknown path.
        return web.json_response(NOT_FOUND.to_json(), status=NOT_FOUND.status)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bots.local_api",
        description="Run the local Telegram Bot API server until interrupted.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"TCP port, 0 for any free port (default {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--enforce-limits",
        action="store_true",
        help="return 429 past 30 sends/s per bot, 1/s per private chat, 20/min per group",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop_requested.set)

    server = LocalBotApiServer(args.host, args.port, enforce_limits=args.enforce_limits)
    async with server:
        print(f"Local Bot API server at {server.base_url}", flush=True)
        await stop_requested.wait()


def main(argv: list[str] | None = None) -> None:
    """Run the server from the command line until SIGINT or SIGTERM."""
    args = _parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    asyncio.run(_serve(args))
