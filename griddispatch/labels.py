"""Names users read for task states, kinds and priorities, as catalog message ids."""

from griddispatch.i18n import mark

STATE_LABELS = {
    "new": mark("Awaiting acknowledgement"),
    "acknowledged": mark("Acknowledged"),
    "declined": mark("Cannot carry out"),
    "submitted": mark("Result submitted"),
    "closed": mark("Closed"),
    "cancelled": mark("Cancelled"),
}

KIND_LABELS = {
    "directive": mark("Directive"),
    "lead": mark("Risk lead"),
}

PRIORITY_LABELS = {
    "urgent": mark("Urgent"),
    "high": mark("High"),
    "normal": mark("Normal"),
    "low": mark("Low"),
}
