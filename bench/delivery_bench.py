"""Time task notifications from task creation to their arrival at the Bot API server.

The script runs the components as `griddispatch up` builds them, in this process.
They are an embedded nats-server with JetStream, a migrated database, the
dispatcher, the worker with its outbox relay, and the bot with its rate-limited
sender. The database is a SQLite file, or a fresh PostgreSQL database beside the
one --dsn names, dropped at the end. The bot talks over HTTP to the local Bot API
server (bots/local_api) on 127.0.0.1 with Telegram's limits enforced: 30 sends a
second per bot and 1 a second per private chat, each a sliding window.

It loads the Ordos example registry, binds every inspector to a simulated user,
and publishes TASKS directives on `gd.directive.issue`, each to one inspector,
round-robin over the first CHATS inspectors. The dispatcher turns each into a
task and its outbox row, the relay publishes the notification to JetStream, and
the bot sends the task card. The server records the wall-clock time at which each
sendMessage request arrives. The script matches each card to its task by the task
number the card shows.

It reports, for every task:

- creation to delivery: from the task's `created_at`, written by the dispatcher's
  clock, to the card's arrival at the server;
- publish to delivery: from the directive's publish on NATS to the same arrival;

at p50, p95 and max, and the rate from the first publish to the last arrival, next
to the highest rate a 30-a-second sliding window allows.

--delivery-workers takes one or more pool sizes for the bot's notification consumer
(bots/delivery.py) and runs the whole benchmark once for each, in the order given,
each on fresh components, database and server; 1 delivers one notification at a
time. The exit status is 1 when a run's server counted a 429 or a card is missing,
or when the last run's rate is under --goal-rate (checked only when directives
arrive at least that fast). bench/README.md has recorded results.
"""

import argparse
import asyncio
import json
import logging
import re
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp.typedefs import Handler
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bots.app import BotService
from bots.delivery import DELIVERY_WORKERS
from bots.local_api import LocalBotApiControl, LocalBotApiServer
from dispatcher import local_mode
from dispatcher.setup import load_example_registry
from dispatcher.up import BotEndpoint, build_component
from griddispatch import subjects
from griddispatch.clock import SystemClock
from griddispatch.nats_connection import connect
from griddispatch.nats_server import NatsServer, free_port
from griddispatch.settings import LOCAL_BOT_TOKEN, Settings
from storage.db import Database
from storage.outbox.models import OutboxMessage
from storage.registry.models import Inspector
from storage.scratch import scratch_database
from storage.tasks.models import Task

log = logging.getLogger("delivery_bench")

CEILING_PER_S = 30.0
GOAL_PER_S = 28.0
TITLE = "基准测试指令"
TASK_NUMBER = re.compile(r"#(\d+)")
CHINA = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Arrival:
    """A sendMessage request the server accepted: its chat, card text and arrival time."""

    chat_id: int
    text: str
    at: float


