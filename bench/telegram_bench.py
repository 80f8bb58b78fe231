"""Time notification delivery through RateLimitedSender with Telegram's rate limits enforced.

The script starts the local Bot API server (bots/local_api) on 127.0.0.1 in
this process, with limits on: 30 sends a second per bot, 1 a second per
private chat and 20 a minute per group, each a sliding window. It creates one
user per chat and sends MESSAGES notifications round-robin over CHATS private
chats through one RateLimitedSender and a real aiogram Bot over HTTP. By
default every notification is enqueued at once, as when a sweep escalates many
tasks together; --arrival-rate spreads them out instead.

It reports messages a second from the first enqueue to the last delivery, next
to the highest rate a 30-a-second sliding window allows for that many messages.
It also reports the time from enqueue to delivery (the response to sendMessage)
at p50, p95 and max, and the server's counts of accepted sends and 429s. It then
checks that every chat contains its notifications in order. The exit status is 1
when a 429 was counted, a notification is missing or out of order, or the rate
is under --goal-rate. The rate is not checked when --arrival-rate is below
--goal-rate. Run `python bench/telegram_bench.py --help` for the
options; bench/README.md has recorded results.
"""

import argparse
import asyncio
import logging
import statistics
import sys
import time
from dataclasses import dataclass

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import SendMessage

from bots.local_api import LocalBotApiControl, LocalBotApiServer
from bots.sender import RateLimitedSender

log = logging.getLogger("telegram_bench")

# A made-up token for the local server, which is the only server it is sent to.
TOKEN = "424242:AAbench-local_token"
FIRST_USER_ID = 900001
CEILING_PER_S = 30.0
GOAL_PER_S = 28.0


@dataclass(frozen=True)
class Result:
    """Timings and server counts of one run."""

    messages: int
    chats: int
    elapsed_s: float
    latencies_s: list[float]
    server_sends: int
    server_429: int
    chats_out_of_order: int

    @property
    def rate_per_s(self) -> float:
        """Messages a second from the first enqueue to the last delivery."""
        return self.messages / self.elapsed_s

    @property
    def ceiling_per_s(self) -> float:
        """The rate of a sender that uses every slot of a 30-a-second sliding window.

        Message k (from 0) can go out no earlier than k // 30 seconds after the
        first, so the run takes at least (messages - 1) // 30 seconds, and a short
        run can show more than 30 a second.
        """
        min_elapsed_s = (self.messages - 1) // int(CEILING_PER_S)
        return self.messages / min_elapsed_s if min_elapsed_s else float("inf")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Send notifications through RateLimitedSender to a local Bot API server "
        "with Telegram's limits enforced, and report the rate and delivery times.",
    )
    parser.add_argument(
        "--messages", type=int, default=2000, help="notifications to send (default 2000)"
    )
    parser.add_argument(
        "--chats", type=int, default=500, help="private chats to spread them over (default 500)"
    )
    parser.add_argument(
        "--arrival-rate",
        type=float,
        default=0.0,
        help="notifications enqueued a second; 0 enqueues all at once (default 0)",
    )
    parser.add_argument(
        "--goal-rate",
        type=float,
        default=GOAL_PER_S,
        help=f"lowest passing rate in messages a second (default {GOAL_PER_S:g})",
    )
    args = parser.parse_args(argv)
    if args.messages < 1 or args.chats < 1 or args.arrival_rate < 0:
        parser.error("--messages and --chats must be at least 1, --arrival-rate at least 0")
    return args


async def _send_one(sender: RateLimitedSender, chat_id: int, number: int) -> tuple[float, float]:
    """Send notification `number` and return the perf_counter times of enqueue and delivery."""
    enqueued = time.perf_counter()
    await sender.call_method(SendMessage(chat_id=chat_id, text=f"notification {number}"))
    return enqueued, time.perf_counter()


