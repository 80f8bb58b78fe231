"""Directives over HTTP: issued, dispatched into tasks, shown, cancelled, rate limited."""

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from storage.api_tokens.service import create_token
from storage.outbox.models import OutboxMessage
from storage.tasks.models import TaskEvent
from tests.api.support import Client
from tests.harness.loop import Loop

# 交通街道第1网格: inspectors JG0010 to JG0013.
GRID = "150602001001"
GRID_INSPECTORS = ["JG0010", "JG0011", "JG0012", "JG0013"]
TOWNSHIP = "150602001"
TITLE = "开展春季农药经营门店专项检查"
ONE_MB = 1024 * 1024


def _directive(message_id: str | None = None, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "target": {"kind": "grid", "code": GRID},
        "title": TITLE,
        "body": "请于本周内完成检查",
        "ack_within": "30m",
    }
    if message_id is not None:
        body["message_id"] = message_id
    body.update(changes)
    return body


async def test_issue_directive_creates_tasks(loop: Loop, loop_api: Client) -> None:
    reply = await loop_api.post("/directives", json=_directive())

    assert reply.status == 202
    message_id = reply.data["message_id"]
    assert message_id.startswith("api-")
    assert reply.headers["Location"] == f"/api/v1/directives/{message_id}"
    assert reply.data["location"] == reply.headers["Location"]
    assert reply.data["duplicate"] is False
    tasks = await loop.tasks_of_directive(message_id, len(GRID_INSPECTORS))

    detail = await loop_api.get(f"/directives/{message_id}")

    assert detail.status == 200
    assert detail.data["title"] == TITLE
    assert detail.data["target"] == {"kind": "grid", "code": GRID}
    assert detail.data["issued_by"] == "api:centre"
    assert [task["id"] for task in detail.data["tasks"]] == [task.id for task in tasks]
    assert [task["inspector"]["code"] for task in detail.data["tasks"]] == GRID_INSPECTORS
    assert {task["state"] for task in detail.data["tasks"]} == {"new"}


async def test_same_message_id_creates_tasks_once(loop: Loop, loop_api: Client) -> None:
    first = await loop_api.post("/directives", json=_directive("cc-2026-0001"))
    second = await loop_api.post("/directives", json=_directive("cc-2026-0001"))

    assert (first.status, second.status) == (202, 202)
    assert first.data["duplicate"] is False
    assert second.data["duplicate"] is True
    assert second.data["stream_sequence"] == first.data["stream_sequence"]
    await loop.tasks_of_directive("cc-2026-0001", len(GRID_INSPECTORS))
    listed = await loop_api.get("/directives")
    assert [item["message_id"] for item in listed.data["items"]] == ["cc-2026-0001"]
    assert listed.data["total"] == 1


async def test_directive_list_is_newest_first(loop: Loop, loop_api: Client) -> None:
    for number in range(3):
        reply = await loop_api.post("/directives", json=_directive(f"cc-list-{number}"))
        assert reply.status == 202
        await loop.tasks_of_directive(f"cc-list-{number}", len(GRID_INSPECTORS))

    page = await loop_api.get("/directives", params={"limit": "2", "offset": "0"})
    rest = await loop_api.get("/directives", params={"limit": "2", "offset": "2"})

    assert [item["message_id"] for item in page.data["items"]] == ["cc-list-2", "cc-list-1"]
    assert [item["message_id"] for item in rest.data["items"]] == ["cc-list-0"]
    assert page.data["total"] == rest.data["total"] == 3


async def test_cancel_directive_cancels_open_tasks(loop: Loop, loop_api: Client) -> None:
    first = await loop.inspector(GRID_INSPECTORS[0])
    user = await loop.bind(first)
    reply = await loop_api.post("/directives", json=_directive("cc-cancel"))
    assert reply.status == 202
    tasks = await loop.tasks_of_directive("cc-cancel", len(GRID_INSPECTORS))
    card = await loop.chats.receives(user, TITLE, "待签收")

    cancelled = await loop_api.post(
        "/directives/cc-cancel/cancel", json={"reason": "任务调整，改期执行"}
    )

    assert cancelled.status == 200
    assert cancelled.data["cancelled_task_ids"] == [task.id for task in tasks]
    assert cancelled.data["untouched_task_ids"] == []
    detail = await loop_api.get("/directives/cc-cancel")
    assert {task["state"] for task in detail.data["tasks"]} == {"cancelled"}
    for task in tasks:
        assert "cancelled" in await loop.trail_kinds(task.id)
    async with loop.db.reading() as session:
        events = list(await session.scalars(select(TaskEvent).where(TaskEvent.kind == "cancelled")))
        outbox = list(await session.scalars(select(OutboxMessage)))
    assert {event.actor for event in events} == {"api:centre"}
    assert {event.detail["reason"] for event in events} == {"任务调整，改期执行"}
    updated = {
        row.payload["task_id"]
        for row in outbox
        if row.subject.startswith("gd.notify.") and row.payload["kind"] == "task_updated"
    }
    assert updated == {task.id for task in tasks}
    await loop.chats.message_becomes(user, card.message_id, "已撤销")


