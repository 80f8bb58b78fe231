"""Bot API methods about the bot itself: getMe, updates, webhooks and commands."""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from typing import Any
from urllib.parse import urlsplit

from bots.local_api.call import Described, MethodCall, MethodHandler
from bots.local_api.errors import BotApiError, bad_request
from bots.local_api.state import WebhookConfig
from bots.local_api.updates import CONFLICT_SET_WEBHOOK, MAX_UPDATES_PER_CALL

logger = logging.getLogger(__name__)

CONFLICT_WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)

# telegram-bot-api clamps the long-poll timeout to 0-50 seconds.
MAX_POLL_TIMEOUT_S = 50

_SECRET_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_COMMAND_PATTERN = re.compile(r"[a-z0-9_]{1,32}")
_DEFAULT_MAX_CONNECTIONS = 40


async def get_me(call: MethodCall) -> Any:
    """getMe: the bot's User object with its capabilities."""
    me = call.bot.bot_user.to_json()
    me.update(
        {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
    )
    return me


async def get_updates(call: MethodCall) -> Any:
    """getUpdates: confirm by offset, then return pending updates, long polling if asked."""
    bot, params = call.bot, call.params
    if bot.webhook is not None:
        raise BotApiError(409, CONFLICT_WEBHOOK_ACTIVE)

    offset = params.integer("offset", "invalid offset specified") or 0
    limit = params.integer("limit", "invalid limit specified") or MAX_UPDATES_PER_CALL
    timeout_s = params.integer("timeout", "invalid timeout specified") or 0
    allowed = params.json_value("allowed_updates", "can't parse allowed_updates JSON object")

    if isinstance(allowed, list):
        bot.updates.set_allowed_types(str(name) for name in allowed)

    limit = min(max(limit, 1), MAX_UPDATES_PER_CALL)
    timeout_s = min(max(timeout_s, 0), MAX_POLL_TIMEOUT_S)
    updates = await bot.updates.poll(offset, limit, timeout_s)
    return [update.to_json() for update in updates]


async def set_webhook(call: MethodCall) -> Any:
    """setWebhook: start POSTing updates to a loopback URL; an empty url deletes the webhook."""
    bot, params = call.bot, call.params
    url = (params.text("url") or "").strip()
    if url == "":
        return await delete_webhook(call)

    _check_webhook_url(url)
    secret_token = _read_secret_token(call)
    max_connections = params.integer("max_connections", "invalid max_connections specified")
    allowed = params.json_value("allowed_updates", "can't parse allowed_updates JSON object")

    if params.flag("drop_pending_updates"):
        bot.updates.clear()
    if isinstance(allowed, list):
        bot.updates.set_allowed_types(str(name) for name in allowed)

    bot.updates.end_poll(CONFLICT_SET_WEBHOOK)
    call.webhooks.deactivate(bot)
    bot.webhook = WebhookConfig(url, secret_token, max_connections or _DEFAULT_MAX_CONNECTIONS)
    call.webhooks.activate(bot)

    logger.info("webhook set bot_id=%s url=%s", bot.bot_id, url)
    return Described(True, "Webhook was set")


def _check_webhook_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise bad_request("invalid webhook URL specified")

    # The server runs where nothing but loopback may be reached, so it delivers only there.
    if not _is_loopback(parts.hostname):
        raise bad_request(
            "bad webhook: the local Bot API server delivers only to loopback hosts "
            "(127.0.0.0/8, ::1, localhost)"
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _read_secret_token(call: MethodCall) -> str | None:
    secret_token = call.params.text("secret_token")
    if not secret_token:
        return None
    if not _SECRET_TOKEN_PATTERN.fullmatch(secret_token):
        raise bad_request("secret token contains unallowed characters")
    return secret_token


async def delete_webhook(call: MethodCall) -> Any:
    """deleteWebhook: stop webhook delivery, optionally dropping pending updates."""
    bot = call.bot
    if call.params.flag("drop_pending_updates"):
        bot.updates.clear()

    if bot.webhook is None:
        return Described(True, "Webhook is already deleted")

    call.webhooks.deactivate(bot)
    bot.webhook = None
    logger.info("webhook deleted bot_id=%s", bot.bot_id)
    return Described(True, "Webhook was deleted")


async def get_webhook_info(call: MethodCall) -> Any:
    """getWebhookInfo: the webhook URL, the pending count and the last delivery error."""
    bot = call.bot
    info: dict[str, Any] = {
        "url": "",
        "has_custom_certificate": False,
        "pending_update_count": len(bot.updates.pending),
    }
    if bot.webhook is None:
        return info

    info["url"] = bot.webhook.url
    info["max_connections"] = bot.webhook.max_connections
    info["ip_address"] = "127.0.0.1"
    info["allowed_updates"] = sorted(bot.updates.allowed_types)
    if bot.webhook.last_error_date is not None:
        info["last_error_date"] = bot.webhook.last_error_date
        info["last_error_message"] = bot.webhook.last_error_message
    return info


def _commands_key(call: MethodCall) -> tuple[str, str]:
    scope = call.params.json_value("scope", "can't parse BotCommandScope JSON object")
    scope_key = json.dumps(scope or {"type": "default"}, sort_keys=True)
    return scope_key, call.params.text("language_code") or ""


async def set_my_commands(call: MethodCall) -> Any:
    """setMyCommands: store the command list for a scope and language."""
    commands = call.params.json_value("commands", "can't parse commands JSON object")
    if not isinstance(commands, list):
        raise bad_request('field "commands" must be an Array')

    for command in commands:
        _check_command(command)

    call.bot.commands[_commands_key(call)] = commands
    return True


def _check_command(command: Any) -> None:
    if not isinstance(command, dict):
        raise bad_request("BOT_COMMAND_INVALID")
    if not _COMMAND_PATTERN.fullmatch(str(command.get("command", ""))):
        raise bad_request("BOT_COMMAND_INVALID")

    # NOTE: Telegram's wording for a bad description is not documented; this one is the server's.
    description = str(command.get("description", ""))
    if not 1 <= len(description) <= 256:
        raise bad_request("command description must be 1-256 characters long")


async def get_my_commands(call: MethodCall) -> Any:
    """getMyCommands: the command list stored for a scope and language."""
    return call.bot.commands.get(_commands_key(call), [])


async def delete_my_commands(call: MethodCall) -> Any:
    """deleteMyCommands: remove the command list of a scope and language."""
    call.bot.commands.pop(_commands_key(call), None)
    return True


BOT_METHODS: dict[str, MethodHandler] = {
    "getme": get_me,
    "getupdates": get_updates,
    "setwebhook": set_webhook,
    "deletewebhook": delete_webhook,
    "getwebhookinfo": get_webhook_info,
    "setmycommands": set_my_commands,
    "getmycommands": get_my_commands,
    "deletemycommands": delete_my_commands,
}