async def _count_out_of_order(
    control: LocalBotApiControl, chat_ids: list[int], messages: int
) -> int:
    """Return how many chats lack a notification or hold them out of order."""
    out_of_order = 0
    for index, chat_id in enumerate(chat_ids):
        texts = [message.text for message in await control.messages(chat_id)]
        numbers = range(index, messages, len(chat_ids))
        if texts != [f"notification {number}" for number in numbers]:
            out_of_order += 1
    return out_of_order


async def _run(messages: int, chat_count: int, arrival_rate: float) -> Result:
    async with (
        LocalBotApiServer("127.0.0.1", 0, enforce_limits=True) as server,
        LocalBotApiControl(server.base_url, TOKEN) as control,
    ):
        chat_ids = [FIRST_USER_ID + index for index in range(chat_count)]
        for chat_id in chat_ids:
            await control.create_user(chat_id, f"Inspector {chat_id}")

        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(server.base_url)))
        try:
            async with RateLimitedSender(bot) as sender:
                started = time.perf_counter()
                sends: list[asyncio.Task[tuple[float, float]]] = []
                for number in range(messages):
                    chat_id = chat_ids[number % chat_count]
                    sends.append(asyncio.create_task(_send_one(sender, chat_id, number)))
                    if arrival_rate > 0:
                        # Sleep to a fixed schedule, so time spent enqueueing does not add up.
                        next_at = started + (number + 1) / arrival_rate
                        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                times = await asyncio.gather(*sends)
                elapsed_s = time.perf_counter() - started
        finally:
            await bot.session.close()

        stats = await control.stats()
        out_of_order = await _count_out_of_order(control, chat_ids, messages)
    return Result(
        messages=messages,
        chats=chat_count,
        elapsed_s=elapsed_s,
        latencies_s=[delivered - enqueued for enqueued, delivered in times],
        server_sends=stats.sends,
        server_429=stats.rejected_429,
        chats_out_of_order=out_of_order,
    )


def _report(result: Result, arrival_rate: float) -> None:
    arrival = "all at once" if arrival_rate == 0 else f"{arrival_rate:g} a second"
    latencies = sorted(result.latencies_s)
    percentiles = statistics.quantiles(latencies, n=100, method="inclusive")
    print(f"notifications        {result.messages} to {result.chats} chats, enqueued {arrival}")
    print(f"elapsed              {result.elapsed_s:.1f} s")
    print(
        f"rate                 {result.rate_per_s:.2f} messages/s, first enqueue to last delivery"
    )
    print(
        f"window ceiling       {result.ceiling_per_s:.2f} messages/s for {result.messages} "
        f"messages under {CEILING_PER_S:g} a second "
        f"(reached {100 * result.rate_per_s / result.ceiling_per_s:.1f}%)"
    )
    print(
        f"enqueue to delivery  p50 {percentiles[49]:.2f} s, p95 {percentiles[94]:.2f} s, "
        f"max {latencies[-1]:.2f} s"
    )
    print(f"server sends         {result.server_sends}")
    print(f"server 429           {result.server_429}")
    print(f"chats out of order   {result.chats_out_of_order}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the report and return the exit status."""
    args = _parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")

    result = asyncio.run(_run(args.messages, args.chats, args.arrival_rate))
    _report(result, args.arrival_rate)

    failures = []
    if result.server_429 > 0:
        failures.append(f"{result.server_429} sends got 429")
    if result.server_sends != result.messages or result.chats_out_of_order > 0:
        failures.append(
            f"server accepted {result.server_sends} of {result.messages} sends and "
            f"{result.chats_out_of_order} chats are missing messages or out of order"
        )
    # Notifications enqueued slower than the goal cannot be sent faster than they arrive.
    rate_checked = args.arrival_rate == 0 or args.arrival_rate >= args.goal_rate
    if rate_checked and result.rate_per_s < args.goal_rate:
        failures.append(f"rate {result.rate_per_s:.2f}/s is under the goal {args.goal_rate:g}/s")
    for failure in failures:
        log.error("benchmark failed: %s", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
