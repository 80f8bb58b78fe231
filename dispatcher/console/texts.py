"""The console's user-facing strings, translated through the project's catalogs.

The browser gets them as /console/i18n.json, a map from each English
message to its translation in the user's language.
"""

from griddispatch.i18n import DEFAULT_LOCALE, ENGLISH, gettext, mark
from griddispatch.labels import EVENT_LABELS, KIND_LABELS, PRIORITY_LABELS, STATE_LABELS

LOCALES = (DEFAULT_LOCALE, ENGLISH)

TITLE = mark("Command centre console")

MESSAGES = [
    TITLE,
    mark("One net for supervision, one picture for evaluation"),
    mark("Sign in"),
    mark("Sign out"),
    mark("User name"),
    mark("Password"),
    mark("The user name or password is wrong."),
    mark("This account is locked after too many wrong passwords. Try again in 15 minutes."),
    mark("Map"),
    mark("Task board"),
    mark("Directives"),
    mark("Statistics"),
    mark("Division"),
    mark("Grid"),
    mark("Inspector"),
    mark("Subject"),
    mark("Kind"),
    mark("Priority"),
    mark("State"),
    mark("Any"),
    mark("Apply"),
    mark("Previous page"),
    mark("Next page"),
    mark("Page {page} of {pages}, {total} tasks"),
    mark("Live"),
    mark("Disconnected, reconnecting…"),
    mark("Title"),
    mark("Text"),
    mark("Assignee"),
    mark("Deadline"),
    mark("Acknowledge by"),
    mark("Result due by"),
    mark("Overdue"),
    mark("Escalated"),
    mark("Open tasks"),
    mark("Overdue tasks"),
    mark("Inspectors"),
    mark("Subjects"),
    mark("Tasks"),
    mark("Compliant"),
    mark("Not compliant"),
    mark("Not inspected"),
    mark("Inspector's last position"),
    mark("Click a grid to see its inspectors, subjects and tasks."),
    mark("Trail"),
    mark("Checklist answers"),
    mark("Photos"),
    mark("Location"),
    mark("Submitted at {distance} m from the subject's registered location."),
    mark("The submission location is too far from the subject."),
    mark("Receipt (PDF)"),
    mark("Opinion"),
    mark("pass"),
    mark("fail"),
    mark("na"),
    mark("No result yet."),
    mark("Issue a directive"),
    mark("Target"),
    mark("Target code"),
    mark("Acknowledge within"),
    mark("Result due within"),
    mark("e.g. 30m, 4h or 3 working days"),
    mark("Assignment"),
    mark("each"),
    mark("claim"),
    mark("Issue"),
    mark("The directive was sent; its tasks appear on the board in a moment."),
    mark("Cancel"),
    mark("Cancel this directive's open tasks?"),
    mark("Cancelled {count} open tasks."),
    mark("Recent directives"),
    mark("Routing"),
    mark("Period start"),
    mark("Period end"),
    mark("Registration rate"),
    mark("Inspection coverage rate"),
    mark("Production compliance rate"),
    mark("Inspections"),
    mark("Subjects covered"),
    mark("Failed items"),
    mark("Show the numbers"),
    mark("Hide the numbers"),
    mark("Export to XLSX"),
    mark("Numerator"),
    mark("Denominator"),
    mark("Value"),
    mark("no value"),
    mark("Loading…"),
    mark("Error: {message}"),
    mark("Language"),
    mark("Signed in as {user}"),
    mark("Back to the board"),
    mark("Task {id}"),
    mark("Created"),
    mark("Actor"),
    mark("Time"),
    mark("Event"),
    mark("Latest events"),
    mark("Triage queue"),
    mark("Route by hand"),
    mark("Grid code"),
    mark("Staff code"),
    mark("No lead is waiting."),
    mark("Routed: task {id}."),
    mark("Source"),
]


def catalog(locale: str) -> dict[str, str]:
    """Return every console message translated into `locale`."""
    return {message: gettext(message, locale) for message in MESSAGES}


def labels(locale: str) -> dict[str, dict[str, str]]:
    """Return the names of task states, kinds, priorities and trail entries in `locale`."""
    tables = {
        "state": STATE_LABELS,
        "kind": KIND_LABELS,
        "priority": PRIORITY_LABELS,
        "event": EVENT_LABELS,
    }
    return {
        name: {key: gettext(text, locale) for key, text in table.items()}
        for name, table in tables.items()
    }


def pick_locale(requested: str | None) -> str:
    """Return a supported locale for a requested one, Chinese by default."""
    return requested if requested in LOCALES else DEFAULT_LOCALE
