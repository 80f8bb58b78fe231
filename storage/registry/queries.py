"""Read-only lookups in the registry, used to route work and check permissions, and listings."""

from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from griddispatch.errors import NotFoundError
from storage.db import Database
from storage.registry.models import Division, DivisionLevel, Inspector, Role, Subject

T = TypeVar("T")

# Divisions are at most city → county → township → grid deep.
_MAX_DEPTH = 4


async def grid_leader_of(session: AsyncSession, inspector_id: int) -> Inspector | None:
    """Return the grid leader of an inspector's grid, or None if the grid has none."""
    inspector = await session.get(Inspector, inspector_id)
    if inspector is None:
        return None
    return await session.scalar(
        select(Inspector)
        .where(
            Inspector.division_code == inspector.division_code,
            Inspector.role == Role.GRID_LEADER.value,
        )
        .order_by(Inspector.id)
        .limit(1)
    )


async def inspector_by_code(session: AsyncSession, code: str) -> Inspector | None:
    """Return the inspector with staff code `code`."""
    return await session.scalar(select(Inspector).where(Inspector.code == code))


async def inspector_by_telegram_user(session: AsyncSession, user_id: int) -> Inspector | None:
    """Return the inspector bound to Telegram user `user_id`."""
    return await session.scalar(select(Inspector).where(Inspector.telegram_user_id == user_id))


async def grid_inspectors(session: AsyncSession, grid_code: str) -> list[Inspector]:
    """Return the inspectors (role inspector) of one grid, in a stable order."""
    rows = await session.scalars(
        select(Inspector)
        .where(Inspector.division_code == grid_code, Inspector.role == Role.INSPECTOR.value)
        .order_by(Inspector.id)
    )
    return list(rows)


async def grids_below(session: AsyncSession, division_code: str) -> list[str]:
    """Return the codes of every grid at or below a division, in code order."""
    frontier = [division_code]
    grids: list[str] = []
    for _ in range(_MAX_DEPTH):
        if not frontier:
            break
        rows = (
            await session.execute(
                select(Division.code, Division.level).where(Division.code.in_(frontier))
            )
        ).all()
        grids.extend(code for code, level in rows if level == DivisionLevel.GRID.value)
        frontier = list(
            await session.scalars(select(Division.code).where(Division.parent_code.in_(frontier)))
        )
    return sorted(set(grids))


async def subject_by_identifier(session: AsyncSession, identifier: str) -> Subject | None:
    """Return the subject whose credit code or other id is `identifier`."""
    normalized = identifier.strip().upper()
    subject = await session.scalar(select(Subject).where(Subject.credit_code == normalized))
    if subject is not None:
        return subject
    return await session.scalar(select(Subject).where(Subject.other_id == identifier.strip()))


async def divisions_below(session: AsyncSession, division_code: str) -> list[str]:
    """Return the codes of a division and every division below it.

    Raises NotFoundError for an unknown code.
    """
    if await session.get(Division, division_code) is None:
        raise NotFoundError("division {code!r} not found; check the code", code=division_code)
    found = [division_code]
    frontier = [division_code]
    for _ in range(_MAX_DEPTH):
        frontier = list(
            await session.scalars(select(Division.code).where(Division.parent_code.in_(frontier)))
        )
        if not frontier:
            break
        found.extend(frontier)
    return found


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing, with the number of rows in all pages."""

    items: list[T]
    total: int


async def _page(session: AsyncSession, query: Select[T], limit: int, offset: int) -> Page[T]:
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(query.limit(limit).offset(offset))
    return Page(list(rows), int(total or 0))


async def list_divisions(
    db: Database,
    *,
    parent_code: str | None = None,
    level: str | None = None,
    within_code: str | None = None,
) -> list[Division]:
    """Return divisions by code, optionally only the children of one or those of one level.

    With `within_code`, only that division and those below it are returned.
    """
    query = select(Division).order_by(Division.code)
    if parent_code is not None:
        query = query.where(Division.parent_code == parent_code)
    if level is not None:
        query = query.where(Division.level == level)
    async with db.reading() as session:
        if within_code is not None:
            query = query.where(Division.code.in_(await divisions_below(session, within_code)))
        return list(await session.scalars(query))


async def list_inspectors(
    db: Database,
    *,
    division_code: str | None = None,
    role: str | None = None,
    limit: int,
    offset: int,
) -> Page[Inspector]:
    """Return a page of inspectors by staff code, optionally those at or below a division.

    Raises NotFoundError for an unknown division.
    """
    query = select(Inspector).order_by(Inspector.code)
    if role is not None:
        query = query.where(Inspector.role == role)
    async with db.reading() as session:
        if division_code is not None:
            codes = await divisions_below(session, division_code)
            query = query.where(Inspector.division_code.in_(codes))
        return await _page(session, query, limit, offset)


async def list_subjects(
    db: Database, *, division_code: str | None = None, limit: int, offset: int
) -> Page[Subject]:
    """Return a page of subjects by id, optionally those in the grids below a division.

    Raises NotFoundError for an unknown division.
    """
    query = select(Subject).order_by(Subject.id)
    async with db.reading() as session:
        if division_code is not None:
            await divisions_below(session, division_code)
            query = query.where(Subject.grid_code.in_(await grids_below(session, division_code)))
        return await _page(session, query, limit, offset)
