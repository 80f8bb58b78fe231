"""The Alertmanager hook: each alert by its own status and fingerprint, resolves cancel tasks."""

import json
from typing import Any

from sqlalchemy import select

from storage.leads.models import Lead
from storage.registry.models import Inspector, Subject
from storage.tasks.models import Task
from tests.harness.loop import wait_for
from tests.hooks.support import Hooks

ALERTMANAGER = "/api/v1/hooks/alertmanager"
SUBJECT_CODE = "91150602MAU9AYDCXJ"  # 东胜区金鹿农业科技有限公司, inspector JG0010
GRID = "150602001002"  # 交通街道第2网格


def _alert(status: str, fingerprint: str, labels: dict[str, str], summary: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": labels,
        "annotations": {"summary": summary, "description": "最近 1 小时内销量异常"},
        "startsAt": "2026-03-02T00:50:00Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-03-02T01:20:00Z",
        "generatorURL": "http://prometheus.local/graph?g0.expr=sales",
        "fingerprint": fingerprint,
    }


def _notification(*alerts: dict[str, Any], status: str = "firing") -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="PesticideSales"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "griddispatch",
        "groupLabels": {"alertname": "PesticideSales"},
        "commonLabels": {"alertname": "PesticideSales"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.local",
        "alerts": list(alerts),
    }


SALES_LABELS = {
    "alertname": "PesticideSales",
    "severity": "critical",
    "subject_credit_code": SUBJECT_CODE,
}
STORE_LABELS = {"alertname": "PesticideSales", "severity": "warning", "grid_code": GRID}


async def _subject_inspector(hooks: Hooks) -> Inspector:
    async with hooks.loop.db.reading() as session:
        subject = await session.scalar(select(Subject).where(Subject.credit_code == SUBJECT_CODE))
        assert subject is not None and subject.inspector_id is not None
        inspector = await session.get(Inspector, subject.inspector_id)
    assert inspector is not None
    return inspector


async def test_alerts_judged_by_own_status(hooks: Hooks) -> None:
    inspector = await _subject_inspector(hooks)
    user = await hooks.loop.bind(inspector)
    leader = await hooks.grid_leader(GRID)
    sales_firing = _alert("firing", "5d1f6a0c2b7e9a41", SALES_LABELS, "农药销量异常：金鹿农业")
    store_resolved = _alert("resolved", "8c3e2f1a9b0d4e77", STORE_LABELS, "门店温度异常")

    # The group fires while one of its alerts is already resolved, never seen firing.
    first = await hooks.post(ALERTMANAGER, _notification(sales_firing, store_resolved))

    assert first.status == 202
    assert [m["action"] for m in first.body["messages"]] == ["trigger", "resolve"]
    sales = await hooks.lead("alertmanager", "5d1f6a0c2b7e9a41")
    task = await hooks.task_of(sales)
    assert task.inspector_id == inspector.id
    assert task.routing == "subject"
    assert task.priority == "urgent"
    card = await hooks.loop.chats.receives(user, "农药销量异常：金鹿农业")

    # Next notification: the group still fires, but the first alert resolved and the other fires.
    sales_resolved = _alert("resolved", "5d1f6a0c2b7e9a41", SALES_LABELS, "农药销量异常：金鹿农业")
    store_firing = _alert("firing", "8c3e2f1a9b0d4e77", STORE_LABELS, "门店温度异常")
    second = await hooks.post(ALERTMANAGER, _notification(sales_resolved, store_firing))

    assert second.status == 202
    await hooks.task_state_becomes(task.id, "cancelled")
    resolved = (await hooks.trail(task.id))[-1]
    assert resolved.kind == "resolved_by_source"
    assert resolved.actor == "source:alertmanager"
    await hooks.loop.chats.message_becomes(user, card.message_id, "已撤销")
    store = await hooks.lead("alertmanager", "8c3e2f1a9b0d4e77")
    store_task = await hooks.task_of(store)
    assert store_task.routing == "grid"
    assert store_task.inspector_id == leader.id
    assert await hooks.count(Task) == 2


