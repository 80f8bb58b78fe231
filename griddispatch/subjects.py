"""NATS subject, stream and consumer names: the one place that defines them."""

DIRECTIVE_ISSUE = "gd.directive.issue"
LEAD_PREFIX = "gd.lead"
LEAD_ANY = "gd.lead.*"
NOTIFY_TELEGRAM_PREFIX = "gd.notify.telegram"
NOTIFY_TELEGRAM_ANY = "gd.notify.telegram.*"
TASK_EVENT_PREFIX = "gd.event.task"
TASK_EVENT_ANY = "gd.event.task.*"
DEAD_LETTER_PREFIX = "gd.deadletter"
DEAD_LETTER_ANY = "gd.deadletter.>"
TELEGRAM_UPDATE_PREFIX = "gd.telegram.update"
TELEGRAM_UPDATE_ANY = "gd.telegram.update.*"

INBOUND_STREAM = "GD_INBOUND"
NOTIFY_STREAM = "GD_NOTIFY"
EVENTS_STREAM = "GD_EVENTS"
DEAD_LETTER_STREAM = "GD_DEADLETTER"
TELEGRAM_UPDATES_STREAM = "GD_TELEGRAM_UPDATES"

DIRECTIVE_CONSUMER = "gd-dispatcher-directives"
LEAD_CONSUMER = "gd-dispatcher-leads"
NOTIFY_CONSUMER = "gd-bot-notify"
TELEGRAM_UPDATE_CONSUMER = "gd-bot-updates"
CALLBACK_CONSUMER = "gd-worker-callbacks"


def lead_subject(source: str) -> str:
    """Return the subject a lead from `source` is published on."""
    return f"{LEAD_PREFIX}.{source}"


def notify_subject(inspector_id: int) -> str:
    """Return the subject of Telegram notifications for one inspector."""
    return f"{NOTIFY_TELEGRAM_PREFIX}.{inspector_id}"


def task_event_subject(kind: str) -> str:
    """Return the subject of task events of one kind (created, acknowledged, ...)."""
    return f"{TASK_EVENT_PREFIX}.{kind}"


def dead_letter_subject(original_subject: str) -> str:
    """Return the dead-letter subject for a message first published on `original_subject`."""
    return f"{DEAD_LETTER_PREFIX}.{original_subject}"


def telegram_update_subject(bot_id: int) -> str:
    """Return the subject on which the updates received by one bot are stored."""
    return f"{TELEGRAM_UPDATE_PREFIX}.{bot_id}"
