"""Time the console in headless Chromium with 2,000 subjects, 800 inspectors and 10,000 tasks.

The script migrates a fresh SQLite database in a temporary folder, imports
the Ordos example registry (1,863 subjects, 779 inspectors) and adds
generated subjects and inspectors in existing grids up to --subjects and
--inspectors. It bulk-inserts --tasks tasks spread over every inspector,
with mixed kinds, priorities, states and deadlines, and one inspection
result with a location for every fifth task, so the map draws inspectors'
positions and subjects' compliance. Then it starts a nats-server and the
API process with the console on 127.0.0.1, signs in with Chromium
(/usr/bin/chromium through Playwright) and measures, in the browser with
performance.now():

- board first render: from navigation start to the first page of the board drawn;
- map first render: from navigation start to the whole city's map drawn;
- filter: from submitting the board's filter form to the filtered page drawn.

Each is repeated --repeat times (default 5); the script prints each run
and the median. bench/README.md has recorded results.
"""

import argparse
import asyncio
import logging
import platform
import random
import statistics
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.async_api import Page, async_playwright
from sqlalchemy import func, insert, select

from dispatcher.api.service import ApiService
from dispatcher.console import add_console_routes
from dispatcher.setup import escalation_from, load_example_registry
from griddispatch.clock import SystemClock
from griddispatch.nats_server import NatsServer, free_port
from griddispatch.settings import Settings
from storage.accounts.models import UserRole
from storage.accounts.service import create_user
from storage.db import Database
from storage.migrate import upgrade
from storage.registry.models import Division, Inspector, Subject
from storage.results.models import InspectionResult
from storage.tasks.models import Task

log = logging.getLogger("console_bench")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "bench-password-1"
STATES = ["new", "new", "acknowledged", "declined", "submitted", "closed", "cancelled"]
KINDS = ["directive", "directive", "lead", "followup"]
PRIORITIES = ["low", "normal", "normal", "high", "urgent"]
BATCH = 2000


async def _top_up_inspectors(db: Database, wanted: int, rng: random.Random) -> list[int]:
    async with db.transaction() as session:
        grids = list(await session.scalars(select(Division.code).where(Division.level == "grid")))
        count = int(await session.scalar(select(func.count()).select_from(Inspector)) or 0)
        rows = [
            {
                "code": f"BX{index:05d}",
                "name": f"监管员{index:04d}",
                "role": "inspector",
                "division_code": rng.choice(grids),
                "reachable": True,
            }
            for index in range(max(0, wanted - count))
        ]
        if rows:
            await session.execute(insert(Inspector), rows)
        return list(
            await session.scalars(select(Inspector.id).where(Inspector.role == "inspector"))
        )


async def _top_up_subjects(db: Database, wanted: int, rng: random.Random) -> None:
    async with db.transaction() as session:
        existing = list(
            await session.execute(
                select(Subject.grid_code, Subject.longitude, Subject.latitude, Subject.inspector_id)
            )
        )
        rows = []
        for index in range(max(0, wanted - len(existing))):
            grid, lon, lat, inspector = rng.choice(existing)
            rows.append(
                {
                    "other_id": f"BENCH{index:06d}",
                    "name": f"基准测试主体{index:04d}",
                    "industry": "planting",
                    "grid_code": grid,
                    "inspector_id": inspector,
                    "longitude": (lon or 109.9) + rng.uniform(-0.002, 0.002),
                    "latitude": (lat or 39.8) + rng.uniform(-0.002, 0.002),
                    "registered": True,
                }
            )
        if rows:
            await session.execute(insert(Subject), rows)


def _task_row(
    index: int, inspector: int, subject: int, now: datetime, rng: random.Random
) -> dict[str, Any]:
    created = now - timedelta(hours=rng.uniform(0, 24 * 20))
    return {
        "kind": rng.choice(KINDS),
        "inspector_id": inspector,
        "subject_id": subject,
        "title": f"基准任务 {index}",
        "body": "",
        "priority": rng.choice(PRIORITIES),
        "routing": "grid",
        "state": rng.choice(STATES),
        "assignment": "each",
        "policy_name": "routine",
        "ack_within": "30m",
        "due_within": "3 working days",
        "ack_due_at": created + timedelta(minutes=30),
        "due_at": created + timedelta(days=3),
        "deadline_provisional": False,
        "fired_steps": [],
        "escalation_step": rng.choice([0, 0, 0, 1, 2]),
        "created_at": created,
        "updated_at": created,
    }


