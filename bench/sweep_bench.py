"""Time one escalation sweep on PostgreSQL with many open tasks of which few are due.

For each case OPEN:DUE the script creates a fresh database next to the one
--dsn names, migrates it, imports the example divisions and staff, binds
every inspector to a Telegram chat (one SQL UPDATE, no invite codes), and
bulk-inserts OPEN open tasks under the shipped `routine` policy. DUE of them
have their first step due now, spread through the table; the rest are due
between one and thirty days ahead. A warm-up sweep fires a few other tasks
first, so the timed sweeps run on an open connection pool and warm statement
caches. Then `storage.escalation.service.sweep` fires the DUE steps and is
timed. With --repeat (default 3) the DUE tasks are made due again and swept
again, and the table shows the median of the timed sweeps.

Each case runs in a child process of its own, so the peak memory (ru_maxrss)
of one case does not carry into the next, and its database is dropped at
the end. Run `python bench/sweep_bench.py --help` for the options;
bench/README.md has recorded results.
"""

import argparse
import asyncio
import cProfile
import io
import json
import logging
import os
import platform
import pstats
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import event, func, select
from sqlalchemy.engine import URL, make_url

from griddispatch.data import data_path
from storage.db import Database
from storage.escalation.policy import Escalation
from storage.escalation.service import sweep
from storage.migrate import upgrade
from storage.registry.service import import_files
from storage.scratch import postgres_database
from storage.tasks.models import TaskEvent

log = logging.getLogger("sweep_bench")

DEFAULT_DSN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DEFAULT_CASES = (
    "100000:100",
    "100000:1000",
    "100000:2000",
    "1000000:100",
    "1000000:1000",
    "1000000:2000",
)
GOAL_SWEEP_S = 1.0
GOAL_PEAK_RSS_MIB = 200.0

# The shipped default policy gives a normal-priority directive the `routine` policy.
POLICY_NAME = "routine"
ACK_WITHIN = "4 working hours"
DUE_WITHIN = "3 working days"
WARM_UP_TASKS = 10
TELEGRAM_USER_BASE = 7_300_000_000
DUE_QUERY_MARKER = "next_step_at <="
DUE_INDEX = "ix_tasks_next_step_due"
PROFILE_LINES = 25
PRODUCT_INFO_LINE = " INFO storage."

# One row per task. A task is "timed" (its first step is due before the timed
# sweep), "warm-up" (due before the warm-up sweep) or "later" (due 1 to 30 days
# ahead). Timed tasks are every $stride-th row, so they spread through the heap.
FILL_SQL = """
INSERT INTO tasks (
    kind, inspector_id, title, body, priority, routing, state, assignment,
    policy_name, ack_within, due_within, ack_due_at, due_at, deadline_provisional,
    fired_steps, escalation_step, next_step_at, created_at, updated_at
)
SELECT
    'directive',
    ($1::bigint[])[1 + g % cardinality($1::bigint[])],
    '农药经营门店专项检查 ' || g,
    '请检查辖区农药门店的进货台账。',
    'normal', 'inspector', 'new', 'each',
    $2, $3, $4,
    ack.at, ack.at + interval '3 days', false,
    '[]'::json, 0, ack.at, ack.at - interval '4 hours', ack.at - interval '4 hours'
FROM generate_series(1, $5::bigint) AS g
CROSS JOIN LATERAL (
    SELECT CASE
        WHEN g % $6 = 0 AND g <= $6 * $7::bigint
            THEN $8::timestamptz - interval '60 seconds' - (g % 600) * interval '1 second'
        WHEN g % $6 = 1 AND g <= $6 * $9::bigint
            THEN $8::timestamptz - interval '2 hours' - (g % 60) * interval '1 second'
        ELSE $8::timestamptz + interval '1 day' + (g % 2592000) * interval '1 second'
    END AS at
) AS ack
"""


