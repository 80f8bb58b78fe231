"""Which escalation step of a task comes next, and when."""

from dataclasses import dataclass
from datetime import datetime

from griddispatch.workcalendar import WorkCalendar
from storage.escalation.policies import Condition, PolicyConfig, StepConfig
from storage.tasks.models import Task
from storage.tasks.states import TaskState

_HOLDS_IN = {
    Condition.NOT_ACKNOWLEDGED: {TaskState.NEW.value},
    Condition.NOT_SUBMITTED: {TaskState.NEW.value, TaskState.ACKNOWLEDGED.value},
    Condition.NOT_REVIEWED: {TaskState.SUBMITTED.value},
}


@dataclass(frozen=True)
class PlannedStep:
    """A step of the task's policy that has not fired, with the time it is due."""

    index: int
    step: StepConfig
    due_at: datetime


def anchor_of(task: Task, condition: Condition) -> datetime | None:
    """Return the deadline a condition counts from, or None while the condition does not hold."""
    if task.state not in _HOLDS_IN[condition]:
        return None
    if condition is Condition.NOT_ACKNOWLEDGED:
        return task.ack_due_at
    if condition is Condition.NOT_SUBMITTED:
        return task.due_at
    return task.review_due_at


def pending_steps(task: Task, policy: PolicyConfig, calendar: WorkCalendar) -> list[PlannedStep]:
    """Return the unfired steps whose condition holds now, earliest due first."""
    fired = set(task.fired_steps or [])
    planned = []
    for index, step in enumerate(policy.steps):
        if index in fired:
            continue
        anchor = anchor_of(task, step.when)
        if anchor is None:
            continue
        planned.append(PlannedStep(index, step, step.delay.resolve(anchor, calendar).at))
    return sorted(planned, key=lambda item: (item.due_at, item.index))


def next_step_time(task: Task, policy: PolicyConfig, calendar: WorkCalendar) -> datetime | None:
    """Return when the task's next step is due, no earlier than a snooze allows."""
    return first_due_time(task, pending_steps(task, policy, calendar))


def first_due_time(task: Task, pending: list[PlannedStep]) -> datetime | None:
    """Return when the first of `pending` (sorted as `pending_steps` returns them) is due,
    no earlier than the task's snooze allows, or None when nothing is pending."""
    if not pending:
        return None
    due_at = pending[0].due_at
    if task.snoozed_until is not None and task.snoozed_until > due_at:
        return task.snoozed_until
    return due_at


def replan(task: Task, policy: PolicyConfig, calendar: WorkCalendar) -> None:
    """Store the time of the task's next step on the task, after any change to it."""
    task.next_step_at = next_step_time(task, policy, calendar)
