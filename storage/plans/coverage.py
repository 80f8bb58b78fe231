"""Live plan figures per inspector and area, the projection, and the early warning.

Due, done and overdue count plan entries whose period lies inside the
window. Coverage is `storage.stats.service.coverage_rate`, the one
definition the stats endpoint also uses. The projection assumes the pace so
far holds: done at period end = done now / share of the period elapsed.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from griddispatch.errors import NotFoundError, ValidationError
from storage.db import Database
from storage.escalation.policy import Escalation
from storage.plans.config import PlanSet
from storage.plans.generate import ENTRY_DONE, ENTRY_OPEN
from storage.plans.models import PlanEntry, PlanWarning
from storage.registry.models import Division, DivisionLevel, Inspector, Role
from storage.registry.queries import grids_below
from storage.stats.service import Rate, coverage_rate
from storage.tasks.service import NewTask, create_task

log = logging.getLogger(__name__)

WARNING_KIND = "coverage"
_LEADER_ROLE = {
    DivisionLevel.GRID.value: Role.GRID_LEADER.value,
    DivisionLevel.TOWNSHIP.value: Role.TOWNSHIP.value,
    DivisionLevel.COUNTY.value: Role.COUNTY.value,
}


@dataclass(frozen=True)
class Progress:
    """Due, done and overdue entries of one scope and window, and where the pace leads."""

    due: int
    done: int
    overdue: int
    elapsed: float

    @property
    def projected_done(self) -> float:
        """Entries done at the window's end if the pace so far holds."""
        if self.elapsed <= 0:
            return 0.0
        return min(float(self.due), self.done / self.elapsed)

    @property
    def projected(self) -> float | None:
        """Projected share done at the window's end; None when nothing is due."""
        return self.projected_done / self.due if self.due else None


@dataclass(frozen=True)
class PlanFigures:
    """Plan figures of an area or inspector for a window, with the shared coverage rate."""

    scope: str
    start: datetime
    end: datetime
    progress: Progress
    coverage: Rate


def _elapsed(start: datetime, end: datetime, now: datetime) -> float:
    total = (end - start).total_seconds()
    return min(max((now - start).total_seconds() / total, 0.0), 1.0)


def _check_window(start: datetime, end: datetime) -> None:
    if start >= end:
        raise ValidationError(
            "period start {start} is not before its end {end}",
            start=start.isoformat(),
            end=end.isoformat(),
        )


async def _progress(
    session: AsyncSession, scope: Any, *, start: datetime, end: datetime, now: datetime
) -> Progress:
    row = (
        await session.execute(
            select(
                func.count(),
                func.count(case((PlanEntry.state == ENTRY_DONE, 1))),
                func.count(case((and_(PlanEntry.state == ENTRY_OPEN, PlanEntry.due_at < now), 1))),
            ).where(scope, PlanEntry.period_start >= start, PlanEntry.period_end <= end)
        )
    ).one()
    return Progress(int(row[0]), int(row[1]), int(row[2]), _elapsed(start, end, now))


async def area_figures(
    db: Database, division_code: str, *, start: datetime, end: datetime, now: datetime
) -> PlanFigures:
    """Return the plan figures of a division (every grid at or below it) for [start, end)."""
    _check_window(start, end)
    async with db.reading() as session:
        if await session.get(Division, division_code) is None:
            raise NotFoundError("division {code!r} not found; check the code", code=division_code)
        grids = await grids_below(session, division_code)
        progress = await _progress(
            session, PlanEntry.grid_code.in_(grids), start=start, end=end, now=now
        )
        coverage = await coverage_rate(session, grids, start=start, end=end)
    return PlanFigures(division_code, start, end, progress, coverage)


async def inspector_figures(
    db: Database, inspector_id: int, *, start: datetime, end: datetime, now: datetime
) -> PlanFigures:
    """Return the plan figures of the entries an inspector holds for [start, end).

    Coverage here is entry-based (done over due), because the coverage rate
    is defined for areas.
    """
    _check_window(start, end)
    async with db.reading() as session:
        inspector = await session.get(Inspector, inspector_id)
        if inspector is None:
            raise NotFoundError("inspector {inspector_id} not found", inspector_id=inspector_id)
        progress = await _progress(
            session, PlanEntry.inspector_id == inspector_id, start=start, end=end, now=now
        )
    return PlanFigures(inspector.code, start, end, progress, Rate(progress.done, progress.due))


@dataclass(frozen=True)
class _PeriodCounts:
    key: str
    start: datetime
    end: datetime
    by_grid: dict[str, tuple[int, int]]


