"""Reading an inspector's plan for the current periods, nearest subject first."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from griddispatch.geo import distance_m
from storage.db import Database
from storage.plans.generate import ENTRY_DONE
from storage.plans.models import PlanEntry
from storage.registry.models import Subject
from storage.results.models import InspectionResult


@dataclass(frozen=True)
class PlanItem:
    """One subject of an inspector's current plan: its entry, and metres from the inspector."""

    entry: PlanEntry
    subject: Subject
    distance_m: float | None

    @property
    def done(self) -> bool:
        """Whether an inspection of the subject was submitted in the entry's period."""
        return self.entry.state == ENTRY_DONE


async def last_location(db: Database, inspector_id: int) -> tuple[float, float] | None:
    """Return (longitude, latitude) of the inspector's last result that carried a location."""
    async with db.reading() as session:
        row = (
            await session.execute(
                select(InspectionResult.longitude, InspectionResult.latitude)
                .where(
                    InspectionResult.inspector_id == inspector_id,
                    InspectionResult.longitude.is_not(None),
                    InspectionResult.latitude.is_not(None),
                )
                .order_by(InspectionResult.submitted_at.desc(), InspectionResult.id.desc())
                .limit(1)
            )
        ).first()
    if row is None or row[0] is None or row[1] is None:
        return None
    return float(row[0]), float(row[1])


def _distance(subject: Subject, origin: tuple[float, float] | None) -> float | None:
    if origin is None or subject.longitude is None or subject.latitude is None:
        return None
    return distance_m(origin[0], origin[1], subject.longitude, subject.latitude)


async def current_plan(db: Database, inspector_id: int, *, now: datetime) -> list[PlanItem]:
    """Return the inspector's entries of the periods running at `now`.

    Open entries come first, nearest first from the inspector's last reported
    location (subjects without a location, or all when the inspector has
    reported none, by due date after them); done entries follow.
    """
    origin = await last_location(db, inspector_id)
    async with db.reading() as session:
        rows = await session.execute(
            select(PlanEntry, Subject)
            .join(Subject, Subject.id == PlanEntry.subject_id)
            .where(
                PlanEntry.inspector_id == inspector_id,
                PlanEntry.period_start <= now,
                PlanEntry.period_end > now,
            )
        )
        items = [PlanItem(entry, subject, _distance(subject, origin)) for entry, subject in rows]
    return sorted(items, key=_order)


def _order(item: PlanItem) -> tuple[bool, bool, float, datetime, int]:
    return (
        item.done,
        item.distance_m is None,
        item.distance_m or 0.0,
        item.entry.due_at,
        item.entry.id,
    )
