"""The three rates over HTTP, checked against counts made here from the tables."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Select, distinct, func, select

from griddispatch.messages import LeadMessage, LeadSubjectRef
from storage.db import Database
from storage.registry.models import Inspector, Subject
from storage.registry.service import import_files
from storage.results.models import InspectionResult, ResultItem
from storage.results.service import (
    Answer,
    ItemAnswer,
    Submission,
    checklist_items_for_task,
    submit_result,
)
from tests.api.support import Client
from tests.storage.support import (
    ESCALATION,
    GRID,
    START,
    TOWNSHIP,
    import_small_registry,
    receive_lead,
    small_registry_subjects,
    write_csv,
)

# China time: 2026-03-02 00:00 to 2026-03-09 00:00, the week START falls in.
PERIOD = {"division": TOWNSHIP, "start": "2026-03-02T00:00:00", "end": "2026-03-09T00:00:00"}
PERIOD_START = datetime(2026, 3, 1, 16, 0, tzinfo=UTC)
PERIOD_END = datetime(2026, 3, 8, 16, 0, tzinfo=UTC)


@pytest.fixture
async def registry(api: Client, db: Database, tmp_path: Path) -> Database:
    """The small registry with its last subject known but not registered (未备案)."""
    await import_small_registry(db, tmp_path)
    header, rows = small_registry_subjects()
    rows = [[*row, "已备案"] for row in rows]
    rows[-1][-1] = "未备案"
    path = write_csv(tmp_path / "subjects.csv", [*header, "备案状态"], rows)
    reports = await import_files(db, [path])
    assert reports[0].errors == []
    return db


async def _inspect(db: Database, subject: Subject, *, fail: bool, key: str, at: datetime) -> None:
    lead = LeadMessage(
        message_id=key,
        source="test",
        title="检查",
        subject=LeadSubjectRef(credit_code=subject.credit_code, other_id=subject.other_id),
    )
    task_id = (await receive_lead(db, lead, now=at)).task_ids[0]
    items = await checklist_items_for_task(db, task_id)
    answers = [
        ItemAnswer(item.code, Answer.FAIL, "问题")
        if fail and index == 0
        else ItemAnswer(item.code, Answer.PASS)
        for index, item in enumerate(items)
    ]
    assert subject.inspector_id is not None
    submission = Submission(task_id, subject.inspector_id, answers, "意见")
    await submit_result(db, submission, escalation=ESCALATION, now=at + timedelta(hours=1))


async def _count(db: Database, query: Select[Any]) -> int:
    async with db.reading() as session:
        return int(await session.scalar(query) or 0)


async def test_stats_match_counts_made_here(api: Client, registry: Database) -> None:
    async with registry.reading() as session:
        subjects = list(await session.scalars(select(Subject).order_by(Subject.id)))
    registered = [subject for subject in subjects if subject.registered]
    await _inspect(registry, registered[0], fail=True, key="lead-0", at=START)
    await _inspect(registry, registered[1], fail=False, key="lead-1", at=START)
    await _inspect(registry, registered[2], fail=False, key="lead-2", at=START + timedelta(days=8))
    await _inspect(registry, subjects[-1], fail=False, key="lead-unregistered", at=START)

    reply = await api.get("/stats", params=PERIOD, token="reader")

    assert reply.status == 200
    in_period = (
        InspectionResult.submitted_at >= PERIOD_START,
        InspectionResult.submitted_at < PERIOD_END,
    )
    known = await _count(registry, select(func.count()).select_from(Subject))
    registered_count = await _count(
        registry, select(func.count()).select_from(Subject).where(Subject.registered.is_(True))
    )
    covered = await _count(
        registry,
        select(func.count(distinct(InspectionResult.subject_id)))
        .join(Subject, Subject.id == InspectionResult.subject_id)
        .where(Subject.registered.is_(True), *in_period),
    )
    results = await _count(
        registry, select(func.count()).select_from(InspectionResult).where(*in_period)
    )
    compliant = await _count(
        registry,
        select(func.count())
        .select_from(InspectionResult)
        .where(InspectionResult.compliant.is_(True), *in_period),
    )
    rates = reply.data["rates"]
    assert rates["registration"] == {
        "numerator": registered_count,
        "denominator": known,
        "value": pytest.approx(registered_count / known),
    }
    assert rates["coverage"]["numerator"] == covered == 2
    assert rates["coverage"]["denominator"] == registered_count
    assert rates["compliance"]["numerator"] == compliant == 2
    assert rates["compliance"]["denominator"] == results == 3
    assert rates["compliance"]["value"] == pytest.approx(2 / 3)
    assert reply.data["division"]["code"] == TOWNSHIP


async def test_inspector_figures_match_counts(api: Client, registry: Database) -> None:
    async with registry.reading() as session:
        subject = await session.scalar(
            select(Subject)
            .where(Subject.grid_code == GRID, Subject.registered.is_(True))
            .order_by(Subject.id)
        )
        assert subject is not None
        inspector = await session.get(Inspector, subject.inspector_id)
    assert inspector is not None
    await _inspect(registry, subject, fail=True, key="lead-fail", at=START)

    reply = await api.get("/stats", params=PERIOD)

    figures = {row["code"]: row for row in reply.data["inspectors"]}
    failed = await _count(
        registry,
        select(func.count())
        .select_from(ResultItem)
        .join(InspectionResult, InspectionResult.id == ResultItem.result_id)
        .where(InspectionResult.inspector_id == inspector.id, ResultItem.answer == "fail"),
    )
    assert figures[inspector.code]["inspections"] == 1
    assert figures[inspector.code]["subjects_covered"] == 1
    assert figures[inspector.code]["failed_items"] == failed == 1
    assert all(row["inspections"] == 0 for code, row in figures.items() if code != inspector.code)
    assert list(figures) == sorted(figures)


async def test_empty_denominator_has_null_value(api: Client, registry: Database) -> None:
    reply = await api.get("/stats", params=PERIOD)

    assert reply.data["rates"]["compliance"] == {"numerator": 0, "denominator": 0, "value": None}


@pytest.mark.parametrize(
    ("changes", "status", "field"),
    [
        ({"division": "150602999999"}, 404, None),
        ({"end": PERIOD["start"]}, 422, None),
        ({"start": "yesterday"}, 422, "start"),
        ({"start": "9999-12-31T23:59:59-05:00"}, 422, "start"),
    ],
)
async def test_stats_rejects_bad_query(
    api: Client, registry: Database, changes: dict[str, str], status: int, field: str | None
) -> None:
    reply = await api.get("/stats", params={**PERIOD, **changes})

    assert reply.status == status
    assert reply.data["error"]["field"] == field
    assert reply.data["error"]["message"]


async def test_stats_needs_the_division(api: Client, registry: Database) -> None:
    reply = await api.get("/stats", params={"start": PERIOD["start"], "end": PERIOD["end"]})

    assert reply.status == 422
    assert reply.data["error"]["field"] == "division"
