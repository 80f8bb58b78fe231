"""Measure the dispatch pipeline against raw JetStream on the same nats-server, in one run.

Each case publishes a backlog of messages as fast as JetStream takes them and
times from the first publish until the last one is done:

- raw: `nats-py` pull consumers in their own processes fetch from a plain
  stream and ack each message. The case is done when the consumer's ack
  floor reaches the last message. This is the limit of JetStream here.
- store-only floor: the same consumers, but each fetched batch first writes,
  in one transaction, the rows a routed lead writes (lead, task, trail
  entry, two outbox rows) with the database driver alone: the sqlite3
  module or asyncpg, no SQLAlchemy, no parsing, no routing. No routed
  pipeline that stores those rows can be faster on the same machine.
- routed: `griddispatch dispatcher` processes consume directives (each to one
  inspector) and leads (each about one subject, with its own dedup key). The
  case is done when every directive and lead is stored. Each is stored in
  the transaction that writes its task and its outbox notification.

Each runs with one and with two consumer processes, on SQLite and on
PostgreSQL, and the table gives the floor and routed over raw messages a
second. Then a directive to a grid of 1,000 inspectors (added to the
example registry) is timed from its publish until its 1,000 notifications
are queued.

    .venv/bin/python bench/pipeline_bench.py
    .venv/bin/python bench/pipeline_bench.py --messages 500 --databases sqlite

bench/README.md has recorded results.
"""

import argparse
import asyncio
import contextlib
import cProfile
import json
import logging
import os
import platform
import pstats
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import asyncpg
import nats
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url

from dispatcher.setup import escalation_from, load_example_registry
from griddispatch import subjects
from griddispatch.clock import SystemClock
from griddispatch.messages import DirectiveMessage, LeadMessage
from griddispatch.nats_server import NatsServer, free_port
from griddispatch.settings import Settings
from storage.db import Database
from storage.directives.models import Directive
from storage.directives.service import accept_directive
from storage.intake import Inbound, accept_batch
from storage.leads.models import Lead
from storage.outbox.models import OutboxMessage
from storage.registry.models import Inspector, Subject
from storage.scratch import scratch_database
from storage.tasks.models import Task

log = logging.getLogger("pipeline_bench")

DEFAULT_DSN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
RAW_STREAM = "BENCH_RAW"
RAW_SUBJECT = "bench.raw"
RAW_FETCH_BATCH = 100
PUBLISH_CHUNK = 200
POLL_S = 0.05
READY_TIMEOUT_S = 120.0
CASE_TIMEOUT_S = 900.0
FANOUT_GRID = "150602001001"
LEAD_SOURCE = "bench"
GOAL_RATIO = 0.5
GOAL_FANOUT_S = 1.0


@dataclass
class Result:
    """One timed case: messages done in `seconds`."""

    database: str
    kind: str
    replicas: int
    messages: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


@dataclass
class FanoutResult:
    """A directive to `inspectors` inspectors: seconds until every notification was queued."""

    database: str
    inspectors: int
    seconds: list[float]


# ---------------------------------------------------------------- child processes


@dataclass
class Child:
    """A child process whose output goes to a log file, ready once that log shows a line."""

    name: str
    process: asyncio.subprocess.Process
    log_path: Path

    async def wait_for(self, text: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if text in self.log_path.read_text(errors="replace"):
                return
            if self.process.returncode is not None:
                break
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} did not log {text!r}; see {self.log_path}")

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def spawn(name: str, args: list[str], env: dict[str, str], log_dir: Path) -> Child:
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
        )
    return Child(name, process, log_path)


@asynccontextmanager
async def children(
    name: str, args: list[str], env: dict[str, str], log_dir: Path, *, copies: int, ready: str
) -> AsyncIterator[list[Child]]:
    """Start `copies` child processes, wait until each logged `ready`, stop them on exit."""
    started = [await spawn(f"{name}{n + 1}", args, env, log_dir) for n in range(copies)]
    try:
        for child in started:
            await child.wait_for(ready)
        yield started
    finally:
        for child in started:
            await child.stop()