@dataclass(frozen=True)
class Case:
    """A benchmark case: how many tasks are open and how many of them are due."""

    open_tasks: int
    due_tasks: int

    @classmethod
    def parse(cls, text: str) -> "Case":
        """Parse OPEN:DUE, such as 1000000:1000. Raises ValueError for anything else."""
        try:
            open_text, due_text = text.split(":")
            case = cls(int(open_text.replace("_", "")), int(due_text.replace("_", "")))
        except ValueError:
            raise ValueError(
                f"case {text!r} is invalid; write OPEN:DUE, e.g. 1000000:1000"
            ) from None
        if case.due_tasks < 1 or case.open_tasks < 2 * (case.due_tasks + WARM_UP_TASKS):
            raise ValueError(
                f"case {text!r} is invalid; OPEN must be at least twice DUE + {WARM_UP_TASKS}"
                " and DUE at least 1"
            )
        return case

    @property
    def label(self) -> str:
        return f"{self.open_tasks}:{self.due_tasks}"


@dataclass
class CaseResult:
    """Measurements of one case. Times are in seconds, memory in MiB.

    `sweep_s` and `sweep_cpu_s` are the medians of the timed sweeps, whose
    wall-clock and CPU times are listed in `sweep_runs_s` and `sweep_cpu_runs_s`.
    """

    open_tasks: int
    due_tasks: int
    fired: int
    sweep_s: float
    sweep_cpu_s: float
    sweep_runs_s: list[float]
    sweep_cpu_runs_s: list[float]
    fill_s: float
    statements: int
    peak_rss_mib: float
    rss_before_sweep_mib: float
    rss_after_sweep_mib: float
    due_query: str
    plan: list[str]
    uses_due_index: bool
    profile: str = ""
    profile_statement_s: float = 0.0
    profile_statements: int = 0
    profile_sweep_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _asyncpg_arguments(url: URL) -> dict[str, Any]:
    return {
        "user": url.username,
        "password": url.password,
        "host": url.host,
        "port": url.port,
        "database": url.database,
    }


async def _import_registry(db: Database) -> None:
    folder = data_path("registry", "ordos")
    reports = await import_files(db, [folder / "divisions.csv", folder / "inspectors.csv"])
    errors = [str(error) for report in reports for error in report.errors]
    if errors:
        raise RuntimeError(f"example registry rows rejected: {errors[:5]}")


async def _fill(url: str, case: Case, base: datetime) -> float:
    """Bind every inspector to Telegram, insert the tasks and VACUUM ANALYZE the table.

    Returns the seconds taken."""
    started = time.perf_counter()
    connection = await asyncpg.connect(**_asyncpg_arguments(make_url(url)))
    try:
        await connection.execute(
            "UPDATE inspectors SET telegram_user_id = $1 + id, telegram_chat_id = $1 + id,"
            " reachable = true",
            TELEGRAM_USER_BASE,
        )
        inspector_ids = [
            row["id"]
            for row in await connection.fetch(
                "SELECT id FROM inspectors WHERE role = 'inspector' ORDER BY id"
            )
        ]
        stride = case.open_tasks // (case.due_tasks + WARM_UP_TASKS)
        await connection.execute(
            FILL_SQL,
            inspector_ids,
            POLICY_NAME,
            ACK_WITHIN,
            DUE_WITHIN,
            case.open_tasks,
            stride,
            case.due_tasks,
            base,
            WARM_UP_TASKS,
        )
        await connection.execute("VACUUM ANALYZE tasks")
    finally:
        await connection.close()
    return time.perf_counter() - started