class TimedBotApiServer(LocalBotApiServer):
    """The local Bot API server, also keeping the wall-clock arrival time of each sendMessage.

    The server's own Message.date is in whole seconds, as in the Bot API, which is too
    coarse for percentiles of sub-second delays.
    """

    def __init__(self) -> None:
        super().__init__("127.0.0.1", 0, enforce_limits=True)
        self.arrivals: list[Arrival] = []

    def _build_app(self) -> web.Application:
        app = super()._build_app()
        app.middlewares.append(self._record_arrival)
        return app

    @web.middleware
    async def _record_arrival(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        arrived = time.time()
        response = await handler(request)
        if request.match_info.get("method") == "sendMessage" and response.status == 200:
            assert isinstance(response, web.Response) and response.text is not None
            message = json.loads(response.text)["result"]
            self.arrivals.append(Arrival(message["chat"]["id"], message.get("text", ""), arrived))
        return response


@dataclass(frozen=True)
class Delivery:
    """One task's times, in seconds since the epoch."""

    task_id: int
    published_at: float
    created_at: float
    relayed_at: float
    arrived_at: float


@dataclass(frozen=True)
class Result:
    """The deliveries of one run and the server's counts."""

    tasks: int
    chats: int
    backend: str
    workers: int
    deliveries: list[Delivery]
    server_sends: int
    server_429: int
    first_publish: float
    last_publish: float

    @property
    def elapsed_s(self) -> float:
        """Seconds from the first publish to the last card's arrival."""
        return max(d.arrived_at for d in self.deliveries) - self.first_publish

    @property
    def rate_per_s(self) -> float:
        """Cards a second from the first publish to the last arrival."""
        return len(self.deliveries) / self.elapsed_s

    @property
    def ceiling_per_s(self) -> float:
        """The rate of a sender that uses every slot of a 30-a-second sliding window."""
        min_elapsed_s = (self.tasks - 1) // int(CEILING_PER_S)
        return self.tasks / min_elapsed_s if min_elapsed_s else float("inf")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Publish directives to the running components and time each task card "
        "from task creation to its arrival at a local Bot API server with Telegram's limits.",
    )
    parser.add_argument("--tasks", type=int, default=2000, help="directives (default 2000)")
    parser.add_argument(
        "--chats", type=int, default=500, help="inspectors to spread them over (default 500)"
    )
    parser.add_argument(
        "--arrival-rate",
        type=float,
        default=0.0,
        help="directives published a second; 0 publishes them back to back (default 0)",
    )
    parser.add_argument(
        "--delivery-workers",
        type=int,
        nargs="+",
        default=[DELIVERY_WORKERS],
        help="notifications the bot delivers at once; several values run the benchmark "
        f"once for each, for a side-by-side comparison (default {DELIVERY_WORKERS})",
    )
    parser.add_argument(
        "--dsn",
        default=None,
        help="PostgreSQL URL (postgresql+asyncpg://...); a fresh database is created beside "
        "it and dropped afterwards. Without it the run uses a SQLite file.",
    )
    parser.add_argument(
        "--goal-rate",
        type=float,
        default=GOAL_PER_S,
        help=f"lowest passing rate in cards a second (default {GOAL_PER_S:g})",
    )
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds to wait for every card (default 900)"
    )
    args = parser.parse_args(argv)
    if args.tasks < 1 or args.chats < 1 or args.arrival_rate < 0:
        parser.error("--tasks and --chats must be at least 1, --arrival-rate at least 0")
    if min(args.delivery_workers) < 1:
        parser.error(f"--delivery-workers {args.delivery_workers}: each must be at least 1")
    return args


def _quiet_settings(folder: Path, database_url: str) -> Settings:
    """Settings as `up` reads them, with no sweep or daily digest due during the run.

    Digests go out at a fixed time of day, so the run puts that time twelve hours away.
    """
    digest_at = (datetime.now(CHINA) + timedelta(hours=12)).time().replace(second=0, microsecond=0)
    return Settings(
        data_dir=folder,
        database_url=database_url,
        sweep_interval_s=3600.0,
        digest_time=digest_at,
        load_example_registry=False,
    )


async def _target_codes(db: Database, chats: int) -> dict[int, str]:
    """Return the staff codes of the first `chats` bound inspectors by their Telegram user id."""
    async with db.reading() as session:
        rows = await session.scalars(
            select(Inspector)
            .where(Inspector.telegram_user_id.is_not(None))
            .order_by(Inspector.id)
            .limit(chats)
        )
        found = {row.telegram_user_id: row.code for row in rows if row.telegram_user_id}
    if len(found) < chats:
        raise SystemExit(f"--chats {chats} is more than the {len(found)} inspectors available")
    return found


async def _publish_all(nats_url: str, codes: list[str], tasks: int, rate: float) -> list[float]:
    """Publish the directives and return the wall-clock time of each publish."""
    client = await connect(nats_url, name="delivery-bench")
    js = client.jetstream()
    run = uuid.uuid4().hex[:8]
    published: list[float] = []
    started = time.perf_counter()
    try:
        for number in range(tasks):
            message_id = f"bench-{run}-{number}"
            payload = {
                "message_id": message_id,
                "target": {"kind": "inspector", "code": codes[number % len(codes)]},
                "title": f"{TITLE} {number}",
                "body": "交付延迟基准测试",
            }
            published.append(time.time())
            await js.publish(
                subjects.DIRECTIVE_ISSUE,
                json.dumps(payload, ensure_ascii=False).encode(),
                headers={"Nats-Msg-Id": message_id},
            )
            if rate > 0:
                # Sleep to a fixed schedule, so time spent publishing does not add up.
                next_at = started + (number + 1) / rate
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    finally:
        await client.close()
    return published


