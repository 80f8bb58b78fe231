"""Update ids go on rising when the local server restarts with its id file, as Telegram's do."""

from pathlib import Path

import pytest

from bots.local_api.client import LocalBotApiControl
from bots.local_api.server import LocalBotApiServer
from bots.local_api.update_ids import FIRST_UPDATE_ID
from tests.local_api.conftest import TOKEN, USER_ID


async def _send_twice(update_ids_file: Path | None) -> list[int | None]:
    """Start a server, have a user send two messages, stop it; return their update ids."""
    server = LocalBotApiServer(update_ids_file=update_ids_file)
    await server.start()
    try:
        async with LocalBotApiControl(server.base_url, TOKEN) as control:
            await control.create_user(USER_ID, "Wei")
            sent = [await control.send_text(USER_ID, text) for text in ("一", "二")]
    finally:
        await server.stop()
    return [message.update_id for message in sent]


async def test_restart_continues_update_ids(tmp_path: Path) -> None:
    update_ids_file = tmp_path / "state" / "update-ids.json"

    first_run = await _send_twice(update_ids_file)
    second_run = await _send_twice(update_ids_file)

    assert first_run == [FIRST_UPDATE_ID, FIRST_UPDATE_ID + 1]
    assert second_run == [FIRST_UPDATE_ID + 2, FIRST_UPDATE_ID + 3]


async def test_without_file_ids_start_over() -> None:
    assert await _send_twice(None) == await _send_twice(None)


async def test_unreadable_file_names_itself(tmp_path: Path) -> None:
    update_ids_file = tmp_path / "update-ids.json"
    update_ids_file.write_text("not json")

    with pytest.raises(ValueError, match=r"update-ids\.json") as raised:
        LocalBotApiServer(update_ids_file=update_ids_file)

    assert "delete it" in str(raised.value)