# ---------------------------------------------------------------- raw JetStream


async def raw_consumer(
    nats_url: str, durable: str, writer: "SqliteFloor | PostgresFloor | None" = None
) -> None:
    """Run as a child: fetch from the raw stream and ack each message until SIGTERM.

    With `writer`, the rows of each fetched batch are written before the batch is acked.
    """
    client = await nats.connect(nats_url)
    subscription = await client.jetstream().pull_subscribe(
        RAW_SUBJECT, durable=durable, stream=RAW_STREAM
    )
    run = uuid.uuid4().hex[:8]
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("raw consumer ready", flush=True)
    while not stop.is_set():
        try:
            messages = await subscription.fetch(RAW_FETCH_BATCH, timeout=1.0)
        except nats.errors.TimeoutError:
            continue
        if writer is not None:
            await writer.write([f"{run}-{m.metadata.sequence.stream}" for m in messages])
        for message in messages:
            await message.ack()
    await client.close()
    if writer is not None:
        await writer.close()


async def prepare_raw(js: JetStreamContext, durable: str) -> None:
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_stream(RAW_STREAM)
    await js.add_stream(
        StreamConfig(name=RAW_STREAM, subjects=[RAW_SUBJECT], storage=StorageType.FILE)
    )
    await js.add_consumer(
        RAW_STREAM,
        ConsumerConfig(
            durable_name=durable, ack_policy=AckPolicy.EXPLICIT, ack_wait=30, max_ack_pending=1000
        ),
    )


async def raw_drained(js: JetStreamContext, durable: str, count: int) -> bool:
    info = await js.consumer_info(RAW_STREAM, durable)
    return bool(info.ack_floor and info.ack_floor.stream_seq >= count)


async def time_raw(
    js: JetStreamContext,
    nats_url: str,
    log_dir: Path,
    *,
    replicas: int,
    count: int,
    store_in: Database | None = None,
) -> float:
    """Time raw consumers, or with `store_in` the store-only floor on that database."""
    durable = f"bench-raw-{uuid.uuid4().hex[:6]}"
    await prepare_raw(js, durable)
    args = [__file__, "--raw-consumer", nats_url, durable]
    if store_in is not None:
        args = [__file__, "--floor-consumer", nats_url, durable, store_in.url]
        args.append(await floor_target(store_in))
    async with children(
        "raw", args, dict(os.environ), log_dir, copies=replicas, ready="raw consumer ready"
    ):
        payload = json.dumps(directive(f"raw-{uuid.uuid4().hex}", "JG0010")).encode()
        started = time.perf_counter()
        await publish_all(js, [(RAW_SUBJECT, f"raw-{n}", payload) for n in range(count)])
        await wait_until(lambda: raw_drained(js, durable, count), "raw consumers to ack all")
        return time.perf_counter() - started


# ---------------------------------------------------------------- store-only floor

FLOOR_SOURCE = "bench-floor"
FLOOR_NUMBERED = ("leads", "tasks", "events")
# By row kind: the table, and the columns the floor's rows fill in order.
FLOOR_SQL = {
    "leads": (
        "leads",
        "id source dedup_key episode message_id title text severity subject_id routing"
        " routing_detail lead_count ack_within created_at",
    ),
    "tasks": (
        "tasks",
        "id kind lead_id inspector_id subject_id title body priority routing state assignment"
        " policy_name ack_within due_within ack_due_at due_at deadline_provisional fired_steps"
        " escalation_step next_step_at created_at updated_at",
    ),
    "events": ("task_events", "id task_id kind state actor at detail"),
    "outbox": ("outbox", "subject msg_id payload created_at attempts"),
}


@dataclass(frozen=True)
class FloorTarget:
    """The subject and inspector every store-only lead and task points at."""

    subject_id: int
    inspector_id: int


