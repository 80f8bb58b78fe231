"""One queue for every outbound Bot API call of a bot, kept within Telegram's rate limits.

Telegram's Bots FAQ gives about 30 messages a second per bot, 1 a second in one
private chat and 20 a minute in one group. RateLimitedSender keeps a FIFO queue
per chat with one worker task each, so messages to a chat leave in order and a
chat that waits (for its own limit, a 429 or a backoff) does not delay the others.
SenderMiddleware, registered on the bot's session, sends every bot.send_message,
message.answer and the like through that queue, so callers need no changes.

Each limit is a bucket of `limit` tokens. A call takes a token, and the token
comes back `period` seconds after the response to that call arrived. Telegram
accepted the call before it responded, so two calls with the same token reach the
server at least `period` apart. So the limit is kept in every sliding window,
even with network latency. A bucket that refills continuously with a
burst of 30 would allow close to 60 sends in one second, which Telegram and the
local Bot API server (bots/local_api) reject with 429. The price is that each
token cycles once per period plus one round trip, so a bot sends at most
30 / (1 s + latency) messages a second.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, TypeVar

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramEntityTooLarge,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import (
    EditMessageCaption,
    EditMessageReplyMarkup,
    EditMessageText,
    Response,
    SendDocument,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType

log = logging.getLogger(__name__)

T = TypeVar("T")

ChatId = int | str
"""A numeric chat id, or an "@username" of a public group or channel."""

QUEUED_METHODS: tuple[type[TelegramMethod[Any]], ...] = (
    SendMessage,
    SendPhoto,
    SendDocument,
    EditMessageText,
    EditMessageReplyMarkup,
    EditMessageCaption,
)
"""The methods SenderMiddleware queues by default; other methods go straight to Telegram."""

# True inside the sender's worker tasks, so SenderMiddleware does not queue a call twice.
_in_worker: ContextVar[bool] = ContextVar("bots_sender_in_worker", default=False)


class SenderStoppedError(RuntimeError):
    """Raised for a call made after stop(), or still queued when stop() cancelled it."""


class _Window:
    """At most `limit` calls in any `period_s`-long span, counted from each call's response."""

    def __init__(self, limit: int, period_s: float) -> None:
        if limit < 1 or period_s < 0:
            raise ValueError(
                f"invalid rate limit {limit} per {period_s} s; "
                "expected a limit of at least 1 and a period of at least 0 s"
            )
        self._limit = limit
        self._period_s = period_s
        self._in_flight = 0
        # Times at which used tokens come back, oldest first. release() appends the
        # monotonic clock plus a constant, so the deque stays sorted.
        self._cooling: deque[float] = deque()
        self._paused_until = 0.0
        # asyncio.Lock wakes waiters in FIFO order, so callers get tokens in turn.
        self._lock = asyncio.Lock()
        self._released = asyncio.Event()

    @property
    def period_s(self) -> float:
        """The span the limit counts over, in seconds."""
        return self._period_s

    def pause(self, seconds: float) -> None:
        """Hold back new calls for `seconds` from now. A longer pause already set stays."""
        until = asyncio.get_running_loop().time() + seconds
        self._paused_until = max(self._paused_until, until)

    def is_idle(self) -> bool:
        """Return whether no call is in flight, cooling down or paused."""
        now = asyncio.get_running_loop().time()
        cooling = bool(self._cooling) and self._cooling[-1] > now
        return self._in_flight == 0 and not cooling and self._paused_until <= now

    async def acquire(self) -> None:
        """Wait until a token is free and no pause is set, then take the token."""
        loop = asyncio.get_running_loop()
        async with self._lock:
            while True:
                now = loop.time()
                while self._cooling and self._cooling[0] <= now:
                    self._cooling.popleft()

                if now < self._paused_until:
                    await asyncio.sleep(self._paused_until - now)
                elif self._in_flight + len(self._cooling) < self._limit:
                    self._in_flight += 1
                    return
                elif self._cooling:
                    await asyncio.sleep(self._cooling[0] - now)
                else:
                    # Every token is in flight, so wait for a response to start a cooldown.
                    self._released.clear()
                    await self._released.wait()

    def release(self) -> None:
        """Return the token `period_s` seconds from now, after the call's response."""
        self._in_flight -= 1
        self._cooling.append(asyncio.get_running_loop().time() + self._period_s)
        self._released.set()


