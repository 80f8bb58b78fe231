"""Risk grades raised by findings and lowered by clean runs, and tasks that move with subjects."""

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from griddispatch.errors import NotFoundError, ValidationError
from storage.db import Database
from storage.plans.grades import change_grade_by_hand, grade_history, lower_after_clean_runs
from storage.plans.progress import hand_over_subjects
from storage.registry.models import Inspector, Subject
from storage.registry.queries import inspector_by_code
from storage.registry.service import import_files
from storage.tasks.service import act_on_task, trail
from storage.tasks.states import TaskAction
from tests.plans.support import (
    ESCALATION,
    PLANS,
    china,
    entries,
    import_small_registry_with_grades,
    inspect_task,
    plan_month,
    subjects_by_id,
    task,
)
from tests.storage.support import small_registry_subjects, write_csv

JANUARY = date(2026, 1, 1)


async def _subject(db: Database, subject_id: int) -> Subject:
    return (await subjects_by_id(db))[subject_id]


async def test_failed_result_raises_grade(db: Database, tmp_path: Path) -> None:
    await import_small_registry_with_grades(db, tmp_path, {0: "C"})
    await plan_month(db, JANUARY)
    subject = next(s for s in (await subjects_by_id(db)).values() if s.risk_grade == "C")
    entry = next(e for e in await entries(db) if e.subject_id == subject.id)
    assert entry.task_id is not None and entry.inspector_id is not None

    result = await inspect_task(
        db, entry.task_id, entry.inspector_id, now=china(date(2026, 1, 8)), fail=True
    )

    assert (await _subject(db, subject.id)).risk_grade == "B"
    history = await grade_history(db, subject.credit_code or subject.other_id or "")
    assert history[-1].source == "result"
    assert history[-1].old_grade == "C"
    assert f"result {result.result_id}" in history[-1].reason


async def test_clean_run_lowers_grade(db: Database, tmp_path: Path) -> None:
    await import_small_registry_with_grades(db, tmp_path, {0: "A"})
    subject = next(s for s in (await subjects_by_id(db)).values() if s.risk_grade == "A")
    await plan_month(db, JANUARY)
    rules = PLANS.latest.spec.grading
    months = [date(2026, month, 1) for month in range(1, 8)]
    for month in months:
        await plan_month(db, month)
    for month in months[: rules.lower_after_clean_inspections]:
        entry = next(
            e for e in await entries(db, f"2026-M{month.month:02d}") if e.subject_id == subject.id
        )
        assert entry.task_id is not None and entry.inspector_id is not None
        await inspect_task(db, entry.task_id, entry.inspector_id, now=china(month.replace(day=5)))

    too_early = await lower_after_clean_runs(db, PLANS, now=china(date(2026, 3, 1)))
    lowered = await lower_after_clean_runs(db, PLANS, now=china(date(2026, 7, 1)))
    again = await lower_after_clean_runs(db, PLANS, now=china(date(2026, 7, 2)))

    assert too_early == 0
    assert lowered == 1
    assert again == 0
    assert (await _subject(db, subject.id)).risk_grade == "B"
    history = await grade_history(db, subject.credit_code or subject.other_id or "")
    assert [h.source for h in history] == ["import", "clean_run"]


async def test_hand_grade_checks_input(db: Database, tmp_path: Path) -> None:
    await import_small_registry_with_grades(db, tmp_path)
    subject = next(iter((await subjects_by_id(db)).values()))
    identifier = subject.credit_code or subject.other_id or ""

    with pytest.raises(ValidationError, match="'Z' is not defined"):
        await change_grade_by_hand(
            db,
            PLANS,
            subject_identifier=identifier,
            grade="Z",
            actor="t",
            reason="r",
            now=china(JANUARY),
        )
    with pytest.raises(NotFoundError, match="not found"):
        await change_grade_by_hand(
            db,
            PLANS,
            subject_identifier="nobody",
            grade="A",
            actor="t",
            reason="r",
            now=china(JANUARY),
        )
    change = await change_grade_by_hand(
        db,
        PLANS,
        subject_identifier=identifier,
        grade="A",
        actor="admin",
        reason="投诉",
        now=china(JANUARY),
    )

    assert change is not None
    assert (change.old_grade, change.new_grade, change.actor) == (None, "A", "admin")