async def test_same_notification_twice(hooks: Hooks) -> None:
    notification = _notification(
        _alert("firing", "0a1b2c3d4e5f6071", SALES_LABELS, "农药销量异常：金鹿农业")
    )

    first = await hooks.post(ALERTMANAGER, notification)
    second = await hooks.post(ALERTMANAGER, notification)

    assert first.status == 202
    assert second.status == 202
    await hooks.task_of(await hooks.lead("alertmanager", "0a1b2c3d4e5f6071"))
    assert await hooks.count(Lead) == 1
    assert await hooks.count(Task) == 1


async def test_refiring_after_resolve_opens_task(hooks: Hooks) -> None:
    firing = _alert("firing", "77aa88bb99cc00dd", SALES_LABELS, "农药销量异常：金鹿农业")
    resolved = _alert("resolved", "77aa88bb99cc00dd", SALES_LABELS, "农药销量异常：金鹿农业")
    refiring = {**firing, "startsAt": "2026-03-02T03:00:00Z"}

    await hooks.post(ALERTMANAGER, _notification(firing))
    first_task = await hooks.task_of(await hooks.lead("alertmanager", "77aa88bb99cc00dd"))
    await hooks.post(ALERTMANAGER, _notification(resolved, status="resolved"))
    await hooks.task_state_becomes(first_task.id, "cancelled")
    await hooks.post(ALERTMANAGER, _notification(refiring))

    second = await hooks.lead("alertmanager", "77aa88bb99cc00dd", episode=2)
    assert (await hooks.task_of(second)).id != first_task.id


async def test_grafana_alert_without_fingerprint(hooks: Hooks) -> None:
    # Grafana's variant, with an alert that names no subject, grid or division.
    labels = {"alertname": "ColdStorageOffline", "instance": "cold-store-7", "severity": "info"}
    alert: dict[str, Any] = {
        "status": "firing",
        "labels": labels,
        "annotations": {"summary": "冷库 7 号离线"},
        "startsAt": "2026-03-02T00:55:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "values": {"A": 0},
        "valueString": "[ var='A' value=0 ]",
        "dashboardURL": "",
        "silenceURL": "http://grafana.local/alerting/silence/new",
    }
    notification = {
        "receiver": "griddispatch",
        "status": "firing",
        "orgId": 1,
        "title": "[FIRING:1] ColdStorageOffline",
        "state": "alerting",
        "message": "冷库离线",
        "alerts": [alert],
    }

    answer = await hooks.post(ALERTMANAGER, notification, params={"source": "grafana"})

    assert answer.status == 202
    key = answer.body["messages"][0]["dedup_key"]
    assert key.startswith("labels-")
    lead = await hooks.lead("grafana", key)
    assert lead.routing == "triage"
    assert lead.severity == "low"

    # The same labels in another order are the same alert.
    reordered = dict(reversed(list(labels.items())))
    alert["labels"] = reordered
    again = await hooks.post(ALERTMANAGER, notification, params={"source": "grafana"})
    assert again.body["messages"][0]["dedup_key"] == key


async def test_resolved_only_creates_nothing(hooks: Hooks) -> None:
    resolved = _alert("resolved", "ffee000011112222", SALES_LABELS, "农药销量异常")

    answer = await hooks.post(ALERTMANAGER, _notification(resolved, status="resolved"))

    assert answer.status == 202

    async def consumed() -> bool:
        info = await hooks.loop.js.consumer_info("GD_INBOUND", "gd-dispatcher-leads")
        return bool(info.num_pending == 0 and info.num_ack_pending == 0)

    await wait_for(consumed, "the dispatcher to take the resolve")
    assert await hooks.count(Lead) == 0
    assert await hooks.count(Task) == 0


async def test_large_chunked_notification(hooks: Hooks) -> None:
    # Over 100 KB in 16 KiB chunks: the hook must read past the first chunk.
    alerts = [_alert("firing", "fedcba9876543210", SALES_LABELS, "农药销量异常：金鹿农业")]
    alerts.extend(
        _alert("resolved", f"{index:016x}", STORE_LABELS, "门店温度异常" + "。" * 80)
        for index in range(120)
    )
    body = json.dumps(_notification(*alerts)).encode()
    assert 100_000 < len(body) < hooks.settings.hook_max_body_bytes

    answer = await hooks.post(ALERTMANAGER, body, chunked=True)

    assert answer.status == 202
    assert len(answer.body["messages"]) == 121
    await hooks.task_of(await hooks.lead("alertmanager", "fedcba9876543210"))
