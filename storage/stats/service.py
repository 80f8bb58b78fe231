"""Computing the three rates for a division and period.

- Registration rate (主体登记备案率): registered subjects over all known
  subjects of the area, registered or not, at the time of asking.
- Inspection coverage rate (监管检查覆盖率): subjects due in the period
  with at least one result submitted in the period over subjects due in the
  period. A registered subject is due when the inspection plan has an entry
  for it whose period lies inside [start, end); where the area has no such
  entry (plans not in use, or a window shorter than every plan period) every
  registered subject is due. `coverage_rate` is the one implementation, used
  by this module and by the plan figures (storage/plans/coverage.py).
- Production compliance rate (企业生产合规率): compliant results over all
  results submitted in the period for subjects of the area.

A rate whose denominator is zero has no value (None), not zero.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from griddispatch.errors import NotFoundError, ValidationError
from storage.db import Database
from storage.plans.models import PlanEntry
from storage.registry.models import Division, Inspector, Subject
from storage.registry.queries import grids_below
from storage.results.models import InspectionResult, ResultItem


@dataclass(frozen=True)
class Rate:
    """A ratio with the counts behind it."""

    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        """The ratio, or None when there is nothing to divide by."""
        return self.numerator / self.denominator if self.denominator else None


@dataclass(frozen=True)
class AreaRates:
    """The three rates of one area and period."""

    area_code: str
    area_name: str
    start: datetime
    end: datetime
    registration: Rate
    coverage: Rate
    compliance: Rate


@dataclass(frozen=True)
class InspectorFigures:
    """What one inspector did in a period."""

    inspector_id: int
    code: str
    name: str
    inspections: int
    subjects_covered: int
    failed_items: int


async def _count(session: AsyncSession, query: Select[Any]) -> int:
    return int(await session.scalar(query) or 0)


async def _area(session: AsyncSession, division_code: str) -> tuple[Division, list[str]]:
    division = await session.get(Division, division_code)
    if division is None:
        raise NotFoundError("division {code!r} not found; check the code", code=division_code)
    return division, await grids_below(session, division_code)


def _check_period(start: datetime, end: datetime) -> None:
    if start >= end:
        raise ValidationError(
            "period start {start} is not before its end {end}",
            start=start.isoformat(),
            end=end.isoformat(),
        )


async def coverage_rate(
    session: AsyncSession, grids: list[str], *, start: datetime, end: datetime
) -> Rate:
    """Return the inspection coverage rate of the subjects of `grids` for [start, end).

    The module docstring defines it; the plan figures call this function too,
    so the two never disagree.
    """
    in_area = (Subject.grid_code.in_(grids), Subject.registered.is_(True))
    planned = (
        select(PlanEntry.subject_id)
        .join(Subject, Subject.id == PlanEntry.subject_id)
        .where(*in_area, PlanEntry.period_start >= start, PlanEntry.period_end <= end)
        .subquery()
    )
    due = await _count(session, select(func.count(distinct(planned.c.subject_id))))
    inspected = (
        select(InspectionResult.subject_id)
        .join(Subject, Subject.id == InspectionResult.subject_id)
        .where(
            *in_area, InspectionResult.submitted_at >= start, InspectionResult.submitted_at < end
        )
        .subquery()
    )
    if due:
        covered = await _count(
            session,
            select(func.count(distinct(planned.c.subject_id))).where(
                planned.c.subject_id.in_(select(inspected.c.subject_id))
            ),
        )
        return Rate(covered, due)
    registered = await _count(session, select(func.count()).select_from(Subject).where(*in_area))
    covered = await _count(session, select(func.count(distinct(inspected.c.subject_id))))
    return Rate(covered, registered)


async def area_rates(
    db: Database, division_code: str, *, start: datetime, end: datetime
) -> AreaRates:
    """Return the three rates of a division (and everything below it) for [start, end)."""
    _check_period(start, end)
    async with db.reading() as session:
        division, grids = await _area(session, division_code)
        in_area = Subject.grid_code.in_(grids)
        results = (
            select(func.count())
            .select_from(InspectionResult)
            .join(Subject, Subject.id == InspectionResult.subject_id)
            .where(
                in_area, InspectionResult.submitted_at >= start, InspectionResult.submitted_at < end
            )
        )
        known = await _count(session, select(func.count()).select_from(Subject).where(in_area))
        registered = await _count(
            session,
            select(func.count()).select_from(Subject).where(in_area, Subject.registered.is_(True)),
        )
        coverage = await coverage_rate(session, grids, start=start, end=end)
        total = await _count(session, results)
        compliant = await _count(session, results.where(InspectionResult.compliant.is_(True)))
    return AreaRates(
        area_code=division.code,
        area_name=division.name,
        start=start,
        end=end,
        registration=Rate(registered, known),
        coverage=coverage,
        compliance=Rate(compliant, total),
    )


async def inspector_figures(
    db: Database, division_code: str, *, start: datetime, end: datetime
) -> list[InspectorFigures]:
    """Return per-inspector figures for the inspectors of a division's grids, by staff code."""
    _check_period(start, end)
    async with db.reading() as session:
        _, grids = await _area(session, division_code)
        inspectors = list(
            await session.scalars(
                select(Inspector).where(Inspector.division_code.in_(grids)).order_by(Inspector.code)
            )
        )
        figures = []
        for inspector in inspectors:
            in_period = (
                InspectionResult.inspector_id == inspector.id,
                InspectionResult.submitted_at >= start,
                InspectionResult.submitted_at < end,
            )
            inspections = await _count(
                session, select(func.count()).select_from(InspectionResult).where(*in_period)
            )
            covered = await _count(
                session,
                select(func.count(distinct(InspectionResult.subject_id))).where(*in_period),
            )
            failed = await _count(
                session,
                select(func.count())
                .select_from(ResultItem)
                .join(InspectionResult, InspectionResult.id == ResultItem.result_id)
                .where(*in_period, ResultItem.answer == "fail"),
            )
            figures.append(
                InspectorFigures(
                    inspector.id, inspector.code, inspector.name, inspections, covered, failed
                )
            )
    return figures