def _cards(server: TimedBotApiServer) -> dict[int, Arrival]:
    """Return the first arrival of each task card by task number."""
    cards: dict[int, Arrival] = {}
    for arrival in server.arrivals:
        found = TASK_NUMBER.search(arrival.text)
        if TITLE in arrival.text and found:
            cards.setdefault(int(found.group(1)), arrival)
    return cards


async def _wait_for_cards(server: TimedBotApiServer, tasks: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while len(_cards(server)) < tasks:
        if time.monotonic() > deadline:
            log.error("timed out with %d of %d cards delivered", len(_cards(server)), tasks)
            return
        await asyncio.sleep(0.25)


async def _deliveries(
    db: Database, server: TimedBotApiServer, published: list[float]
) -> list[Delivery]:
    """Join each delivered card to its task's creation time and its directive's publish time."""
    cards = _cards(server)
    relayed = await _relay_times(db)
    async with db.reading() as session:
        rows = await session.execute(
            select(Task.id, Task.title, Task.created_at).where(Task.id.in_(list(cards)))
        )
        tasks = list(rows)
    deliveries = []
    for task_id, title, created_at in tasks:
        number = int(title.rsplit(" ", 1)[1])
        delivery = Delivery(
            task_id=task_id,
            published_at=published[number],
            created_at=created_at.timestamp(),
            relayed_at=relayed[task_id],
            arrived_at=cards[task_id].at,
        )
        deliveries.append(delivery)
    return deliveries


async def _relay_times(db: Database) -> dict[int, float]:
    """Return when the relay marked each task's notification published, by task id.

    The relay marks a batch of up to 200 rows at once, after publishing all of them,
    so this time is up to one batch late for the earlier rows of a batch.
    """
    async with db.reading() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.subject.startswith(subjects.NOTIFY_TELEGRAM_PREFIX)
            )
        )
        relayed: dict[int, float] = {}
        for row in rows:
            task_id = row.payload.get("task_id")
            if task_id is not None and row.published_at is not None:
                relayed.setdefault(int(task_id), row.published_at.timestamp())
    return relayed


async def _start_components(
    stack: AsyncExitStack,
    settings: Settings,
    db: Database,
    endpoints: tuple[str, str],
    workers: int,
) -> None:
    nats_url, api_url = endpoints
    endpoint = BotEndpoint(LOCAL_BOT_TOKEN, api_url)
    for name in ("dispatcher", "worker", "bot"):
        component = build_component(name, settings, db, nats_url=nats_url, bot=endpoint)
        if isinstance(component, BotService):
            component.delivery_workers = workers
        await component.start()
        stack.push_async_callback(component.stop)


async def _run(args: argparse.Namespace, workers: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="delivery-bench-") as tmp:
        folder = Path(tmp)
        async with AsyncExitStack() as stack:
            url = await stack.enter_async_context(
                scratch_database(folder, args.dsn, prefix="gd_delivery", file_name="bench.sqlite3")
            )
            db = Database(url)
            stack.push_async_callback(db.dispose)
            await load_example_registry(db)

            nats = NatsServer(port=free_port(), store_dir=folder / "jetstream")
            await nats.start()
            stack.push_async_callback(nats.stop)
            server = TimedBotApiServer()
            await server.start()
            stack.push_async_callback(server.stop)
            control = await stack.enter_async_context(
                LocalBotApiControl(server.base_url, LOCAL_BOT_TOKEN)
            )
            await local_mode.bind_all_locally(db, control, now=SystemClock().now())
            codes = list((await _target_codes(db, args.chats)).values())

            settings = _quiet_settings(folder, url)
            endpoints = (nats.url, server.base_url)
            await _start_components(stack, settings, db, endpoints, workers)
            log.warning(
                "components started; publishing %d directives, %d delivery workers",
                args.tasks,
                workers,
            )

            published = await _publish_all(nats.url, codes, args.tasks, args.arrival_rate)
            await _wait_for_cards(server, args.tasks, args.timeout)
            stats = await control.stats()
            return Result(
                tasks=args.tasks,
                chats=args.chats,
                backend=make_url(url).get_backend_name(),
                workers=workers,
                deliveries=await _deliveries(db, server, published),
                server_sends=stats.sends,
                server_429=stats.rejected_429,
                first_publish=published[0],
                last_publish=published[-1],
            )


