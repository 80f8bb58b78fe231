"""Webhook mode: the secret header is checked and a re-posted update is handled once."""

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from bots.app import WebhookConfig
from bots.webhook import SECRET_HEADER, WEBHOOK_PATH
from griddispatch.nats_server import free_port
from storage.registry.models import Inspector
from storage.registry.service import create_invite
from tests.harness.loop import Loop, running_loop, wait_for

SECRET = "webhook-secret_42"


@pytest.fixture
async def hook() -> WebhookConfig:
    port = free_port()
    return WebhookConfig(
        url=f"http://127.0.0.1:{port}{WEBHOOK_PATH}", secret=SECRET, host="127.0.0.1", port=port
    )


@pytest.fixture
async def loop(database_url: str, tmp_path: Path, hook: WebhookConfig) -> AsyncIterator[Loop]:
    async with running_loop(database_url, tmp_path, webhook=hook) as running:
        yield running


async def _first_inspector(loop: Loop) -> Inspector:
    async with loop.db.reading() as session:
        inspector = await session.scalar(select(Inspector).order_by(Inspector.id).limit(1))
    assert inspector is not None
    return inspector


async def test_webhook_binds_inspector(loop: Loop) -> None:
    inspector = await _first_inspector(loop)

    user_id = await loop.bind(inspector)

    async with loop.db.reading() as session:
        bound = await session.get(Inspector, inspector.id)
    assert bound is not None
    assert bound.telegram_user_id == user_id


def _start_update(update_id: int, user_id: int, code: str) -> dict[str, object]:
    text = f"/start {code}"
    return {
        "update_id": update_id,
        "message": {
            "message_id": 7,
            "date": 1_772_000_000,
            "chat": {"id": user_id, "type": "private", "first_name": "测试"},
            "from": {"id": user_id, "is_bot": False, "first_name": "测试"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }


async def _post(url: str, body: dict[str, object], secret: str) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url,
            data=json.dumps(body),
            headers={SECRET_HEADER: secret, "Content-Type": "application/json"},
        ) as response,
    ):
        return response.status


async def test_wrong_secret_is_refused(loop: Loop, hook: WebhookConfig) -> None:
    inspector = await _first_inspector(loop)
    invite = await create_invite(loop.db, inspector.code, now=loop.clock.now())
    await loop.control.create_user(900_001, "测试")

    status = await _post(hook.url, _start_update(77, 900_001, invite.code), "wrong-secret")

    assert status == 401
    async with loop.db.reading() as session:
        bound = await session.get(Inspector, inspector.id)
    assert bound is not None
    assert bound.telegram_user_id is None


async def test_reposted_update_is_handled_once(loop: Loop, hook: WebhookConfig) -> None:
    inspector = await _first_inspector(loop)
    invite = await create_invite(loop.db, inspector.code, now=loop.clock.now())
    await loop.control.create_user(900_002, "测试")
    update = _start_update(88, 900_002, invite.code)

    first = await _post(hook.url, update, SECRET)
    second = await _post(hook.url, update, SECRET)

    assert first == 200
    assert second == 200
    await loop.chats.receives(900_002, inspector.code)

    async def replies() -> int:
        return len(await loop.control.messages(900_002))

    # A second handling would answer that the invite code is already used; give it time to.
    await wait_for(replies, "the binding reply")
    await asyncio.sleep(1.0)
    assert await replies() == 1
    await loop.chats.assert_no_unexpected([900_002])