def _rss_mib(field_name: str) -> float:
    """Return a memory figure of this process from /proc/self/status (VmRSS, VmHWM) in MiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_rss_mib() -> float:
    # On Linux ru_maxrss is in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class StatementLog:
    """A counter of the statements an engine runs and the time spent in them.

    It also keeps the first due-task query the sweep sends, with its parameters.
    """

    def __init__(self, db: Database) -> None:
        self.count = 0
        self.seconds = 0.0
        self.due_query: tuple[str, Any] | None = None
        self._started: float = 0.0
        engine = db.engine.sync_engine
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if self.due_query is None and DUE_QUERY_MARKER in statement:
            self.due_query = (statement, parameters)
        self._started = time.perf_counter()

    def _after(self, *_: Any) -> None:
        self.count += 1
        self.seconds += time.perf_counter() - self._started

    def reset(self) -> None:
        self.count = 0
        self.seconds = 0.0


async def _explain(db: Database, due_query: tuple[str, Any], now: datetime) -> list[str]:
    """Run EXPLAIN (ANALYZE, BUFFERS) on the due-task query the sweep sent, at time `now`."""
    statement, parameters = due_query
    values = tuple(now if isinstance(value, datetime) else value for value in parameters)
    async with db.engine.connect() as connection:
        result = await connection.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, values)
        return [str(row[0]) for row in result]


async def _count_reminded(db: Database, since: datetime) -> int:
    async with db.reading() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(TaskEvent)
            .where(TaskEvent.kind == "reminded", TaskEvent.at >= since)
        )
    return int(count or 0)


async def _rearm_due_tasks(url: str, base: datetime) -> None:
    """Make the timed tasks due again, for the profiled second sweep."""
    connection = await asyncpg.connect(**_asyncpg_arguments(make_url(url)))
    try:
        await connection.execute(
            "UPDATE tasks SET fired_steps = '[]'::json, escalation_step = 0,"
            " next_step_at = ack_due_at"
            " WHERE ack_due_at BETWEEN $1::timestamptz - interval '1 hour' AND $1",
            base,
        )
    finally:
        await connection.close()


async def _profiled_sweep(
    db: Database, escalation: Escalation, statements: StatementLog, result: CaseResult
) -> None:
    statements.reset()
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    fired = await sweep(db, escalation=escalation, now=datetime.now(UTC))
    profiler.disable()
    result.profile_sweep_s = time.perf_counter() - started
    result.profile_statements = statements.count
    result.profile_statement_s = statements.seconds
    result.extra["profile_fired"] = len(fired)
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(PROFILE_LINES)
    stats.sort_stats("tottime").print_stats(PROFILE_LINES)
    result.profile = text.getvalue()


@dataclass(frozen=True)
class TimedSweep:
    """One timed sweep: wall-clock and CPU seconds of this process, steps fired, statements."""

    wall_s: float
    cpu_s: float
    fired: int
    statements: int


async def _timed_sweep(
    db: Database, escalation: Escalation, statements: StatementLog, expected: int
) -> TimedSweep:
    """Run one sweep at the current time and check that it fired `expected` steps."""
    statements.reset()
    now = datetime.now(UTC)
    started = time.perf_counter()
    cpu_started = time.process_time()
    fired = await sweep(db, escalation=escalation, now=now)
    cpu_s = time.process_time() - cpu_started
    wall_s = time.perf_counter() - started
    statement_count = statements.count
    reminded = await _count_reminded(db, now)
    if len(fired) != expected or reminded != expected:
        raise RuntimeError(
            f"sweep fired {len(fired)} steps and recorded {reminded} reminders, "
            f"expected {expected} of each"
        )
    return TimedSweep(wall_s, cpu_s, len(fired), statement_count)


async def run_case(
    dsn: str, case: Case, *, repeat: int, profile: bool, synchronous_commit: str
) -> CaseResult:
    """Fill a fresh database for `case`, time `repeat` sweeps of its due tasks, drop it."""
    escalation = Escalation.load()
    async with postgres_database(dsn, "gd_bench") as url:
        await upgrade(url)
        server_settings = {"synchronous_commit": synchronous_commit}
        db = Database(url, connect_args={"server_settings": server_settings})
        try:
            await _import_registry(db)
            base = datetime.now(UTC)
            fill_s = await _fill(url, case, base)
            log.info("filled open=%d due=%d seconds=%.1f", case.open_tasks, case.due_tasks, fill_s)

            statements = StatementLog(db)
            warm_up = await sweep(db, escalation=escalation, now=base - timedelta(hours=1))
            if len(warm_up) != WARM_UP_TASKS or statements.due_query is None:
                raise RuntimeError(f"warm-up sweep fired {len(warm_up)}, not {WARM_UP_TASKS}")
            plan = await _explain(db, statements.due_query, datetime.now(UTC))

            rss_before = _rss_mib("VmRSS")
            load_before = os.getloadavg()[0]
            runs: list[TimedSweep] = []
            for run in range(repeat):
                if run:
                    await _rearm_due_tasks(url, base)
                runs.append(await _timed_sweep(db, escalation, statements, case.due_tasks))
            load_after = os.getloadavg()[0]

            result = CaseResult(
                open_tasks=case.open_tasks,
                due_tasks=case.due_tasks,
                fired=runs[0].fired,
                sweep_s=statistics.median(run.wall_s for run in runs),
                sweep_cpu_s=statistics.median(run.cpu_s for run in runs),
                sweep_runs_s=[run.wall_s for run in runs],
                sweep_cpu_runs_s=[run.cpu_s for run in runs],
                fill_s=fill_s,
                statements=runs[0].statements,
                peak_rss_mib=_peak_rss_mib(),
                rss_before_sweep_mib=rss_before,
                rss_after_sweep_mib=_rss_mib("VmRSS"),
                due_query=statements.due_query[0],
                plan=plan,
                uses_due_index=any(DUE_INDEX in line for line in plan),
                extra={"load_before": load_before, "load_after": load_after},
            )
            if profile:
                await _rearm_due_tasks(url, base)
                await _profiled_sweep(db, escalation, statements, result)
            return result
        finally:
            await db.dispose()


def _run_child(
    dsn: str, case: Case, *, repeat: int, profile: bool, synchronous_commit: str
) -> CaseResult:
    """Run one case in a new process, so each case has its own peak memory."""
    command = [sys.executable, __file__, "--dsn", dsn, "--child", case.label]
    command += ["--repeat", str(repeat), "--synchronous-commit", synchronous_commit]
    if profile:
        command.append("--profile")
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr)
        raise SystemExit(f"case {case.label} failed with exit code {completed.returncode}")
    for line in completed.stderr.splitlines():
        if PRODUCT_INFO_LINE not in line:
            print(line, file=sys.stderr)
    return CaseResult(**json.loads(completed.stdout.strip().splitlines()[-1]))


def _ratio(value: float, first: float) -> str:
    return f"{value / first:.2f}" if first else "-"


def _same_due_baseline(result: CaseResult, results: Sequence[CaseResult]) -> CaseResult:
    """Return the first case with the same due count, the baseline of the open-count ratio."""
    return next(other for other in results if other.due_tasks == result.due_tasks)


def _same_open_baseline(result: CaseResult, results: Sequence[CaseResult]) -> CaseResult:
    """Return the first case with the same open count, the baseline of the due-count ratio."""
    return next(other for other in results if other.open_tasks == result.open_tasks)


def print_table(results: Sequence[CaseResult]) -> None:
    """Print the results side by side with two ratios of CPU time. "by open" compares a case
    with the first case of the same due count, "by due" with the first of the same open count.
    """
    header = (
        f"{'open':>10} {'due':>6} {'fired':>6} {'sweep s':>8} {'cpu s':>6} {'ms/step':>8} "
        f"{'stmts':>6} {'peak MiB':>9} {'cpu x by open':>14} {'cpu x by due':>13} "
        f"{'index':>6}"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        by_open = _same_due_baseline(result, results)
        by_due = _same_open_baseline(result, results)
        print(
            f"{result.open_tasks:>10,} {result.due_tasks:>6,} {result.fired:>6,} "
            f"{result.sweep_s:>8.2f} {result.sweep_cpu_s:>6.2f} "
            f"{1000 * result.sweep_s / max(result.fired, 1):>8.2f} "
            f"{result.statements:>6,} {result.peak_rss_mib:>9.0f} "
            f"{_ratio(result.sweep_cpu_s, by_open.sweep_cpu_s):>14} "
            f"{_ratio(result.sweep_cpu_s, by_due.sweep_cpu_s):>13} "
            f"{'yes' if result.uses_due_index else 'NO':>6}"
        )


def print_goals(results: Sequence[CaseResult]) -> None:
    """Print, per case, whether the sweep met the product's time and memory goals."""
    for result in results:
        over_s = result.sweep_s - GOAL_SWEEP_S
        over_mib = result.peak_rss_mib - GOAL_PEAK_RSS_MIB
        time_verdict = "met" if over_s <= 0 else f"missed by {over_s:.2f} s"
        memory_verdict = "met" if over_mib <= 0 else f"missed by {over_mib:.0f} MiB"
        print(
            f"{result.open_tasks:,} open, {result.due_tasks:,} due: sweep < {GOAL_SWEEP_S:.0f} s "
            f"{time_verdict}; peak RSS < {GOAL_PEAK_RSS_MIB:.0f} MiB {memory_verdict}"
        )


