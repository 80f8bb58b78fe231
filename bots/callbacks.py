"""Callback data of the bot's inline buttons.

Telegram returns callback data exactly as the client sends it, and a client
can send any data, so handlers treat it as a claim to check, never as proof
of who may act on which task.
"""

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData


class TaskButton(StrEnum):
    """The action of a task button."""

    ACKNOWLEDGE = "ack"
    SUBMIT = "sub"
    DECLINE = "dec"
    DECLINE_REASON = "why"
    BACK = "back"


class TaskCallback(CallbackData, prefix="t"):
    """A tap on a task message: "t:<task id>:<button>:<reason index>" (well under 64 bytes)."""

    task_id: int
    button: TaskButton
    reason: int = -1


class ItemChoice(StrEnum):
    """An answer button of a checklist item, or the way back."""

    PASS = "p"
    FAIL = "f"
    NOT_APPLICABLE = "n"
    BACK = "b"


class ItemCallback(CallbackData, prefix="i"):
    """A tap on a checklist item: "i:<task id>:<item index>:<choice>".

    The item index makes a tap on an older item's buttons detectable as stale.
    """

    task_id: int
    index: int
    choice: ItemChoice


class DraftStep(StrEnum):
    """A button of the submission draft outside the checklist."""

    BACK = "back"
    PHOTOS_DONE = "photos_done"
    SUBMIT = "submit"
    CANCEL = "cancel"
    OTHER_REASON = "other"


class DraftCallback(CallbackData, prefix="d"):
    """A tap on a draft button: "d:<task id>:<step>"."""

    task_id: int
    step: DraftStep


class ReassignCallback(CallbackData, prefix="a"):
    """A grid leader's tap to hand a task to an inspector: "a:<task id>:<inspector id>"."""

    task_id: int
    inspector_id: int
