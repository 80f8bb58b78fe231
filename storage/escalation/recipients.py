"""Who an escalation step reaches: the assignee, the grid leader, or the township, county and
command-centre staff above the assignee's grid."""

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.escalation.policies import Action
from storage.registry.models import Division, DivisionLevel, Inspector, Role
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


class RecipientDirectory:
    """Looks up the recipients of steps for a batch of tasks in one session.

    Each inspector, grid leader, division and staff list is read once per
    directory, so a sweep batch costs a few queries, not a few per step.
    """

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._inspectors: dict[int, Inspector | None] = {}
        self._leaders: dict[str, Inspector | None] = {}
        self._divisions: dict[str, Division | None] = {}
        self._staff: dict[tuple[str, str], list[Inspector]] = {}

    async def preload(self, inspector_ids: Iterable[int]) -> None:
        """Read the given inspectors and the grid leaders of their divisions, two queries in all."""
        missing = set(inspector_ids) - self._inspectors.keys()
        if not missing:
            return
        rows = await self._session.scalars(select(Inspector).where(Inspector.id.in_(missing)))
        for inspector in rows:
            self._inspectors[inspector.id] = inspector
        divisions = {
            inspector.division_code
            for inspector in self._inspectors.values()
            if inspector is not None and inspector.division_code not in self._leaders
        }
        if not divisions:
            return
        leaders = await self._session.scalars(
            select(Inspector)
            .where(
                Inspector.division_code.in_(divisions),
                Inspector.role == Role.GRID_LEADER.value,
            )
            .order_by(Inspector.id)
        )
        for leader in leaders:
            self._inspectors.setdefault(leader.id, leader)
            self._leaders.setdefault(leader.division_code, leader)
        for code in divisions:
            self._leaders.setdefault(code, None)

    async def inspector(self, inspector_id: int) -> Inspector | None:
        """Return the inspector with this id, or None if there is none."""
        if inspector_id not in self._inspectors:
            self._inspectors[inspector_id] = await self._session.get(Inspector, inspector_id)
        return self._inspectors[inspector_id]

    async def grid_leader(self, assignee: Inspector) -> Inspector | None:
        """Return the grid leader of the assignee's grid (the lowest id), or None."""
        code = assignee.division_code
        if code not in self._leaders:
            self._leaders[code] = await self._session.scalar(
                select(Inspector)
                .where(Inspector.division_code == code, Inspector.role == Role.GRID_LEADER.value)
                .order_by(Inspector.id)
                .limit(1)
            )
        return self._leaders[code]

    async def _division(self, code: str) -> Division | None:
        if code not in self._divisions:
            self._divisions[code] = await self._session.get(Division, code)
        return self._divisions[code]

    async def _ancestor(self, code: str, level: DivisionLevel) -> Division | None:
        division = await self._division(code)
        while division is not None and division.level != level.value:
            if division.parent_code is None:
                return None
            division = await self._division(division.parent_code)
        return division

    async def staff_above(
        self, assignee: Inspector, level: DivisionLevel, role: Role
    ) -> list[Inspector]:
        """Return the staff with `role` in the division at `level` above the assignee's grid."""
        division = await self._ancestor(assignee.division_code, level)
        if division is None:
            return []
        key = (division.code, role.value)
        if key not in self._staff:
            rows = await self._session.scalars(
                select(Inspector)
                .where(Inspector.division_code == division.code, Inspector.role == role.value)
                .order_by(Inspector.id)
            )
            self._staff[key] = list(rows)
        return self._staff[key]

    async def recipients(self, task: Task, action: Action) -> Recipients:
        """Return who `action` reaches for `task`, keeping only those reachable on Telegram."""
        assignee = await self.inspector(task.inspector_id)
        assert assignee is not None, f"task {task.id} has no assignee {task.inspector_id}"
        if action is Action.REMIND_ASSIGNEE:
            return _only_reachable([assignee], "assignee")
        if action in (Action.NOTIFY_GRID_LEADER, Action.REASSIGN_TO_GRID_LEADER):
            leader = await self.grid_leader(assignee)
            if leader is not None and leader.id == assignee.id:
                return Recipients([], "the assignee is the grid leader")
            return _only_reachable([leader] if leader else [], "grid leader")
        level, role = _LEVEL_OF_ACTION[action]
        staff = await self.staff_above(assignee, level, role)
        return _only_reachable(staff, f"{role.value} staff")


async def recipients_of(session: AsyncSession, task: Task, action: Action) -> Recipients:
    """Return who `action` reaches for `task`, keeping only those reachable on Telegram."""
    return await RecipientDirectory(session).recipients(task, action)
