"""Errors of the local Telegram Bot API server and its control client."""

from __future__ import annotations

from typing import Any

from griddispatch.errors import GridDispatchError


class LocalBotApiError(GridDispatchError):
    """Raised by the local Bot API server or its control client; the root of their errors."""


class BotApiError(LocalBotApiError):
    """An error that a Bot API method returns to the bot, worded as Telegram words it.

    The server turns it into `{"ok": false, "error_code": ..., "description": ...}`
    with the same HTTP status, so aiogram raises its matching exception class.
    """

    def __init__(self, status: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def to_json(self) -> dict[str, Any]:
        """Build the Bot API error body."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(reason: str) -> BotApiError:
    """Build a 400 error with Telegram's "Bad Request: " prefix."""
    return BotApiError(400, f"Bad Request: {reason}")


class ControlError(LocalBotApiError):
    """Raised when a control request is rejected.

    The server sends it as `{"ok": false, "error": message}` with `status`, and the
    control client raises it again from that response.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ControlTimeoutError(LocalBotApiError, TimeoutError):
    """Raised when the control client waits longer than allowed for the bot to act."""
