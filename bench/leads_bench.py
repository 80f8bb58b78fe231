"""Post leads over HTTP to the running API and dispatcher; report throughput and latency.

The script runs as two processes on loopback, or four with --split. It prepares a fresh database
(SQLite in a temporary folder, or a new PostgreSQL database next to the one
--dsn names), migrates it, imports the Ordos example registry and creates a
hook token whose rate limit the run cannot reach. Then it starts itself with
`--serve` as the server process: an embedded nats-server, and the
dispatcher, the worker and the API with the hooks, each built by
`dispatcher.up.build_component` as `griddispatch up` builds them. With
--split the dispatcher (with the nats-server), the worker and the API each
run in a process of their own, as `griddispatch dispatcher`, `worker` and
`api` run in a deployment, so that they can use both cores. --dispatchers
starts more dispatcher processes, which share the consumers as replicas do. The bot is
left out, so that sending tasks to Telegram takes no CPU from the path
measured here.

The client (this process) POSTs leads to /api/v1/hooks/leads with aiohttp,
at most --concurrency at a time. With --rate it sends lead `i` no earlier
than `i / rate` seconds after the start (open loop); with --rate 0 it sends
as fast as the server responds (closed loop). Lead `i` names subject
`i mod S` (S subjects with an inspector) and source `bench-<i div S>`, so
that no lead folds into another's task.

It reports accepted leads (202) a second, from the first POST to the last
response, and the time from sending each POST to the `created_at` of the
task the dispatcher opened for the lead: p50, p95, p99 and max. Both
processes read the same wall clock. With --profile each server process runs
under pyinstrument and writes its profile beside the results.
Run `python bench/leads_bench.py --help` for the options; bench/README.md
has recorded results.
"""

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select

from dispatcher.setup import load_example_registry
from dispatcher.up import BotEndpoint, build_component
from griddispatch.heap import freeze_start_up_objects
from griddispatch.logs import configure_logging
from griddispatch.nats_server import NatsServer, free_port
from griddispatch.settings import LOCAL_BOT_TOKEN, Settings
from storage.api_tokens.service import create_token
from storage.db import Database
from storage.leads.models import Lead
from storage.registry.models import Subject
from storage.scratch import scratch_database
from storage.tasks.models import Task

DEFAULT_DSN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
HOOK_PATH = "/api/v1/hooks/leads"
READY_LINE = "leads-bench server ready"
GOAL_RATE = 1000.0
GOAL_P99_MS = 100.0
SERVER_START_TIMEOUT_S = 120.0
TASK_WAIT_TIMEOUT_S = 300.0
TOKEN_RATE_PER_S = 10_000.0
TOKEN_BURST = 100_000


@dataclass
class Sent:
    """One POST: when it was sent (wall clock), its status, and the lead's dedup key."""

    dedup_key: str
    sent_at: float
    status: int = 0
    answered_at: float = 0.0


@dataclass
class RunResult:
    """Measurements of one run."""

    backend: str
    leads: int
    rate: float
    concurrency: int
    accepted: int
    statuses: dict[int, int]
    send_elapsed_s: float
    tasks_found: int
    post_ms: dict[str, float]
    task_ms: dict[str, float]


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(fraction: float) -> float:
        index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
        return round(ordered[index], 1)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": round(ordered[-1], 1)}


# --- the server process ---------------------------------------------------------------


