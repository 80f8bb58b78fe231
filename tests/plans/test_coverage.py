"""Coverage figures, the early warning, and the stats endpoint's shared definition."""

from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from griddispatch.workcalendar import CHINA
from storage.db import Database
from storage.plans.coverage import WARNING_KIND, area_figures, check_warnings
from storage.plans.models import PlanWarning
from storage.registry.models import Inspector, Role, Subject
from storage.results.models import InspectionResult
from storage.stats.service import area_rates
from storage.tasks.models import Task
from tests.plans.support import (
    ESCALATION,
    PLANS,
    china,
    entries,
    import_small_registry_with_grades,
    inspect_task,
    plan_month,
)
from tests.storage.support import GRID, SECOND_GRID, TOWNSHIP

Q1_START = datetime(2026, 1, 1, tzinfo=CHINA)
Q1_END = datetime(2026, 4, 1, tzinfo=CHINA)


async def _plan_january_february(db: Database, tmp_path: Path) -> None:
    await import_small_registry_with_grades(db, tmp_path)
    for month in (date(2026, 1, 1), date(2026, 2, 1)):
        await plan_month(db, month)


async def _complete_grid(db: Database, grid: str, *, now: datetime) -> int:
    done = 0
    for listed in await entries(db):
        # One result closes every entry of the subject whose period contains it.
        entry = next(e for e in await entries(db) if e.id == listed.id)
        if entry.grid_code != grid or entry.state != "open" or entry.period_end <= now:
            continue
        assert entry.task_id is not None and entry.inspector_id is not None
        await inspect_task(db, entry.task_id, entry.inspector_id, now=now)
        done += 1
    return done


async def _leader(db: Database, grid: str) -> Inspector:
    async with db.reading() as session:
        leader = await session.scalar(
            select(Inspector).where(
                Inspector.division_code == grid, Inspector.role == Role.GRID_LEADER.value
            )
        )
    assert leader is not None
    return leader


async def test_lagging_grid_warns_its_leader_once(db: Database, tmp_path: Path) -> None:
    await _plan_january_february(db, tmp_path)
    assert await _complete_grid(db, GRID, now=china(date(2026, 2, 9))) > 0

    early = await check_warnings(db, PLANS, ESCALATION, now=china(date(2026, 2, 10)))
    warnings = await check_warnings(db, PLANS, ESCALATION, now=china(date(2026, 2, 17)))
    again = await check_warnings(db, PLANS, ESCALATION, now=china(date(2026, 2, 18)))

    assert early == []
    assert {(w.area_code, w.period_key) for w in warnings} == {(SECOND_GRID, "2026-Q1")}
    assert again == []
    leader = await _leader(db, SECOND_GRID)
    async with db.reading() as session:
        alerts = list(await session.scalars(select(Task).where(Task.kind == WARNING_KIND)))
        stored = list(await session.scalars(select(PlanWarning)))
    assert [(t.inspector_id, t.state) for t in alerts] == [(leader.id, "new")]
    assert "2026-Q1" in alerts[0].title
    assert len(stored) == 1
    assert stored[0].figures["done"] == 0


async def test_grid_on_pace_gets_no_warning(db: Database, tmp_path: Path) -> None:
    await _plan_january_february(db, tmp_path)
    await _complete_grid(db, GRID, now=china(date(2026, 2, 9)))
    await _complete_grid(db, SECOND_GRID, now=china(date(2026, 2, 9)))

    warnings = await check_warnings(db, PLANS, ESCALATION, now=china(date(2026, 2, 20)))

    assert warnings == []


async def _independent_coverage(db: Database, grids: set[str]) -> tuple[int, int]:
    """Count due subjects and covered ones straight from entries and results."""
    async with db.reading() as session:
        area = {
            s.id for s in await session.scalars(select(Subject).where(Subject.grid_code.in_(grids)))
        }
        results = list(await session.scalars(select(InspectionResult)))
    due = {
        e.subject_id
        for e in await entries(db)
        if e.subject_id in area and e.period_start >= Q1_START and e.period_end <= Q1_END
    }
    inspected = {
        r.subject_id
        for r in results
        if r.subject_id is not None and Q1_START <= r.submitted_at < Q1_END
    }
    return len(due & inspected), len(due)


async def test_stats_coverage_equals_plan_coverage(db: Database, tmp_path: Path) -> None:
    await _plan_january_february(db, tmp_path)
    await plan_month(db, date(2026, 3, 1))
    await _complete_grid(db, GRID, now=china(date(2026, 3, 10)))
    now = china(date(2026, 3, 20))

    plan = await area_figures(db, TOWNSHIP, start=Q1_START, end=Q1_END, now=now)
    stats = await area_rates(db, TOWNSHIP, start=Q1_START, end=Q1_END)
    grid_plan = await area_figures(db, GRID, start=Q1_START, end=Q1_END, now=now)
    grid_stats = await area_rates(db, GRID, start=Q1_START, end=Q1_END)

    assert (plan.coverage.numerator, plan.coverage.denominator) == await _independent_coverage(
        db, {GRID, SECOND_GRID}
    )
    assert plan.coverage == stats.coverage
    assert grid_plan.coverage == grid_stats.coverage
    assert grid_plan.coverage.value == 1.0
    assert plan.progress.due == len(
        [e for e in await entries(db) if e.period_start >= Q1_START and e.period_end <= Q1_END]
    )


async def test_overdue_counts_open_entries_past_due(db: Database, tmp_path: Path) -> None:
    await _plan_january_february(db, tmp_path)

    mid_march = china(date(2026, 3, 16))
    figures = await area_figures(db, GRID, start=Q1_START, end=Q1_END, now=mid_march)
    at_end = await area_figures(
        db, GRID, start=Q1_START, end=Q1_END, now=Q1_END - timedelta(hours=1)
    )

    monthly = [
        e
        for e in await entries(db)
        if e.grid_code == GRID and e.period_key in ("2026-M01", "2026-M02")
    ]
    assert figures.progress.overdue == len(monthly)
    assert figures.progress.done == 0
    # Quarterly entries are due by the end of March's last working day.
    assert at_end.progress.overdue == at_end.progress.due
