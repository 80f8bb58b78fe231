"""Files: uploads by the bot, photos from users, getFile and download."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramEntityTooLarge
from aiogram.types import BufferedInputFile

from bots.local_api import LocalBotApiControl
from tests.local_api.conftest import USER_ID, make_png


async def test_photo_upload_round_trip(
    bot: Bot, control: LocalBotApiControl, tmp_path: Path
) -> None:
    image = make_png(64, 48)

    sent = await bot.send_photo(
        USER_ID, BufferedInputFile(image, filename="site.png"), caption="Site photo"
    )
    assert sent.photo is not None
    largest = sent.photo[-1]
    file = await bot.get_file(largest.file_id)
    assert file.file_path is not None
    destination = tmp_path / "photo.png"
    await bot.download_file(file.file_path, destination)

    assert (largest.width, largest.height) == (64, 48)
    assert sent.caption == "Site photo"
    assert destination.read_bytes() == image
    message = (await control.messages(USER_ID))[0]
    assert message.kind == "photo"
    assert message.text == "Site photo"
    assert message.file_ids == [largest.file_id]


async def test_document_upload_round_trip(
    bot: Bot, control: LocalBotApiControl, tmp_path: Path
) -> None:
    content = "样品编号,结果\nA-1,合格\n".encode()

    sent = await bot.send_document(USER_ID, BufferedInputFile(content, filename="report.csv"))
    assert sent.document is not None
    destination = tmp_path / "report.csv"
    await bot.download(sent.document.file_id, destination)

    assert sent.document.file_name == "report.csv"
    assert sent.document.mime_type == "text/csv"
    assert destination.read_bytes() == content


async def test_file_id_resend_reuses_bytes(bot: Bot, control: LocalBotApiControl) -> None:
    first = await bot.send_document(USER_ID, BufferedInputFile(b"%PDF-1.4", filename="a.pdf"))
    assert first.document is not None

    second = await bot.send_document(USER_ID, first.document.file_id)

    assert second.document is not None
    assert second.document.file_unique_id == first.document.file_unique_id


async def test_non_image_photo_rejected(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(USER_ID, BufferedInputFile(b"not an image", filename="x.jpg"))


async def test_unknown_file_id_rejected(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_photo(USER_ID, "no-such-file-id")


async def test_long_caption_rejected(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(
            USER_ID, BufferedInputFile(make_png(2, 2), filename="x.png"), caption="c" * 1025
        )


async def test_user_photo_downloaded_by_bot(
    bot: Bot, control: LocalBotApiControl, tmp_path: Path
) -> None:
    image = make_png(40, 30)
    await control.send_photo(USER_ID, image, caption="Sample bag 7")

    updates = await bot.get_updates()
    message = updates[0].message
    assert message is not None and message.photo is not None
    destination = tmp_path / "from_user.png"
    await bot.download(message.photo[-1].file_id, destination)

    assert message.caption == "Sample bag 7"
    assert (message.photo[-1].width, message.photo[-1].height) == (40, 30)
    assert destination.read_bytes() == image


async def test_user_photo_as_document(bot: Bot, control: LocalBotApiControl) -> None:
    image = make_png(8, 8)
    await control.send_photo(USER_ID, image, as_document=True, file_name="IMG_2001.png")

    updates = await bot.get_updates()
    message = updates[0].message

    assert message is not None
    assert message.photo is None
    assert message.document is not None
    assert message.document.mime_type == "image/png"
    assert message.document.file_name == "IMG_2001.png"
    downloaded = await bot.download(message.document.file_id)
    assert downloaded is not None
    assert downloaded.read() == image


async def test_file_over_20_mb_too_big(bot: Bot) -> None:
    content = b"\0" * (20 * 1024 * 1024 + 1)
    sent = await bot.send_document(USER_ID, BufferedInputFile(content, filename="big.bin"))
    assert sent.document is not None

    with pytest.raises(TelegramBadRequest, match="file is too big"):
        await bot.get_file(sent.document.file_id)


async def test_unknown_file_path_not_found(bot: Bot) -> None:
    with pytest.raises(aiohttp.ClientResponseError) as caught:
        await bot.download_file("photos/file_404.png")

    assert caught.value.status == 404


async def test_upload_over_50_mb_rejected(bot: Bot, control: LocalBotApiControl) -> None:
    content = b"\0" * (50 * 1024 * 1024 + 1)

    with pytest.raises(TelegramEntityTooLarge):
        await bot.send_document(USER_ID, BufferedInputFile(content, filename="huge.bin"))

    assert await control.messages(USER_ID) == []
