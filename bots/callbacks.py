"""Callback data of the bot's inline buttons.

Telegram returns callback data exactly as the client sends it, and a client
can send any data, so handlers treat it as a claim to check, never as proof
of who may act on which task.
"""

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData


class TaskButton(StrEnum):
    """What a task button does."""

    ACKNOWLEDGE = "ack"
    DECLINE = "dec"
    DECLINE_REASON = "why"
    BACK = "back"


class TaskCallback(CallbackData, prefix="t"):
    """A tap on a task message: "t:<task id>:<button>:<reason index>" (well under 64 bytes)."""

    task_id: int
    button: TaskButton
    reason: int = -1
