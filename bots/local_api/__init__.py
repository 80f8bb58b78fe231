"""A local Telegram Bot API server and the client that drives its simulated users."""

from bots.local_api.client import CallbackAnswer, LocalBotApiControl, SentMessage
from bots.local_api.server import LocalBotApiServer

__all__ = ["CallbackAnswer", "LocalBotApiControl", "LocalBotApiServer", "SentMessage"]
