"""Generating plan entries and routine tasks on the small registry."""

from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import func, select

from storage.db import Database
from storage.outbox.models import OutboxMessage
from storage.plans.generate import ROUTINE_KIND, generate_month
from storage.plans.grades import GradeSource, grade_history, set_grade
from storage.plans.models import PlanEntry
from storage.plans.progress import release_due
from storage.registry.models import Subject
from storage.tasks.models import Task
from storage.tasks.service import trail
from tests.plans.support import (
    ESCALATION,
    PLANS,
    china,
    entries,
    import_small_registry_with_grades,
    inspect_by_lead,
    inspect_task,
    subjects_by_id,
    task,
)

JANUARY = date(2026, 1, 1)
FEBRUARY = date(2026, 2, 1)
MARCH = date(2026, 3, 1)


async def _generate(db: Database, month: date) -> int:
    report = await generate_month(db, PLANS, ESCALATION, month=month, now=china(month))
    return report.tasks


async def test_january_gives_every_subject_one_task(db: Database, tmp_path: Path) -> None:
    rows = await import_small_registry_with_grades(db, tmp_path, {0: "A", 1: "C"})

    created = await _generate(db, JANUARY)

    january = await entries(db)
    assert created == len(rows)
    assert len(january) == len(rows)
    assert len({entry.subject_id for entry in january}) == len(rows)
    async with db.reading() as session:
        kinds = list(await session.scalars(select(Task.kind)))
    assert kinds == [ROUTINE_KIND] * len(rows)


async def test_rerun_creates_no_duplicate(db: Database, tmp_path: Path) -> None:
    await import_small_registry_with_grades(db, tmp_path)
    await _generate(db, JANUARY)

    again = await generate_month(db, PLANS, ESCALATION, month=JANUARY, now=china(JANUARY))

    assert again.tasks == 0
    assert again.existing == len(await entries(db))
    async with db.reading() as session:
        tasks = await session.scalar(select(func.count()).select_from(Task))
    assert tasks == len(await entries(db))


async def test_february_only_monthly_subjects(db: Database, tmp_path: Path) -> None:
    rows = await import_small_registry_with_grades(db, tmp_path, {0: "A", 1: "C"})
    await _generate(db, JANUARY)

    await _generate(db, FEBRUARY)

    february = [e for e in await entries(db) if e.period_key == "2026-M02"]
    subjects = await subjects_by_id(db)
    monthly = {
        s.id
        for s in subjects.values()
        if PLANS.latest.cadence(s.industry, s.risk_grade or "B").months == 1
    }
    assert {entry.subject_id for entry in february} == monthly
    # Row 0 (grade A) and the slaughterhouse (B is monthly for slaughter) are monthly.
    assert len(monthly) == 2
    assert rows[0][2] in {subjects[i].name for i in monthly}


async def test_release_spreads_notifications(db: Database, tmp_path: Path) -> None:
    await import_small_registry_with_grades(db, tmp_path)
    await _generate(db, JANUARY)
    async with db.reading() as session:
        before = await session.scalar(select(func.count()).select_from(OutboxMessage))

    released_first = await release_due(db, now=china(date(2026, 1, 5)))
    released_all = await release_due(db, now=china(date(2026, 3, 31)))

    by_inspector: dict[int | None, set[date]] = {}
    for entry in await entries(db):
        by_inspector.setdefault(entry.inspector_id, set()).add(entry.release_at.date())
    assert max(len(days) for days in by_inspector.values()) > 1
    assert released_first < released_first + released_all
    assert released_first + released_all == len(await entries(db))
    async with db.reading() as session:
        after = await session.scalar(select(func.count()).select_from(OutboxMessage))
    assert (after or 0) - (before or 0) == len(await entries(db))
    assert await release_due(db, now=china(date(2026, 3, 31))) == 0


async def test_lead_inspection_closes_routine_task(db: Database, tmp_path: Path) -> None:
    await import_small_registry_with_grades(db, tmp_path)
    await _generate(db, JANUARY)
    entry = (await entries(db))[0]
    subject = (await subjects_by_id(db))[entry.subject_id]

    result = await inspect_by_lead(db, subject, key="lead-1", now=china(date(2026, 1, 12)))

    done = next(e for e in await entries(db) if e.id == entry.id)
    assert done.state == "done"
    assert done.result_id == result.result_id
    assert entry.task_id is not None
    routine = await task(db, entry.task_id)
    assert routine.state == "cancelled"
    covered = [event for event in await trail(db, entry.task_id) if event.kind == "covered"]
    assert len(covered) == 1
    assert covered[0].detail["result_id"] == result.result_id
    assert covered[0].detail["reason"] == "subject inspected in the plan period"


async def test_routine_result_marks_entry_done(db: Database, tmp_path: Path) -> None:
    await import_small_registry_with_grades(db, tmp_path)
    await _generate(db, JANUARY)
    entry = (await entries(db))[0]
    assert entry.task_id is not None and entry.inspector_id is not None

    await inspect_task(db, entry.task_id, entry.inspector_id, now=china(date(2026, 1, 6)))

    done = next(e for e in await entries(db) if e.id == entry.id)
    assert done.state == "done"
    assert (await task(db, entry.task_id)).state == "submitted"


async def test_inspected_subject_gets_no_task(db: Database, tmp_path: Path) -> None:
    await import_small_registry_with_grades(db, tmp_path)
    subjects = await subjects_by_id(db)
    first = next(iter(subjects.values()))
    # Inspected on the first morning, before the plan job ran.
    await inspect_by_lead(db, first, key="early", now=china(JANUARY) - timedelta(hours=1))

    report = await generate_month(
        db, PLANS, ESCALATION, month=JANUARY, now=china(JANUARY) + timedelta(hours=2)
    )

    entry = next(e for e in await entries(db) if e.subject_id == first.id)
    assert report.already_inspected == 1
    assert entry.state == "done"
    assert entry.task_id is None
    async with db.reading() as session:
        routine = await session.scalar(
            select(func.count()).where(Task.kind == ROUTINE_KIND, Task.subject_id == first.id)
        )
    assert routine == 0


async def test_grade_change_waits_for_next_period(db: Database, tmp_path: Path) -> None:
    await import_small_registry_with_grades(db, tmp_path, {1: "C"})
    await _generate(db, JANUARY)
    subjects = await subjects_by_id(db)
    low = next(s for s in subjects.values() if s.risk_grade == "C")
    async with db.transaction() as session:
        stored = await session.get(Subject, low.id)
        assert stored is not None
        await set_grade(
            session,
            stored,
            "A",
            source=GradeSource.HAND,
            actor="test",
            reason="complaint",
            now=china(date(2026, 2, 15)),
        )
    # The February run is late: it runs after the change but uses the grade of Feb 1.
    await generate_month(db, PLANS, ESCALATION, month=FEBRUARY, now=china(date(2026, 2, 20)))
    await _generate(db, MARCH)

    keys = {e.period_key for e in await entries(db) if e.subject_id == low.id}
    # No February entry: the grade only counts from the next period that starts.
    assert keys == {"2026-H1", "2026-M03"}
    history = await grade_history(db, low.credit_code or low.other_id or "")
    assert [(h.old_grade, h.new_grade, h.source) for h in history] == [
        (None, "C", "import"),
        ("C", "A", "hand"),
    ]


async def test_entries_hold_plan_version(db: Database, tmp_path: Path) -> None:
    await import_small_registry_with_grades(db, tmp_path)
    await _generate(db, JANUARY)

    async with db.reading() as session:
        versions = set(await session.scalars(select(PlanEntry.plan_version)))
    assert versions == {PLANS.latest.version}
