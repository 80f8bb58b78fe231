"""Read queries behind the console's map and grid panels.

Boundaries are simplified with shapely once per division and kept in memory
(the registry's boundaries change only on import; a restart picks changes
up).
"""

import functools
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from shapely.geometry import mapping, shape
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.registry.models import Division, Inspector, Subject
from storage.registry.queries import divisions_below
from storage.results.models import InspectionResult
from storage.tasks.models import Task
from storage.tasks.states import OPEN_STATE_VALUES, TaskState

SIMPLIFY_TOLERANCE_DEG = 0.001
# County outlines of the shipped Ordos example, for divisions whose registry row has none.
SHIPPED_OUTLINES = (
    Path(__file__).resolve().parents[2] / "griddispatch/data/ordos/counties-wgs84.geojson"
)


@dataclass(frozen=True)
class DivisionRow:
    """A division as the console's pickers list it."""

    code: str
    name: str
    level: str
    parent_code: str | None


async def divisions_in(db: Database, area_code: str | None) -> list[DivisionRow]:
    """Return every division, or those at or below `area_code`, by code."""
    async with db.reading() as session:
        query = select(Division.code, Division.name, Division.level, Division.parent_code)
        if area_code is not None:
            query = query.where(Division.code.in_(await divisions_below(session, area_code)))
        rows = await session.execute(query.order_by(Division.code))
        return [DivisionRow(*row) for row in rows]


async def root_division(db: Database) -> str | None:
    """Return the code of the top division (the one without a parent), if the registry has one."""
    async with db.reading() as session:
        return await session.scalar(
            select(Division.code).where(Division.parent_code.is_(None)).order_by(Division.code)
        )


@functools.lru_cache(maxsize=4096)
def simplified_rings(geojson: str) -> list[list[list[float]]]:
    """Return the outer rings of a boundary, simplified, as [[lon, lat], ...] lists."""
    geometry = shape(json.loads(geojson)).simplify(SIMPLIFY_TOLERANCE_DEG, preserve_topology=True)
    shapes: dict[str, Any] = mapping(geometry)
    polygons = (
        shapes["coordinates"] if shapes["type"] == "MultiPolygon" else [shapes["coordinates"]]
    )
    return [[[round(x, 5), round(y, 5)] for x, y in polygon[0]] for polygon in polygons if polygon]


@functools.cache
def shipped_outlines() -> dict[str, str]:
    """Return the example's county outlines as GeoJSON geometry text, by division code."""
    if not SHIPPED_OUTLINES.is_file():
        return {}
    features = json.loads(SHIPPED_OUTLINES.read_text(encoding="utf-8"))["features"]
    return {
        str(feature["properties"]["adcode"]): json.dumps(feature["geometry"])
        for feature in features
    }


def _overdue(now: datetime) -> Any:
    return or_(
        and_(Task.state == TaskState.NEW.value, Task.ack_due_at < now),
        and_(
            Task.state.in_(OPEN_STATE_VALUES), Task.state != TaskState.NEW.value, Task.due_at < now
        ),
    )


async def _task_counts(
    session: AsyncSession, codes: list[str], now: datetime
) -> dict[str, tuple[int, int]]:
    rows = await session.execute(
        select(
            Inspector.division_code,
            func.count(),
            func.sum(case((_overdue(now), 1), else_=0)),
        )
        .join(Inspector, Inspector.id == Task.inspector_id)
        .where(Task.state.in_(OPEN_STATE_VALUES), Inspector.division_code.in_(codes))
        .group_by(Inspector.division_code)
    )
    return {code: (int(total), int(overdue or 0)) for code, total, overdue in rows}


