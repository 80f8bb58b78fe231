"""Error messages come in the language the request names, Chinese by default."""

import re
from pathlib import Path

from griddispatch.clock import ManualClock
from griddispatch.nats_server import NatsServer
from griddispatch.settings import Settings
from storage.db import Database
from tests.api.conftest import api_alone
from tests.api.support import Client

CHINESE = re.compile(r"[\u4e00-\u9fff]")


def _no_title() -> dict[str, object]:
    return {"target": {"kind": "grid", "code": "150602001001"}, "body": "请检查。"}


async def test_chinese_without_accept_language(api: Client) -> None:
    reply = await api.get("/no-such-endpoint", language=None)

    assert reply.status == 404
    assert reply.error_code == "not_found"
    assert "/api/v1/no-such-endpoint" in reply.data["error"]["message"]
    assert CHINESE.search(reply.data["error"]["message"])


async def test_english_when_requested(api: Client) -> None:
    reply = await api.get("/no-such-endpoint", language="en-GB,en;q=0.8,zh;q=0.5")

    assert reply.status == 404
    assert reply.data["error"]["message"].startswith("no endpoint at /api/v1/no-such-endpoint")


async def test_chinese_when_requested(api: Client) -> None:
    reply = await api.post("/directives", json=_no_title(), language="zh-CN,zh;q=0.9")

    assert reply.status == 422
    assert reply.data["error"]["field"] == "title"
    assert "'title'" in reply.data["error"]["message"]
    assert CHINESE.search(reply.data["error"]["message"])


async def test_deployment_locale_is_default(
    nats_server: NatsServer, db: Database, clock: ManualClock, tmp_path: Path
) -> None:
    english = Settings(data_dir=tmp_path, locale="en")
    async with api_alone(nats_server, db, clock, english) as english_api:
        reply = await english_api.post("/directives", json=_no_title(), language=None)

    assert reply.status == 422
    assert reply.data["error"]["message"] == "field 'title' is missing"
