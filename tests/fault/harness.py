"""The fault run: the whole system in separate processes, with kills while traffic flows.

It starts a three-node JetStream cluster, a fresh database, the local Bot
API server, two dispatchers, two workers and the bot, each in its own
process. It sends directives and leads at a steady rate while it kills
(SIGKILL) and restarts a dispatcher, a worker, the bot and a NATS node in
turn. Then it waits until the system is quiet and checks what
`tests.fault.checks` lists. In soak mode it also samples every process's
RSS and the delivery latency once a minute.
"""

import asyncio
import contextlib
import json
import logging
import os
import statistics
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
from sqlalchemy import select

from bots.local_api.client import LocalBotApiControl
from dispatcher import local_mode
from dispatcher.setup import load_example_registry
from griddispatch.nats_server import free_port
from griddispatch.settings import LOCAL_BOT_TOKEN
from storage.db import Database
from storage.outbox.models import OutboxMessage
from storage.registry.models import Inspector, Subject
from storage.scratch import scratch_database
from storage.telegram.models import Delivery
from tests.fault.checks import Counts, ack_within, collect, step_offsets
from tests.fault.cluster import NatsCluster
from tests.fault.processes import ComponentProcess, rss_kib
from tests.fault.traffic import SentLog, Targets, send_traffic

log = logging.getLogger(__name__)

POLICY_FILE = Path(__file__).with_name("policies.yaml")
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
SWEEP_INTERVAL_S = 2.0
# A step counts as due once it is this far past its due time: two sweeps and slack.
STEP_GRACE_S = 3 * SWEEP_INTERVAL_S + 5.0
QUIET_POLL_S = 5.0
DOWN_S = 2.0
KINDS = ("dispatcher", "worker", "bot", "nats")


@dataclass(frozen=True)
class FaultConfig:
    """How much traffic, how fast, how many kills, and on which database."""

    messages: int = 500
    rate: float = 20.0
    kills_each: int = 1
    urgent_share: float = 0.1
    database: str = "postgresql"
    postgres_admin_url: str = DEFAULT_POSTGRES
    quiet_timeout_s: float = 600.0
    sample_every_s: float = 60.0
    soak_minutes: float = 0.0
    keep_dir: Path | None = None


@dataclass
class Sample:
    """One minute of the soak: each process's RSS and the delivery latency of that minute."""

    at_s: float
    rss_mib: dict[str, float]
    deliveries: int
    latency_p50_s: float | None
    latency_p95_s: float | None
    latency_max_s: float | None


@dataclass
class FaultReport:
    """What a fault run found; `ok` is false on any loss."""

    config: dict[str, Any]
    counts: Counts
    kills: dict[str, int]
    unplanned_exits: dict[str, int]
    publish_retries: int
    unconfirmed: int
    send_seconds: float
    quiet_seconds: float
    samples: list[Sample] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.counts.losses and not self.unconfirmed

    def to_json(self) -> str:
        data = asdict(self)
        data["ok"] = self.ok
        return json.dumps(data, indent=2, default=str, ensure_ascii=False)


async def load_targets(db: Database) -> Targets:
    """Return the bound inspectors' staff codes and the subjects that have an inspector."""
    async with db.reading() as session:
        inspectors = await session.scalars(
            select(Inspector.code).where(
                Inspector.role == "inspector", Inspector.telegram_chat_id.is_not(None)
            )
        )
        subjects_ = await session.scalars(
            select(Subject.credit_code).where(
                Subject.credit_code.is_not(None), Subject.inspector_id.is_not(None)
            )
        )
        return Targets(list(inspectors), [code for code in subjects_ if code])


