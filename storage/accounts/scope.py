"""Restricting what a reader sees to one county (or any division) and everything below it.

Console users of role county and API tokens with a `county:<code>` scope
carry an area, and these checks test whether a record lies inside it. A
record outside the area is reported as not found, so its existence is not
revealed either.
"""

from sqlalchemy import Exists, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from griddispatch.errors import NotFoundError
from griddispatch.messages import Target
from storage.db import Database
from storage.directives.models import Directive
from storage.directives.service import DirectivePage, resolve_target
from storage.registry.models import Inspector
from storage.registry.queries import divisions_below
from storage.tasks.models import Task


async def _area(session: AsyncSession, area_code: str) -> list[str]:
    return await divisions_below(session, area_code)


async def check_division(db: Database, division_code: str, area_code: str | None) -> None:
    """Raise NotFoundError when a division lies outside the area."""
    if area_code is None:
        return
    async with db.reading() as session:
        inside = division_code in await _area(session, area_code)
    if not inside:
        raise NotFoundError("division {code!r} not found; check the code", code=division_code)


async def check_inspector(db: Database, inspector_code: str, area_code: str | None) -> None:
    """Raise NotFoundError when an inspector works outside the area."""
    if area_code is None:
        return
    async with db.reading() as session:
        codes = await _area(session, area_code)
        found = await session.scalar(
            select(Inspector.id).where(
                Inspector.code == inspector_code, Inspector.division_code.in_(codes)
            )
        )
    if found is None:
        raise NotFoundError(
            "inspector {code!r} not found; check the staff code", code=inspector_code
        )


async def check_task(db: Database, task_id: int, area_code: str | None) -> None:
    """Raise NotFoundError when a task's assignee works outside the area."""
    if area_code is None:
        return
    async with db.reading() as session:
        codes = await _area(session, area_code)
        found = await session.scalar(
            select(Task.id)
            .join(Inspector, Inspector.id == Task.inspector_id)
            .where(Task.id == task_id, Inspector.division_code.in_(codes))
        )
    if found is None:
        raise NotFoundError("task {task_id} not found; check the id", task_id=task_id)


def _directive_in(codes: list[str]) -> Exists:
    return exists(
        select(Task.id)
        .join(Inspector, Inspector.id == Task.inspector_id)
        .where(Task.directive_id == Directive.id, Inspector.division_code.in_(codes))
    )


async def check_directive(db: Database, message_id: str, area_code: str | None) -> None:
    """Raise NotFoundError when no task of a directive lies inside the area."""
    if area_code is None:
        return
    async with db.reading() as session:
        codes = await _area(session, area_code)
        found = await session.scalar(
            select(Directive.id).where(Directive.message_id == message_id, _directive_in(codes))
        )
    if found is None:
        raise NotFoundError(
            "directive {message_id!r} not found; check the message id", message_id=message_id
        )


async def check_target(db: Database, target: Target, area_code: str | None) -> None:
    """Raise NotFoundError unless every inspector a target reaches works inside the area."""
    if area_code is None:
        return
    async with db.reading() as session:
        codes = set(await _area(session, area_code))
        inspectors = await resolve_target(session, target)
    if any(inspector.division_code not in codes for inspector in inspectors):
        raise NotFoundError(
            "{kind} {code!r} not found in your county; address a target inside it",
            kind=target.kind.value,
            code=target.code,
        )


async def directives_in_area(
    db: Database, area_code: str | None, *, limit: int, offset: int
) -> DirectivePage:
    """Return a page of directives with a task inside the area (all without one), newest first."""
    async with db.reading() as session:
        query = select(Directive)
        if area_code is not None:
            query = query.where(_directive_in(await _area(session, area_code)))
        total = await session.scalar(select(func.count()).select_from(query.subquery()))
        page = query.order_by(Directive.id.desc()).limit(limit).offset(offset)
        rows = await session.scalars(page)
        return DirectivePage(list(rows), int(total or 0))
