"""The three rates and per-inspector figures, checked against counts made here."""

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from griddispatch.errors import ValidationError
from griddispatch.messages import LeadMessage, LeadSubjectRef
from storage.db import Database
from storage.registry.models import Subject
from storage.registry.service import import_files
from storage.results.service import (
    Answer,
    ItemAnswer,
    Submission,
    checklist_items_for_task,
    submit_result,
)
from storage.stats.service import area_rates, inspector_figures
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

WEEK = timedelta(days=7)


async def _import_with_unregistered(db: Database, folder: Path) -> list[list[str]]:
    """Import the small registry with its last subject marked unregistered; return the rows."""
    await import_small_registry(db, folder)
    header, rows = small_registry_subjects()
    rows = [[*row, "已备案"] for row in rows]
    rows[-1][-1] = "未备案"
    path = write_csv(folder / "subjects.csv", [*header, "备案状态"], rows)
    reports = await import_files(db, [path])
    assert reports[0].errors == []
    return rows


async def _inspect(db: Database, subject: Subject, *, fail: bool, key: str) -> None:
    lead = LeadMessage(
        message_id=key,
        source="test",
        title="检查",
        subject=LeadSubjectRef(credit_code=subject.credit_code, other_id=subject.other_id),
    )
    accepted = await receive_lead(db, lead)
    task_id = accepted.task_ids[0]
    items = await checklist_items_for_task(db, task_id)
    answers = [
        ItemAnswer(
            item.code,
            Answer.FAIL if fail and index == 0 else Answer.PASS,
            "问题" if fail and index == 0 else None,
        )
        for index, item in enumerate(items)
    ]
    assert subject.inspector_id is not None
    await submit_result(
        db,
        Submission(task_id, subject.inspector_id, answers, "意见"),
        escalation=ESCALATION,
        now=START + timedelta(hours=1),
    )


async def test_rates_match_independent_count(db: Database, tmp_path: Path) -> None:
    rows = await _import_with_unregistered(db, tmp_path)
    async with db.reading() as session:
        subjects = list(await session.scalars(select(Subject).order_by(Subject.id)))
    registered = [s for s in subjects if s.registered]
    inspected = registered[:3]
    for number, subject in enumerate(inspected):
        await _inspect(db, subject, fail=number == 0, key=f"lead-{number}")
    # A second, clean inspection of the same subject adds a result but no coverage.
    await _inspect(db, inspected[1], fail=False, key="lead-again")

    rates = await area_rates(db, TOWNSHIP, start=START, end=START + WEEK)

    assert rates.registration.numerator == len([row for row in rows if row[-1] == "已备案"])
    assert rates.registration.denominator == len(rows)
    assert rates.coverage.numerator == 3
    assert rates.coverage.denominator == len(registered)
    assert rates.compliance.numerator == 3
    assert rates.compliance.denominator == 4
    assert rates.compliance.value == pytest.approx(0.75)


async def test_rates_respect_period(db: Database, tmp_path: Path) -> None:
    await _import_with_unregistered(db, tmp_path)
    async with db.reading() as session:
        subject = await session.scalar(select(Subject).where(Subject.registered.is_(True)))
    assert subject is not None
    await _inspect(db, subject, fail=False, key="lead-early")

    later = await area_rates(db, TOWNSHIP, start=START + WEEK, end=START + 2 * WEEK)

    assert later.coverage.numerator == 0
    assert later.compliance.denominator == 0
    assert later.compliance.value is None


async def test_inspector_figures_count_failed_items(db: Database, tmp_path: Path) -> None:
    await _import_with_unregistered(db, tmp_path)
    async with db.reading() as session:
        subject = await session.scalar(
            select(Subject).where(Subject.grid_code == GRID, Subject.registered.is_(True))
        )
    assert subject is not None
    await _inspect(db, subject, fail=True, key="lead-fail")

    figures = await inspector_figures(db, GRID, start=START, end=START + WEEK)

    mine = [f for f in figures if f.inspector_id == subject.inspector_id]
    assert len(mine) == 1
    assert mine[0].inspections == 1
    assert mine[0].subjects_covered == 1
    assert mine[0].failed_items == 1
    others = [f for f in figures if f.inspector_id != subject.inspector_id]
    assert all(f.inspections == 0 for f in others)


async def test_empty_period_is_rejected(db: Database, tmp_path: Path) -> None:
    await import_small_registry(db, tmp_path)

    with pytest.raises(ValidationError, match="not before its end"):
        await area_rates(db, TOWNSHIP, start=START, end=START)
