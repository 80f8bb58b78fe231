"""Fixtures: a local Bot API server, an aiogram Bot pointed at it, and a control client."""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bots.local_api import LocalBotApiControl, LocalBotApiServer

TOKEN = "123456789:AAtest-local_token"
USER_ID = 5001
OTHER_USER_ID = 5002


def make_png(width: int, height: int) -> bytes:
    """Build a valid grey PNG image of the given size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def make_bot(server: LocalBotApiServer, token: str = TOKEN) -> Bot:
    """Build an aiogram Bot that talks to the local server over HTTP."""
    api = TelegramAPIServer.from_base(server.base_url)
    return Bot(token, session=AiohttpSession(api=api))


@pytest.fixture
async def server() -> AsyncIterator[LocalBotApiServer]:
    async with LocalBotApiServer() as running:
        yield running


@pytest.fixture
async def bot(server: LocalBotApiServer, control: LocalBotApiControl) -> AsyncIterator[Bot]:
    """An aiogram Bot; depending on `control` makes the user USER_ID exist first."""
    client = make_bot(server)
    yield client
    await client.session.close()


@pytest.fixture
async def control(server: LocalBotApiServer) -> AsyncIterator[LocalBotApiControl]:
    async with LocalBotApiControl(server.base_url, TOKEN) as client:
        await client.create_user(USER_ID, "Wei", last_name="Zhang", username="inspector_wei")
        yield client
