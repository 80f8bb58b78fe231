"""The Events API v2 hook: trigger, acknowledge and resolve by dedup_key."""

from typing import Any

from sqlalchemy import select

from storage.leads.models import Lead
from storage.registry.models import Inspector, Subject
from storage.tasks.models import Task
from tests.hooks.support import Hooks

EVENTS = "/api/v1/hooks/events/v2/enqueue"
SUBJECT_CODE = "91150602MAFKU6K0HQ"  # 东胜区大漠牧业有限公司, inspector JG0011


def _trigger(**extra: Any) -> dict[str, Any]:
    return {
        "event_action": "trigger",
        "dedup_key": "vet-drug-stock-0815",
        "payload": {
            "summary": "兽药库存异常：大漠牧业恩诺沙星领用量激增",
            "source": "vet-drug-tracking-01",
            "severity": "error",
            "component": "inventory",
            "group": "dongsheng",
            "class": "stock anomaly",
            "custom_details": {"subject_credit_code": SUBJECT_CODE, "drug": "恩诺沙星"},
        },
        **extra,
    }


def _event(action: str) -> dict[str, Any]:
    return {"event_action": action, "dedup_key": "vet-drug-stock-0815"}


async def _inspector(hooks: Hooks) -> Inspector:
    async with hooks.loop.db.reading() as session:
        subject = await session.scalar(select(Subject).where(Subject.credit_code == SUBJECT_CODE))
        assert subject is not None and subject.inspector_id is not None
        inspector = await session.get(Inspector, subject.inspector_id)
    assert inspector is not None
    return inspector


async def test_trigger_acknowledge_resolve(hooks: Hooks) -> None:
    inspector = await _inspector(hooks)
    user = await hooks.loop.bind(inspector)

    triggered = await hooks.post(EVENTS, _trigger())

    assert triggered.status == 202
    assert triggered.body["status"] == "success"
    assert triggered.body["message"] == "Event processed"
    assert triggered.body["dedup_key"] == "vet-drug-stock-0815"
    lead = await hooks.lead("events", "vet-drug-stock-0815")
    task = await hooks.task_of(lead)
    assert task.inspector_id == inspector.id
    assert task.priority == "high"
    card = await hooks.loop.chats.receives(user, "恩诺沙星领用量激增")

    acknowledged = await hooks.post(EVENTS, _event("acknowledge"))

    assert acknowledged.status == 202
    await hooks.task_state_becomes(task.id, "acknowledged")
    entry = (await hooks.trail(task.id))[-1]
    assert entry.kind == "acknowledged"
    assert entry.actor == "source:events"
    await hooks.loop.chats.message_becomes(user, card.message_id, "已签收")

    resolved = await hooks.post(EVENTS, _event("resolve"))

    assert resolved.status == 202
    await hooks.task_state_becomes(task.id, "cancelled")
    assert (await hooks.trail(task.id))[-1].kind == "resolved_by_source"
    await hooks.loop.chats.assert_no_unexpected([user])


async def test_trigger_twice_one_task(hooks: Hooks) -> None:
    first = await hooks.post(EVENTS, _trigger())
    second = await hooks.post(EVENTS, _trigger())

    assert first.status == 202
    assert second.status == 202
    lead = await hooks.lead("events", "vet-drug-stock-0815")
    await hooks.task_of(lead)
    # The second trigger went through the dispatcher too before the counts are read.
    await hooks.post(EVENTS, _event("acknowledge"))
    await hooks.task_state_becomes((await hooks.task_of(lead)).id, "acknowledged")
    assert await hooks.count(Lead) == 1
    assert await hooks.count(Task) == 1


async def test_trigger_without_dedup_key(hooks: Hooks) -> None:
    event = _trigger()
    del event["dedup_key"]

    first = await hooks.post(EVENTS, event)
    second = await hooks.post(EVENTS, event)

    assert first.body["dedup_key"].startswith("ev-")
    assert second.body["dedup_key"] == first.body["dedup_key"]
    await hooks.task_of(await hooks.lead("events", first.body["dedup_key"]))


async def test_routing_key_as_token(hooks: Hooks) -> None:
    answer = await hooks.post(EVENTS, _trigger(routing_key=hooks.hook_token), bearer=False)

    assert answer.status == 202
    await hooks.lead("events", "vet-drug-stock-0815")


async def test_acknowledge_needs_dedup_key(hooks: Hooks) -> None:
    answer = await hooks.post(EVENTS, {"event_action": "acknowledge"})

    assert answer.status == 422
    assert "needs the dedup_key" in answer.error["message"]
    assert await hooks.inbound_messages() == 0