@dataclass
class _Job(Generic[T]):
    factory: Callable[[], Awaitable[T]]
    future: asyncio.Future[T]


@dataclass
class _Lane:
    """The queue of one chat, its rate limit window and the task that drains it."""

    window: _Window
    jobs: deque[_Job[Any]] = field(default_factory=deque)
    worker: asyncio.Task[None] | None = None
    forget: asyncio.TimerHandle | None = None


class RateLimitedSender:
    """Queue Bot API calls of one bot per chat and send them within Telegram's limits.

    `call(chat_id, factory)` enqueues a call and returns its result, or raises its
    final exception:

    - TelegramRetryAfter (429): the chat waits the given retry_after, then the call
      is sent again, up to `max_rate_limit_retries` times. A 429 that arrives while
      another chat is still waiting out its own 429 is taken as the bot-wide limit,
      so every chat waits. Telegram's 429 does not say which limit was hit.
    - TelegramNetworkError and TelegramServerError (5xx): sent again after 1, 2, 4 …
      times `backoff_base_s` seconds (at most `backoff_max_s`), up to `max_retries`
      times. A timed-out call may have reached Telegram, so its retry can repeat
      the message.
    - Any other error (TelegramForbiddenError for a blocked or deactivated user,
      TelegramBadRequest including "message is not modified", 413) is raised at once.

    One limiter serves one bot token. Calls made around the sender, by another
    sender or another process with the same token count against Telegram's limits
    but not against this sender's, and come back as 429s.
    """

    def __init__(
        self,
        bot: Bot,
        *,
        messages_per_second: int = 30,
        private_chat_interval_s: float = 1.0,
        group_messages_per_minute: int = 20,
        max_retries: int = 5,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 30.0,
        max_rate_limit_retries: int = 10,
    ) -> None:
        if max_retries < 0 or max_rate_limit_retries < 0:
            raise ValueError(
                f"invalid retry counts max_retries={max_retries} "
                f"max_rate_limit_retries={max_rate_limit_retries}; expected 0 or more"
            )
        self._bot = bot
        self._messages_per_second = messages_per_second
        self._private_chat_interval_s = private_chat_interval_s
        self._group_messages_per_minute = group_messages_per_minute
        self._max_retries = max_retries
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._max_rate_limit_retries = max_rate_limit_retries

        self._bot_window = _Window(messages_per_second, 1.0)
        self._lanes: dict[ChatId, _Lane] = {}
        # Chats waiting out a 429, with the loop time their wait ends.
        self._rate_limited: dict[ChatId, float] = {}
        self._running = False

    @property
    def queued(self) -> int:
        """Calls enqueued and not finished yet, the ones being sent included."""
        return sum(len(lane.jobs) for lane in self._lanes.values())

    async def start(self) -> None:
        """Accept calls; until then call() raises SenderStoppedError."""
        if self._running:
            return
        self._bot_window = _Window(self._messages_per_second, 1.0)
        self._rate_limited.clear()
        self._running = True
        log.info(
            "sender started bot=%s messages_per_second=%s private_chat_interval_s=%s "
            "group_messages_per_minute=%s",
            self._bot.id,
            self._messages_per_second,
            self._private_chat_interval_s,
            self._group_messages_per_minute,
        )

    async def stop(self, *, drain: bool = True, timeout_s: float | None = None) -> None:
        """Stop accepting calls and finish or cancel the queued ones.

        With `drain` the queued calls are sent first, for at most `timeout_s`
        seconds when it is given. Calls still queued after that, or all of them
        without `drain`, are cancelled and raise SenderStoppedError to their callers.
        A call already sent when it is cancelled may still reach the chat.
        """
        self._running = False
        workers = [lane.worker for lane in self._lanes.values() if lane.worker is not None]
        if drain and workers:
            _, pending = await asyncio.wait(workers, timeout=timeout_s)
            if pending:
                log.warning(
                    "sender drain timed out, cancelling queued calls chats=%s timeout_s=%s",
                    len(pending),
                    timeout_s,
                )
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

        unsent = 0
        for chat_id, lane in self._lanes.items():
            if lane.forget is not None:
                lane.forget.cancel()
            for job in lane.jobs:
                if not job.future.done():
                    job.future.set_exception(
                        SenderStoppedError(f"sender stopped before the call to chat {chat_id}")
                    )
                    unsent += 1
        self._lanes.clear()
        log.info("sender stopped bot=%s unsent=%s", self._bot.id, unsent)

    async def __aenter__(self) -> RateLimitedSender:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def call(self, chat_id: ChatId, factory: Callable[[], Awaitable[T]]) -> T:
        """Enqueue a call to `chat_id` and return its result once it is sent.

        `factory` creates a new awaitable for each attempt, for example
        `lambda: bot.send_message(chat_id, text)`. Cancelling the caller drops the
        call if it is still queued, but not if it is being sent.
        """
        if not self._running:
            raise SenderStoppedError(
                f"sender is not running, call to chat {chat_id} rejected; call start() first"
            )
        lane = self._lanes.get(chat_id)
        if lane is None:
            lane = _Lane(self._chat_window(chat_id))
            self._lanes[chat_id] = lane

        job: _Job[T] = _Job(factory, asyncio.get_running_loop().create_future())
        lane.jobs.append(job)
        if lane.worker is None:
            lane.worker = asyncio.create_task(self._drain(chat_id, lane), name=f"sender-{chat_id}")
        return await job.future

    async def call_method(self, method: TelegramMethod[T]) -> T:
        """Enqueue an aiogram method, such as SendMessage(chat_id=…, text=…), to its chat_id.

        Raises ValueError for a method without chat_id, such as an inline message edit.
        Send those with call() and a chat id of your choice.
        """
        chat_id = getattr(method, "chat_id", None)
        if not isinstance(chat_id, int | str):
            raise ValueError(
                f"method {method.__api_method__} has no chat_id to queue it under; "
                "use call() with a chat id"
            )
        return await self.call(chat_id, lambda: self._bot(method))

    def _chat_window(self, chat_id: ChatId) -> _Window:
        # Negative ids are groups, supergroups and channels. An @username is a public one.
        if isinstance(chat_id, str) or chat_id < 0:
            return _Window(self._group_messages_per_minute, 60.0)
        return _Window(1, self._private_chat_interval_s)

    async def _drain(self, chat_id: ChatId, lane: _Lane) -> None:
        """Send the chat's calls in order until its queue is empty."""
        _in_worker.set(True)
        try:
            while lane.jobs:
                job = lane.jobs[0]
                # A cancelled caller leaves a cancelled future, so its call is skipped.
                if not job.future.done():
                    await self._run(chat_id, lane, job)
                lane.jobs.popleft()
        finally:
            lane.worker = None
            if self._running:
                lane.forget = asyncio.get_running_loop().call_later(
                    lane.window.period_s, self._forget_lane, chat_id
                )

    async def _run(self, chat_id: ChatId, lane: _Lane, job: _Job[Any]) -> None:
        try:
            result = await self._send_with_retries(chat_id, lane, job.factory)
        except Exception as exc:
            if not job.future.done():
                job.future.set_exception(exc)
        else:
            if not job.future.done():
                job.future.set_result(result)

    def _forget_lane(self, chat_id: ChatId) -> None:
        """Drop an idle chat's state once its window is empty, so chats do not pile up."""
        lane = self._lanes.get(chat_id)
        if lane is not None and lane.worker is None and not lane.jobs and lane.window.is_idle():
            del self._lanes[chat_id]

    async def _send_once(self, window: _Window, factory: Callable[[], Awaitable[T]]) -> T:
        await window.acquire()
        try:
            await self._bot_window.acquire()
            try:
                return await factory()
            finally:
                self._bot_window.release()
        finally:
            window.release()

    async def _send_with_retries(
        self, chat_id: ChatId, lane: _Lane, factory: Callable[[], Awaitable[T]]
    ) -> T:
        failures = 0
        rate_limited = 0
        while True:
            try:
                return await self._send_once(lane.window, factory)
            except TelegramRetryAfter as exc:
                rate_limited += 1
                if rate_limited > self._max_rate_limit_retries:
                    _log_giving_up(chat_id, rate_limited, exc)
                    raise
                self._wait_out_rate_limit(chat_id, lane, exc)
            except (TelegramNetworkError, TelegramServerError) as exc:
                if isinstance(exc, TelegramEntityTooLarge):
                    raise
                failures += 1
                if failures > self._max_retries:
                    _log_giving_up(chat_id, failures, exc)
                    raise
                delay_s = min(self._backoff_base_s * 2 ** (failures - 1), self._backoff_max_s)
                log.info(
                    "telegram call failed, retrying chat=%s method=%s attempt=%s "
                    "max_retries=%s delay_s=%.2f error=%s",
                    chat_id,
                    exc.method.__api_method__,
                    failures,
                    self._max_retries,
                    delay_s,
                    exc.message,
                )
                await asyncio.sleep(delay_s)

    def _wait_out_rate_limit(self, chat_id: ChatId, lane: _Lane, exc: TelegramRetryAfter) -> None:
        """Pause the chat for retry_after, and the whole bot when the limit is bot-wide."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        for other, until in list(self._rate_limited.items()):
            if until <= now:
                del self._rate_limited[other]
        bot_wide = any(other != chat_id for other in self._rate_limited)
        self._rate_limited[chat_id] = now + exc.retry_after

        lane.window.pause(exc.retry_after)
        if bot_wide:
            self._bot_window.pause(exc.retry_after)
        log.info(
            "telegram rate limit, retrying chat=%s method=%s retry_after=%s bot_paused=%s",
            chat_id,
            exc.method.__api_method__,
            exc.retry_after,
            bot_wide,
        )


class SenderMiddleware(BaseRequestMiddleware):
    """Route a bot's sends and edits through a RateLimitedSender, whichever code makes them.

    Register it on the session of the sender's bot:
    `bot.session.middleware(SenderMiddleware(sender))`. Then `bot.send_message(…)`,
    `message.answer(…)` and the other `methods` with a chat_id wait in the chat's
    queue, so a handler's reply waits behind notifications queued for its chat.
    Calls without a chat_id (inline message edits) and other methods, such as
    getUpdates and answerCallbackQuery, go straight to Telegram.
    """

    def __init__(
        self,
        sender: RateLimitedSender,
        methods: tuple[type[TelegramMethod[Any]], ...] = QUEUED_METHODS,
    ) -> None:
        self._sender = sender
        self._methods = methods

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        chat_id = getattr(method, "chat_id", None)
        if not isinstance(method, self._methods) or not isinstance(chat_id, int | str):
            return await make_request(bot, method)
        if _in_worker.get():
            return await make_request(bot, method)
        return await self._sender.call(chat_id, lambda: make_request(bot, method))


def _log_giving_up(chat_id: ChatId, attempts: int, exc: TelegramAPIError) -> None:
    log.warning(
        "telegram call failed, giving up chat=%s method=%s attempts=%s error=%s",
        chat_id,
        exc.method.__api_method__,
        attempts,
        exc.message,
    )
