"""Delivery guarantees on the real loop: de-duplication, dead letters, forged taps, crashes."""

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bots.callbacks import TaskButton, TaskCallback
from griddispatch import subjects
from storage.directives.service import Accepted, accept_directive
from storage.leads.models import Lead
from storage.registry.models import Inspector, Subject
from storage.tasks.models import Task, TaskEvent
from tests.harness.loop import Loop, running_loop, wait_for


@pytest.fixture
async def loop(database_url: str, tmp_path: Path) -> AsyncIterator[Loop]:
    async with running_loop(database_url, tmp_path) as running:
        yield running


async def _bound_subject(loop: Loop) -> tuple[Subject, Inspector]:
    async with loop.db.reading() as session:
        subject = await session.scalar(
            select(Subject)
            .where(Subject.credit_code.is_not(None), Subject.inspector_id.is_not(None))
            .order_by(Subject.id)
            .limit(1)
        )
        assert subject is not None and subject.inspector_id is not None
        inspector = await session.get(Inspector, subject.inspector_id)
        assert inspector is not None
        return subject, inspector


async def _count(loop: Loop, model: type[Any]) -> int:
    async with loop.db.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def _lead(subject: Subject, message_id: str, key: str = "opinion-4711") -> dict[str, Any]:
    return {
        "message_id": message_id,
        "source": "opinion",
        "dedup_key": key,
        "title": "舆情：某合作社疑似违规使用禁用农药",
        "subject": {"credit_code": subject.credit_code},
    }


async def _lead_count_becomes(loop: Loop, count: int) -> None:
    async def reached() -> bool:
        return await _count(loop, Lead) == count

    await wait_for(reached, f"{count} leads")


async def test_same_lead_twice_gives_one_task(loop: Loop) -> None:
    subject, inspector = await _bound_subject(loop)
    user_id = await loop.bind(inspector)

    # The hook re-sends the lead under a new message id, so JetStream keeps both copies.
    await loop.publish(subjects.lead_subject("opinion"), _lead(subject, "hook-1"), "hook-1")
    await loop.publish(subjects.lead_subject("opinion"), _lead(subject, "hook-2"), "hook-2")
    other = _lead(subject, "hook-3", key="opinion-4712")
    await loop.publish(subjects.lead_subject("opinion"), other, "hook-3")
    await _lead_count_becomes(loop, 2)

    # The lead with the other key is about the same subject, so it folds into the open task.
    assert await _count(loop, Task) == 1
    card = await loop.chats.receives(user_id, "禁用农药")
    await loop.chats.message_becomes(user_id, card.message_id, "共 2 条线索")
    await loop.chats.assert_no_unexpected([user_id])


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (json.dumps({"target": {"kind": "grid", "code": "1"}}).encode(), "title"),
        (
            json.dumps({"target": {"kind": "planet", "code": "x"}, "title": "t"}).encode(),
            "target.kind",
        ),
        (
            json.dumps({"target": {"kind": "grid", "code": "999"}, "title": "t"}).encode(),
            "grid '999' not found",
        ),
    ],
)
async def test_malformed_directive_is_dead_lettered(
    loop: Loop, payload: bytes, reason: str
) -> None:
    _, inspector = await _bound_subject(loop)
    good = {
        "message_id": "after-bad",
        "target": {"kind": "inspector", "code": inspector.code},
        "title": "坏消息之后的正常指令",
    }

    await loop.publish(subjects.DIRECTIVE_ISSUE, payload, "bad-1")
    await loop.publish(subjects.DIRECTIVE_ISSUE, good, "after-bad")

    tasks = await loop.tasks_of_directive("after-bad", 1)
    assert tasks[0].inspector_id == inspector.id
    letters = await loop.dead_letters()
    assert len(letters) == 1
    assert letters[0]["subject"] == subjects.DIRECTIVE_ISSUE
    assert reason in letters[0]["reason"]
    assert letters[0]["payload"] == payload.decode()
    assert await _count(loop, Task) == 1


async def test_tap_by_other_user_is_rejected(loop: Loop) -> None:
    _, inspector = await _bound_subject(loop)
    owner = await loop.bind(inspector)
    async with loop.db.reading() as session:
        stranger = await session.scalar(
            select(Inspector)
            .where(Inspector.division_code != inspector.division_code)
            .order_by(Inspector.id)
            .limit(1)
        )
    assert stranger is not None
    stranger_user = await loop.bind(stranger)
    directive = {
        "message_id": "forged-tap",
        "target": {"kind": "inspector", "code": inspector.code},
        "title": "只允许承办人签收",
    }
    await loop.publish(subjects.DIRECTIVE_ISSUE, directive, "forged-tap")
    task = (await loop.tasks_of_directive("forged-tap", 1))[0]
    card = await loop.chats.receives(owner, "只允许承办人签收")

    forged = TaskCallback(task_id=task.id, button=TaskButton.ACKNOWLEDGE).pack()
    await loop.control.tap(stranger_user, card.message_id, data=forged, forge=True, chat_id=owner)

    async def answered() -> bool:
        return bool(await loop.control.callback_answers(owner))

    # The tap was made on the owner's message, so its answer is filed under that chat.
    await wait_for(answered, "the answer to the forged tap")
    answer = (await loop.control.callback_answers(owner))[0]
    assert answer.text == "此任务不是派给您的，无法操作。"
    assert answer.show_alert
    async with loop.db.reading() as session:
        stored = await session.get(Task, task.id)
        kinds = list(
            await session.scalars(select(TaskEvent.kind).where(TaskEvent.task_id == task.id))
        )
    assert stored is not None
    assert stored.state == "new"
    assert "acknowledged" not in kinds
    current = (await loop.control.messages(owner))[-1]
    assert [label for row in current.buttons for label, _ in row] == ["签收", "无法执行"]


async def test_crash_before_ack_creates_tasks_once(
    loop: Loop, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, inspector = await _bound_subject(loop)
    real_accept = accept_directive
    calls: list[bool] = []

    async def commit_then_crash(*args: Any, **kwargs: Any) -> Accepted:
        accepted = await real_accept(*args, **kwargs)
        calls.append(accepted.created)
        if len(calls) == 1:
            raise RuntimeError("dispatcher crashed after commit, before ack")
        return accepted

    monkeypatch.setattr("dispatcher.consumers.accept_directive", commit_then_crash)
    directive = {
        "message_id": "crash-1",
        "target": {"kind": "inspector", "code": inspector.code},
        "title": "提交后崩溃",
    }
    await loop.publish(subjects.DIRECTIVE_ISSUE, directive, "crash-1")

    async def redelivered() -> bool:
        return len(calls) >= 2

    await wait_for(redelivered, "the redelivery after the crash", timeout_s=15)
    assert calls == [True, False]
    assert await _count(loop, Task) == 1
