"""The lab result hook: exceedances and banned substances raise leads, passes are evidence."""

from typing import Any

from sqlalchemy import select

from storage.labs.models import LabSample
from storage.leads.models import Lead
from storage.registry.models import Inspector, Subject
from storage.tasks.models import Task
from tests.hooks.support import Hooks

LAB = "/api/v1/hooks/lab-results"
FARM_CODE = "92150602MANDKQ4J2L"  # 东胜区丰泽家庭农场, inspector JG0010


def _result(**fields: Any) -> dict[str, Any]:
    return {
        "sample_id": "ORD-2026-0042",
        "lab": "鄂尔多斯市农畜产品质量安全检测中心",
        "method": "GB 23200.113-2018",
        "subject": {"credit_code": FARM_CODE},
        "commodity": "韭菜",
        "analyte": "腐霉利",
        "value": 450,
        "unit": "µg/kg",
        **fields,
    }


async def _farm_inspector(hooks: Hooks) -> Inspector:
    async with hooks.loop.db.reading() as session:
        subject = await session.scalar(select(Subject).where(Subject.credit_code == FARM_CODE))
        assert subject is not None and subject.inspector_id is not None
        inspector = await session.get(Inspector, subject.inspector_id)
    assert inspector is not None
    return inspector


async def test_exceedance_raises_lead(hooks: Hooks) -> None:
    inspector = await _farm_inspector(hooks)
    user = await hooks.loop.bind(inspector)

    answer = await hooks.post(LAB, _result())

    assert answer.status == 202
    assert answer.body["verdict"] == "exceeds"
    assert answer.body["value_mg_per_kg"] == 0.45
    assert answer.body["limit_mg_per_kg"] == 0.2
    assert answer.body["ratio"] == 2.25
    lead = await hooks.lead("lab", "ORD-2026-0042:腐霉利")
    task = await hooks.task_of(lead)
    assert task.inspector_id == inspector.id
    assert task.priority == "high"
    for figure in ("0.45 mg/kg", "限量：0.2 mg/kg", "2.25 倍", "GB 2763-2021", "2021 年"):
        assert figure in task.body
    await hooks.loop.chats.receives(user, "检测超标：韭菜 腐霉利", "2.25 倍", "GB 2763-2021")


async def test_banned_substance_raises_urgent_lead(hooks: Hooks) -> None:
    inspector = await _farm_inspector(hooks)
    user = await hooks.loop.bind(inspector)
    # Below the cowpea limit of 0.05 mg/kg, but methamidophos is banned for all uses.
    result = _result(commodity="豇豆", analyte="甲胺磷", value=0.03, unit="mg/kg")

    answer = await hooks.post(LAB, result)

    assert answer.status == 202
    assert answer.body["verdict"] == "banned"
    task = await hooks.task_of(await hooks.lead("lab", "ORD-2026-0042:甲胺磷"))
    assert task.priority == "urgent"
    assert "MARA list (2019)" in task.body
    await hooks.loop.chats.receives(user, "检出禁用物质：豇豆 甲胺磷", "禁用依据")


async def test_pass_recorded_without_task(hooks: Hooks) -> None:
    result = _result(commodity="黄瓜", value=0.5, unit="mg/kg")

    first = await hooks.post(LAB, result)
    again = await hooks.post(LAB, result)

    assert first.status == 201
    assert first.body["verdict"] == "pass"
    assert again.status == 200
    assert again.body["sample"] == first.body["sample"]
    async with hooks.loop.db.reading() as session:
        sample = await session.get(LabSample, first.body["sample"])
    assert sample is not None
    assert sample.standard == "GB 2763-2021"
    assert sample.table_row == "pesticide-mrl.csv line 20"
    assert sample.subject_id is not None
    assert await hooks.count(Lead) == 0
    assert await hooks.count(Task) == 0
    assert await hooks.inbound_messages() == 0


async def test_same_finding_twice_one_task(hooks: Hooks) -> None:
    first = await hooks.post(LAB, _result())
    second = await hooks.post(LAB, _result())

    assert second.status == 202
    assert second.body["message_id"] == first.body["message_id"]
    await hooks.task_of(await hooks.lead("lab", "ORD-2026-0042:腐霉利"))
    assert await hooks.count(LabSample) == 1
    assert await hooks.count(Task) == 1
    assert await hooks.inbound_messages() == 1
