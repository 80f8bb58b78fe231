"""Accepting directives on the Ordos example registry: targets, de-duplication, races."""

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from dispatcher.setup import load_example_registry
from griddispatch.errors import NotFoundError
from griddispatch.messages import TargetKind
from storage.base import Base
from storage.db import Database
from storage.directives.models import Directive
from storage.outbox.models import OutboxMessage
from storage.registry.models import Inspector
from storage.tasks.models import Task, TaskEvent
from tests.storage.support import (
    ACK_WITHIN_S,
    GRID,
    GRID_INSPECTORS,
    GRID_LEADER,
    START,
    TOWNSHIP,
    directive,
    example_rows,
    issue_directive,
    trail_kinds,
)

TABLES: list[type[Base]] = [Directive, Task, TaskEvent, OutboxMessage]


@pytest.fixture
async def example_db(db: Database) -> Database:
    await load_example_registry(db)
    return db


def _grids_below(division_code: str) -> set[str]:
    """Return the example's grids below a township or county, read from divisions.csv."""
    _, rows = example_rows("divisions.csv")
    parents = {row[0]: row[3] for row in rows}
    grids = set()
    for code, level in ((row[0], row[2]) for row in rows):
        if level == "grid" and division_code in (parents[code], parents[parents[code]]):
            grids.add(code)
    return grids


def _inspectors_of(grid_codes: set[str]) -> list[str]:
    """Return the staff codes of role "inspector" in `grid_codes`, read from inspectors.csv."""
    _, rows = example_rows("inspectors.csv")
    return sorted(row[0] for row in rows if row[3] == "inspector" and row[4] in grid_codes)


async def _assignee_codes(db: Database, task_ids: list[int]) -> list[str]:
    async with db.reading() as session:
        codes = await session.scalars(
            select(Inspector.code)
            .join(Task, Task.inspector_id == Inspector.id)
            .where(Task.id.in_(task_ids))
            .order_by(Inspector.code)
        )
        return list(codes)


async def _counts(db: Database) -> dict[str, int]:
    counts = {}
    async with db.reading() as session:
        for model in TABLES:
            rows = await session.scalars(select(model))
            counts[model.__tablename__] = len(list(rows))
    return counts


async def test_inspector_target_one_task(example_db: Database) -> None:
    message = directive("d-inspector", TargetKind.INSPECTOR, "JG0010")

    accepted = await issue_directive(example_db, message)

    assert accepted.created is True
    assert len(accepted.task_ids) == 1
    assert await _assignee_codes(example_db, accepted.task_ids) == ["JG0010"]


async def test_task_fields(example_db: Database) -> None:
    message = directive("d-fields", TargetKind.INSPECTOR, "JG0010", ack_within_s=1800.0)

    accepted = await issue_directive(example_db, message)

    async with example_db.reading() as session:
        task = await session.get(Task, accepted.task_ids[0])
    assert task is not None
    assert task.kind == "directive"
    assert task.state == "new"
    assert task.routing == "inspector"
    assert task.directive_id == accepted.record_id
    assert task.ack_due_at == START + timedelta(seconds=1800)
    assert task.next_step_at == START + timedelta(seconds=1800)
    assert task.escalation_step == 0


async def test_default_ack_deadline(example_db: Database) -> None:
    message = directive("d-default", TargetKind.INSPECTOR, "JG0010")

    accepted = await issue_directive(example_db, message)

    async with example_db.reading() as session:
        task = await session.get(Task, accepted.task_ids[0])
    assert task is not None
    assert task.ack_due_at == START + timedelta(seconds=ACK_WITHIN_S)


async def test_grid_target_every_inspector(example_db: Database) -> None:
    message = directive("d-grid", TargetKind.GRID, GRID)

    accepted = await issue_directive(example_db, message)

    codes = await _assignee_codes(example_db, accepted.task_ids)
    assert codes == _inspectors_of({GRID})
    assert codes == GRID_INSPECTORS
    assert GRID_LEADER not in codes


