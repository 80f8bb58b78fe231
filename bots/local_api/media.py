"""Photos, documents, stickers and locations: their bytes and Message fields."""

from __future__ import annotations

import mimetypes
import struct

from bots.local_api.models import JsonObject, StoredFile

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SIGNATURE = b"\xff\xd8"
_GIF_SIGNATURES = (b"GIF87a", b"GIF89a")

# JPEG start-of-frame markers, the segments that carry the image size.
_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}

# Placeholder bytes for sticker files; the server has no real sticker packs.
STICKER_PLACEHOLDER = b"RIFF\x0c\x00\x00\x00WEBPVP8 "


def image_type(content: bytes) -> str | None:
    """Return the MIME type of a PNG, JPEG or GIF image, or None for anything else."""
    if content.startswith(_PNG_SIGNATURE):
        return "image/png"
    if content.startswith(_JPEG_SIGNATURE):
        return "image/jpeg"
    if content.startswith(_GIF_SIGNATURES):
        return "image/gif"
    return None


def image_size(content: bytes) -> tuple[int, int] | None:
    """Read (width, height) from a PNG, JPEG or GIF header; None when it cannot be read."""
    kind = image_type(content)
    if kind == "image/png" and len(content) >= 24:
        width, height = struct.unpack(">II", content[16:24])
        return int(width), int(height)
    if kind == "image/gif" and len(content) >= 10:
        width, height = struct.unpack("<HH", content[6:10])
        return int(width), int(height)
    if kind == "image/jpeg":
        return _jpeg_size(content)
    return None


def _jpeg_size(content: bytes) -> tuple[int, int] | None:
    index = 2
    while index + 9 <= len(content):
        if content[index] != 0xFF:
            return None

        marker = content[index + 1]
        (segment_length,) = struct.unpack(">H", content[index + 2 : index + 4])
        if marker in _JPEG_FRAME_MARKERS:
            height, width = struct.unpack(">HH", content[index + 5 : index + 9])
            return int(width), int(height)

        index += 2 + segment_length
    return None


def guess_mime_type(file_name: str | None, declared: str | None, content: bytes) -> str:
    """Choose a document's MIME type: from its name, then its declared type, then its bytes."""
    guessed = mimetypes.guess_type(file_name)[0] if file_name else None
    if guessed:
        return guessed
    if declared and declared != "application/octet-stream":
        return declared
    return image_type(content) or "application/octet-stream"


def extension_for(mime_type: str, file_name: str | None) -> str:
    """Return the file extension for a download path, with its dot."""
    if file_name and "." in file_name:
        return "." + file_name.rsplit(".", 1)[1].lower()
    return mimetypes.guess_extension(mime_type) or ""


def photo_sizes(stored: StoredFile, size: tuple[int, int]) -> list[JsonObject]:
    """Build the PhotoSize list of a photo.

    NOTE: Telegram returns several sizes (thumbnails first, the original last);
    this server returns only the original, so code must take the last entry.
    """
    width, height = size
    return [
        {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": width,
            "height": height,
            "file_size": len(stored.content),
        }
    ]


def document_json(stored: StoredFile) -> JsonObject:
    """Build the Document object."""
    document: JsonObject = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": len(stored.content),
    }
    if stored.file_name:
        document["file_name"] = stored.file_name
    if stored.mime_type:
        document["mime_type"] = stored.mime_type
    return document


def sticker_json(stored: StoredFile, emoji: str) -> JsonObject:
    """Build the Sticker object of a regular static sticker."""
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "emoji": emoji,
        "file_size": len(stored.content),
    }


def location_json(latitude: float, longitude: float) -> JsonObject:
    """Build the Location object."""
    return {"latitude": latitude, "longitude": longitude}
