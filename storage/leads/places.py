"""Places in the registry: which grid a point lies in, which division an address names.

Both read every division, so the parsed boundaries (as prepared shapely
polygons in an STR tree) and the names are cached per database. The cache is
rebuilt when the number of divisions changes, and at the latest after
`CACHE_TTL_S`, so a boundary edited in place shows after that time.
"""

import json
import logging
import time
import unicodedata
from dataclasses import dataclass

import shapely
from shapely.geometry import Point, shape
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.registry.models import Division, DivisionLevel

log = logging.getLogger(__name__)

CACHE_TTL_S = 300.0

_LEVEL_RANK = {
    DivisionLevel.CITY.value: 1,
    DivisionLevel.COUNTY.value: 2,
    DivisionLevel.TOWNSHIP.value: 3,
    DivisionLevel.GRID.value: 4,
}


@dataclass(frozen=True)
class Place:
    """A division with the fields address matching uses."""

    code: str
    name: str
    level: str
    parent_code: str | None


@dataclass
class _Snapshot:
    division_count: int
    loaded_at: float
    places: dict[str, Place]
    grid_codes: list[str]
    tree: shapely.STRtree


_CACHE: dict[str, _Snapshot] = {}


async def _snapshot(session: AsyncSession, cache_key: str) -> _Snapshot:
    count = int(await session.scalar(select(func.count()).select_from(Division)) or 0)
    cached = _CACHE.get(cache_key)
    if (
        cached is not None
        and cached.division_count == count
        and time.monotonic() - cached.loaded_at < CACHE_TTL_S
    ):
        return cached
    rows = (await session.execute(select(Division).order_by(Division.code))).scalars().all()
    places = {row.code: Place(row.code, row.name, row.level, row.parent_code) for row in rows}
    grid_codes: list[str] = []
    polygons = []
    for row in rows:
        if row.level != DivisionLevel.GRID.value or not row.boundary_geojson:
            continue
        try:
            polygon = shape(json.loads(row.boundary_geojson))
        except (ValueError, TypeError, AttributeError) as exc:
            log.warning("grid boundary unreadable, grid skipped grid=%s error=%r", row.code, exc)
            continue
        shapely.prepare(polygon)
        grid_codes.append(row.code)
        polygons.append(polygon)
    snapshot = _Snapshot(count, time.monotonic(), places, grid_codes, shapely.STRtree(polygons))
    _CACHE[cache_key] = snapshot
    log.info("grid boundaries loaded grids=%d divisions=%d", len(grid_codes), count)
    return snapshot


async def grids_containing(
    session: AsyncSession, cache_key: str, longitude: float, latitude: float
) -> list[str]:
    """Return the codes of the grids whose boundary contains or touches a WGS-84 point."""
    snapshot = await _snapshot(session, cache_key)
    hits = snapshot.tree.query(Point(longitude, latitude), predicate="intersects")
    return sorted(snapshot.grid_codes[index] for index in hits)


@dataclass(frozen=True)
class AddressMatch:
    """The division an address names, or why none was chosen."""

    place: Place | None
    problem: str = ""


async def division_in_address(session: AsyncSession, cache_key: str, address: str) -> AddressMatch:
    """Return the most specific division whose name appears in `address`.

    Candidates are ranked by, in order: fewer higher-level divisions named in
    the address that are not their ancestors (so "东胜区乌兰镇路" does not
    pick 乌兰镇 of another county), deeper level, more ancestors named, and
    longer name. A tie between different divisions is ambiguous.
    """
    snapshot = await _snapshot(session, cache_key)
    text = "".join(unicodedata.normalize("NFKC", address).split())
    hits = [place for place in snapshot.places.values() if place.name and place.name in text]
    if not hits:
        return AddressMatch(None, f"address {address!r} names no division of the registry")

    hit_codes = {place.code for place in hits}

    def score(place: Place) -> tuple[int, int, int, int]:
        ancestors = _ancestors(snapshot.places, place)
        rank = _LEVEL_RANK.get(place.level, 0)
        conflicts = sum(
            1
            for other in hits
            if _LEVEL_RANK.get(other.level, 0) < rank and other.code not in ancestors
        )
        return (-conflicts, rank, len(ancestors & hit_codes), len(place.name))

    best = max(score(place) for place in hits)
    winners = [place for place in hits if score(place) == best]
    if len(winners) > 1:
        names = ", ".join(f"{place.name} ({place.code})" for place in winners)
        return AddressMatch(None, f"address {address!r} is ambiguous: it may mean {names}")
    return AddressMatch(winners[0])


def _ancestors(places: dict[str, Place], place: Place) -> set[str]:
    codes: set[str] = set()
    parent = place.parent_code
    while parent is not None and parent in places and parent not in codes:
        codes.add(parent)
        parent = places[parent].parent_code
    return codes
