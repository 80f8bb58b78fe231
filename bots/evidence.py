"""Downloading photos an inspector sends into the file store."""

import logging
from datetime import datetime
from typing import Any

from aiogram import Bot, F
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import Message

from griddispatch.errors import ValidationError
from storage.files import FileStore

log = logging.getLogger(__name__)

# A photo sent as a file, so that Telegram does not recompress it.
IMAGE_DOCUMENT = F.document.mime_type.startswith("image/")

# getFile serves files up to 20 MB (Bot API documentation, getFile).
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024


class PhotoTooLargeError(ValidationError):
    """Raised when a photo is larger than Telegram lets a bot download."""


def _file_of(message: Message) -> tuple[str, str, int | None, str]:
    """Return (file id, unique id, size, mime type) of a message's photo or image document."""
    if message.photo:
        largest = message.photo[-1]
        return largest.file_id, largest.file_unique_id, largest.file_size, "image/jpeg"
    document = message.document
    assert document is not None
    mime = document.mime_type or "application/octet-stream"
    return document.file_id, document.file_unique_id, document.file_size, mime


async def save_photo(
    bot: Bot, message: Message, files: FileStore, *, now: datetime
) -> dict[str, Any]:
    """Download the photo of `message`, store it and return its evidence record as JSON data."""
    file_id, unique_id, size, mime = _file_of(message)
    if size is not None and size > MAX_DOWNLOAD_BYTES:
        raise PhotoTooLargeError("file of {size} bytes is over the 20 MB download limit", size=size)
    try:
        downloaded = await bot.download(file_id)
    except TelegramBadRequest as exc:
        if "file is too big" in exc.message:
            raise PhotoTooLargeError(exc.message) from exc
        raise
    assert downloaded is not None
    suffix = ".jpg" if mime == "image/jpeg" else "." + mime.split("/")[-1][:8]
    stored = await files.put_stream(downloaded, suffix=suffix)
    log.info("photo stored chat=%s key=%s size=%d", message.chat.id, stored.key, stored.size_bytes)
    return {
        "telegram_file_id": file_id,
        "telegram_file_unique_id": unique_id,
        "storage_key": stored.key,
        "sha256": stored.sha256,
        "size_bytes": stored.size_bytes,
        "mime_type": mime,
        "received_at": now.isoformat(),
    }