def floor_rows(
    keys: list[str], ids: dict[str, list[int]], target: FloorTarget, now: Any
) -> dict[str, list[tuple[Any, ...]]]:
    """Return, by table, the rows that routed leads with these keys write.

    `ids` gives the new ids of leads, tasks and events, and `now` is a
    timestamp in the form the driver takes.
    """
    detail = json.dumps({"subject_id": target.subject_id, "matched_by": "credit_code"})
    created = json.dumps({"routing": "subject", "policy": "lead"})
    leads, tasks, events, outbox = [], [], [], []
    for key, lead_id, task_id, event_id in zip(
        keys, ids["leads"], ids["tasks"], ids["events"], strict=True
    ):
        title = f"舆情：疑似违规用药 {key}"
        lead_row = (lead_id, FLOOR_SOURCE, key, 1, key, title, "", "normal")
        leads.append((*lead_row, target.subject_id, "subject", detail, 1, "4h", now))
        task_row = (task_id, "lead", lead_id, target.inspector_id, target.subject_id, title)
        deadlines = ("4h", "3d", now, now, False, "[]", 0, now, now, now)
        tasks.append((*task_row, "", "normal", "subject", "new", "each", "lead", *deadlines))
        events.append((event_id, task_id, "created", "new", "system", now, created))
        body = json.dumps({"task_id": task_id, "event_id": event_id, "title": title})
        outbox.append((f"gd.event.task.created.{key}", f"{FLOOR_SOURCE}-{key}-e", body, now, 0))
        outbox.append((f"gd.notify.{target.inspector_id}", f"{FLOOR_SOURCE}-{key}-n", body, now, 0))
    return {"leads": leads, "tasks": tasks, "events": events, "outbox": outbox}


def insert_sql(table_key: str, placeholder: Callable[[int], str]) -> str:
    """Return the INSERT of one row kind, with `placeholder(n)` for the n-th value."""
    table, names = FLOOR_SQL[table_key]
    columns = names.split()
    marks = ", ".join(placeholder(n) for n in range(1, len(columns) + 1))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


class SqliteFloor:
    """Writer of store-only rows with the sqlite3 module, synchronously, one transaction a batch."""

    def __init__(self, path: str, target: FloorTarget) -> None:
        self._connection = sqlite3.connect(path, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            self._connection.execute(f"PRAGMA {pragma}")
        self._connection.execute("PRAGMA busy_timeout=30000")
        self._target = target

    async def write(self, keys: list[str]) -> None:
        db = self._connection
        db.execute("BEGIN IMMEDIATE")
        ids = {name: self._next_ids(FLOOR_SQL[name][0], len(keys)) for name in FLOOR_NUMBERED}
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        for name, rows in floor_rows(keys, ids, self._target, now).items():
            db.executemany(insert_sql(name, lambda _: "?"), rows)
        db.execute("COMMIT")

    def _next_ids(self, table: str, count: int) -> list[int]:
        (largest,) = self._connection.execute(f"SELECT max(id) FROM {table}").fetchone()
        return list(range((largest or 0) + 1, (largest or 0) + 1 + count))

    async def close(self) -> None:
        self._connection.close()


class PostgresFloor:
    """Writer of store-only rows with asyncpg, one transaction a batch."""

    def __init__(self, connection: asyncpg.Connection, target: FloorTarget) -> None:
        self._connection = connection
        self._target = target

    @classmethod
    async def connect(cls, url: str, target: FloorTarget) -> "PostgresFloor":
        parts = make_url(url)
        connection = await asyncpg.connect(
            user=parts.username, host=parts.host, port=parts.port, database=parts.database
        )
        return cls(connection, target)

    async def write(self, keys: list[str]) -> None:
        db = self._connection
        async with db.transaction():
            ids = {
                name: await self._next_ids(FLOOR_SQL[name][0], len(keys)) for name in FLOOR_NUMBERED
            }
            rows = floor_rows(keys, ids, self._target, datetime.now(UTC))
            for name, table_rows in rows.items():
                await db.executemany(insert_sql(name, lambda n: f"${n}"), table_rows)

    async def _next_ids(self, table: str, count: int) -> list[int]:
        records = await self._connection.fetch(
            f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, $1)",
            count,
        )
        return [int(record[0]) for record in records]

    async def close(self) -> None:
        await self._connection.close()


