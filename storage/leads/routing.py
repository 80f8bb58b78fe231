"""Choosing who handles a lead: subject, grid or division code, point, address, or triage.

Each step that cannot place the lead adds a note saying why, and the next
step is tried. The notes and what the deciding step found go into the
route's detail, which the lead and the "created" trail entry keep.
"""

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from griddispatch.geo import to_wgs84
from griddispatch.messages import LeadMessage
from storage.leads.matching import match_subject
from storage.leads.places import division_in_address, grids_containing
from storage.registry import queries
from storage.registry.models import Division, DivisionLevel, Inspector, Role, Subject

ROUTED_BY_SUBJECT = "subject"
ROUTED_BY_GRID = "grid"
ROUTED_BY_POINT = "point"
ROUTED_BY_ADDRESS = "address"
ROUTED_TO_TRIAGE = "triage"

# Levels whose grids are few enough that the first of them is a fair pick.
_NARROW_LEVELS = {DivisionLevel.GRID.value, DivisionLevel.TOWNSHIP.value}


@dataclass
class Route:
    """The routing decision for a lead: the subject it names (if found) and its assignee."""

    routing: str
    subject: Subject | None = None
    assignee: Inspector | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    # The lead's location in WGS-84, when it gave one.
    point: tuple[float, float] | None = None


async def route_lead(session: AsyncSession, message: LeadMessage, *, cache_key: str) -> Route:
    """Return the route of a lead; `cache_key` names the database for the boundary cache."""
    notes: list[str] = []
    route = Route(ROUTED_TO_TRIAGE, detail={})
    if message.location is not None:
        route.point = to_wgs84(
            message.location.longitude, message.location.latitude, message.location.system
        )

    if message.subject is not None:
        match = await match_subject(session, message.subject)
        route.subject = match.subject
        if match.subject is None:
            notes.append(match.problem or "subject not found")
        else:
            route.detail.update(subject_id=match.subject.id, matched_by=match.matched_by)
            assignee = await _subject_inspector(session, match.subject)
            if assignee is not None:
                return _decided(route, ROUTED_BY_SUBJECT, assignee, notes)
            notes.append(f"subject {match.subject.id} has no inspector")

    decided = await _by_codes(session, message, route, notes)
    if decided is None and route.point is not None:
        decided = await _by_point(session, route, notes, cache_key)
    if decided is None and message.address:
        decided = await _by_address(session, message.address, route, notes, cache_key)
    if decided is not None:
        return decided
    if notes:
        route.detail["notes"] = notes
    return route


def _decided(route: Route, routing: str, assignee: Inspector, notes: list[str]) -> Route:
    route.routing = routing
    route.assignee = assignee
    route.detail["inspector_id"] = assignee.id
    if notes:
        route.detail["notes"] = notes
    return route


async def _subject_inspector(session: AsyncSession, subject: Subject) -> Inspector | None:
    if subject.inspector_id is None:
        return None
    return await session.get(Inspector, subject.inspector_id)


async def _by_codes(
    session: AsyncSession, message: LeadMessage, route: Route, notes: list[str]
) -> Route | None:
    """Route by the grid or division code the lead gives, else by its subject's grid."""
    codes = [message.grid_code, message.division_code]
    if route.subject is not None:
        codes.append(route.subject.grid_code)
    for code in codes:
        if not code:
            continue
        assignee, grid_code, problem = await division_assignee(session, code)
        if assignee is None:
            notes.append(problem)
            continue
        route.detail["grid_code"] = grid_code
        if grid_code != code:
            route.detail["division_code"] = code
        return _decided(route, ROUTED_BY_GRID, assignee, notes)
    return None


async def _by_point(
    session: AsyncSession, route: Route, notes: list[str], cache_key: str
) -> Route | None:
    assert route.point is not None
    longitude, latitude = route.point
    route.detail["wgs84"] = [round(longitude, 7), round(latitude, 7)]
    grid_codes = await grids_containing(session, cache_key, longitude, latitude)
    if not grid_codes:
        notes.append(f"point {longitude:.6f},{latitude:.6f} (WGS-84) lies in no grid")
        return None
    for grid_code in grid_codes:
        assignee = await grid_assignee(session, grid_code)
        if assignee is not None:
            route.detail["grid_code"] = grid_code
            return _decided(route, ROUTED_BY_POINT, assignee, notes)
    notes.append(f"grid {grid_codes[0]} at the point has no inspector")
    return None


async def _by_address(
    session: AsyncSession, address: str, route: Route, notes: list[str], cache_key: str
) -> Route | None:
    match = await division_in_address(session, cache_key, address)
    if match.place is None:
        notes.append(match.problem)
        return None
    assignee, grid_code, problem = await division_assignee(session, match.place.code)
    if assignee is None:
        notes.append(problem)
        return None
    route.detail.update(address_division=match.place.code, grid_code=grid_code)
    return _decided(route, ROUTED_BY_ADDRESS, assignee, notes)


async def grid_assignee(session: AsyncSession, grid_code: str) -> Inspector | None:
    """Return who handles a lead placed in a grid: its leader, else its first inspector."""
    leader = await session.scalar(
        select(Inspector)
        .where(Inspector.division_code == grid_code, Inspector.role == Role.GRID_LEADER.value)
        .order_by(Inspector.id)
        .limit(1)
    )
    if leader is not None:
        return leader
    inspectors = await queries.grid_inspectors(session, grid_code)
    return inspectors[0] if inspectors else None


async def division_assignee(session: AsyncSession, code: str) -> tuple[Inspector | None, str, str]:
    """Return (assignee, grid code, problem) for a grid or township code.

    A township's lead goes to the first of its grids (in code order) that has
    someone to assign. Counties and the city cover too many grids to pick
    one, so they return no assignee and the lead goes on to the next step.
    """
    division = await session.get(Division, code)
    if division is None:
        return None, "", f"division {code!r} not found in the registry"
    if division.level not in _NARROW_LEVELS:
        return (
            None,
            "",
            (
                f"{division.name} ({code}) is a {division.level}, too wide to pick a grid; "
                "name a township or a grid"
            ),
        )
    for grid_code in await queries.grids_below(session, code):
        assignee = await grid_assignee(session, grid_code)
        if assignee is not None:
            return assignee, grid_code, ""
    return None, "", f"{division.name} ({code}) has no grid with an inspector"