async def _serve(args: argparse.Namespace) -> None:
    """Run the --components until SIGTERM.

    The process starts an embedded nats-server unless --nats-url names a running one.
    """
    settings = Settings(
        data_dir=Path(args.data_dir),
        database_url=args.database_url,
        api_host="127.0.0.1",
        api_port=args.api_port,
        load_example_registry=False,
        log_level="WARNING",
        dispatch_batch=args.dispatch_batch,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with AsyncExitStack() as stack:
        nats_url = args.nats_url
        if not nats_url:
            nats = NatsServer(port=args.nats_port, store_dir=settings.data_dir / "jetstream")
            await nats.start()
            stack.push_async_callback(nats.stop)
            nats_url = nats.url
        db = Database(settings.resolved_database_url)
        stack.push_async_callback(db.dispose)
        bot = BotEndpoint(LOCAL_BOT_TOKEN, None)
        for name in args.components.split(","):
            component = build_component(name, settings, db, nats_url=nats_url, bot=bot)
            await component.start()
            stack.push_async_callback(component.stop)
        if not args.no_freeze:
            freeze_start_up_objects()
        print(READY_LINE, flush=True)
        await stop.wait()


def serve(args: argparse.Namespace) -> None:
    """Entry of the server process, under pyinstrument when --profile is given."""
    configure_logging("WARNING")
    if not args.profile_output:
        asyncio.run(_serve(args))
        return
    from pyinstrument import Profiler  # noqa: PLC0415 (only the profiled run needs it)

    profiler = Profiler(interval=0.005, async_mode="disabled")
    profiler.start()
    try:
        asyncio.run(_serve(args))
    finally:
        profiler.stop()
        Path(args.profile_output).write_text(profiler.output_text(unicode=True, show_all=False))


# --- database preparation -------------------------------------------------------------


async def prepare(url: str) -> tuple[str, list[str]]:
    """Import the example registry; return a hook token and the codes of assigned subjects."""
    db = Database(url)
    try:
        await load_example_registry(db)
        _, token = await create_token(
            db, "bench", ["hook"], rate_per_s=TOKEN_RATE_PER_S, burst=TOKEN_BURST
        )
        async with db.reading() as session:
            codes = list(
                await session.scalars(
                    select(Subject.credit_code)
                    .where(Subject.inspector_id.is_not(None), Subject.credit_code.is_not(None))
                    .order_by(Subject.id)
                )
            )
    finally:
        await db.dispose()
    return token, [code for code in codes if code]


# --- the client -----------------------------------------------------------------------


def _lead(index: int, codes: list[str]) -> dict[str, Any]:
    return {
        "source": f"bench-{index // len(codes)}",
        "dedup_key": f"bench-{index}",
        "title": f"基准测试线索 {index}",
        "subject": {"credit_code": codes[index % len(codes)]},
    }


async def _post_one(
    http: aiohttp.ClientSession, url: str, token: str, payload: dict[str, Any]
) -> Sent:
    body = json.dumps(payload).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    sent = Sent(payload["dedup_key"], time.time())
    async with http.post(url, data=body, headers=headers) as response:
        await response.read()
        sent.status = response.status
    sent.answered_at = time.time()
    return sent


async def post_leads(
    base_url: str,
    token: str,
    codes: list[str],
    indexes: range,
    *,
    rate: float,
    concurrency: int,
) -> list[Sent]:
    """POST the leads `indexes`, paced at `rate` a second (0: unpaced), `concurrency` at a time.

    Lead indexes go on across calls, so that no measured lead folds into a warm-up task.
    """
    url = base_url + HOOK_PATH
    results: list[Sent] = []
    position = 0
    started = time.monotonic()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def sender() -> None:
            nonlocal position
            while position < len(indexes):
                offset = position
                position += 1
                if rate > 0:
                    delay = started + offset / rate - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                lead = _lead(indexes[offset], codes)
                results.append(await _post_one(http, url, token, lead))

        await asyncio.gather(*(sender() for _ in range(concurrency)))
    return results


async def task_times(url: str, keys: set[str], expected: int) -> dict[str, datetime]:
    """Wait until `expected` bench leads have tasks; return each lead's task created_at."""
    db = Database(url)
    deadline = time.monotonic() + TASK_WAIT_TIMEOUT_S
    try:
        while True:
            async with db.reading() as session:
                rows = (
                    await session.execute(
                        select(Lead.dedup_key, Task.created_at)
                        .join(Task, Task.lead_id == Lead.id)
                        .where(Lead.dedup_key.like("bench-%"))
                    )
                ).all()
            found = {key: created for key, created in rows if key in keys}
            if len(found) >= expected or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.5)
    finally:
        await db.dispose()


