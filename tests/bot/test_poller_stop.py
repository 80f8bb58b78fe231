"""The update poller stops at once, even with a long poll in flight, and loses no update."""

import asyncio
from pathlib import Path

import pytest

from bots.app import create_bot
from bots.local_api.client import LocalBotApiControl
from bots.local_api.server import LocalBotApiServer
from bots.updates import UpdatePoller
from griddispatch import subjects
from griddispatch.nats_connection import connect
from griddispatch.nats_server import NatsServer, free_port
from griddispatch.settings import LOCAL_BOT_TOKEN
from griddispatch.streams import ensure_streams

USER_ID = 5_000_000_001
LONG_POLL_S = 30


async def test_poller_stops_during_long_poll(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = NatsServer(port=free_port(), store_dir=tmp_path / "jetstream")
    await server.start()
    api = LocalBotApiServer()
    await api.start()
    bot = create_bot(LOCAL_BOT_TOKEN, api.base_url)
    control = LocalBotApiControl(api.base_url, LOCAL_BOT_TOKEN)
    client = await connect(server.url, name="test")
    try:
        js = client.jetstream()
        await ensure_streams(js)
        poller = UpdatePoller(bot, js, poll_timeout_s=LONG_POLL_S)
        poller.start()
        await asyncio.sleep(0.5)

        # Bounded far below the long poll, so only a poller that cancels its poll passes.
        await asyncio.wait_for(poller.stop(), timeout=LONG_POLL_S / 3)

        assert "did not stop" not in caplog.text
        await control.create_user(USER_ID, "监管员")
        await control.send_text(USER_ID, "/start")
        again = UpdatePoller(bot, js, poll_timeout_s=1)
        assert await again.poll_once() == 1
        stored = await js.stream_info(subjects.TELEGRAM_UPDATES_STREAM)
        assert stored.state.messages == 1
    finally:
        await client.close()
        await control.close()
        await bot.session.close()
        await api.stop()
        await server.stop()
