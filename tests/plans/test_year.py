"""A year of routine plans for the Ordos example registry, driven by a hand-moved clock.

Expected entries are computed here from the raw plan file and the grades the
test set, not through the plan code. The short run inspects a few subjects
a month; the soak run (--soak) inspects most of them.
"""

import random
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from dispatcher.setup import load_example_registry
from griddispatch.clock import ManualClock
from griddispatch.workcalendar import CHINA
from storage.db import Database
from storage.plans.config import DEFAULT_PLAN_DIR
from storage.plans.coverage import area_figures
from storage.plans.generate import ROUTINE_KIND
from storage.plans.grades import change_grade_by_hand
from storage.plans.models import GradeChange, PlanEntry
from storage.registry.models import Division, Subject
from storage.registry.service import import_files
from storage.results.models import InspectionResult
from storage.stats.service import area_rates
from storage.tasks.models import Task
from tests.plans.support import ESCALATION, PLANS, entries, inspect_by_lead, inspect_task
from tests.storage.support import example_rows, write_csv
from workers.plans import PlanWorker

CADENCE_MONTHS = {"month": 1, "quarter": 3, "half": 6, "year": 12}
YEAR = 2026
GRADED_AT = datetime(2025, 12, 15, tzinfo=CHINA)
RAISED_ON = date(YEAR, 2, 15)


def _raw_plan() -> dict[str, object]:
    data = yaml.safe_load((DEFAULT_PLAN_DIR / "2026.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _expected_keys(plan: dict[str, object], industry: str, grade: str, month: int) -> set[str]:
    industries = plan["industries"]
    assert isinstance(industries, dict)
    spec = industries[industry]
    months = CADENCE_MONTHS[spec["cadence"][grade]]
    keys = set()
    if (month - 1) % months == 0:
        index = (month - 1) // months + 1
        keys.add(
            {
                1: f"{YEAR}-M{month:02d}",
                3: f"{YEAR}-Q{index}",
                6: f"{YEAR}-H{index}",
                12: f"{YEAR}-Y",
            }[months]
        )
    if months != 1:
        for check in spec.get("seasonal", []):
            if month in check["months"]:
                keys.add(f"{YEAR}-{month:02d}/{check['name']}")
    return keys


def _morning(day: date) -> datetime:
    return datetime.combine(day, time(8, 30), CHINA)


async def _grade_some(db: Database, folder: Path, subjects: list[Subject]) -> dict[int, str]:
    """Grade every 7th subject A and every 5th C through a registry file; the rest keep B."""
    header, rows = example_rows("subjects.csv")
    grade_of_row = {}
    for index, row in enumerate(rows):
        grade = ""
        if index % 7 == 0:
            grade = "A"
        elif index % 5 == 0:
            grade = "C"
        grade_of_row[row[0] or row[1]] = grade
    graded = [[*row, grade_of_row[row[0] or row[1]]] for row in rows]
    path = write_csv(folder / "graded.csv", [*header, "风险等级"], graded)
    reports = await import_files(db, [path], now=GRADED_AT)
    assert reports[0].errors == []
    return {
        subject.id: grade_of_row[subject.credit_code or subject.other_id or ""] or "B"
        for subject in subjects
    }


async def _system_changes(db: Database, since: datetime) -> list[GradeChange]:
    async with db.reading() as session:
        return list(
            await session.scalars(
                select(GradeChange)
                .where(GradeChange.changed_at > since, GradeChange.actor == "system")
                .order_by(GradeChange.id)
            )
        )


async def _inspect_month(db: Database, month: date, share: float, rng: random.Random) -> int:
    """Inspect `share` of the month's open routine tasks on working mornings of the month."""
    open_entries = [
        e
        for e in await entries(db)
        if e.state == "open" and e.period_start <= _morning(month) < e.period_end
    ]
    chosen = rng.sample(open_entries, max(1, int(len(open_entries) * share)))
    done = 0
    for listed in chosen:
        current = next(e for e in await entries(db) if e.id == listed.id) if share > 0.5 else listed
        if current.state != "open" or current.task_id is None or current.inspector_id is None:
            continue
        async with db.reading() as session:
            routine = await session.get(Task, current.task_id)
        if routine is None or routine.state not in ("new", "acknowledged"):
            continue
        day = month + timedelta(days=rng.randrange(3, 25))
        await inspect_task(db, current.task_id, current.inspector_id, now=_morning(day))
        done += 1
    return done


async def _check_month(
    db: Database, subjects: list[Subject], grades: dict[int, str], month: date
) -> dict[int, set[str]]:
    """Assert the month's entries are exactly the ones the grades require; return them."""
    plan = _raw_plan()
    start = datetime.combine(month, time(0), CHINA)
    made: dict[int, set[str]] = defaultdict(set)
    for entry in await entries(db):
        if entry.period_start == start:
            made[entry.subject_id].add(entry.period_key)
    for subject in subjects:
        expected = _expected_keys(plan, subject.industry, grades[subject.id], month.month)
        assert made.get(subject.id, set()) == expected, (subject.id, month)
    return made


async def _check_quarter(db: Database, county: str, first: date, after: date) -> None:
    """Assert plan coverage equals the stats rate and a count made from the results."""
    start = datetime.combine(first, time(0), CHINA)
    end = datetime.combine(after, time(0), CHINA)
    figures = await area_figures(db, county, start=start, end=end, now=end)
    rates = await area_rates(db, county, start=start, end=end)
    counted = await _coverage_by_hand(db, county, start, end)
    assert figures.coverage.denominator > 0
    assert (figures.coverage.numerator, figures.coverage.denominator) == counted
    assert rates.coverage == figures.coverage


async def _routine_tasks_per_subject(db: Database) -> dict[int, int]:
    async with db.reading() as session:
        rows = await session.execute(
            select(Task.subject_id, func.count())
            .where(Task.kind == ROUTINE_KIND)
            .group_by(Task.subject_id)
        )
        return {subject_id: count for subject_id, count in rows.all() if subject_id is not None}


async def _duplicate_keys(db: Database) -> int:
    async with db.reading() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(
                    select(PlanEntry.subject_id, PlanEntry.period_key)
                    .group_by(PlanEntry.subject_id, PlanEntry.period_key)
                    .having(func.count() > 1)
                    .subquery()
                )
            )
            or 0
        )