async def test_import_rejects_unknown_grade(db: Database, tmp_path: Path) -> None:
    await import_small_registry_with_grades(db, tmp_path)
    header, rows = small_registry_subjects()
    path = write_csv(tmp_path / "graded.csv", [*header, "风险等级"], [[*rows[0], "X"]])

    reports = await import_files(db, [path])

    assert len(reports[0].errors) == 1
    assert "risk grade 'X' is not defined" in str(reports[0].errors[0])


async def test_rebind_moves_open_routine_task(db: Database, tmp_path: Path) -> None:
    await import_small_registry_with_grades(db, tmp_path)
    await plan_month(db, JANUARY)
    header, rows = small_registry_subjects()
    first = rows[0]
    async with db.reading() as session:
        subject = await session.scalar(select(Subject).where(Subject.name == first[2]))
        newcomer = await inspector_by_code(session, "JG0011")
    assert subject is not None and newcomer is not None
    entry = next(e for e in await entries(db) if e.subject_id == subject.id)
    assert entry.task_id is not None
    rebound = [[*first[:5], "JG0011", *first[6:]]]

    reports = await import_files(
        db, [write_csv(tmp_path / "rebind.csv", header, rebound)], now=china(date(2026, 1, 9))
    )

    assert reports[0].errors == []
    moved = await task(db, entry.task_id)
    assert moved.inspector_id == newcomer.id
    assert moved.state == "new"
    events = [e for e in await trail(db, entry.task_id) if e.kind == "reassigned"]
    assert len(events) == 1
    assert events[0].detail["to_inspector_id"] == newcomer.id
    assert "rebound" in events[0].detail["reason"]
    assert next(e for e in await entries(db) if e.id == entry.id).inspector_id == newcomer.id


async def test_rebind_replaces_acknowledged_task(db: Database, tmp_path: Path) -> None:
    await import_small_registry_with_grades(db, tmp_path)
    await plan_month(db, JANUARY)
    header, rows = small_registry_subjects()
    first = rows[0]
    async with db.reading() as session:
        subject = await session.scalar(select(Subject).where(Subject.name == first[2]))
        newcomer = await session.scalar(select(Inspector).where(Inspector.code == "JG0011"))
    assert subject is not None and newcomer is not None
    entry = next(e for e in await entries(db) if e.subject_id == subject.id)
    assert entry.task_id is not None and entry.inspector_id is not None
    await act_on_task(
        db,
        task_id=entry.task_id,
        action=TaskAction.ACKNOWLEDGE,
        inspector_id=entry.inspector_id,
        escalation=ESCALATION,
        now=china(date(2026, 1, 5)),
    )

    await import_files(
        db,
        [write_csv(tmp_path / "rebind.csv", header, [[*first[:5], "JG0011", *first[6:]]])],
        now=china(date(2026, 1, 9)) + timedelta(hours=1),
    )

    old = await task(db, entry.task_id)
    current = next(e for e in await entries(db) if e.id == entry.id)
    assert old.state == "cancelled"
    assert current.task_id is not None and current.task_id != entry.task_id
    replacement = await task(db, current.task_id)
    assert replacement.inspector_id == newcomer.id
    assert replacement.state == "new"
    assert replacement.due_at == old.due_at


async def test_handover_moves_subjects_and_tasks(db: Database, tmp_path: Path) -> None:
    await import_small_registry_with_grades(db, tmp_path)
    await plan_month(db, JANUARY)
    async with db.reading() as session:
        leaving = await inspector_by_code(session, "JG0010")
        taking = await inspector_by_code(session, "JG0011")
    assert leaving is not None and taking is not None
    theirs = [e for e in await entries(db) if e.inspector_id == leaving.id]

    subjects, tasks = await hand_over_subjects(
        db, from_code="JG0010", to_code="JG0011", now=china(date(2026, 1, 20))
    )

    assert subjects == len({e.subject_id for e in theirs})
    assert tasks == len(theirs)
    for entry in theirs:
        assert entry.task_id is not None
        assert (await task(db, entry.task_id)).inspector_id == taking.id
    with pytest.raises(NotFoundError, match="'NOBODY' not found"):
        await hand_over_subjects(db, from_code="NOBODY", to_code="JG0011", now=china(JANUARY))
    with pytest.raises(ValidationError, match="same person"):
        await hand_over_subjects(db, from_code="JG0011", to_code="JG0011", now=china(JANUARY))
