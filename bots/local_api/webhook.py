"""Webhook delivery: POST each update as JSON to the bot's URL until it responds with 2xx.

Updates go out one at a time in id order, each with the
X-Telegram-Bot-Api-Secret-Token header when the bot set a secret token.
A failed POST is retried with a doubling delay and recorded for
getWebhookInfo. A 2xx response confirms the update.

A response may carry a Bot API call: "method" plus parameters, as JSON or as
multipart form data. aiogram's SimpleRequestHandler sends one when it does not
handle updates in the background. The server runs the call as Telegram does
and drops its result.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import MultipartReader

from bots.local_api.errors import BotApiError
from bots.local_api.models import UpdateRecord
from bots.local_api.params import Params, read_multipart
from bots.local_api.state import BotState, WebhookConfig

logger = logging.getLogger(__name__)

SECRET_TOKEN_HEADER = "X-Telegram-Bot-Api-Secret-Token"

# Retry delays are short because the receiver runs on the same machine; Telegram's are longer.
FIRST_RETRY_DELAY_S = 0.1
MAX_RETRY_DELAY_S = 5.0
POST_TIMEOUT_S = 60.0

ReplyRunner = Callable[[BotState, str, Params], Awaitable[None]]


class WebhookManager:
    """One delivery task per bot that has a webhook."""

    def __init__(self, run_reply: ReplyRunner) -> None:
        self._run_reply = run_reply
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        """Create the HTTP client used for deliveries."""
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=POST_TIMEOUT_S))

    async def close(self) -> None:
        """Cancel every delivery task and close the HTTP client."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

        if self._session is not None:
            await self._session.close()
            self._session = None

    def activate(self, bot: BotState) -> None:
        """Start delivering the bot's pending and future updates to its webhook."""
        if bot.webhook is None:
            return
        self.deactivate(bot)
        task = asyncio.create_task(
            self._deliver_forever(bot, bot.webhook), name=f"webhook-bot-{bot.bot_id}"
        )
        task.add_done_callback(_log_crash)
        self._tasks[bot.token] = task

    def deactivate(self, bot: BotState) -> None:
        """Stop delivery; an update being posted stays pending."""
        task = self._tasks.pop(bot.token, None)
        if task is not None:
            task.cancel()

    async def _deliver_forever(self, bot: BotState, config: WebhookConfig) -> None:
        delay_s = FIRST_RETRY_DELAY_S
        failures = 0

        while True:
            update = await self._next_update(bot)
            if await self._post(bot, config, update, failures):
                _log_recovery(bot, failures)
                bot.updates.confirm_one(update.update_id)
                delay_s, failures = FIRST_RETRY_DELAY_S, 0
                continue

            failures += 1
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, MAX_RETRY_DELAY_S)

    @staticmethod
    async def _next_update(bot: BotState) -> UpdateRecord:
        while True:
            pending = bot.updates.take(1)
            if pending:
                return pending[0]
            bot.updates.arrival.clear()
            await bot.updates.arrival.wait()

    async def _post(
        self, bot: BotState, config: WebhookConfig, update: UpdateRecord, failures: int
    ) -> bool:
        assert self._session is not None, "WebhookManager.open() must run before delivery"
        headers = {SECRET_TOKEN_HEADER: config.secret_token} if config.secret_token else {}

        try:
            async with self._session.post(
                config.url, json=update.to_json(), headers=headers
            ) as response:
                if 200 <= response.status < 300:
                    await self._run_answer(bot, response)
                    return True
                error = f"Wrong response from the webhook: {response.status} {response.reason}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"Connection failed: {type(exc).__name__}: {exc}"

        config.last_error_date = bot.now()
        config.last_error_message = error
        log = logger.warning if failures == 0 else logger.debug
        log(
            "webhook delivery failed bot_id=%s update_id=%s attempt=%s error=%s",
            bot.bot_id,
            update.update_id,
            failures + 1,
            error,
        )
        return False

    async def _run_answer(self, bot: BotState, response: aiohttp.ClientResponse) -> None:
        try:
            params = await _read_answer(response)
        except (BotApiError, ValueError, aiohttp.ClientError) as exc:
            # The update was delivered all the same, so only the call in the response is lost.
            logger.warning("webhook response unreadable bot_id=%s error=%s", bot.bot_id, exc)
            return

        method = params.text("method") if params is not None else None
        if params is None or not method:
            return

        params.values.pop("method", None)
        await self._run_reply(bot, method, params)


async def _read_answer(response: aiohttp.ClientResponse) -> Params | None:
    """Read a Bot API call from a webhook response; None when the response carries none."""
    params = Params()

    if response.content_type == "multipart/form-data":
        await read_multipart(MultipartReader(response.headers, response.content), params)
        return params

    if response.content_type != "application/json":
        return None

    try:
        body = json.loads(await response.text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None

    if not isinstance(body, dict):
        return None
    params.values.update(body)
    return params


def _log_crash(task: asyncio.Task[None]) -> None:
    if task.cancelled() or task.exception() is None:
        return
    logger.error("webhook delivery stopped task=%s", task.get_name(), exc_info=task.exception())


def _log_recovery(bot: BotState, failures: int) -> None:
    if failures > 0:
        logger.info("webhook delivery recovered bot_id=%s failed_attempts=%s", bot.bot_id, failures)