async def floor_consumer(nats_url: str, durable: str, database_url: str, target: str) -> None:
    """Run as a child: a raw consumer that writes each batch's rows before acking it."""
    subject_id, inspector_id = (int(part) for part in target.split(","))
    where = FloorTarget(subject_id, inspector_id)
    writer: SqliteFloor | PostgresFloor
    if database_url.startswith("sqlite"):
        writer = SqliteFloor(str(make_url(database_url).database), where)
    else:
        writer = await PostgresFloor.connect(database_url, where)
    await raw_consumer(nats_url, durable, writer)


async def floor_target(db: Database) -> str:
    """Return "subject id,inspector id" of a subject bound to an inspector."""
    async with db.reading() as session:
        subject = await session.scalar(
            select(Subject).where(Subject.inspector_id.is_not(None)).limit(1)
        )
    assert subject is not None and subject.inspector_id is not None
    return f"{subject.id},{subject.inspector_id}"


# ---------------------------------------------------------------- routed pipeline


def directive(message_id: str, inspector_code: str) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "target": {"kind": "inspector", "code": inspector_code},
        "title": f"农药经营门店专项检查 {message_id}",
        "body": "请于本周内完成检查",
    }


def lead(message_id: str, credit_code: str) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "source": LEAD_SOURCE,
        "dedup_key": message_id,
        "title": f"舆情：疑似违规用药 {message_id}",
        "subject": {"credit_code": credit_code},
    }


async def routed_messages(db: Database, run_id: str, count: int) -> list[tuple[str, str, bytes]]:
    """Half directives to one inspector each, half leads about one subject each."""
    async with db.reading() as session:
        inspectors = list(
            await session.scalars(select(Inspector.code).where(Inspector.role == "inspector"))
        )
        credit_codes = [
            code
            for code in await session.scalars(
                select(Subject.credit_code).where(Subject.inspector_id.is_not(None))
            )
            if code
        ]
    messages = []
    for n in range(count):
        message_id = f"{run_id}-{n}"
        if n % 2 == 0:
            body = directive(message_id, inspectors[n % len(inspectors)])
            messages.append((subjects.DIRECTIVE_ISSUE, message_id, json.dumps(body).encode()))
        else:
            body = lead(message_id, credit_codes[n % len(credit_codes)])
            subject = subjects.lead_subject(LEAD_SOURCE)
            messages.append((subject, message_id, json.dumps(body).encode()))
    return messages


async def stored_count(db: Database, run_id: str) -> int:
    async with db.reading() as session:
        directives = await session.scalar(
            select(func.count()).where(Directive.message_id.like(f"{run_id}-%"))
        )
        leads = await session.scalar(
            select(func.count()).where(Lead.message_id.like(f"{run_id}-%"))
        )
    return int(directives or 0) + int(leads or 0)


