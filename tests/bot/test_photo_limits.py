"""Photos over Telegram's 20 MB download limit, and 照片已发完 before any photo."""

import struct
import zlib

from tests.bot.support import (
    GRID_INSPECTORS,
    acknowledge,
    answer_to,
    bind_codes,
    directive_for,
    drafts,
    open_draft_at_photos,
)
from tests.harness.images import png
from tests.harness.loop import Loop

# getFile serves files up to 20 MB (Bot API documentation, getFile).
DOWNLOAD_LIMIT_BYTES = 20 * 1024 * 1024
TOO_LARGE = (
    "该文件超过 Telegram 20 MB 的下载上限。请发送较小的照片，或改为以照片（而非文件）形式发送。"
)


def _padded_png(size: int) -> bytes:
    """Return a valid PNG of at least `size` bytes, padded with a tEXt comment chunk."""
    image = png()
    comment = b"Comment\x00" + b"x" * size
    body = b"tEXt" + comment
    chunk = (
        struct.pack(">I", len(comment)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    )
    # The comment chunk goes after the signature (8 bytes) and the IHDR chunk (25 bytes).
    return image[:33] + chunk + image[33:]


async def _photo_prompt(loop: Loop, message_id: str) -> tuple[int, int]:
    """Open a draft up to the photo step and return (user id, prompt message id)."""
    inspector, user = (await bind_codes(loop, GRID_INSPECTORS[0]))[GRID_INSPECTORS[0]]
    await directive_for(loop, inspector, message_id, f"照片 {message_id}")
    card = await acknowledge(loop, user, await loop.chats.receives(user, message_id))
    prompt = await open_draft_at_photos(loop, user, card, "总体良好")
    return user, prompt.message_id


async def test_file_over_20_mb_is_refused(loop: Loop) -> None:
    user, prompt = await _photo_prompt(loop, "large-file")
    large = _padded_png(DOWNLOAD_LIMIT_BYTES + 1024)

    await loop.control.send_photo(user, large, as_document=True, file_name="现场.png")
    refused = await loop.chats.receives(user, "20 MB")
    await loop.control.send_photo(user, png())
    accepted = await loop.chats.receives(user, "张照片")
    await loop.control.tap(user, prompt, button_text="照片已发完")
    await loop.chats.receives(user, "发送您的位置")

    assert len(large) > DOWNLOAD_LIMIT_BYTES
    assert refused.text == TOO_LARGE
    assert accepted.text == "已收到第 1 张照片。"
    stored = await drafts(loop)
    assert len(stored) == 1
    assert len(stored[0].data["photos"]) == 1
    assert stored[0].data["photos"][0]["size_bytes"] == len(png())
    assert await loop.bot.files.exists(stored[0].data["photos"][0]["storage_key"])


async def test_photos_done_needs_a_photo(loop: Loop) -> None:
    user, prompt = await _photo_prompt(loop, "no-photo")

    tap = await loop.control.tap(user, prompt, button_text="照片已发完")
    answer = await answer_to(loop, user, tap)

    assert answer.text == "请至少发送一张照片。"
    assert answer.show_alert
    stored = await drafts(loop)
    assert stored[0].state == "Submit:photos"
    assert stored[0].data["photos_done"] is False
    await loop.chats.assert_no_unexpected([user])
