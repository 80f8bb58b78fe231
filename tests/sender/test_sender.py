"""RateLimitedSender against the local Bot API server over HTTP, with Telegram's limits on."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramServerError,
)
from aiogram.methods import EditMessageText, SendDocument, SendMessage, SendPhoto
from aiogram.types import BufferedInputFile, Message
from aiohttp import web

from bots.local_api import LocalBotApiControl, LocalBotApiServer
from bots.sender import RateLimitedSender, SenderMiddleware, SenderStoppedError
from griddispatch.nats_server import free_port
from tests.local_api.conftest import make_png

TOKEN = "987654321:AAsender-test_token"
FIRST_USER_ID = 7001
GROUP_CHAT_ID = -4001
SENDER_LOGGER = "bots.sender"


def make_bot(base_url: str) -> Bot:
    return Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(base_url)))


class CountingSend:
    """A call factory that sends one text and records when each attempt started."""

    def __init__(self, bot: Bot, chat_id: int, text: str) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.text = text
        self.started: list[float] = []

    def __call__(self) -> Awaitable[Message]:
        self.started.append(time.monotonic())
        return self.bot.send_message(self.chat_id, self.text)


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def retry_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == SENDER_LOGGER and "retrying" in record.getMessage()
    ]


@pytest.fixture
async def server() -> AsyncIterator[LocalBotApiServer]:
    async with LocalBotApiServer(enforce_limits=True) as running:
        yield running


@pytest.fixture
async def control(server: LocalBotApiServer) -> AsyncIterator[LocalBotApiControl]:
    async with LocalBotApiControl(server.base_url, TOKEN) as client:
        yield client


@pytest.fixture
async def bot(server: LocalBotApiServer) -> AsyncIterator[Bot]:
    client = make_bot(server.base_url)
    yield client
    await client.session.close()


@pytest.fixture
async def sender(bot: Bot) -> AsyncIterator[RateLimitedSender]:
    running = RateLimitedSender(bot)
    await running.start()
    yield running
    # A bounded drain keeps a stuck test from hanging in teardown.
    await running.stop(timeout_s=10.0)


async def create_users(control: LocalBotApiControl, count: int) -> list[int]:
    user_ids = [FIRST_USER_ID + index for index in range(count)]
    for user_id in user_ids:
        await control.create_user(user_id, f"Inspector {user_id}")
    return user_ids


async def wait_for_rejections(control: LocalBotApiControl, count: int) -> None:
    deadline = time.monotonic() + 5.0
    while (await control.stats()).rejected_429 < count:
        assert time.monotonic() < deadline, f"server did not reject {count} sends with 429"
        await asyncio.sleep(0.01)


async def test_many_chats_arrive_without_429(
    sender: RateLimitedSender, control: LocalBotApiControl
) -> None:
    user_ids = await create_users(control, 40)
    calls = [
        sender.call_method(SendMessage(chat_id=user_id, text=f"task {number}"))
        for number in range(3)
        for user_id in user_ids
    ]

    started = time.monotonic()
    sent = await asyncio.gather(*calls)
    elapsed_s = time.monotonic() - started
    stats = await control.stats()

    assert len(sent) == 120
    assert stats.sends == 120
    assert stats.rejected_429 == 0
    # 120 sends at 30 a second take about 4 s, and one chat at a time would take 80 s.
    assert elapsed_s < 10.0
    for user_id in user_ids:
        texts = [message.text for message in await control.messages(user_id)]
        assert texts == ["task 0", "task 1", "task 2"], f"chat {user_id}"


async def test_one_chat_keeps_order_and_spacing(
    bot: Bot, sender: RateLimitedSender, control: LocalBotApiControl
) -> None:
    (user_id,) = await create_users(control, 1)
    sends = [CountingSend(bot, user_id, f"step {number}") for number in range(5)]

    await asyncio.gather(*(sender.call(user_id, send) for send in sends))
    texts = [message.text for message in await control.messages(user_id)]
    starts = [send.started[0] for send in sends]
    gaps_s = gaps(starts)
    stats = await control.stats()

    assert texts == [f"step {number}" for number in range(5)]
    assert all(len(send.started) == 1 for send in sends)
    assert min(gaps_s) >= 1.0, f"gaps between sends: {gaps_s}"
    assert stats.rejected_429 == 0


async def test_backlog_does_not_stall_other_chats(
    bot: Bot, sender: RateLimitedSender, control: LocalBotApiControl
) -> None:
    busy_id, quiet_id = await create_users(control, 2)
    backlog = [
        asyncio.create_task(sender.call(busy_id, CountingSend(bot, busy_id, f"backlog {number}")))
        for number in range(5)
    ]
    await asyncio.sleep(0.1)

    started = time.monotonic()
    await sender.call(quiet_id, CountingSend(bot, quiet_id, "urgent"))
    quiet_elapsed_s = time.monotonic() - started
    await asyncio.gather(*backlog)
    quiet_texts = [message.text for message in await control.messages(quiet_id)]

    assert quiet_texts == ["urgent"]
    assert quiet_elapsed_s < 0.5


async def test_middleware_queues_plain_bot_calls(
    bot: Bot, sender: RateLimitedSender, control: LocalBotApiControl
) -> None:
    (user_id,) = await create_users(control, 1)
    bot.session.middleware(SenderMiddleware(sender))

    started = time.monotonic()
    backlog = asyncio.gather(*(bot.send_message(user_id, f"step {number}") for number in range(5)))
    await asyncio.sleep(0.1)
    me = await bot.get_me()
    get_me_elapsed_s = time.monotonic() - started
    await backlog
    elapsed_s = time.monotonic() - started
    # call_method inside a sender worker must not queue the call a second time.
    sent = await asyncio.wait_for(
        sender.call_method(SendMessage(chat_id=user_id, text="step 5")), timeout=5.0
    )
    texts = [message.text for message in await control.messages(user_id)]
    stats = await control.stats()

    assert texts == [f"step {number}" for number in range(6)]
    assert sent.text == "step 5"
    assert stats.rejected_429 == 0
    # Five sends to one chat are 1 s apart, so the last one leaves 4 s after the first.
    assert elapsed_s >= 4.0
    # getMe is not a queued method, so it does not wait behind the chat's backlog.
    assert me.id == bot.id
    assert get_me_elapsed_s < 1.0


async def test_forced_429_waits_retry_after(
    bot: Bot, control: LocalBotApiControl, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=SENDER_LOGGER)
    (user_id,) = await create_users(control, 1)
    # A send around the sender uses up the chat's 1 message a second.
    await bot.send_message(user_id, "direct")
    queued = CountingSend(bot, user_id, "queued")

    # Without its own chat spacing, only retry_after keeps the sender from retrying at once.
    async with RateLimitedSender(bot, private_chat_interval_s=0.0) as sender:
        await sender.call(user_id, queued)
    texts = [message.text for message in await control.messages(user_id)]
    stats = await control.stats()

    assert texts == ["direct", "queued"]
    assert stats.per_chat[user_id].rejected_429 == 1
    assert len(queued.started) == 2
    # The local server returns retry_after=1 here.
    assert queued.started[1] - queued.started[0] >= 1.0
    assert len(retry_records(caplog)) == 1


async def test_bot_wide_429_pauses_all_chats(
    bot: Bot,
    sender: RateLimitedSender,
    control: LocalBotApiControl,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=SENDER_LOGGER)
    user_ids = await create_users(control, 33)
    direct_ids, (first_id, second_id, third_id) = user_ids[:30], user_ids[30:]
    # 30 sends around the sender use up the bot's 30 messages a second.
    await asyncio.gather(*(bot.send_message(user_id, "direct") for user_id in direct_ids))

    first = asyncio.create_task(sender.call(first_id, CountingSend(bot, first_id, "first")))
    second = asyncio.create_task(sender.call(second_id, CountingSend(bot, second_id, "second")))
    await wait_for_rejections(control, 2)
    third = asyncio.create_task(sender.call(third_id, CountingSend(bot, third_id, "third")))
    await asyncio.gather(first, second, third)
    stats = await control.stats()
    pause_records = [
        record for record in retry_records(caplog) if "bot_paused=True" in record.getMessage()
    ]

    assert stats.per_chat[first_id].rejected_429 == 1
    assert stats.per_chat[second_id].rejected_429 == 1
    assert stats.per_chat[third_id].rejected_429 == 0
    assert stats.sends == 33
    assert len(pause_records) == 1


async def test_group_sends_without_spacing(
    sender: RateLimitedSender, control: LocalBotApiControl
) -> None:
    (user_id,) = await create_users(control, 1)
    await control.create_group(GROUP_CHAT_ID, "Area 7 inspectors", [user_id])

    started = time.monotonic()
    await asyncio.gather(
        *(
            sender.call_method(SendMessage(chat_id=GROUP_CHAT_ID, text=f"notice {number}"))
            for number in range(20)
        )
    )
    elapsed_s = time.monotonic() - started
    texts = [message.text for message in await control.messages(GROUP_CHAT_ID)]
    stats = await control.stats()

    assert texts == [f"notice {number}" for number in range(20)]
    assert stats.rejected_429 == 0
    # A group allows 20 sends a minute, so they need not be 1 s apart as in a private chat.
    assert elapsed_s < 5.0


async def test_blocked_user_raises_without_retry(
    bot: Bot,
    sender: RateLimitedSender,
    control: LocalBotApiControl,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=SENDER_LOGGER)
    (user_id,) = await create_users(control, 1)
    await control.block(user_id)
    send = CountingSend(bot, user_id, "task")

    started = time.monotonic()
    with pytest.raises(TelegramForbiddenError):
        await sender.call(user_id, send)
    elapsed_s = time.monotonic() - started

    assert len(send.started) == 1
    # The default backoff waits 1 s before a retry.
    assert elapsed_s < 1.0
    assert retry_records(caplog) == []


async def test_unmodified_edit_raises_without_retry(
    sender: RateLimitedSender, control: LocalBotApiControl
) -> None:
    (user_id,) = await create_users(control, 1)
    sent = await sender.call_method(SendMessage(chat_id=user_id, text="open"))
    edit = EditMessageText(chat_id=user_id, message_id=sent.message_id, text="closed")

    edited = await sender.call_method(edit)
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await sender.call_method(edit)
    stored = (await control.messages(user_id))[0]

    assert isinstance(edited, Message)
    assert edited.text == "closed"
    assert stored.text == "closed"
    assert len(stored.edits) == 1


async def test_photo_and_document_are_sent(
    sender: RateLimitedSender, control: LocalBotApiControl
) -> None:
    (user_id,) = await create_users(control, 1)
    photo = BufferedInputFile(make_png(4, 4), filename="site.png")
    report = BufferedInputFile(b"sample,result\nA-1,pass\n", filename="report.csv")

    await sender.call_method(SendPhoto(chat_id=user_id, photo=photo, caption="site"))
    await sender.call_method(SendDocument(chat_id=user_id, document=report, caption="report"))
    messages = await control.messages(user_id)
    stats = await control.stats()

    assert [message.kind for message in messages] == ["photo", "document"]
    assert [message.text for message in messages] == ["site", "report"]
    assert stats.rejected_429 == 0


async def test_network_error_retried_then_raised(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=SENDER_LOGGER)
    # Nothing listens on a port that was free a moment ago, so every connection is refused.
    unreachable = make_bot(f"http://127.0.0.1:{free_port()}")
    # A group allows 20 sends a minute, so the 1 s spacing of a private chat
    # does not hide the backoff between attempts.
    send = CountingSend(unreachable, GROUP_CHAT_ID, "task")

    try:
        async with RateLimitedSender(unreachable, max_retries=3, backoff_base_s=0.05) as sender:
            with pytest.raises(TelegramNetworkError):
                await sender.call(GROUP_CHAT_ID, send)
    finally:
        await unreachable.session.close()
    gaps_s = gaps(send.started)
    warnings = [
        record
        for record in caplog.records
        if record.name == SENDER_LOGGER and record.levelno == logging.WARNING
    ]

    assert len(send.started) == 4
    assert gaps_s[0] >= 0.05
    assert gaps_s[1] >= 0.1
    assert gaps_s[2] >= 0.2
    assert len(retry_records(caplog)) == 3
    assert len(warnings) == 1
    assert "giving up" in warnings[0].getMessage()


@pytest.fixture
async def flaky_api() -> AsyncIterator[tuple[str, list[int]]]:
    """A Bot API stand-in on 127.0.0.1 that fails the first two sendMessage calls with 502."""
    statuses: list[int] = []

    async def send_message(request: web.Request) -> web.Response:
        if len(statuses) < 2:
            statuses.append(502)
            body = {"ok": False, "error_code": 502, "description": "Bad Gateway"}
            return web.json_response(body, status=502)

        statuses.append(200)
        chat = {"id": GROUP_CHAT_ID, "type": "group", "title": "Area 7 inspectors"}
        message = {"message_id": 1, "date": 0, "chat": chat, "text": "task"}
        return web.json_response({"ok": True, "result": message})

    app = web.Application()
    app.router.add_post("/bot{token}/sendMessage", send_message)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", statuses
    await runner.cleanup()


async def test_server_error_retried_until_sent(
    flaky_api: tuple[str, list[int]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=SENDER_LOGGER)
    base_url, statuses = flaky_api
    flaky_bot = make_bot(base_url)

    try:
        async with RateLimitedSender(flaky_bot, backoff_base_s=0.05) as sender:
            sent = await sender.call_method(SendMessage(chat_id=GROUP_CHAT_ID, text="task"))
    finally:
        await flaky_bot.session.close()

    assert sent.text == "task"
    assert statuses == [502, 502, 200]
    assert len(retry_records(caplog)) == 2


async def test_server_error_raised_after_retries(flaky_api: tuple[str, list[int]]) -> None:
    base_url, statuses = flaky_api
    flaky_bot = make_bot(base_url)

    try:
        async with RateLimitedSender(flaky_bot, max_retries=1, backoff_base_s=0.05) as sender:
            with pytest.raises(TelegramServerError):
                await sender.call_method(SendMessage(chat_id=GROUP_CHAT_ID, text="task"))
    finally:
        await flaky_bot.session.close()

    assert statuses == [502, 502]


async def test_stop_drains_queued_calls(bot: Bot, control: LocalBotApiControl) -> None:
    (user_id,) = await create_users(control, 1)
    sender = RateLimitedSender(bot)
    await sender.start()
    calls = [
        asyncio.create_task(sender.call(user_id, CountingSend(bot, user_id, f"step {number}")))
        for number in range(3)
    ]
    await asyncio.sleep(0.1)

    await sender.stop()
    texts = [message.text for message in await control.messages(user_id)]

    assert all(call.done() and call.exception() is None for call in calls)
    assert texts == ["step 0", "step 1", "step 2"]
    with pytest.raises(SenderStoppedError):
        await sender.call(user_id, CountingSend(bot, user_id, "late"))


async def test_stop_without_drain_rejects_queued(bot: Bot, control: LocalBotApiControl) -> None:
    (user_id,) = await create_users(control, 1)
    sender = RateLimitedSender(bot)
    await sender.start()
    calls = [
        asyncio.create_task(sender.call(user_id, CountingSend(bot, user_id, f"step {number}")))
        for number in range(3)
    ]
    await calls[0]

    await sender.stop(drain=False)
    results = await asyncio.gather(*calls, return_exceptions=True)
    texts = [message.text for message in await control.messages(user_id)]

    assert isinstance(results[0], Message)
    assert isinstance(results[1], SenderStoppedError)
    assert isinstance(results[2], SenderStoppedError)
    assert texts == ["step 0"]