def _start_server(
    url: str, folder: Path, api_port: int, profile: Path | None, extra: list[str]
) -> subprocess.Popen[str]:
    """Start a server process with the options `extra` adds; return it once it is ready."""
    command = [
        sys.executable,
        __file__,
        "--serve",
        "--database-url",
        url,
        "--data-dir",
        str(folder),
        "--api-port",
        str(api_port),
        *extra,
    ]
    if profile is not None:
        command += ["--profile-output", str(profile)]
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("GRIDDISPATCH_")
    }
    server = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=sys.stderr, text=True, env=environment
    )
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    assert server.stdout is not None
    for line in server.stdout:
        if READY_LINE in line:
            return server
        if time.monotonic() > deadline:
            break
    server.kill()
    raise RuntimeError("the server process did not start; see its output above")


def _stop_server(server: subprocess.Popen[str]) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(60)
    except subprocess.TimeoutExpired:
        print("the server process did not stop within 60 s; killed it", file=sys.stderr)
        server.kill()
        server.wait()


async def run_backend(backend: str, args: argparse.Namespace) -> RunResult:
    """Prepare a database, start the server process, post the leads, and measure."""
    with tempfile.TemporaryDirectory(prefix="leads-bench-") as folder_name:
        folder = Path(folder_name)
        admin_url = None if backend == "sqlite" else args.dsn
        async with scratch_database(folder, admin_url, prefix="gd_bench") as url:
            token, codes = await prepare(url)
            api_port = free_port()
            servers = _start_servers(args, backend, url, folder, api_port)
            try:
                base_url = f"http://127.0.0.1:{api_port}"
                if args.warm_up:
                    await post_leads(
                        base_url, token, codes, range(args.warm_up), rate=0, concurrency=4
                    )
                measured = range(args.warm_up, args.warm_up + args.leads)
                sent = await post_leads(
                    base_url, token, codes, measured, rate=args.rate, concurrency=args.concurrency
                )
                accepted = [item for item in sent if item.status == 202]
                found = await task_times(url, {item.dedup_key for item in accepted}, len(accepted))
            finally:
                for server in reversed(servers):
                    _stop_server(server)
    return _result(backend, args, sent, accepted, found)


def _start_servers(
    args: argparse.Namespace, backend: str, url: str, folder: Path, api_port: int
) -> list[subprocess.Popen[str]]:
    """Start one server process with every component, or with --split one per component."""
    nats_port = free_port()

    def profile(part: str) -> Path | None:
        if not args.profile:
            return None
        folder = Path(args.profile_dir)
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"profile-{backend}{part}.txt"

    freeze = ["--no-freeze"] if args.no_freeze else []
    dispatcher_options = ["--dispatch-batch", str(args.dispatch_batch), *freeze]
    if not args.split:
        everything = [
            "--components",
            "dispatcher,worker,api",
            "--nats-port",
            str(nats_port),
            *dispatcher_options,
        ]
        return [_start_server(url, folder, api_port, profile(""), everything)]
    nats_url = f"nats://127.0.0.1:{nats_port}"
    dispatcher_part = [
        "--components",
        "dispatcher",
        "--nats-port",
        str(nats_port),
        *dispatcher_options,
    ]
    servers = [_start_server(url, folder, api_port, profile("-dispatcher"), dispatcher_part)]
    try:
        for number in range(2, args.dispatchers + 1):
            part = ["--components", "dispatcher", "--nats-url", nats_url, *dispatcher_options]
            servers.append(
                _start_server(url, folder, api_port, profile(f"-dispatcher{number}"), part)
            )
        for name in ("worker", "api"):
            part = ["--components", name, "--nats-url", nats_url, *freeze]
            servers.append(_start_server(url, folder, api_port, profile(f"-{name}"), part))
    except Exception:
        for server in reversed(servers):
            _stop_server(server)
        raise
    return servers


