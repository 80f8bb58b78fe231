"""The context a Bot API method handler runs in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from bots.local_api.params import Params
from bots.local_api.state import BotState


class WebhookSwitch(Protocol):
    """Starts and stops webhook delivery for a bot."""

    def activate(self, bot: BotState) -> None:
        """Start delivering the bot's updates to its webhook."""

    def deactivate(self, bot: BotState) -> None:
        """Stop delivering the bot's updates."""


@dataclass(frozen=True)
class MethodCall:
    """One Bot API request: the bot it is for and its parameters."""

    bot: BotState
    params: Params
    webhooks: WebhookSwitch


@dataclass(frozen=True)
class Described:
    """A method result that Telegram sends with a "description", such as setWebhook's."""

    result: Any
    description: str


MethodHandler = Callable[[MethodCall], Awaitable[Any]]