async def _insert_tasks(
    db: Database, inspectors: list[int], count: int, rng: random.Random
) -> None:
    now = datetime.now(UTC)
    async with db.reading() as session:
        subjects = list(
            await session.execute(select(Subject.id, Subject.longitude, Subject.latitude))
        )
    for start in range(0, count, BATCH):
        async with db.transaction() as session:
            picks = [
                (rng.choice(inspectors), rng.choice(subjects))
                for _ in range(start, min(count, start + BATCH))
            ]
            rows = [
                _task_row(start + n, inspector, subject[0], now, rng)
                for n, (inspector, subject) in enumerate(picks)
            ]
            await session.execute(insert(Task), rows)
            ids = list(
                await session.scalars(select(Task.id).order_by(Task.id.desc()).limit(len(rows)))
            )
            ids.reverse()
            results = [
                {
                    "task_id": task_id,
                    "subject_id": subject[0],
                    "inspector_id": inspector,
                    "checklist_group": "planting",
                    "checklist_version": "2026.1",
                    "compliant": rng.random() > 0.15,
                    "opinion": "",
                    "longitude": subject[1],
                    "latitude": subject[2],
                    "location_flagged": False,
                    "verification_code": f"B{task_id:011d}",
                    "submitted_at": now - timedelta(days=rng.uniform(0, 20)),
                }
                for task_id, (inspector, subject) in zip(ids, picks, strict=True)
                if task_id % 5 == 0
            ]
            if results:
                await session.execute(insert(InspectionResult), results)


async def _seed(db: Database, args: argparse.Namespace) -> None:
    rng = random.Random(7)
    await load_example_registry(db)
    inspectors = await _top_up_inspectors(db, args.inspectors, rng)
    await _top_up_subjects(db, args.subjects, rng)
    await _insert_tasks(db, inspectors, args.tasks, rng)
    await create_user(db, "bench", PASSWORD, role=UserRole.COMMAND_CENTRE, now=datetime.now(UTC))
    async with db.reading() as session:
        counts = [
            int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Subject, Inspector, Task, InspectionResult)
        ]
    print(
        f"seeded subjects={counts[0]} inspectors={counts[1]} tasks={counts[2]} results={counts[3]}"
    )


async def _sign_in(page: Page, url: str) -> None:
    await page.goto(f"{url}/console/")
    await page.fill("#login-form input[name=username]", "bench")
    await page.fill("#login-form input[name=password]", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("#board-rows tr")


async def _board_first_render(page: Page, url: str) -> float:
    await page.goto("about:blank")
    await page.goto(f"{url}/console/#/board")
    await page.wait_for_selector("#board-rows tr")
    return float(await page.evaluate("performance.now()"))


async def _map_first_render(page: Page, url: str) -> float:
    await page.goto("about:blank")
    await page.goto(f"{url}/console/#/map")
    await page.wait_for_selector("#map-holder[data-loaded] svg")
    return float(await page.evaluate("performance.now()"))


FILTER_SCRIPT = """
async ([state, priority]) => {
  const form = document.querySelector('#board-filters');
  form.state.value = state;
  form.priority.value = priority;
  const holder = document.querySelector('#board').parentElement.parentElement;
  const before = holder.dataset.loaded;
  const started = performance.now();
  form.requestSubmit();
  while (holder.dataset.loaded === before) {
    await new Promise((done) => requestAnimationFrame(done));
  }
  return performance.now() - started;
}
"""


async def _filter(page: Page, url: str, run: int) -> float:
    state, priority = [("new", "high"), ("acknowledged", "urgent"), ("", "low")][run % 3]
    return float(await page.evaluate(FILTER_SCRIPT, [state, priority]))


async def _measure(
    page: Page, url: str, step: Callable[[Page, str], Awaitable[float]], repeat: int
) -> list[float]:
    return [await step(page, url) for _ in range(repeat)]


async def _browse(url: str, repeat: int) -> dict[str, list[float]]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1440, "height": 900})
        page = await context.new_page()
        page.set_default_timeout(120_000)
        await _sign_in(page, url)
        await _board_first_render(page, url)  # warm-up: caches the static files and outlines
        await _map_first_render(page, url)
        board = await _measure(page, url, _board_first_render, repeat)
        map_ms = await _measure(page, url, _map_first_render, repeat)
        await _board_first_render(page, url)
        filters = [await _filter(page, url, run) for run in range(repeat)]
        await browser.close()
    return {"board first render": board, "map first render": map_ms, "filter": filters}


async def main(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="console-bench-"))
    url = f"sqlite+aiosqlite:///{folder / 'bench.sqlite3'}"
    await upgrade(url)
    db = Database(url)
    settings = Settings(data_dir=folder)
    nats = NatsServer(port=free_port(), store_dir=folder / "jetstream")
    await nats.start()
    try:
        await _seed(db, args)
        api = ApiService(
            nats_url=nats.url,
            db=db,
            escalation=escalation_from(settings),
            clock=SystemClock(),
            settings=settings,
            host="127.0.0.1",
            port=0,
            configure=[add_console_routes],
        )
        await api.start()
        try:
            results = await _browse(api.base_url.removesuffix("/api/v1"), args.repeat)
        finally:
            await api.stop()
    finally:
        await db.dispose()
        await nats.stop()
    print(f"machine: {platform.machine()} {platform.system()} python {platform.python_version()}")
    for name, runs in results.items():
        shown = ", ".join(f"{value:.0f}" for value in runs)
        print(f"{name}: median {statistics.median(runs):.0f} ms (runs: {shown})")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=2000, help="subjects in all (default 2000)")
    parser.add_argument(
        "--inspectors", type=int, default=800, help="inspectors in all (default 800)"
    )
    parser.add_argument("--tasks", type=int, default=10_000, help="tasks to insert (default 10000)")
    parser.add_argument(
        "--repeat", type=int, default=5, help="runs of each measurement (default 5)"
    )
    return parser.parse_args()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(_arguments()))
