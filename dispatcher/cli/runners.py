"""Subcommands that run components or talk to the local Bot API server.

They import the bot framework, which takes seconds, so the command line
loads this module only for them.
"""

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from bots.local_api.client import LocalBotApiControl, SentMessage
from dispatcher.cli.commands import database
from dispatcher.up import run_component, run_up
from griddispatch.errors import InfrastructureError, NotFoundError, ValidationError
from griddispatch.i18n import Translator
from griddispatch.settings import LOCAL_BOT_TOKEN, Settings
from storage.registry.queries import inspector_by_code


async def _local_chat_id(settings: Settings, inspector_code: str) -> int:
    async with database(settings) as db, db.reading() as session:
        inspector = await inspector_by_code(session, inspector_code)
    if inspector is None:
        raise NotFoundError(
            "inspector {code!r} not found; check the staff code", code=inspector_code
        )
    if inspector.telegram_chat_id is None:
        raise NotFoundError("inspector {code!r} is not bound to Telegram", code=inspector_code)
    return inspector.telegram_chat_id


_JPEG_START = b"\xff\xd8\xff"
_PNG_START = b"\x89PNG\r\n\x1a\n"


def _local_api_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.bot_api_port}"


def _unreachable(settings: Settings, exc: aiohttp.ClientError) -> InfrastructureError:
    return InfrastructureError(
        "the local Bot API server at {url} cannot be reached ({error}); "
        "start it with `griddispatch up` (it runs when TELEGRAM_BOT_TOKEN is not set)",
        url=_local_api_url(settings),
        error=exc,
    )


async def show_chat(settings: Settings, args: argparse.Namespace, _: Translator) -> int:
    """Print the bot's messages in an inspector's chat on the local Bot API server."""
    chat_id = await _local_chat_id(settings, args.inspector)
    async with _control(settings) as control:
        messages = await control.messages(chat_id)
    for message in messages:
        buttons = " ".join(f"[{text}]" for row in message.buttons for text, _data in row)
        print(_("--- message {id} {buttons}", id=message.message_id, buttons=buttons))
        print(message.text or "")
    print(_("{count} messages", count=len(messages)))
    return 0


async def tap_button(settings: Settings, args: argparse.Namespace, _: Translator) -> int:
    """Tap an inline button in an inspector's chat on the local Bot API server."""
    chat_id = await _local_chat_id(settings, args.inspector)
    # In a private chat the chat id is the user's id.
    user_id = chat_id
    async with _control(settings) as control:
        messages = await control.messages(chat_id)
        _require_button(messages, args)
        await control.tap(user_id, args.message_id, button_text=args.button)
    print(_("Tapped {button}.", button=args.button))
    return 0


def _require_button(messages: list[SentMessage], args: argparse.Namespace) -> None:
    """Raise an error naming the inspector when the message or its button is not in the chat."""
    by_id = {message.message_id: message for message in messages}
    message = by_id.get(args.message_id)
    if message is None:
        raise NotFoundError(
            "message {message_id} not found in the chat of {inspector}; run "
            "`griddispatch chat show {inspector}` to see the message ids and their buttons",
            message_id=args.message_id,
            inspector=args.inspector,
        )
    labels = [text for row in message.buttons for text, data in row if data is not None]
    if args.button not in labels:
        raise ValidationError(
            "message {message_id} has no button {button!r}; its buttons are {labels}",
            message_id=args.message_id,
            button=args.button,
            labels=" ".join(f"[{label}]" for label in labels) or "-",
        )


async def say_text(settings: Settings, args: argparse.Namespace, _: Translator) -> int:
    """Send text as an inspector in their chat on the local Bot API server."""
    user_id = await _local_chat_id(settings, args.inspector)
    async with _control(settings) as control:
        sent = await control.send_text(user_id, args.text)
    print(_("Sent as message {id}.", id=sent.message_id))
    return 0


async def send_photo(settings: Settings, args: argparse.Namespace, _: Translator) -> int:
    """Send a photo from a file as an inspector on the local Bot API server."""
    content = _image_file(args.file)
    user_id = await _local_chat_id(settings, args.inspector)
    async with _control(settings) as control:
        sent = await control.send_photo(
            user_id, content, file_name=args.file.name, caption=args.caption
        )
    print(_("Sent as message {id}.", id=sent.message_id))
    return 0


async def share_location(settings: Settings, args: argparse.Namespace, _: Translator) -> int:
    """Share a location as an inspector on the local Bot API server."""
    _check_coordinates(args.longitude, args.latitude)
    user_id = await _local_chat_id(settings, args.inspector)
    async with _control(settings) as control:
        sent = await control.send_location(user_id, args.latitude, args.longitude)
    print(_("Sent as message {id}.", id=sent.message_id))
    return 0


@asynccontextmanager
async def _control(settings: Settings) -> AsyncIterator[LocalBotApiControl]:
    """Open the local Bot API server's control client, naming the server if it is not running."""
    try:
        async with LocalBotApiControl(_local_api_url(settings), LOCAL_BOT_TOKEN) as control:
            yield control
    except aiohttp.ClientError as exc:
        raise _unreachable(settings, exc) from exc


def _image_file(path: Path) -> bytes:
    """Return the bytes of a JPEG or PNG file, or raise ValidationError saying what is wrong."""
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ValidationError(
            "cannot read photo file {path!r}: {reason}; check the path",
            path=str(path),
            reason=exc.strerror,
        ) from exc
    if not content.startswith((_JPEG_START, _PNG_START)):
        raise ValidationError(
            "photo file {path!r} is not a JPEG or PNG image; send a .jpg or .png file",
            path=str(path),
        )
    return content


def _check_coordinates(longitude: float, latitude: float) -> None:
    if not (-180 <= longitude <= 180 and -90 <= latitude <= 90):
        raise ValidationError(
            "location {longitude},{latitude} is out of range; give --longitude from -180 to "
            "180 and --latitude from -90 to 90, in WGS-84 degrees",
            longitude=longitude,
            latitude=latitude,
        )


async def up(settings: Settings, args: argparse.Namespace, _: Translator) -> int:
    """Run everything until interrupted."""
    await run_up(settings)
    return 0


async def component(settings: Settings, args: argparse.Namespace, _: Translator) -> int:
    """Run one component in this process."""
    await run_component(settings, args.command)
    return 0