def _result(
    backend: str,
    args: argparse.Namespace,
    sent: list[Sent],
    accepted: list[Sent],
    found: dict[str, datetime],
) -> RunResult:
    statuses: dict[int, int] = {}
    for item in sent:
        statuses[item.status] = statuses.get(item.status, 0) + 1
    first = min(item.sent_at for item in sent)
    last = max(item.answered_at for item in sent)
    task_ms = [
        (found[item.dedup_key].timestamp() - item.sent_at) * 1000
        for item in accepted
        if item.dedup_key in found
    ]
    return RunResult(
        backend=backend,
        leads=len(sent),
        rate=args.rate,
        concurrency=args.concurrency,
        accepted=len(accepted),
        statuses=statuses,
        send_elapsed_s=round(last - first, 2),
        tasks_found=len(found),
        post_ms=_percentiles([(item.answered_at - item.sent_at) * 1000 for item in sent]),
        task_ms=_percentiles(task_ms),
    )


def _report(result: RunResult) -> str:
    accepted_rate = result.accepted / result.send_elapsed_s if result.send_elapsed_s else 0.0
    met = accepted_rate >= GOAL_RATE and result.task_ms.get("p99", float("inf")) < GOAL_P99_MS
    return (
        f"{result.backend}: {result.leads} leads, offered rate "
        f"{'unpaced' if not result.rate else f'{result.rate:g}/s'}, concurrency "
        f"{result.concurrency}\n"
        f"  accepted {result.accepted} ({accepted_rate:.0f} a second over "
        f"{result.send_elapsed_s} s), statuses {result.statuses}\n"
        f"  tasks found {result.tasks_found} of {result.accepted}\n"
        f"  POST to response ms {result.post_ms}\n"
        f"  POST to task ms {result.task_ms}\n"
        f"  goal {GOAL_RATE:g}/s with p99 < {GOAL_P99_MS:g} ms: "
        f"{'met' if met else 'not met'}"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backend",
        choices=["sqlite", "postgresql", "both"],
        default="both",
        help="database of the run (default both, one after the other)",
    )
    parser.add_argument("--dsn", default=DEFAULT_DSN, help="PostgreSQL server to create on")
    parser.add_argument("--leads", type=int, default=3000, help="leads to post (default 3000)")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="leads a second to offer; 0 sends unpaced"
    )
    parser.add_argument(
        "--concurrency", type=int, default=32, help="POSTs in flight at most (default 32)"
    )
    parser.add_argument(
        "--warm-up", type=int, default=0, help="leads posted before the measured ones"
    )
    parser.add_argument(
        "--profile", action="store_true", help="run the server process under pyinstrument"
    )
    parser.add_argument(
        "--profile-dir", default=".", help="folder for profile-<backend>.txt (default .)"
    )
    parser.add_argument(
        "--split",
        action="store_true",
        help="run the dispatcher, the worker and the API each in a process of its own",
    )
    parser.add_argument(
        "--dispatch-batch",
        type=int,
        default=Settings.model_fields["dispatch_batch"].default,
        help="GRIDDISPATCH_DISPATCH_BATCH of the dispatcher (default %(default)s)",
    )
    parser.add_argument(
        "--dispatchers",
        type=int,
        default=1,
        help="with --split, dispatcher processes sharing the consumers (default 1)",
    )
    parser.add_argument(
        "--no-freeze",
        action="store_true",
        help="do not freeze the start-up objects (gc.freeze), to compare with freezing them",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--components", default="dispatcher,worker,api", help=argparse.SUPPRESS)
    parser.add_argument("--nats-url", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--api-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--nats-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--profile-output", help=argparse.SUPPRESS)
    return parser


async def _run_all(args: argparse.Namespace) -> int:
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print(
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()}, "
        f"Python {platform.python_version()}",
        flush=True,
    )
    for backend in backends:
        result = await run_backend(backend, args)
        print(_report(result), flush=True)
    return 0


def main() -> int:
    """Run the benchmark, or the server process with --serve."""
    parser = _parser()
    args = parser.parse_args()
    if args.dispatchers < 1 or (args.dispatchers > 1 and not args.split):
        parser.error(f"--dispatchers {args.dispatchers}: give 1, or 2 or more with --split")
    if args.serve:
        with contextlib.suppress(KeyboardInterrupt):
            serve(args)
        return 0
    return asyncio.run(_run_all(args))


if __name__ == "__main__":
    sys.exit(main())