def print_details(results: Sequence[CaseResult]) -> None:
    """Print the due-task query, its plan per case, and any profile."""
    print(f"\ndue-task query as the sweep sends it:\n  {results[0].due_query}")
    for result in results:
        print(
            f"\nEXPLAIN (ANALYZE, BUFFERS), {result.open_tasks:,} open, {result.due_tasks:,} due:"
        )
        for line in result.plan:
            print(f"  {line}")
        print(
            f"memory: VmRSS {result.rss_before_sweep_mib:.0f} MiB before the sweeps, "
            f"{result.rss_after_sweep_mib:.0f} MiB after; ru_maxrss {result.peak_rss_mib:.0f} MiB;"
            f" sweeps took {', '.join(f'{value:.2f}' for value in result.sweep_runs_s)} s, "
            f"CPU {', '.join(f'{value:.2f}' for value in result.sweep_cpu_runs_s)} s;"
            f" bulk fill took {result.fill_s:.1f} s; 1-minute load average "
            f"{result.extra['load_before']:.2f} before the sweeps, "
            f"{result.extra['load_after']:.2f} after"
        )
        if result.profile:
            print(
                f"\nprofiled sweep: {result.extra.get('profile_fired')} steps in "
                f"{result.profile_sweep_s:.2f} s under cProfile, of which "
                f"{result.profile_statement_s:.2f} s inside {result.profile_statements:,} "
                "database statements (execute to result, driver and round trip included)"
            )
            print(result.profile)


