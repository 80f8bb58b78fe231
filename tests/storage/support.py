"""Registry files, directives and row counts shared by the storage and CLI tests.

Directives, leads and sweeps go through the wrappers here, which apply
ESCALATION: the policy in policies.yaml next to this file, a reminder at the
acknowledge deadline and the grid leader 30 minutes later, in clock time.

The small registry takes two grids of 交通街道 with all their staff from the
shipped Ordos example, and adds one grid that has an inspector but no grid
leader. It imports in a fraction of the time the whole example takes.
"""

import csv
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from griddispatch.data import data_path
from griddispatch.messages import DirectiveMessage, LeadMessage, Target, TargetKind
from storage.base import Base
from storage.db import Database
from storage.directives.service import Accepted, accept_directive
from storage.escalation.policy import Escalation
from storage.escalation.service import FiredStep, sweep
from storage.leads.service import accept_lead
from storage.registry.models import Inspector
from storage.registry.queries import inspector_by_code
from storage.registry.service import bind_telegram, create_invite, import_files
from storage.tasks.models import TaskEvent

# A Monday morning in China Standard Time, so deadlines read like a working day.
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
ACK_WITHIN_S = 3600.0
ESCALATE_AFTER_S = 1800.0
# policies.yaml sets the same timings as the two constants above.
ESCALATION = Escalation.load(Path(__file__).parent / "policies.yaml")

# Telegram user ids of bound inspectors are this plus the inspector id.
TELEGRAM_USER_BASE = 5_000_000_000
EXAMPLE_DIR = data_path("registry", "ordos")
TOWNSHIP = "150602001"
# 交通街道第1网格: grid leader JG0009, inspectors JG0010 to JG0013.
GRID = "150602001001"
GRID_LEADER = "JG0009"
GRID_INSPECTORS = ["JG0010", "JG0011", "JG0012", "JG0013"]
SECOND_GRID = "150602001002"
# Not in the example: a grid whose only staff member is the inspector JT0001.
LEADERLESS_GRID = "150602001099"
LEADERLESS_INSPECTOR = "JT0001"
_SMALL_DIVISIONS = {"150600", "150602", TOWNSHIP, GRID, SECOND_GRID}


def example_rows(name: str) -> tuple[list[str], list[list[str]]]:
    """Return the header and the rows of one file of the example registry."""
    with (EXAMPLE_DIR / name).open(encoding="utf-8", newline="") as stream:
        header, *rows = list(csv.reader(stream))
    return header, rows


def write_csv(
    path: Path, header: list[str], rows: list[list[str]], *, encoding: str = "utf-8"
) -> Path:
    """Write a registry CSV file and return its path."""
    with path.open("w", encoding=encoding, newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_small_registry(folder: Path) -> list[Path]:
    """Write the divisions and inspectors files of the small registry and return their paths."""
    division_header, divisions = example_rows("divisions.csv")
    small_divisions = [row for row in divisions if row[0] in _SMALL_DIVISIONS]
    small_divisions.append([LEADERLESS_GRID, "交通街道测试网格", "grid", TOWNSHIP, ""])

    inspector_header, inspectors = example_rows("inspectors.csv")
    staff = [row for row in inspectors if row[4] in (GRID, SECOND_GRID)]
    staff.append([LEADERLESS_INSPECTOR, "测试员", "", "inspector", LEADERLESS_GRID])

    return [
        write_csv(folder / "divisions.csv", division_header, small_divisions),
        write_csv(folder / "inspectors.csv", inspector_header, staff),
    ]


def small_registry_subjects() -> tuple[list[str], list[list[str]]]:
    """Return the header and the example subjects of GRID and SECOND_GRID."""
    header, rows = example_rows("subjects.csv")
    return header, [row for row in rows if row[4] in (GRID, SECOND_GRID)]


async def import_small_registry(db: Database, folder: Path) -> None:
    """Import the small registry into `db`, failing the test if any row is rejected."""
    reports = await import_files(db, write_small_registry(folder))
    errors = [str(error) for report in reports for error in report.errors]
    assert errors == [], f"small registry rows rejected: {errors}"


async def issue_directive(
    db: Database, message: DirectiveMessage, *, now: datetime = START
) -> Accepted:
    """Accept a directive under ESCALATION, as the dispatcher does on receiving it."""
    return await accept_directive(db, message, escalation=ESCALATION, now=now)


async def receive_lead(db: Database, message: LeadMessage, *, now: datetime = START) -> Accepted:
    """Accept a lead under ESCALATION, as the dispatcher does on receiving it."""
    return await accept_lead(db, message, escalation=ESCALATION, now=now)


async def sweep_at(db: Database, now: datetime) -> list[FiredStep]:
    """Run one escalation sweep under ESCALATION at the clock time `now`."""
    return await sweep(db, escalation=ESCALATION, now=now)


async def bind_everyone(db: Database) -> None:
    """Bind every inspector to Telegram, since escalation skips a step nobody can receive."""
    async with db.reading() as session:
        inspectors = list(await session.scalars(select(Inspector).order_by(Inspector.id)))
    for inspector in inspectors:
        invite = await create_invite(db, inspector.code, now=START)
        user_id = TELEGRAM_USER_BASE + inspector.id
        await bind_telegram(
            db, invite.code, user_id=user_id, chat_id=user_id, language="zh-hans", now=START
        )


def directive(
    message_id: str, kind: TargetKind, code: str, *, ack_within_s: float | None = None
) -> DirectiveMessage:
    """Build a directive as the command centre sends it."""
    return DirectiveMessage(
        message_id=message_id,
        target=Target(kind=kind, code=code),
        title="开展春季农药经营门店专项检查",
        body="请于本周内完成辖区农药门店检查。",
        ack_within_s=ack_within_s,
        issued_by="指挥中心",
    )


async def inspector_of(db: Database, code: str) -> Inspector:
    """Return the inspector with staff code `code`, failing the test if there is none."""
    async with db.reading() as session:
        inspector = await inspector_by_code(session, code)
    assert inspector is not None, f"inspector {code} is not in the registry"
    return inspector


async def count_rows(db: Database, model: type[Base]) -> int:
    """Return how many rows the table of `model` contains."""
    async with db.reading() as session:
        count = await session.scalar(select(func.count()).select_from(model))
    return int(count or 0)


async def trail_kinds(db: Database, task_id: int) -> list[str]:
    """Return the kinds of a task's trail entries in the order they were written."""
    async with db.reading() as session:
        kinds = await session.scalars(
            select(TaskEvent.kind).where(TaskEvent.task_id == task_id).order_by(TaskEvent.id)
        )
        return list(kinds)