async def _load(db: Database) -> tuple[list[Subject], str]:
    await load_example_registry(db)
    async with db.reading() as session:
        subjects = list(
            await session.scalars(
                select(Subject).where(Subject.registered.is_(True)).order_by(Subject.id)
            )
        )
        county = await session.scalar(
            select(Division.code).where(Division.level == "county").order_by(Division.code)
        )
    assert county is not None
    return subjects, county


@pytest.mark.parametrize(
    "share", [pytest.param(0.02, id="short"), pytest.param(0.6, id="full", marks=pytest.mark.soak)]
)
async def test_year_of_plans(db: Database, tmp_path: Path, share: float) -> None:
    subjects, county = await _load(db)
    assert len(subjects) == 1863
    grades = await _grade_some(db, tmp_path, subjects)
    rng = random.Random(20260101)
    clock = ManualClock(_morning(date(YEAR, 1, 1)))
    worker = PlanWorker(db, PLANS, ESCALATION, clock)
    raised = next(s for s in subjects if grades[s.id] == "C" and s.inspector_id is not None)
    inspected_early = next(s for s in subjects if s.inspector_id is not None and s.id != raised.id)
    expected_tasks: dict[int, int] = defaultdict(int)
    pending: dict[int, str] = {}

    for number in range(1, 13):
        month = date(YEAR, number, 1)
        # Grade changes made during last month count from this month on.
        grades.update(pending)
        pending = {}
        if number == 4:
            # Inspected through a lead just after midnight, before the plan job ran.
            midnight = datetime.combine(month, time(0, 30), CHINA)
            await inspect_by_lead(db, inspected_early, key="april-early", now=midnight)
        clock.advance(_morning(month) - clock.now())
        assert await worker.run_once() is not None

        made = await _check_month(db, subjects, grades, month)
        for subject in subjects:
            if subject.inspector_id is not None:
                expected_tasks[subject.id] += len(made.get(subject.id, set()))
        if number == 4:
            early = [
                e
                for e in await entries(db)
                if e.subject_id == inspected_early.id
                and e.period_start == datetime.combine(month, time(0), CHINA)
            ]
            assert early
            assert all(e.state == "done" and e.task_id is None for e in early)
            expected_tasks[inspected_early.id] -= len(early)
        if number == 2:
            await change_grade_by_hand(
                db,
                PLANS,
                subject_identifier=raised.credit_code or raised.other_id or "",
                grade="A",
                actor="test",
                reason="mid-period complaint",
                now=datetime.combine(RAISED_ON, time(10), CHINA),
            )
            pending[raised.id] = "A"
        await _inspect_month(db, month, share, rng)
        for change in await _system_changes(db, _morning(month) - timedelta(seconds=1)):
            pending[change.subject_id] = change.new_grade
        if number % 3 == 0:
            after = date(YEAR + 1, 1, 1) if number == 12 else date(YEAR, number + 1, 1)
            await _check_quarter(db, county, date(YEAR, number - 2, 1), after)

    assert await _duplicate_keys(db) == 0
    assert await _routine_tasks_per_subject(db) == {k: v for k, v in expected_tasks.items() if v}
    assert grades[raised.id] == "A"


async def _coverage_by_hand(
    db: Database, county: str, start: datetime, end: datetime
) -> tuple[int, int]:
    async with db.reading() as session:
        grids = set(
            await session.scalars(select(Division.code).where(Division.code.startswith(county)))
        )
        in_county = set(
            await session.scalars(
                select(Subject.id).where(Subject.grid_code.in_(grids), Subject.registered.is_(True))
            )
        )
        submitted = list(
            await session.execute(
                select(InspectionResult.subject_id, InspectionResult.submitted_at)
            )
        )
    due = {
        e.subject_id
        for e in await entries(db)
        if e.subject_id in in_county and e.period_start >= start and e.period_end <= end
    }
    inspected = {subject for subject, at in submitted if start <= at < end}
    return len(due & inspected), len(due)