def _percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return f"p50 {cuts[49]:.2f} s, p95 {cuts[94]:.2f} s, max {ordered[-1]:.2f} s"


def _stage_rate(times: list[float]) -> float:
    """Return events a second from the first to the last of `times`."""
    span = max(times) - min(times)
    return (len(times) - 1) / span if span > 0 else float("inf")


def _report(result: Result, arrival_rate: float) -> None:
    arrival = "back to back" if arrival_rate == 0 else f"{arrival_rate:g} a second"
    deliveries = result.deliveries
    print(
        f"directives             {result.tasks} to {min(result.tasks, result.chats)} "
        f"inspectors, published {arrival}"
    )
    print(f"database               {result.backend}")
    print(f"delivery workers       {result.workers}")
    print(f"publishing took        {result.last_publish - result.first_publish:.1f} s")
    print(f"cards delivered        {len(deliveries)} of {result.tasks}")
    if not deliveries:
        return
    print(f"elapsed                {result.elapsed_s:.1f} s, first publish to last arrival")
    print(f"rate                   {result.rate_per_s:.2f} cards/s")
    print(f"task creation rate     {_stage_rate([d.created_at for d in deliveries]):.2f} tasks/s")
    print(f"card arrival rate      {_stage_rate([d.arrived_at for d in deliveries]):.2f} cards/s")
    print(
        f"window ceiling         {result.ceiling_per_s:.2f} cards/s for {result.tasks} cards "
        f"(reached {100 * result.rate_per_s / result.ceiling_per_s:.1f}%)"
    )
    to_creation = [d.created_at - d.published_at for d in deliveries]
    to_relay = [d.relayed_at - d.created_at for d in deliveries]
    relay_to_delivery = [d.arrived_at - d.relayed_at for d in deliveries]
    to_delivery = [d.arrived_at - d.created_at for d in deliveries]
    end_to_end = [d.arrived_at - d.published_at for d in deliveries]
    print(f"publish to creation    {_percentiles(to_creation)}")
    print(f"creation to relay      {_percentiles(to_relay)}")
    print(f"relay to delivery      {_percentiles(relay_to_delivery)}")
    print(f"creation to delivery   {_percentiles(to_delivery)}")
    print(f"publish to delivery    {_percentiles(end_to_end)}")
    print(f"server sends           {result.server_sends}")
    print(f"server 429             {result.server_429}")


def _failures(result: Result) -> list[str]:
    """Return what went wrong in one run: 429s and missing cards."""
    failures = []
    label = f"{result.workers} delivery workers"
    if result.server_429 > 0:
        failures.append(f"{label}: {result.server_429} sends got 429")
    if len(result.deliveries) != result.tasks:
        failures.append(f"{label}: {len(result.deliveries)} of {result.tasks} cards arrived")
    return failures


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the report and return the exit status."""
    args = _parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")

    failures = []
    for number, workers in enumerate(args.delivery_workers):
        if number:
            print()
        result = asyncio.run(_run(args, workers))
        _report(result, args.arrival_rate)
        failures.extend(_failures(result))
    rate_checked = args.arrival_rate == 0 or args.arrival_rate >= args.goal_rate
    if result.deliveries and rate_checked and result.rate_per_s < args.goal_rate:
        failures.append(f"rate {result.rate_per_s:.2f}/s is under the goal {args.goal_rate:g}/s")
    for failure in failures:
        log.error("benchmark failed: %s", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
