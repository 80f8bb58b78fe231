"""The deadlines of tasks created together match those of tasks created one by one."""

from datetime import UTC, datetime
from pathlib import Path

from dispatcher.setup import escalation_from
from griddispatch.settings import Settings
from storage.db import Database
from storage.escalation.plan import replan
from storage.registry.models import Inspector
from storage.tasks.deadlines import set_deadlines
from storage.tasks.models import Task
from storage.tasks.service import NewTask, create_tasks
from tests.storage.support import import_small_registry, inspector_of

# A Friday afternoon in China Standard Time, so working-time deadlines cross a weekend.
FRIDAY = datetime(2026, 3, 6, 8, 30, tzinfo=UTC)


def _spec(
    inspector: Inspector,
    *,
    kind: str,
    priority: str,
    ack_within: str | None = None,
    due_within: str | None = None,
) -> NewTask:
    return NewTask(
        kind=kind,
        inspector_id=inspector.id,
        title=f"{kind} {priority} {ack_within} {due_within}",
        body="",
        priority=priority,
        routing="inspector",
        ack_within=ack_within,
        due_within=due_within,
    )


def _alone(spec: NewTask, settings: Settings) -> Task:
    """Return a task whose clocks are computed on their own, as for a task created alone."""
    escalation = escalation_from(settings)
    policy = escalation.policy_for(spec.kind, spec.priority)
    task = Task(
        state="new",
        fired_steps=[],
        ack_within=spec.ack_within or policy.ack_within,
        due_within=spec.due_within or policy.due_within,
    )
    set_deadlines(task, escalation.calendar, start=FRIDAY)
    replan(task, policy, escalation.calendar)
    return task


async def test_batch_tasks_get_own_deadlines(db: Database, tmp_path: Path) -> None:
    await import_small_registry(db, tmp_path)
    inspector = await inspector_of(db, "JG0010")
    settings = Settings(data_dir=tmp_path)
    specs = [
        _spec(inspector, kind="directive", priority="normal"),
        _spec(inspector, kind="directive", priority="normal"),
        _spec(inspector, kind="directive", priority="normal", ack_within="2h"),
        _spec(inspector, kind="directive", priority="normal", ack_within="2h", due_within="1wd"),
        _spec(inspector, kind="lead", priority="urgent"),
        _spec(inspector, kind="lead", priority="low", due_within="10 working days"),
        _spec(inspector, kind="directive", priority="normal"),
    ]

    async with db.transaction() as session:
        tasks = await create_tasks(session, specs, escalation=escalation_from(settings), now=FRIDAY)

    clocks = [
        (task.ack_due_at, task.due_at, task.deadline_provisional, task.next_step_at)
        for task in tasks
    ]
    expected = [
        (alone.ack_due_at, alone.due_at, alone.deadline_provisional, alone.next_step_at)
        for alone in (_alone(spec, settings) for spec in specs)
    ]
    assert clocks == expected
    assert len({clock[:2] for clock in clocks}) == 5
    assert clocks[0] == clocks[1] == clocks[6]
