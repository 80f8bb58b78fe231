"""Who an escalation step reaches: the assignee, the grid leader, or the township, county and
command-centre staff above the assignee's grid."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.escalation.policies import Action
from storage.registry.models import Division, DivisionLevel, Inspector, Role
from storage.registry.queries import grid_leader_of
from storage.tasks.models import Task

_LEVEL_OF_ACTION = {
    Action.NOTIFY_TOWNSHIP: (DivisionLevel.TOWNSHIP, Role.TOWNSHIP),
    Action.NOTIFY_COUNTY: (DivisionLevel.COUNTY, Role.COUNTY),
    Action.NOTIFY_COMMAND_CENTRE: (DivisionLevel.CITY, Role.COMMAND_CENTRE),
}


@dataclass(frozen=True)
class Recipients:
    """The people a step reaches, or why it reaches nobody."""

    inspectors: list[Inspector]
    problem: str = ""


def reachable(inspector: Inspector) -> bool:
    """Return whether a message to this inspector can be delivered on Telegram."""
    return inspector.telegram_chat_id is not None and inspector.reachable


def _only_reachable(people: list[Inspector], who: str) -> Recipients:
    if not people:
        return Recipients([], f"no {who}")
    reached = [person for person in people if reachable(person)]
    if not reached:
        names = ", ".join(f"{person.name} ({person.code})" for person in people)
        return Recipients([], f"{who} {names} cannot be reached on Telegram")
    return Recipients(reached)


async def _ancestor(session: AsyncSession, code: str, level: DivisionLevel) -> Division | None:
    division = await session.get(Division, code)
    while division is not None and division.level != level.value:
        if division.parent_code is None:
            return None
        division = await session.get(Division, division.parent_code)
    return division


async def _staff_above(
    session: AsyncSession, assignee: Inspector, level: DivisionLevel, role: Role
) -> list[Inspector]:
    division = await _ancestor(session, assignee.division_code, level)
    if division is None:
        return []
    rows = await session.scalars(
        select(Inspector)
        .where(Inspector.division_code == division.code, Inspector.role == role.value)
        .order_by(Inspector.id)
    )
    return list(rows)


async def recipients_of(session: AsyncSession, task: Task, action: Action) -> Recipients:
    """Return who `action` reaches for `task`, keeping only those reachable on Telegram."""
    assignee = await session.get(Inspector, task.inspector_id)
    assert assignee is not None
    if action is Action.REMIND_ASSIGNEE:
        return _only_reachable([assignee], "assignee")
    if action in (Action.NOTIFY_GRID_LEADER, Action.REASSIGN_TO_GRID_LEADER):
        leader = await grid_leader_of(session, assignee.id)
        if leader is not None and leader.id == assignee.id:
            return Recipients([], "the assignee is the grid leader")
        return _only_reachable([leader] if leader else [], "grid leader")
    level, role = _LEVEL_OF_ACTION[action]
    staff = await _staff_above(session, assignee, level, role)
    return _only_reachable(staff, f"{role.value} staff")
