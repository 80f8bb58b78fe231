"""Receiving Telegram updates by webhook.

Telegram posts each update with the secret token given to setWebhook in
the X-Telegram-Bot-Api-Secret-Token header. A request without the right
token is refused. An accepted update is stored on JetStream before the
answer (`store_update`), so the answer is fast and a crash afterwards
loses nothing; a re-posted update with the same update id is stored once.
"""

import hmac
import logging

import pydantic
from aiogram import Bot
from aiogram.types import Update
from aiohttp import web
from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from bots.updates import store_update

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_PATH = "/telegram/webhook"
MAX_BODY_BYTES = 1024 * 1024


class WebhookReceiver:
    """An aiohttp server that stores posted updates on JetStream."""

    def __init__(
        self, bot: Bot, js: JetStreamContext, *, secret: str, host: str, port: int
    ) -> None:
        self._bot = bot
        self._js = js
        self._secret = secret
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_post(WEBHOOK_PATH, self._receive)
        return app

    async def _receive(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self._secret.encode()):
            log.warning("webhook request rejected: invalid secret token from=%s", request.remote)
            return web.json_response({"error": "invalid secret token"}, status=401)
        try:
            update = Update.model_validate_json(await request.read(), context={"bot": self._bot})
        except pydantic.ValidationError as exc:
            log.warning("webhook body is not a Telegram update error_count=%d", exc.error_count())
            return web.json_response({"error": "body is not a Telegram update"}, status=400)
        try:
            await store_update(self._js, self._bot.id, update)
        except (NatsError, TimeoutError) as exc:
            # Telegram retries a failed delivery, so the update is not lost.
            log.error(
                "update could not be stored, telling Telegram to retry update=%s error=%r",
                update.update_id,
                exc,
            )
            return web.json_response({"error": "try again"}, status=503)
        return web.json_response({"ok": True})

    async def start(self, public_url: str) -> None:
        """Listen, then ask Telegram to post updates to `public_url`."""
        self._runner = web.AppRunner(self._app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        await self._bot.set_webhook(public_url, secret_token=self._secret)
        log.info("webhook receiver listening host=%s port=%s", self._host, self._port)

    async def stop(self) -> None:
        """Stop listening; Telegram keeps updates until the webhook answers again."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        log.info("webhook receiver stopped")
