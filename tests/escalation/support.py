"""A small registry, a clock-time escalation chain and trail helpers for the escalation tests.

The small registry is the city 鄂尔多斯市, the county 东胜区, the township 交通街道 and two
of its grids from the shipped Ordos example, with all their staff. It adds one grid that
has an inspector but no grid leader.
"""

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from griddispatch.data import data_path
from griddispatch.messages import Assignment, DirectiveMessage, Target, TargetKind
from storage.db import Database
from storage.directives.service import accept_directive
from storage.escalation.policy import Escalation
from storage.outbox.models import OutboxMessage
from storage.registry.models import Inspector
from storage.registry.service import bind_telegram, create_invite, import_files
from storage.tasks.models import Task, TaskEvent

# Monday 2026-03-02, 09:00 China Standard Time: an ordinary working day.
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
ONE_SECOND = timedelta(seconds=1)

EXAMPLE_DIR = data_path("registry", "ordos")
CITY = "150600"
COUNTY = "150602"
TOWNSHIP = "150602001"
# 交通街道第1网格: grid leader JG0009, inspectors JG0010 to JG0013.
GRID = "150602001001"
GRID_LEADER = "JG0009"
GRID_INSPECTORS = ["JG0010", "JG0011", "JG0012", "JG0013"]
# 交通街道第2网格: grid leader JG0014, inspectors JG0015 and JG0016.
SECOND_GRID = "150602001002"
SECOND_GRID_LEADER = "JG0014"
TOWNSHIP_STAFF = ["JG0008"]
COUNTY_STAFF = ["JG0005", "JG0006", "JG0007"]
COMMAND_CENTRE_STAFF = ["JG0001", "JG0002", "JG0003", "JG0004"]
# Not in the example: a grid whose only staff member is the inspector JT0001.
LEADERLESS_GRID = "150602001099"
LEADERLESS_INSPECTOR = "JT0001"
_SMALL_DIVISIONS = {CITY, COUNTY, TOWNSHIP, GRID, SECOND_GRID}
# Telegram user ids of bound test inspectors are this plus the inspector id.
TELEGRAM_USER_BASE = 6_000_000_000

# Clock time only, so that the chain does not depend on the working calendar.
# Step numbers in the trail count from 1 in the order written here.
CHAIN_POLICY = """\
policies:
  - name: chain
    description: 测试用升级链：1 小时内签收，1 天内办结，提交后 2 小时内审核。
    ack_within: 1h
    due_within: 1d
    review_within: 2h
    steps:
      - {when: not_acknowledged, after: 0m, action: remind_assignee}
      - {when: not_acknowledged, after: 10m, action: notify_grid_leader}
      - {when: not_acknowledged, after: 20m, action: notify_township}
      - {when: not_acknowledged, after: 30m, action: notify_county}
      - {when: not_acknowledged, after: 40m, action: notify_command_centre}
      - {when: not_acknowledged, after: 50m, action: reassign_to_grid_leader}
      - {when: not_submitted, after: 0m, action: remind_assignee}
      - {when: not_submitted, after: 1h, action: notify_grid_leader}
      - {when: not_reviewed, after: 0m, action: notify_grid_leader}
"""
ACK_DUE = START + timedelta(hours=1)
RESULT_DUE = START + timedelta(days=1)
# When each step of CHAIN_POLICY is due for a task created at START and never acted on.
STEP_DUE = {
    1: ACK_DUE,
    2: ACK_DUE + timedelta(minutes=10),
    3: ACK_DUE + timedelta(minutes=20),
    4: ACK_DUE + timedelta(minutes=30),
    5: ACK_DUE + timedelta(minutes=40),
    6: ACK_DUE + timedelta(minutes=50),
    7: RESULT_DUE,
    8: RESULT_DUE + timedelta(hours=1),
}
REVIEW_WITHIN = timedelta(hours=2)
# Trail kinds that an escalation step writes, fired or skipped.
STEP_KINDS = ("reminded", "escalated", "reassigned", "escalation_skipped")