async def _areas(session: AsyncSession, codes: list[str], now: datetime) -> list[dict[str, Any]]:
    counts = await _task_counts(session, codes, now)
    rows = await session.execute(
        select(Division.code, Division.name, Division.level, Division.boundary_geojson).where(
            Division.code.in_(codes)
        )
    )
    outlines = shipped_outlines()
    drawn = [
        (code, name, level, geojson or outlines.get(code))
        for code, name, level, geojson in rows
        if geojson or code in outlines
    ]
    return [
        {
            "code": code,
            "name": name,
            "level": level,
            "rings": simplified_rings(geojson),
            "open": counts.get(code, (0, 0))[0],
            "overdue": counts.get(code, (0, 0))[1],
        }
        for code, name, level, geojson in drawn
        if geojson is not None
    ]


def _latest_results(column: Any) -> Any:
    """Return the id of the latest result per value of `column` (inspector or subject)."""
    return (
        select(column.label("key"), func.max(InspectionResult.id).label("result_id"))
        .group_by(column)
        .subquery()
    )


async def _inspectors(session: AsyncSession, codes: list[str]) -> list[dict[str, Any]]:
    latest = _latest_results(InspectionResult.inspector_id)
    rows = await session.execute(
        select(
            Inspector.id,
            Inspector.code,
            Inspector.name,
            Inspector.division_code,
            InspectionResult.longitude,
            InspectionResult.latitude,
            InspectionResult.submitted_at,
        )
        .join(latest, latest.c.key == Inspector.id)
        .join(InspectionResult, InspectionResult.id == latest.c.result_id)
        .where(Inspector.division_code.in_(codes), InspectionResult.longitude.is_not(None))
    )
    return [
        {
            "id": row.id,
            "code": row.code,
            "name": row.name,
            "grid": row.division_code,
            "lon": row.longitude,
            "lat": row.latitude,
            "at": row.submitted_at.isoformat(),
        }
        for row in rows
    ]


async def _subjects(session: AsyncSession, codes: list[str]) -> list[dict[str, Any]]:
    latest = _latest_results(InspectionResult.subject_id)
    rows = await session.execute(
        select(
            Subject.id,
            Subject.name,
            Subject.grid_code,
            Subject.longitude,
            Subject.latitude,
            InspectionResult.compliant,
        )
        .outerjoin(latest, latest.c.key == Subject.id)
        .outerjoin(InspectionResult, InspectionResult.id == latest.c.result_id)
        .where(Subject.grid_code.in_(codes), Subject.longitude.is_not(None))
    )
    return [
        {
            "id": row.id,
            "name": row.name,
            "grid": row.grid_code,
            "lon": row.longitude,
            "lat": row.latitude,
            "compliant": row.compliant,
        }
        for row in rows
    ]


async def map_data(db: Database, division_code: str, *, now: datetime) -> dict[str, Any]:
    """Return the areas, inspectors' last positions and subjects at or below a division."""
    async with db.reading() as session:
        codes = await divisions_below(session, division_code)
        return {
            "division": division_code,
            "areas": await _areas(session, codes, now),
            "inspectors": await _inspectors(session, codes),
            "subjects": await _subjects(session, codes),
        }


async def grid_panel(db: Database, grid_code: str) -> dict[str, Any]:
    """Return a division's inspectors and subjects (at most 200 of each) for the map's panel."""
    async with db.reading() as session:
        division = await session.get(Division, grid_code)
        codes = await divisions_below(session, grid_code)
        inspectors = await session.scalars(
            select(Inspector).where(Inspector.division_code.in_(codes)).order_by(Inspector.code)
        )
        subjects = await session.scalars(
            select(Subject).where(Subject.grid_code.in_(codes)).order_by(Subject.name).limit(200)
        )
        return {
            "code": grid_code,
            "name": division.name if division is not None else grid_code,
            "inspectors": [
                {"code": i.code, "name": i.name, "role": i.role} for i in list(inspectors)[:200]
            ],
            "subjects": [
                {"id": s.id, "name": s.name, "credit_code": s.credit_code, "address": s.address}
                for s in subjects
            ],
        }