def print_machine(synchronous_commit: str) -> None:
    """Print the date, the machine, Python and the commit setting the numbers depend on."""
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    print(
        f"date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs ({cpu}), "
        f"Python {platform.python_version()}, synchronous_commit={synchronous_commit}\n"
    )


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time one escalation sweep with OPEN open tasks of which DUE are due now."
    )
    parser.add_argument(
        "--dsn",
        default=DEFAULT_DSN,
        help="SQLAlchemy URL of an existing PostgreSQL database. Each case creates and drops "
        f"a database next to it (default {DEFAULT_DSN})",
    )
    parser.add_argument(
        "--case",
        action="append",
        metavar="OPEN:DUE",
        help="open and due task counts of one case. Repeat the option for several cases "
        f"(default {' '.join(DEFAULT_CASES)})",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="timed sweeps per case. Before each one after the first, the due tasks are made "
        "due again. The table shows the medians (default 3)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after the timed sweeps, make the due tasks due again and sweep them under cProfile",
    )
    parser.add_argument(
        "--synchronous-commit",
        choices=["on", "off"],
        default="on",
        help="PostgreSQL synchronous_commit for the sweep's connections. Off shows how much "
        "of the sweep waits for WAL flushes at commit (default on, as the product runs)",
    )
    parser.add_argument("--child", metavar="OPEN:DUE", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every case in its own process and print the table, or run one case as a child."""
    args = parse_arguments(argv)
    # The product's INFO logging stays on, as a worker runs it, so the timed sweep includes
    # its log line per fired step. The parent shows only the benchmark's own lines.
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    if args.child:
        case = Case.parse(args.child)
        result = asyncio.run(
            run_case(
                args.dsn,
                case,
                repeat=args.repeat,
                profile=args.profile,
                synchronous_commit=args.synchronous_commit,
            )
        )
        print(json.dumps(asdict(result)))
        return 0

    if args.repeat < 1:
        raise SystemExit(f"--repeat {args.repeat} is invalid; give 1 or more")
    try:
        cases = [Case.parse(text) for text in args.case or DEFAULT_CASES]
    except ValueError as exc:
        raise SystemExit(str(exc)) from None

    results = []
    for case in cases:
        log.info("case started open=%d due=%d", case.open_tasks, case.due_tasks)
        results.append(
            _run_child(
                args.dsn,
                case,
                repeat=args.repeat,
                profile=args.profile,
                synchronous_commit=args.synchronous_commit,
            )
        )

    print_machine(args.synchronous_commit)
    print_table(results)
    print()
    print_goals(results)
    print_details(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