def component_env(
    root: Path, *, database_url: str, nats_url: str, bot_api: str, name: str
) -> dict[str, str]:
    """Return the environment of one component process."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GRIDDISPATCH_")}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    # No daily digest falls inside the run: the digest time is an hour ago in China.
    digest = (datetime.now(UTC) + timedelta(hours=7)).strftime("%H:%M")
    env.update(
        GRIDDISPATCH_DATABASE_URL=database_url,
        GRIDDISPATCH_NATS_URL=nats_url,
        GRIDDISPATCH_STREAM_REPLICAS="3",
        GRIDDISPATCH_TELEGRAM_API_URL=bot_api,
        GRIDDISPATCH_ESCALATION_POLICY_FILE=str(POLICY_FILE),
        GRIDDISPATCH_SWEEP_INTERVAL_S=str(SWEEP_INTERVAL_S),
        GRIDDISPATCH_DIGEST_TIME=digest,
        GRIDDISPATCH_DATA_DIR=str(root / name),
        GRIDDISPATCH_LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    return env


READY_LINES = {"dispatcher": "dispatcher started", "worker": "worker started", "bot": "bot started"}


def build_components(
    root: Path, cluster: NatsCluster, *, database_url: str, bot_api: str
) -> dict[str, list[ComponentProcess]]:
    """Build two dispatchers, two workers and one bot, each with a different seed NATS node."""
    plan = [("dispatcher", 2), ("worker", 2), ("bot", 1)]
    components: dict[str, list[ComponentProcess]] = {}
    seed = 0
    for kind, copies in plan:
        for copy in range(copies):
            name = f"{kind}{copy + 1}"
            url = cluster.urls[seed % len(cluster.urls)]
            seed += 1
            components.setdefault(kind, []).append(
                ComponentProcess(
                    name=name,
                    args=["-m", "dispatcher", kind],
                    env=component_env(
                        root, database_url=database_url, nats_url=url, bot_api=bot_api, name=name
                    ),
                    log_path=root / f"{name}.log",
                    ready_text=READY_LINES[kind],
                )
            )
    return components


@dataclass
class Chaos:
    """Kills one component or node at a time, spread evenly over the sending time."""

    cluster: NatsCluster
    components: dict[str, list[ComponentProcess]]
    kills: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    async def run(self, *, duration_s: float, kills_each: int) -> None:
        """Kill at evenly spaced times; a kill does not wait for the previous restart."""
        schedule = [kind for _ in range(kills_each) for kind in KINDS]
        gap = duration_s / (len(schedule) + 1)
        await asyncio.gather(
            *(self._kill_at(gap * (number + 1), kind) for number, kind in enumerate(schedule))
        )

    async def _kill_at(self, delay_s: float, kind: str) -> None:
        await asyncio.sleep(delay_s)
        await self.kill(kind)

    async def kill(self, kind: str) -> None:
        """Kill one process of `kind`, taking turns between the copies of that kind."""
        turn = self.kills[kind]
        self.kills[kind] += 1
        if kind == "nats":
            index = turn % len(self.cluster.nodes)
            log.info("killing nats node=%d", index)
            await self.cluster.kill(index)
            await asyncio.sleep(DOWN_S)
            await self.cluster.restart(index)
            return
        copies = self.components[kind]
        target = copies[turn % len(copies)]
        # Killing a process that is still starting would test nothing new, so wait for it.
        await target.wait_ready()
        log.info("killing component=%s pid=%s", target.name, target.pid)
        await target.kill_and_restart(DOWN_S)


async def sample(
    db: Database, processes: dict[str, int | None], *, since: datetime, started: float
) -> Sample:
    """Return each process's RSS and the latency of deliveries sent after `since`."""
    rss = {
        name: round(kib / 1024, 1)
        for name, pid in processes.items()
        if pid is not None and (kib := rss_kib(pid)) is not None
    }
    async with db.reading() as session:
        rows = (
            await session.execute(
                select(Delivery.sent_at, OutboxMessage.created_at)
                .join(OutboxMessage, OutboxMessage.msg_id == Delivery.notification_id)
                .where(Delivery.sent_at > since)
            )
        ).all()
    waits = sorted((row.sent_at - row.created_at).total_seconds() for row in rows)
    return Sample(
        at_s=round(time.monotonic() - started, 1),
        rss_mib=rss,
        deliveries=len(waits),
        latency_p50_s=round(statistics.median(waits), 3) if waits else None,
        latency_p95_s=round(waits[int(0.95 * (len(waits) - 1))], 3) if waits else None,
        latency_max_s=round(waits[-1], 3) if waits else None,
    )


def all_pids(
    cluster: NatsCluster, components: dict[str, list[ComponentProcess]], bot_api: ComponentProcess
) -> dict[str, int | None]:
    pids: dict[str, int | None] = dict(cluster.pids())
    for copies in components.values():
        for process in copies:
            pids[process.name] = process.pid
    pids["botapi"] = bot_api.pid
    return pids


async def sample_forever(
    db: Database,
    cluster: NatsCluster,
    components: dict[str, list[ComponentProcess]],
    bot_api: ComponentProcess,
    *,
    every_s: float,
    into: list[Sample],
) -> None:
    """Append a Sample every `every_s` seconds until cancelled."""
    started = time.monotonic()
    since = datetime.now(UTC)
    while True:
        await asyncio.sleep(every_s)
        now = datetime.now(UTC)
        item = await sample(
            db, all_pids(cluster, components, bot_api), since=since, started=started
        )
        since = now
        into.append(item)
        log.info("soak sample %s", json.dumps(asdict(item), ensure_ascii=False))


