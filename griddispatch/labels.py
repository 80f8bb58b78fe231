"""Names users read for task states, kinds, priorities and trail entries, and time formatting."""

from datetime import datetime

from griddispatch.i18n import mark
from griddispatch.workcalendar import CHINA

STATE_LABELS = {
    "new": mark("Awaiting acknowledgement"),
    "acknowledged": mark("Acknowledged"),
    "declined": mark("Cannot carry out"),
    "submitted": mark("Result submitted"),
    "closed": mark("Closed"),
    "cancelled": mark("Cancelled"),
}

# The actions of the task state machine, as error messages name them to users.
ACTION_LABELS = {
    "acknowledge": mark("Acknowledge"),
    "decline": mark("Cannot carry out"),
    "submit": mark("Submit result"),
    "close": mark("Close the task"),
    "cancel": mark("Cancel"),
    "reassign": mark("Reassign"),
}

KIND_LABELS = {
    "directive": mark("Directive"),
    "lead": mark("Risk lead"),
    "followup": mark("Follow-up inspection"),
    "routine": mark("Routine inspection"),
}

PRIORITY_LABELS = {
    "urgent": mark("Urgent"),
    "high": mark("High"),
    "normal": mark("Normal"),
    "low": mark("Low"),
}

EVENT_LABELS = {
    "created": mark("Created"),
    "delivered": mark("Delivered"),
    "not_delivered": mark("Not delivered"),
    "acknowledged": mark("Acknowledged"),
    "declined": mark("Cannot carry out"),
    "submitted": mark("Result submitted"),
    "closed": mark("Closed"),
    "cancelled": mark("Cancelled"),
    "reassigned": mark("Reassigned"),
    "reminded": mark("Reminder sent"),
    "escalated": mark("Escalated"),
    "escalation_skipped": mark("Escalation step skipped"),
    "snoozed": mark("Escalation snoozed"),
    "claimed_elsewhere": mark("Taken by another inspector"),
    "deadline_recomputed": mark("Deadlines recomputed"),
    "followup_opened": mark("Follow-up task opened"),
    "covered": mark("Subject inspected in the plan period"),
}


def local_time(moment: datetime) -> str:
    """Format a moment in China Standard Time, the time inspectors and regulators read."""
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
