"""aiogram's Dispatcher runs against the local server, by polling and by webhook."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.filters import CommandObject, CommandStart
from aiogram.methods import SendMessage
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bots.local_api import LocalBotApiControl
from tests.local_api.conftest import USER_ID

SECRET = "hook-secret"


def build_dispatcher() -> Dispatcher:
    dispatcher = Dispatcher()

    @dispatcher.message(CommandStart())
    async def start(message: Message, command: CommandObject) -> None:
        markup = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="Accept", callback_data="accept")]]
        )
        await message.answer(f"Invite {command.args}", reply_markup=markup)

    @dispatcher.callback_query(F.data == "accept")
    async def accept(query: CallbackQuery) -> None:
        await query.answer("Accepted")
        if isinstance(query.message, Message):
            await query.message.edit_text("Accepted")

    return dispatcher


@pytest.fixture
async def polling(bot: Bot) -> AsyncIterator[Dispatcher]:
    dispatcher = build_dispatcher()
    task = asyncio.create_task(
        dispatcher.start_polling(
            bot, polling_timeout=1, handle_signals=False, close_bot_session=False
        )
    )
    yield dispatcher
    await dispatcher.stop_polling()
    await asyncio.wait_for(task, timeout=5)


async def test_polling_start_and_tap(
    bot: Bot, control: LocalBotApiControl, polling: Dispatcher
) -> None:
    await control.send_text(USER_ID, "/start ABC123")
    card = (await control.wait_for_messages(USER_ID, 1, timeout_s=5))[0]

    await control.tap(USER_ID, card.message_id, button_text="Accept")
    for _ in range(100):
        answers = await control.callback_answers(USER_ID)
        if answers:
            break
        await asyncio.sleep(0.05)
    edited = (await control.messages(USER_ID))[0]

    assert card.text == "Invite ABC123"
    assert card.buttons == [[("Accept", "accept")]]
    assert [answer.text for answer in answers] == ["Accepted"]
    assert edited.text == "Accepted"
    assert edited.buttons == []


@pytest.fixture
async def webhook_app(bot: Bot) -> AsyncIterator[str]:
    dispatcher = Dispatcher()

    @dispatcher.message(CommandStart())
    async def start(message: Message) -> SendMessage:
        return message.answer("Welcome")

    app = web.Application()
    handler = SimpleRequestHandler(dispatcher, bot, handle_in_background=False, secret_token=SECRET)
    handler.register(app, path="/webhook")
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/webhook"
    await runner.cleanup()


async def test_webhook_handler_answer_sends(
    bot: Bot, control: LocalBotApiControl, webhook_app: str
) -> None:
    await bot.set_webhook(webhook_app, secret_token=SECRET)

    await control.send_text(USER_ID, "/start")
    messages = await control.wait_for_messages(USER_ID, 1, timeout_s=5)

    assert [message.text for message in messages] == ["Welcome"]


async def test_webhook_wrong_secret_retried(
    bot: Bot, control: LocalBotApiControl, webhook_app: str
) -> None:
    await bot.set_webhook(webhook_app, secret_token="other-secret")

    await control.send_text(USER_ID, "/start")
    await asyncio.sleep(0.5)
    info = await bot.get_webhook_info()

    assert await control.messages(USER_ID) == []
    assert info.pending_update_count == 1
    assert info.last_error_message is not None
    assert "401" in info.last_error_message