@pytest.mark.parametrize(
    ("identifier", "expected"),
    [
        ("92150602MANDKQ4J2L", "JG0010"),
        ("92150602mandkq4j2l", "JG0010"),
        ("NH15060200016", "JG0016"),
    ],
    ids=["credit-code", "lowercase-credit-code", "other-id"],
)
async def test_subject_target_bound_inspector(
    example_db: Database, identifier: str, expected: str
) -> None:
    message = directive(f"d-subject-{identifier}", TargetKind.SUBJECT, identifier)

    accepted = await issue_directive(example_db, message)

    assert await _assignee_codes(example_db, accepted.task_ids) == [expected]


@pytest.mark.parametrize("division_code", [TOWNSHIP, "150603"], ids=["township", "county"])
async def test_division_target_grids_below(example_db: Database, division_code: str) -> None:
    grids = _grids_below(division_code)
    message = directive(f"d-division-{division_code}", TargetKind.DIVISION, division_code)

    accepted = await issue_directive(example_db, message)

    assert len(grids) >= 2
    assert await _assignee_codes(example_db, accepted.task_ids) == _inspectors_of(grids)


async def test_repeated_message_id(example_db: Database) -> None:
    message = directive("d-repeat", TargetKind.GRID, GRID)
    first = await issue_directive(example_db, message)
    counts = await _counts(example_db)

    second = await issue_directive(example_db, message, now=START + timedelta(minutes=5))

    assert first.created is True
    assert second.created is False
    assert second.record_id == first.record_id
    assert second.task_ids == first.task_ids
    assert await _counts(example_db) == counts


async def test_racing_accepts_one_task_set(example_db: Database) -> None:
    # A second Database object acts as a second dispatcher process.
    other = Database(example_db.url)
    try:
        for round_number in range(5):
            message = directive(f"d-race-{round_number}", TargetKind.GRID, GRID)
            results = await asyncio.gather(
                issue_directive(example_db, message),
                issue_directive(other, message),
            )

            assert sorted(result.created for result in results) == [False, True]
            assert results[0].record_id == results[1].record_id
            assert results[0].task_ids == results[1].task_ids
            assert len(results[0].task_ids) == len(GRID_INSPECTORS)
    finally:
        await other.dispose()

    counts = await _counts(example_db)
    assert counts["directives"] == 5
    assert counts["tasks"] == 5 * len(GRID_INSPECTORS)


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        (TargetKind.GRID, "150602001999"),
        (TargetKind.INSPECTOR, "JG9999"),
        (TargetKind.SUBJECT, "91150602MA0000000X"),
        (TargetKind.DIVISION, "150699"),
    ],
    ids=str,
)
async def test_unknown_target_writes_nothing(
    example_db: Database, kind: TargetKind, code: str
) -> None:
    counts = await _counts(example_db)

    with pytest.raises(NotFoundError) as raised:
        await issue_directive(example_db, directive("d-unknown", kind, code))

    assert repr(code) in str(raised.value)
    assert await _counts(example_db) == counts


async def test_created_trail_and_outbox(example_db: Database) -> None:
    message = directive("d-outbox", TargetKind.GRID, GRID)

    accepted = await issue_directive(example_db, message)

    async with example_db.reading() as session:
        tasks = list(await session.scalars(select(Task).where(Task.id.in_(accepted.task_ids))))
        outbox = list(await session.scalars(select(OutboxMessage)))
    assert len(tasks) == len(GRID_INSPECTORS)
    assert len(outbox) == 2 * len(tasks)
    for task in tasks:
        notify_rows = [
            row
            for row in outbox
            if row.subject == f"gd.notify.telegram.{task.inspector_id}"
            and row.payload["task_id"] == task.id
        ]
        event_rows = [
            row
            for row in outbox
            if row.subject == "gd.event.task.created" and row.payload["task_id"] == task.id
        ]

        assert await trail_kinds(example_db, task.id) == ["created"]
        assert len(notify_rows) == 1
        assert notify_rows[0].payload["kind"] == "task_assigned"
        assert notify_rows[0].payload["inspector_id"] == task.inspector_id
        assert notify_rows[0].msg_id == notify_rows[0].payload["notification_id"]
        assert len(event_rows) == 1
        assert event_rows[0].payload["kind"] == "created"
        assert event_rows[0].payload["state"] == "new"
        assert event_rows[0].payload["detail"]["routing"] == "grid"
