"""Setting a task's two clocks from its deadline specs on the working calendar."""

from datetime import datetime

from griddispatch.deadlines import parse_deadline
from griddispatch.workcalendar import WorkCalendar
from storage.tasks.models import Task


def set_deadlines(task: Task, calendar: WorkCalendar, *, start: datetime) -> bool:
    """Compute `ack_due_at` and `due_at` from `start`; return whether either is provisional.

    The result is never due before the acknowledgement.
    """
    ack = parse_deadline(task.ack_within).resolve(start, calendar)
    due = parse_deadline(task.due_within).resolve(start, calendar)
    task.ack_due_at = ack.at
    task.due_at = max(due.at, ack.at)
    task.deadline_provisional = ack.provisional or due.provisional
    return task.deadline_provisional
