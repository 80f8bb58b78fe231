"""Read-only lookups in the registry, used to route work and check permissions."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.registry.models import Division, DivisionLevel, Inspector, Role, Subject

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