def dispatcher_env(database_url: str, nats_url: str, data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GRIDDISPATCH_")}
    env.update(
        GRIDDISPATCH_DATABASE_URL=database_url,
        GRIDDISPATCH_NATS_URL=nats_url,
        GRIDDISPATCH_DATA_DIR=str(data_dir),
        GRIDDISPATCH_STREAM_REPLICAS="1",
    )
    return env


async def time_routed(
    js: JetStreamContext,
    db: Database,
    env: dict[str, str],
    log_dir: Path,
    *,
    replicas: int,
    count: int,
) -> float:
    run_id = f"r{uuid.uuid4().hex[:8]}"
    messages = await routed_messages(db, run_id, count)
    args = ["-m", "dispatcher", "dispatcher"]
    async with children(
        "dispatcher", args, env, log_dir, copies=replicas, ready="dispatcher started"
    ):
        started = time.perf_counter()
        await publish_all(js, messages)

        async def done() -> bool:
            return await stored_count(db, run_id) >= count

        await wait_until(done, f"{count} directives and leads to be stored")
        return time.perf_counter() - started


# ---------------------------------------------------------------- fan-out


async def add_inspectors(db: Database, grid_code: str, count: int) -> int:
    """Add inspectors to a grid so it has at least `count`; return how many it has."""
    async with db.transaction() as session:
        present = int(
            await session.scalar(
                select(func.count()).where(
                    Inspector.division_code == grid_code, Inspector.role == "inspector"
                )
            )
            or 0
        )
        rows = [
            {
                "code": f"BENCH{n:05d}",
                "name": f"压测监管员{n}",
                "role": "inspector",
                "division_code": grid_code,
                "reachable": True,
            }
            for n in range(max(0, count - present))
        ]
        if rows:
            await session.execute(insert(Inspector), rows)
    return max(count, present)


async def queued_notifications(db: Database, message_id: str) -> int:
    """Return how many task notifications the directive `message_id` has in the outbox."""
    async with db.reading() as session:
        directive_id = await session.scalar(
            select(Directive.id).where(Directive.message_id == message_id)
        )
        if directive_id is None:
            return 0
        rows = await session.scalars(select(Task.id).where(Task.directive_id == directive_id))
        task_ids = {str(task_id) for task_id in rows}
        ids = await session.scalars(
            select(OutboxMessage.msg_id).where(OutboxMessage.msg_id.like("task_assigned-%"))
        )
        # A notification id is "task_assigned-<task id>-<inspector id>-<random>".
        return sum(1 for msg_id in ids if msg_id.split("-")[1] in task_ids)


async def time_fanout(
    js: JetStreamContext, db: Database, env: dict[str, str], log_dir: Path, *, inspectors: int
) -> list[float]:
    """Time three directives to the grid of `inspectors` inspectors, one dispatcher running."""
    seconds = []
    args = ["-m", "dispatcher", "dispatcher"]
    async with children("fanout", args, env, log_dir, copies=1, ready="dispatcher started"):
        for _ in range(3):
            message_id = f"fanout-{uuid.uuid4().hex[:8]}"
            body = directive(message_id, FANOUT_GRID)
            body["target"] = {"kind": "grid", "code": FANOUT_GRID}
            started = time.perf_counter()
            await publish_all(
                js, [(subjects.DIRECTIVE_ISSUE, message_id, json.dumps(body).encode())]
            )

            async def stored(message_id: str = message_id) -> bool:
                async with db.reading() as session:
                    found = await session.scalar(
                        select(Directive.id).where(Directive.message_id == message_id)
                    )
                return found is not None

            await wait_until(stored, f"directive {message_id}", poll_s=0.005)
            seconds.append(time.perf_counter() - started)
            queued = await queued_notifications(db, message_id)
            if queued < inspectors:
                raise RuntimeError(f"fan-out queued {queued} notifications, expected {inspectors}")
    return seconds


# ---------------------------------------------------------------- profile


async def profile_in_process(db: Database, count: int, grid_inspectors: int, out: Path) -> None:
    """Profile the dispatcher's storage of batches in this process, without NATS, with cProfile.

    The routed messages are stored as the dispatcher stores a backlog:
    `accept_batch` in one transaction per batch of the default dispatch
    batch size. The report gives the process's CPU time a message, then
    the profile.
    """
    settings = Settings(data_dir=out.parent)
    escalation = escalation_from(settings)
    run_id = f"p{uuid.uuid4().hex[:8]}"
    messages = [
        _parsed(subject, payload)
        for subject, _, payload in await routed_messages(db, run_id, count)
    ]
    batch = settings.dispatch_batch

    routed = cProfile.Profile()
    started, cpu_started = time.perf_counter(), time.process_time()
    routed.enable()
    for start in range(0, len(messages), batch):
        async with db.transaction() as session:
            await accept_batch(
                session,
                messages[start : start + batch],
                cache_key=db.url,
                escalation=escalation,
                now=SystemClock().now(),
            )
    routed.disable()
    routed_s = time.perf_counter() - started
    cpu_ms = (time.process_time() - cpu_started) / count * 1000

    body = directive(f"{run_id}-fanout", FANOUT_GRID)
    body["target"] = {"kind": "grid", "code": FANOUT_GRID}
    fanout = cProfile.Profile()
    started = time.perf_counter()
    fanout.enable()
    await accept_directive(
        db, DirectiveMessage.model_validate(body), escalation=escalation, now=SystemClock().now()
    )
    fanout.disable()
    fanout_s = time.perf_counter() - started

    title = f"{count} directives and leads in batches of {batch} in {routed_s:.2f} s"
    with out.open("w") as report:
        report.write(f"CPU under the profiler: {cpu_ms:.3f} ms a message\n")
        write_profile(report, title, routed)
        write_profile(
            report, f"directive to {grid_inspectors} inspectors in {fanout_s:.2f} s", fanout
        )
    print(f"profile written to {out}: {title}, fan-out {fanout_s:.2f} s")


def _parsed(subject: str, payload: bytes) -> Inbound:
    if subject == subjects.DIRECTIVE_ISSUE:
        return DirectiveMessage.model_validate_json(payload)
    return LeadMessage.model_validate_json(payload)


def write_profile(report: TextIO, title: str, profile: cProfile.Profile) -> None:
    """Write the top functions of a profile by cumulative and by own time."""
    report.write(f"== {title}\n")
    stats = pstats.Stats(profile, stream=report)
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(25)


# ---------------------------------------------------------------- shared steps


async def publish_all(js: JetStreamContext, messages: Sequence[tuple[str, str, bytes]]) -> None:
    """Publish every message with its Nats-Msg-Id, PUBLISH_CHUNK at a time."""
    for start in range(0, len(messages), PUBLISH_CHUNK):
        chunk = messages[start : start + PUBLISH_CHUNK]
        await asyncio.gather(
            *(
                js.publish(subject, payload, headers={"Nats-Msg-Id": message_id})
                for subject, message_id, payload in chunk
            )
        )


async def wait_until(probe: Any, what: str, *, poll_s: float = POLL_S) -> None:
    deadline = time.monotonic() + CASE_TIMEOUT_S
    while not await probe():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(poll_s)


async def bench_database(
    kind: str, args: argparse.Namespace, js: JetStreamContext, nats_url: str, root: Path
) -> tuple[list[Result], FanoutResult]:
    """Run raw and routed cases for each replica count, then the fan-out, on one database."""
    results: list[Result] = []
    folder = root / kind
    folder.mkdir()
    async with AsyncExitStack() as stack:
        admin_url = None if kind == "sqlite" else args.dsn
        url = await stack.enter_async_context(
            scratch_database(folder, admin_url, prefix="gd_bench", file_name="bench.sqlite3")
        )
        db = Database(url)
        stack.push_async_callback(db.dispose)
        await load_example_registry(db)
        env = dispatcher_env(url, nats_url, folder)
        for replicas in args.replicas:
            raw_s = await time_raw(js, nats_url, folder, replicas=replicas, count=args.messages)
            results.append(Result(kind, "raw", replicas, args.messages, raw_s))
            log.info("raw %s x%d: %.0f/s", kind, replicas, args.messages / raw_s)
            routed_s = await time_routed(
                js, db, env, folder, replicas=replicas, count=args.messages
            )
            results.append(Result(kind, "routed", replicas, args.messages, routed_s))
            log.info("routed %s x%d: %.0f/s", kind, replicas, args.messages / routed_s)
        inspectors = await add_inspectors(db, FANOUT_GRID, args.fanout)
        fanout = await time_fanout(js, db, env, folder, inspectors=inspectors)
        if args.profile:
            out = args.profile / f"profile-{kind}.txt"
            await profile_in_process(db, args.messages, inspectors, out)
        # Last, because its rows about one subject would slow the routed cases.
        for replicas in args.replicas:
            floor_s = await time_raw(
                js, nats_url, folder, replicas=replicas, count=args.messages, store_in=db
            )
            results.append(Result(kind, "floor", replicas, args.messages, floor_s))
            log.info("store-only floor %s x%d: %.0f/s", kind, replicas, args.messages / floor_s)
        log.info("fan-out %s to %d: %s", kind, inspectors, fanout)
    return results, FanoutResult(kind, inspectors, fanout)


def print_results(results: list[Result], fanouts: list[FanoutResult]) -> bool:
    """Print the table and the goals; return whether every goal was met."""
    met = True
    print(
        "| Database | Consumers | Raw JetStream msg/s | Store-only floor msg/s | Routed msg/s "
        "| Floor / raw | Routed / raw |"
    )
    print("|---|---|---|---|---|---|---|")
    raw = {(r.database, r.replicas): r for r in results if r.kind == "raw"}
    floor = {(r.database, r.replicas): r for r in results if r.kind == "floor"}
    for routed in (r for r in results if r.kind == "routed"):
        base = raw[(routed.database, routed.replicas)]
        stored = floor[(routed.database, routed.replicas)]
        ratio = routed.rate / base.rate
        met = met and ratio >= GOAL_RATIO
        print(
            f"| {routed.database} | {routed.replicas} | {base.rate:,.0f} | {stored.rate:,.0f} "
            f"| {routed.rate:,.0f} | {stored.rate / base.rate:.3f} | {ratio:.3f} |"
        )
    for fanout in fanouts:
        median = statistics.median(fanout.seconds)
        met = met and median < GOAL_FANOUT_S
        runs = ", ".join(f"{s:.3f}" for s in fanout.seconds)
        print(
            f"fan-out {fanout.database}: {fanout.inspectors} inspectors, "
            f"median {median:.3f} s (runs {runs} s)"
        )
    verdict = "met" if met else "NOT met"
    print(f"goals (routed >= {GOAL_RATIO} of raw, fan-out < {GOAL_FANOUT_S} s): {verdict}")
    return met


async def run(args: argparse.Namespace) -> int:
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}, "
        f"Python {platform.python_version()}, load average {os.getloadavg()}"
    )
    with tempfile.TemporaryDirectory(prefix="gd-pipeline-") as folder:
        root = Path(folder)
        server = NatsServer(port=free_port(), store_dir=root / "jetstream")
        await server.start()
        client = await nats.connect(server.url)
        try:
            results: list[Result] = []
            fanouts: list[FanoutResult] = []
            for kind in args.databases:
                case_results, fanout = await bench_database(
                    kind, args, client.jetstream(), server.url, root
                )
                results.extend(case_results)
                fanouts.append(fanout)
        finally:
            await client.close()
            await server.stop()
    met = print_results(results, fanouts)
    if args.json:
        data = {"results": [asdict(r) for r in results], "fanouts": [asdict(f) for f in fanouts]}
        args.json.write_text(json.dumps(data, indent=2))
    print(f"load average after: {os.getloadavg()}")
    return 0 if met else 1


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Routed pipeline against raw JetStream.")
    parser.add_argument("--messages", type=int, default=2000, help="messages per case")
    parser.add_argument(
        "--replicas", type=int, nargs="+", default=[1, 2], help="consumer processes"
    )
    parser.add_argument(
        "--databases", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"]
    )
    parser.add_argument("--dsn", default=DEFAULT_DSN, help="PostgreSQL admin URL")
    parser.add_argument("--fanout", type=int, default=1000, help="inspectors in the fan-out grid")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FOLDER",
        help="also profile the routing in-process with cProfile; write profile-<db>.txt here",
    )
    parser.add_argument(
        "--raw-consumer", nargs=2, metavar=("NATS_URL", "DURABLE"), help=argparse.SUPPRESS
    )
    parser.add_argument("--floor-consumer", nargs=4, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.raw_consumer:
        asyncio.run(raw_consumer(*args.raw_consumer))
        return 0
    if args.floor_consumer:
        asyncio.run(floor_consumer(*args.floor_consumer))
        return 0
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
