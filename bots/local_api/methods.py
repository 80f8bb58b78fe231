"""Dispatch of Bot API methods by name, case-insensitively as Telegram does."""

from __future__ import annotations

import logging
from typing import Any

from bots.local_api.bot_methods import BOT_METHODS
from bots.local_api.call import Described, MethodCall, MethodHandler
from bots.local_api.edit_methods import EDIT_METHODS
from bots.local_api.errors import BotApiError
from bots.local_api.send_methods import SEND_METHODS

logger = logging.getLogger(__name__)

METHODS: dict[str, MethodHandler] = {**BOT_METHODS, **SEND_METHODS, **EDIT_METHODS}

NOT_FOUND = BotApiError(404, "Not Found")


async def run_method(method: str, call: MethodCall) -> tuple[int, dict[str, Any]]:
    """Run a method and return the HTTP status and the Bot API response body."""
    handler = METHODS.get(method.lower())
    if handler is None:
        logger.info("unknown method bot_id=%s method=%s", call.bot.bot_id, method)
        return NOT_FOUND.status, NOT_FOUND.to_json()

    try:
        result = await handler(call)
    except BotApiError as error:
        logger.debug(
            "method failed bot_id=%s method=%s status=%s description=%s",
            call.bot.bot_id,
            method,
            error.status,
            error.description,
        )
        return error.status, error.to_json()

    return 200, _success_body(result)


def _success_body(result: Any) -> dict[str, Any]:
    if isinstance(result, Described):
        return {"ok": True, "result": result.result, "description": result.description}
    return {"ok": True, "result": result}
