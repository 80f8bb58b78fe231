"""The bot's Telegram update consumer fed malformed and hostile updates.

Updates go straight onto `gd.telegram.update.<bot id>`, as the poller or the
webhook would store them, while the whole loop runs. An update that is not a
valid Telegram Update must be dead-lettered with a reason. A valid one,
however odd its text, must be handled and acked. Afterwards nothing is
pending, no error was logged, and a /start sent after the batch still gets
its reply.
"""

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiogram.types import Update
from hypothesis import strategies as st

from griddispatch import subjects
from tests.fuzz.payloads import HUGE_MAX, Hostile, edge_text, hostile_messages
from tests.fuzz.support import (
    SETTLE_TIMEOUT_S,
    SHORT_BATCH,
    SOAK_BATCH,
    SOAK_SETTLE_TIMEOUT_S,
    Published,
    dead_letters,
    describe,
    draw,
    logged_errors,
    publish_all,
    wait_settled,
)
from tests.harness.loop import Loop, running_loop, wait_for

USER_ID = 5_900_000_001
UPDATE_ID_BASE = 900_000


@pytest.fixture
async def loop(database_url: str, tmp_path: Path) -> AsyncIterator[Loop]:
    async with running_loop(database_url, tmp_path, example_registry=False) as running:
        await running.control.create_user(USER_ID, "模糊测试")
        yield running


def _update(text: str = "/tasks", update_id: int = UPDATE_ID_BASE) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_772_420_000,
            "chat": {"id": USER_ID, "type": "private", "first_name": "模糊测试"},
            "from": {"id": USER_ID, "is_bot": False, "first_name": "模糊测试"},
            "text": text,
        },
    }


def _with_text(text: str) -> Hostile:
    body = json.dumps(_update(text), ensure_ascii=False).encode()
    return Hostile("odd text", body, certainly_invalid=False)


ODD_TEXTS = st.one_of(
    edge_text.map(_with_text),
    edge_text.map(lambda text: _with_text("/start " + text)),
    st.integers(min_value=4097, max_value=HUGE_MAX).map(lambda size: _with_text("字" * size)),
)
UPDATES = st.one_of(
    hostile_messages(
        _update,
        required=["update_id"],
        string_fields=["update_id", "message"],
        text_fields=["message"],
    ),
    ODD_TEXTS,
)


def _is_update(body: bytes) -> bool:
    try:
        Update.model_validate_json(body)
    except ValueError:
        return False
    return True


async def _fuzz(
    loop: Loop, count: int, settle_timeout_s: float
) -> tuple[list[Published], dict[int, Any]]:
    subject = subjects.telegram_update_subject(loop.bot.bot.id)
    published = await publish_all(loop.js, subject, draw(UPDATES, count), prefix="fuzz-update")
    await wait_settled(
        loop.js,
        subjects.TELEGRAM_UPDATES_STREAM,
        subjects.TELEGRAM_UPDATE_CONSUMER,
        timeout_s=settle_timeout_s,
    )
    return published, await dead_letters(loop.js, subjects.TELEGRAM_UPDATE_CONSUMER)


async def _start_still_answered(loop: Loop) -> None:
    before = len(await loop.control.messages(USER_ID))
    await loop.js.publish(
        subjects.telegram_update_subject(loop.bot.bot.id),
        json.dumps(_update("/start", UPDATE_ID_BASE - 1)).encode(),
        headers={"Nats-Msg-Id": "after-the-fuzz"},
    )

    async def answered() -> bool:
        return len(await loop.control.messages(USER_ID)) > before

    await wait_for(answered, "the reply to /start sent after the fuzz batch")


async def _run(
    loop: Loop, count: int, caplog: pytest.LogCaptureFixture, settle_timeout_s: float
) -> None:
    published, letters = await _fuzz(loop, count, settle_timeout_s)

    for item in published:
        letter = letters.get(item.sequence)
        if _is_update(item.message.body):
            assert letter is None, f"valid update dead-lettered ({letter}): {describe(item)}"
        else:
            assert letter is not None, f"invalid update not dead-lettered: {describe(item)}"
            assert letter.reason.startswith("invalid Telegram update"), describe(item)
    await _start_still_answered(loop)
    assert logged_errors(caplog.records) == []


async def test_update_consumer_survives_fuzz(loop: Loop, caplog: pytest.LogCaptureFixture) -> None:
    await _run(loop, SHORT_BATCH, caplog, SETTLE_TIMEOUT_S)


@pytest.mark.soak
async def test_update_consumer_survives_long_fuzz(
    loop: Loop, caplog: pytest.LogCaptureFixture
) -> None:
    # Every valid update gets a reply, and the bot sends about 30 a second.
    await _run(loop, SOAK_BATCH, caplog, SOAK_SETTLE_TIMEOUT_S)