def _example_rows(name: str) -> tuple[list[str], list[list[str]]]:
    with (EXAMPLE_DIR / name).open(encoding="utf-8", newline="") as stream:
        header, *rows = list(csv.reader(stream))
    return header, rows


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_small_registry(folder: Path) -> list[Path]:
    """Write the divisions and inspectors files of the small registry and return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    division_header, divisions = _example_rows("divisions.csv")
    small_divisions = [row for row in divisions if row[0] in _SMALL_DIVISIONS]
    small_divisions.append([LEADERLESS_GRID, "交通街道测试网格", "grid", TOWNSHIP, ""])

    inspector_header, inspectors = _example_rows("inspectors.csv")
    staff = [row for row in inspectors if row[4] in _SMALL_DIVISIONS]
    staff.append([LEADERLESS_INSPECTOR, "测试员", "", "inspector", LEADERLESS_GRID])

    return [
        _write_csv(folder / "divisions.csv", division_header, small_divisions),
        _write_csv(folder / "inspectors.csv", inspector_header, staff),
    ]


async def import_small_registry(db: Database, folder: Path) -> dict[str, int]:
    """Import the small registry into `db` and return the inspector id of every staff code."""
    reports = await import_files(db, write_small_registry(folder))
    errors = [str(error) for report in reports for error in report.errors]
    assert errors == [], f"small registry rows rejected: {errors}"
    async with db.reading() as session:
        rows = await session.execute(select(Inspector.code, Inspector.id))
        return {code: inspector_id for code, inspector_id in rows.all()}


async def bind(db: Database, staff: dict[str, int], *codes: str) -> None:
    """Bind each inspector in `codes` to a Telegram account of their own, as `/start` does."""
    for code in codes:
        invite = await create_invite(db, code, now=START)
        user_id = TELEGRAM_USER_BASE + staff[code]
        await bind_telegram(
            db, invite.code, user_id=user_id, chat_id=user_id, language="zh-hans", now=START
        )


def write_policy_file(folder: Path, text: str = CHAIN_POLICY) -> Path:
    """Write an escalation policy file into `folder` and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "escalation.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load_escalation(folder: Path, text: str = CHAIN_POLICY) -> Escalation:
    """Load `text` as the policy file, with an empty calendar folder next to it."""
    calendar_dir = folder / "calendars"
    calendar_dir.mkdir(parents=True, exist_ok=True)
    return Escalation.load(write_policy_file(folder, text), calendar_dir)


def directive_message(
    message_id: str,
    target: Target,
    *,
    ack_within: str | None = None,
    due_within: str | None = None,
    ack_within_s: float | None = None,
    assignment: Assignment = Assignment.EACH,
) -> DirectiveMessage:
    """Build a directive as the command centre sends it."""
    return DirectiveMessage(
        message_id=message_id,
        target=target,
        title="开展春季农药经营门店专项检查",
        body="请于本周内完成辖区农药门店检查。",
        ack_within=ack_within,
        due_within=due_within,
        ack_within_s=ack_within_s,
        assignment=assignment,
        issued_by="指挥中心",
    )


async def issue_to(
    db: Database,
    escalation: Escalation,
    inspector_code: str,
    message_id: str,
    *,
    now: datetime = START,
) -> int:
    """Accept a directive addressed to one inspector and return the id of its task."""
    message = directive_message(message_id, Target(kind=TargetKind.INSPECTOR, code=inspector_code))
    accepted = await accept_directive(db, message, escalation=escalation, now=now)
    assert len(accepted.task_ids) == 1
    return accepted.task_ids[0]


async def load_task(db: Database, task_id: int) -> Task:
    """Return the task as stored now."""
    async with db.reading() as session:
        task = await session.get(Task, task_id)
    assert task is not None, f"task {task_id} is not stored"
    return task


async def events_of(db: Database, task_id: int, *kinds: str) -> list[TaskEvent]:
    """Return a task's trail entries of the given kinds (all kinds when none), in order."""
    query = select(TaskEvent).where(TaskEvent.task_id == task_id).order_by(TaskEvent.id)
    if kinds:
        query = query.where(TaskEvent.kind.in_(kinds))
    async with db.reading() as session:
        return list(await session.scalars(query))


async def step_events(db: Database, task_id: int) -> list[tuple[int, str, str]]:
    """Return (step number, trail kind, action) of every step entry of a task, in order."""
    return [
        (event.detail["step"], event.kind, event.detail["action"])
        for event in await events_of(db, task_id, *STEP_KINDS)
    ]


async def notifications(db: Database, task_id: int | None = None) -> list[dict[str, Any]]:
    """Return the payloads of queued Telegram notifications, about one task when given."""
    async with db.reading() as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.subject.startswith("gd.notify.telegram."))
            .order_by(OutboxMessage.id)
        )
        payloads = [row.payload for row in rows]
    if task_id is None:
        return payloads
    return [payload for payload in payloads if payload.get("task_id") == task_id]
