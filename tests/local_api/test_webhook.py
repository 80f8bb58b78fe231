"""Webhook mode: delivery with the secret header, retries, 409 for getUpdates."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramConflictError
from aiohttp import web

from bots.local_api import LocalBotApiControl
from tests.local_api.conftest import USER_ID

SECRET = "s3cret-Token_1"


@dataclass
class Receiver:
    """A webhook endpoint on 127.0.0.1 that records what it receives."""

    url: str = ""
    received: asyncio.Queue[tuple[dict[str, Any], str | None]] = field(
        default_factory=asyncio.Queue
    )
    failures_left: int = 0
    attempts: int = 0
    answer: dict[str, Any] | None = None


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()

    async def handle(request: web.Request) -> web.Response:
        state.attempts += 1
        if state.failures_left > 0:
            state.failures_left -= 1
            return web.Response(status=500)
        body = await request.json()
        await state.received.put((body, request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        return web.json_response(state.answer or {})

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}/hook"
    yield state
    await runner.cleanup()


async def test_webhook_delivers_with_secret(
    bot: Bot, control: LocalBotApiControl, receiver: Receiver
) -> None:
    assert await bot.set_webhook(receiver.url, secret_token=SECRET)

    written = await control.send_text(USER_ID, "/start")
    body, secret = await asyncio.wait_for(receiver.received.get(), timeout=5)

    assert secret == SECRET
    assert body["update_id"] == written.update_id
    assert body["message"]["text"] == "/start"
    await asyncio.sleep(0.05)
    assert await control.pending_updates() == []


async def test_get_updates_conflicts_with_webhook(
    bot: Bot, control: LocalBotApiControl, receiver: Receiver
) -> None:
    await bot.set_webhook(receiver.url)

    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates()

    assert await bot.delete_webhook()
    assert await bot.get_updates() == []


async def test_webhook_retries_until_accepted(
    bot: Bot, control: LocalBotApiControl, receiver: Receiver
) -> None:
    receiver.failures_left = 2
    await bot.set_webhook(receiver.url)

    await control.send_text(USER_ID, "hello")
    body, _ = await asyncio.wait_for(receiver.received.get(), timeout=5)
    info = await bot.get_webhook_info()

    assert body["message"]["text"] == "hello"
    assert receiver.attempts == 3
    assert info.url == receiver.url
    assert info.last_error_message is not None
    assert "500" in info.last_error_message


async def test_webhook_keeps_update_order(
    bot: Bot, control: LocalBotApiControl, receiver: Receiver
) -> None:
    receiver.failures_left = 1
    await bot.set_webhook(receiver.url)

    for text in ("one", "two", "three"):
        await control.send_text(USER_ID, text)
    texts = [
        (await asyncio.wait_for(receiver.received.get(), timeout=5))[0]["message"]["text"]
        for _ in range(3)
    ]

    assert texts == ["one", "two", "three"]


async def test_method_in_webhook_answer_runs(
    bot: Bot, control: LocalBotApiControl, receiver: Receiver
) -> None:
    receiver.answer = {"method": "sendMessage", "chat_id": USER_ID, "text": "Got it"}
    await bot.set_webhook(receiver.url)

    await control.send_text(USER_ID, "report")
    messages = await control.wait_for_messages(USER_ID, 1, timeout_s=5)

    assert [message.text for message in messages] == ["Got it"]


async def test_set_webhook_ends_long_poll(bot: Bot, receiver: Receiver) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=20))
    await asyncio.sleep(0.2)

    await bot.set_webhook(receiver.url)

    with pytest.raises(TelegramConflictError, match="terminated by setWebhook request"):
        await asyncio.wait_for(poll, timeout=2)


async def test_non_loopback_webhook_rejected(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="loopback"):
        await bot.set_webhook("https://example.org/hook")

    info = await bot.get_webhook_info()
    assert info.url == ""


async def test_drop_pending_updates_on_delete(bot: Bot, control: LocalBotApiControl) -> None:
    await control.send_text(USER_ID, "stale")

    await bot.delete_webhook(drop_pending_updates=True)

    assert await control.pending_updates() == []
    assert await bot.get_updates() == []