async def _running_periods(session: AsyncSession, now: datetime) -> list[_PeriodCounts]:
    """Count due and done entries per grid for every period running at `now`."""
    rows = await session.execute(
        select(
            PlanEntry.period_key,
            PlanEntry.period_start,
            PlanEntry.period_end,
            PlanEntry.grid_code,
            func.count(),
            func.count(case((PlanEntry.state == ENTRY_DONE, 1))),
        )
        .where(PlanEntry.period_start <= now, PlanEntry.period_end > now)
        .group_by(
            PlanEntry.period_key, PlanEntry.period_start, PlanEntry.period_end, PlanEntry.grid_code
        )
    )
    periods: dict[str, _PeriodCounts] = {}
    for key, start, end, grid, due, done in rows:
        if key not in periods:
            periods[key] = _PeriodCounts(key, start, end, {})
        periods[key].by_grid[grid] = (int(due), int(done))
    return list(periods.values())


async def _division_tree(session: AsyncSession) -> dict[str, Division]:
    return {division.code: division for division in await session.scalars(select(Division))}


def _roll_up(
    by_grid: dict[str, tuple[int, int]], tree: dict[str, Division], levels: list[str]
) -> dict[str, tuple[int, int]]:
    """Sum grid counts into each grid's ancestors of the levels asked for."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for grid, (due, done) in by_grid.items():
        code: str | None = grid
        while code is not None and code in tree:
            division = tree[code]
            if division.level in levels:
                totals[code][0] += due
                totals[code][1] += done
            code = division.parent_code
    return {code: (due, done) for code, (due, done) in totals.items()}


async def _leaders(session: AsyncSession) -> dict[tuple[str, str], Inspector]:
    """Return staff by (division, role); the lowest id wins where a role has several people."""
    rows = await session.scalars(
        select(Inspector)
        .where(Inspector.role.in_(list(_LEADER_ROLE.values())))
        .order_by(Inspector.id.desc())
    )
    return {(inspector.division_code, inspector.role): inspector for inspector in rows}


async def check_warnings(
    db: Database, plans: PlanSet, escalation: Escalation, *, now: datetime
) -> list[PlanWarning]:
    """Warn each area leader whose projected coverage for a running period is under threshold.

    Judged once the period's `check_from` share has passed. An area gets at
    most one warning per period: the unique key (area, period) holds it. The
    warning is a task for the area's leader, so it is delivered and
    escalated like any task.
    """
    plan = plans.for_day(now.date())
    rules = plan.spec.warning
    created = []
    async with db.transaction() as session:
        tree = await _division_tree(session)
        leaders = await _leaders(session)
        warned = {
            (area, key)
            for area, key in await session.execute(
                select(PlanWarning.area_code, PlanWarning.period_key)
            )
        }
        for counts in await _running_periods(session, now):
            elapsed = _elapsed(counts.start, counts.end, now)
            if elapsed < rules.check_from:
                continue
            for area, (due, done) in _roll_up(counts.by_grid, tree, rules.levels).items():
                progress = Progress(due, done, 0, elapsed)
                projected = progress.projected
                if projected is None or projected >= rules.threshold:
                    continue
                if (area, counts.key) in warned:
                    continue
                warning = await _warn(
                    session,
                    tree[area],
                    counts.key,
                    progress,
                    escalation,
                    leaders=leaders,
                    now=now,
                )
                created.append(warning)
    return created


async def _warn(
    session: AsyncSession,
    area: Division,
    period_key: str,
    progress: Progress,
    escalation: Escalation,
    *,
    leaders: dict[tuple[str, str], Inspector],
    now: datetime,
) -> PlanWarning:
    figures = {
        "due": progress.due,
        "done": progress.done,
        "elapsed": round(progress.elapsed, 3),
        "projected": round(progress.projected or 0.0, 3),
    }
    leader = leaders.get((area.code, _LEADER_ROLE[area.level]))
    task = None
    if leader is None:
        log.warning(
            "coverage warning has no leader to receive it area=%s period=%s", area.code, period_key
        )
    else:
        percent = round((progress.projected or 0.0) * 100)
        spec = NewTask(
            kind=WARNING_KIND,
            inspector_id=leader.id,
            title=f"巡查进度预警：{area.name}（{period_key}）"[:200],
            body=(
                f"{area.name} 本期（{period_key}）应巡查 {progress.due} 户，"
                f"已完成 {progress.done} 户；"
                f"按当前进度，期末覆盖率预计为 {percent}%，低于预警线。请督促监管员加快日常巡查。"
            ),
            priority="normal",
            routing="plan",
            route={"area": area.code, "period": period_key, **figures},
        )
        task = await create_task(session, spec, escalation=escalation, now=now)
    warning = PlanWarning(
        area_code=area.code,
        period_key=period_key,
        task_id=task.id if task else None,
        figures=figures,
        created_at=now,
    )
    session.add(warning)
    await session.flush()
    log.info(
        "coverage warning area=%s period=%s due=%d done=%d projected=%.3f leader=%s task=%s",
        area.code,
        period_key,
        progress.due,
        progress.done,
        progress.projected or 0.0,
        leader.id if leader else None,
        task.id if task else None,
    )
    return warning