async def test_second_cancel_changes_nothing(loop: Loop, loop_api: Client) -> None:
    await loop_api.post("/directives", json=_directive("cc-twice"))
    tasks = await loop.tasks_of_directive("cc-twice", len(GRID_INSPECTORS))
    await loop_api.post("/directives/cc-twice/cancel")

    again = await loop_api.post("/directives/cc-twice/cancel")

    assert again.status == 200
    assert again.data["cancelled_task_ids"] == []
    assert again.data["untouched_task_ids"] == [task.id for task in tasks]
    for task in tasks:
        assert (await loop.trail_kinds(task.id)).count("cancelled") == 1


async def test_cancel_unknown_directive_is_404(loop_api: Client) -> None:
    reply = await loop_api.post("/directives/no-such-directive/cancel")

    assert reply.status == 404
    assert reply.error_code == "not_found"
    assert "no-such-directive" in reply.data["error"]["message"]


@pytest.mark.parametrize(
    ("target", "status", "code"),
    [
        ({"kind": "grid", "code": "150602999999"}, 404, "target_not_found"),
        ({"kind": "inspector", "code": "JG9999"}, 404, "target_not_found"),
        ({"kind": "grid", "code": TOWNSHIP}, 422, "target_unassignable"),
    ],
)
async def test_target_checked_against_registry(
    loop: Loop, loop_api: Client, target: dict[str, str], status: int, code: str
) -> None:
    reply = await loop_api.post("/directives", json=_directive("cc-target", target=target))

    assert reply.status == status
    assert reply.error_code == code
    assert reply.data["error"]["field"] == "target.code"
    assert target["code"] in reply.data["error"]["message"]
    assert ("not found" in reply.data["error"]["message"]) == (status == 404)
    assert await loop.stream_count("GD_INBOUND") == 0


async def test_township_as_grid_named_in_chinese(loop_api: Client) -> None:
    target = {"kind": "grid", "code": TOWNSHIP}

    reply = await loop_api.post(
        "/directives", json=_directive("cc-township", target=target), language="zh-CN"
    )

    assert reply.status == 422
    assert reply.data["error"]["message"].startswith(f"'{TOWNSHIP}' 是乡镇，不是网格")


async def test_invalid_json_is_400(loop_api: Client) -> None:
    reply = await loop_api.post(
        "/directives",
        data=b'{"title": "x",',
        headers={"Content-Type": "application/json"},
    )

    assert reply.status == 400
    assert reply.error_code == "invalid_json"
    assert "not valid JSON" in reply.data["error"]["message"]
    assert "line 1" in reply.data["error"]["message"]


async def test_missing_field_is_422_naming_it(loop_api: Client) -> None:
    body = _directive()
    del body["title"]

    reply = await loop_api.post("/directives", json=body)

    assert reply.status == 422
    assert reply.error_code == "validation_failed"
    assert reply.data["error"]["field"] == "title"
    assert "'title' is missing" in reply.data["error"]["message"]


async def test_invalid_nested_field_is_named(loop_api: Client) -> None:
    reply = await loop_api.post(
        "/directives", json=_directive(target={"kind": "village", "code": GRID})
    )

    assert reply.status == 422
    assert reply.data["error"]["field"] == "target.kind"


async def test_oversized_body_is_413(loop_api: Client) -> None:
    body = json.dumps(_directive(body="x" * ONE_MB)).encode()

    reply = await loop_api.post(
        "/directives", data=body, headers={"Content-Type": "application/json"}
    )

    assert reply.status == 413
    assert reply.error_code == "payload_too_large"
    assert str(ONE_MB) in reply.data["error"]["message"]


async def test_oversized_chunked_body_is_413(loop_api: Client) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"title": "'
        for _ in range(ONE_MB // 4096 + 1):
            yield b"x" * 4096
        yield b'"}'

    reply = await loop_api.post(
        "/directives", data=chunks(), headers={"Content-Type": "application/json"}
    )

    assert reply.status == 413
    assert reply.error_code == "payload_too_large"
    assert str(ONE_MB) in reply.data["error"]["message"]


async def test_other_content_type_is_415(loop_api: Client) -> None:
    reply = await loop_api.post(
        "/directives", data=b"title=x", headers={"Content-Type": "text/plain"}
    )

    assert reply.status == 415
    assert reply.error_code == "unsupported_media_type"


async def test_rate_limit_keeps_accepted_requests(loop: Loop, loop_api: Client) -> None:
    _, token = await create_token(loop.db, "limited", ["command_centre"], rate_per_s=0.2, burst=3)
    loop_api.tokens["limited"] = token

    replies = [
        await loop_api.post("/directives", json=_directive(f"cc-rate-{n}"), token="limited")
        for n in range(5)
    ]

    assert [reply.status for reply in replies] == [202, 202, 202, 429, 429]
    limited = replies[3]
    assert limited.error_code == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 5
    for number in range(3):
        await loop.tasks_of_directive(f"cc-rate-{number}", len(GRID_INSPECTORS))
    # Nothing of a rejected request reached JetStream, so no task will ever appear for it.
    assert await loop.stream_count("GD_INBOUND") == 3
    other = await loop_api.post("/directives", json=_directive("cc-rate-other"))
    assert other.status == 202


async def test_rate_limit_refills(loop: Loop, loop_api: Client) -> None:
    _, token = await create_token(loop.db, "refill", ["read_only"], rate_per_s=5.0, burst=1)
    loop_api.tokens["refill"] = token

    first = await loop_api.get("/directives", token="refill")
    second = await loop_api.get("/directives", token="refill")
    await asyncio.sleep(0.3)
    third = await loop_api.get("/directives", token="refill")

    assert [first.status, second.status, third.status] == [200, 429, 200]
