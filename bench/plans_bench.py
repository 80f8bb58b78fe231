"""Benchmark: generating a quarter's routine tasks for many subjects.

Builds a registry of generated subjects (default 100,000: one city, one
county, 20 townships, 1,000 grids, one inspector per 50 subjects) in a fresh
database, then times `generate_month` for January, when every quarterly,
half-yearly and yearly period starts. Every subject gets grade B, which is
quarterly for every industry but slaughter (monthly) and trader (half-yearly),
so each subject gets one entry and one routine task.

Reports the elapsed time of the generation and the CPU time this process
spent in it. SQLite works in this process, while PostgreSQL's server time is
not counted. It also reports the process's peak resident memory (ru_maxrss)
after building the registry and after the generation. Runs each backend in its
own child process so that one run's memory does not count towards the next.

    .venv/bin/python bench/plans_bench.py                    # SQLite and PostgreSQL
    .venv/bin/python bench/plans_bench.py --backend sqlite --subjects 20000
"""

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from griddispatch.workcalendar import CHINA
from storage.db import Database
from storage.escalation.policy import Escalation
from storage.plans.config import load_plans
from storage.plans.generate import generate_month
from storage.registry.models import Division, Inspector, Subject
from storage.registry.rows import load_industries
from storage.scratch import scratch_database

DEFAULT_DSN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
GOAL_SECONDS = 60.0
GOAL_MB = 300.0
SUBJECTS_PER_INSPECTOR = 50
GRIDS = 1000
TOWNSHIPS = 20
BATCH = 10_000


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_mb() -> float:
    # Linux reports ru_maxrss in kibibytes.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _build_registry(db: Database, subjects: int) -> None:
    """Insert the divisions, inspectors and subjects with Core bulk inserts."""
    divisions: list[dict[str, Any]] = [
        {"code": "159900", "name": "基准市", "level": "city", "parent_code": None},
        {"code": "159901", "name": "基准县", "level": "county", "parent_code": "159900"},
    ]
    for township in range(TOWNSHIPS):
        divisions.append(
            {
                "code": f"159901{township + 1:03d}",
                "name": f"基准乡镇{township + 1}",
                "level": "township",
                "parent_code": "159901",
            }
        )
    grid_codes = []
    for grid in range(GRIDS):
        township_code = f"159901{grid % TOWNSHIPS + 1:03d}"
        code = f"{township_code}{grid // TOWNSHIPS + 1:03d}"
        grid_codes.append(code)
        divisions.append(
            {"code": code, "name": f"网格{grid + 1}", "level": "grid", "parent_code": township_code}
        )
    inspector_count = max(subjects // SUBJECTS_PER_INSPECTOR, 1)
    inspectors = [
        {
            "id": number + 1,
            "code": f"BJ{number + 1:06d}",
            "name": f"监管员{number + 1}",
            "phone": None,
            "role": "inspector",
            "division_code": grid_codes[number % GRIDS],
            "reachable": True,
        }
        for number in range(inspector_count)
    ]
    industries = sorted(load_industries())
    async with db.transaction() as session:
        await session.execute(insert(Division), divisions)
        await session.execute(insert(Inspector), inspectors)
    for start in range(0, subjects, BATCH):
        rows = []
        for number in range(start, min(start + BATCH, subjects)):
            inspector = inspectors[number % inspector_count]
            rows.append(
                {
                    "other_id": f"BENCH{number:09d}",
                    "name": f"基准主体{number}",
                    "industry": industries[number % len(industries)],
                    "grid_code": inspector["division_code"],
                    "inspector_id": inspector["id"],
                    "longitude": 109.0,
                    "latitude": 39.0,
                    "registered": True,
                    "risk_grade": "B",
                }
            )
        async with db.transaction() as session:
            await session.execute(insert(Subject), rows)


async def _run(url: str, subjects: int) -> dict[str, Any]:
    db = Database(url)
    try:
        await _build_registry(db, subjects)
        before_mb = _peak_mb()
        month = date(2026, 1, 1)
        now = datetime(2026, 1, 1, 8, 30, tzinfo=CHINA).astimezone(UTC)
        started = time.perf_counter()
        cpu_started = _cpu_seconds()
        report = await generate_month(db, load_plans(), Escalation.load(), month=month, now=now)
        elapsed = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu_started
    finally:
        await db.dispose()
    return {
        "subjects": subjects,
        "entries": report.entries,
        "tasks": report.tasks,
        "seconds": round(elapsed, 1),
        "cpu_seconds": round(cpu, 1),
        "peak_mb_before": round(before_mb, 1),
        "peak_mb_after": round(_peak_mb(), 1),
    }


async def _child(backend: str, subjects: int, dsn: str) -> dict[str, Any]:
    admin_url = None if backend == "sqlite" else dsn
    with tempfile.TemporaryDirectory() as folder:
        async with scratch_database(
            Path(folder), admin_url, prefix="gd_plans_bench", file_name="bench.sqlite3"
        ) as url:
            return await _run(url, subjects)


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--backend",
        choices=["sqlite", "postgresql", "both"],
        default="both",
        help="databases to run",
    )
    parser.add_argument("--subjects", type=int, default=100_000, help="subjects to generate")
    parser.add_argument(
        "--dsn", default=DEFAULT_DSN, help="PostgreSQL server to create a database on"
    )
    parser.add_argument("--child", choices=["sqlite", "postgresql"], help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run each backend in a child process and print one line of JSON per run."""
    arguments = parse_arguments(argv)
    if arguments.child:
        result = asyncio.run(_child(arguments.child, arguments.subjects, arguments.dsn))
        print(json.dumps({"backend": arguments.child, **result}))
        return 0
    backends = ["sqlite", "postgresql"] if arguments.backend == "both" else [arguments.backend]
    failed = False
    for backend in backends:
        output = (
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    backend,
                    "--subjects",
                    str(arguments.subjects),
                    "--dsn",
                    arguments.dsn,
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        result = json.loads(output)
        within = result["seconds"] < GOAL_SECONDS and result["peak_mb_after"] < GOAL_MB
        failed |= not within
        print(json.dumps({**result, "within_goal": within}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