async def wait_until_quiet(
    db: Database,
    control: LocalBotApiControl,
    *,
    run_id: str,
    sent: SentLog,
    last_sent: datetime,
    timeout_s: float,
    kills: int,
) -> tuple[Counts, datetime]:
    """Poll the checks until nothing is missing and every step due by now has fired."""
    last_step = max(step_offsets(POLICY_FILE, "fault-fast")) + ack_within(POLICY_FILE, "fault-fast")
    settle_at = last_sent + last_step + timedelta(seconds=STEP_GRACE_S)
    deadline = time.monotonic() + timeout_s
    while True:
        cutoff = datetime.now(UTC) - timedelta(seconds=STEP_GRACE_S)
        counts = await collect(
            db,
            control,
            run_id=run_id,
            sent=sent,
            policy_file=POLICY_FILE,
            cutoff=cutoff,
            kills=kills,
        )
        quiet = not (
            counts.missing_messages
            or counts.records_without_task
            or counts.unpublished_outbox
            or counts.missing_deliveries
            or counts.steps_missing
        )
        if quiet and datetime.now(UTC) >= settle_at:
            return counts, cutoff
        if time.monotonic() > deadline:
            log.error("system not quiet after %.0f s; reporting what is missing", timeout_s)
            return counts, cutoff
        log.info(
            "waiting for quiet: missing=%d no_task=%d unpublished=%d undelivered=%d steps=%d",
            counts.missing_messages,
            counts.records_without_task,
            counts.unpublished_outbox,
            counts.missing_deliveries,
            counts.steps_missing,
        )
        await asyncio.sleep(QUIET_POLL_S)


async def run_fault(config: FaultConfig) -> FaultReport:
    """Run the whole fault scenario once and return its report."""
    with contextlib.ExitStack() as cleanup:
        if config.keep_dir is not None:
            root = config.keep_dir
            root.mkdir(parents=True, exist_ok=True)
        else:
            root = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="gd-fault-")))
        return await _run_in(config, root)


async def _run_in(config: FaultConfig, root: Path) -> FaultReport:
    run_id = f"f{uuid.uuid4().hex[:8]}"
    async with AsyncExitStack() as stack:
        cluster = NatsCluster(root / "nats")
        await cluster.start()
        stack.push_async_callback(cluster.stop)

        admin_url = None if config.database == "sqlite" else config.postgres_admin_url
        database_url = await stack.enter_async_context(
            scratch_database(root, admin_url, prefix="gd_fault")
        )
        db = Database(database_url)
        stack.push_async_callback(db.dispose)
        await load_example_registry(db)

        api_port = free_port()
        bot_api = ComponentProcess(
            name="botapi",
            args=["-m", "bots.local_api", "--port", str(api_port)],
            env=dict(os.environ),
            log_path=root / "botapi.log",
            ready_text="Local Bot API server at",
        )
        await bot_api.start()
        stack.push_async_callback(bot_api.stop)
        bot_api_url = f"http://127.0.0.1:{api_port}"
        control = LocalBotApiControl(bot_api_url, LOCAL_BOT_TOKEN)
        stack.push_async_callback(control.close)
        await local_mode.bind_all_locally(db, control, now=datetime.now(UTC))
        targets = await load_targets(db)

        components = build_components(root, cluster, database_url=database_url, bot_api=bot_api_url)
        for copies in components.values():
            for process in copies:
                await process.start()
                stack.push_async_callback(process.stop)

        samples: list[Sample] = []
        sampler = asyncio.create_task(
            sample_forever(
                db, cluster, components, bot_api, every_s=config.sample_every_s, into=samples
            )
        )
        duration_s = config.messages / config.rate
        chaos = Chaos(cluster, components)
        chaos_task = asyncio.create_task(
            chaos.run(duration_s=duration_s, kills_each=config.kills_each)
        )

        client = await nats.connect(
            cluster.urls, max_reconnect_attempts=-1, reconnect_time_wait=0.5
        )
        stack.push_async_callback(client.close)
        started = time.monotonic()
        sent = await send_traffic(
            client.jetstream(),
            targets,
            count=config.messages,
            rate=config.rate,
            urgent_share=config.urgent_share,
            run_id=run_id,
        )
        send_seconds = time.monotonic() - started
        await chaos_task
        last_sent = datetime.now(UTC)
        log.info(
            "traffic sent accepted=%d retries=%d in %.0f s",
            sent.accepted,
            sent.retries,
            send_seconds,
        )

        quiet_started = time.monotonic()
        total_kills = sum(chaos.kills.values())
        counts, _cutoff = await wait_until_quiet(
            db,
            control,
            run_id=run_id,
            sent=sent,
            last_sent=last_sent,
            timeout_s=config.quiet_timeout_s,
            kills=total_kills,
        )
        quiet_seconds = time.monotonic() - quiet_started
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        return FaultReport(
            config={**asdict(config), "run_id": run_id, "root": str(root)},
            counts=counts,
            kills=chaos.kills,
            unplanned_exits={
                process.name: process.unplanned_exits
                for copies in components.values()
                for process in copies
            },
            publish_retries=sent.retries,
            unconfirmed=len(sent.unconfirmed),
            send_seconds=round(send_seconds, 1),
            quiet_seconds=round(quiet_seconds, 1),
            samples=samples,
        )
    raise AssertionError("unreachable")
