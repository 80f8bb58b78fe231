"""The generic lead hook: routing by point, by subject name, de-duplication and folding."""

from typing import Any

from sqlalchemy import select

from griddispatch import subjects
from griddispatch.geo import wgs84_to_gcj02
from storage.leads.models import Lead
from storage.registry.models import Inspector, Subject
from storage.tasks.models import Task
from tests.hooks.support import Hooks

LEADS = "/api/v1/hooks/leads"
# 乌兰镇第1网格 in 鄂托克旗 covers 108.56-108.58 E, 39.555-39.57 N (WGS-84). This point lies
# 150 m inside its east edge; its GCJ-02 form lies east of that edge, in 乌兰镇第2网格, so a
# hook that forgot to convert would pick the wrong grid.
WULAN_GRID_1 = "150624100001"
POINT_WGS84 = (108.5785, 39.5625)
COMPANY_CODE = "91150602MA8WBCERP4"  # 东胜区益农农业科技有限公司, inspector JG0012
COMPANY_NAME_VARIANT = "东胜区益农\u3000农业科技有限责任公司"
FARM_CODE = "92150602MANDKQ4J2L"  # 东胜区丰泽家庭农场, inspector JG0010


def _lead(**fields: Any) -> dict[str, Any]:
    return {"source": "opinion", "title": "舆情：疑似违规使用禁用农药", **fields}


async def _subject(hooks: Hooks, credit_code: str) -> tuple[Subject, Inspector]:
    async with hooks.loop.db.reading() as session:
        subject = await session.scalar(select(Subject).where(Subject.credit_code == credit_code))
        assert subject is not None and subject.inspector_id is not None
        inspector = await session.get(Inspector, subject.inspector_id)
    assert inspector is not None
    return subject, inspector


async def test_gcj02_point_routes_to_grid(hooks: Hooks) -> None:
    leader = await hooks.grid_leader(WULAN_GRID_1)
    user = await hooks.loop.bind(leader)
    longitude, latitude = wgs84_to_gcj02(*POINT_WGS84)
    payload = _lead(
        dedup_key="opinion-point-1",
        title="舆情：乌兰镇某蔬菜基地疑似使用禁用农药",
        location={"longitude": longitude, "latitude": latitude, "system": "gcj02"},
    )

    answer = await hooks.post(LEADS, payload)

    assert answer.status == 202
    assert answer.body["message_id"]
    lead = await hooks.lead("opinion", "opinion-point-1")
    task = await hooks.task_of(lead)
    assert task.routing == "point"
    assert task.inspector_id == leader.id
    assert lead.longitude is not None and abs(lead.longitude - POINT_WGS84[0]) < 1e-6
    assert lead.latitude is not None and abs(lead.latitude - POINT_WGS84[1]) < 1e-6
    created = (await hooks.trail(task.id))[0]
    assert created.kind == "created"
    assert created.detail["route"]["grid_code"] == WULAN_GRID_1
    await hooks.loop.chats.receives(user, "乌兰镇某蔬菜基地")


async def test_address_routes_to_township(hooks: Hooks) -> None:
    leader = await hooks.grid_leader(WULAN_GRID_1)
    payload = _lead(dedup_key="opinion-address-1", address="鄂托克旗乌兰镇某村东侧蔬菜大棚")

    answer = await hooks.post(LEADS, payload)

    assert answer.status == 202
    task = await hooks.task_of(await hooks.lead("opinion", "opinion-address-1"))
    assert task.routing == "address"
    assert task.inspector_id == leader.id
    assert "地址：鄂托克旗乌兰镇" in task.body


async def test_company_suffix_variant_matches(hooks: Hooks) -> None:
    subject, inspector = await _subject(hooks, COMPANY_CODE)
    user = await hooks.loop.bind(inspector)
    payload = _lead(dedup_key="opinion-name-1", subject={"name": COMPANY_NAME_VARIANT})

    answer = await hooks.post(LEADS, payload)

    assert answer.status == 202
    lead = await hooks.lead("opinion", "opinion-name-1")
    task = await hooks.task_of(lead)
    assert task.routing == "subject"
    assert task.subject_id == subject.id
    assert task.inspector_id == inspector.id
    assert lead.routing_detail["matched_by"] == "name"
    await hooks.loop.chats.receives(user, "疑似违规使用禁用农药", subject.name)


async def test_same_payload_twice_one_task(hooks: Hooks) -> None:
    _, inspector = await _subject(hooks, FARM_CODE)
    user = await hooks.loop.bind(inspector)
    payload = _lead(subject={"credit_code": FARM_CODE}, text="网友反映该农场韭菜疑似农残超标。")

    first = await hooks.post(LEADS, payload)
    second = await hooks.post(LEADS, payload)

    assert first.status == 202
    assert second.status == 202
    assert second.body["message_id"] == first.body["message_id"]
    lead = await hooks.lead("opinion", first.body["dedup_key"])
    await hooks.task_of(lead)
    await hooks.loop.chats.receives(user, "韭菜疑似农残超标")
    assert await hooks.count(Lead) == 1
    assert await hooks.count(Task) == 1
    await hooks.loop.chats.assert_no_unexpected([user])


async def _resolve(hooks: Hooks, dedup_key: str) -> None:
    update = {
        "message_id": f"resolve-{dedup_key}",
        "action": "resolve",
        "source": "opinion",
        "dedup_key": dedup_key,
    }
    await hooks.loop.publish(subjects.lead_subject("opinion"), update, update["message_id"])


async def test_second_lead_folds_into_task(hooks: Hooks) -> None:
    subject, inspector = await _subject(hooks, FARM_CODE)
    user = await hooks.loop.bind(inspector)
    ref = {"credit_code": FARM_CODE}

    await hooks.post(LEADS, _lead(dedup_key="fold-1", subject=ref, title="舆情：韭菜农残超标"))
    first = await hooks.lead("opinion", "fold-1")
    task = await hooks.task_of(first)
    card = await hooks.loop.chats.receives(user, "舆情：韭菜农残超标")
    await hooks.post(LEADS, _lead(dedup_key="fold-2", subject=ref, title="舆情：芹菜农残超标"))
    second = await hooks.lead("opinion", "fold-2")

    assert (await hooks.task_of(second)).id == task.id
    assert second.folded_into_id == first.id
    folded = (await hooks.trail(task.id))[-1]
    assert folded.kind == "lead_folded"
    assert folded.detail["title"] == "舆情：芹菜农残超标"
    assert folded.detail["count"] == 2
    await hooks.loop.chats.message_becomes(user, card.message_id, "共 2 条线索", "芹菜农残超标")
    await hooks.loop.chats.assert_no_unexpected([user])

    # The task stays open until every lead folded into it is resolved.
    await _resolve(hooks, "fold-1")
    await _resolve(hooks, "fold-2")
    await hooks.task_state_becomes(task.id, "cancelled")
    kinds = [event.kind for event in await hooks.trail(task.id)]
    assert kinds[-2:] == ["lead_resolved", "resolved_by_source"]

    await hooks.post(LEADS, _lead(dedup_key="fold-3", subject=ref, title="舆情：豇豆农残超标"))
    third = await hooks.lead("opinion", "fold-3")
    new_task = await hooks.task_of(third)
    assert new_task.id != task.id
    assert new_task.subject_id == subject.id
    assert third.folded_into_id is None


async def test_other_source_does_not_fold(hooks: Hooks) -> None:
    ref = {"credit_code": FARM_CODE}

    await hooks.post(LEADS, _lead(dedup_key="k-1", subject=ref))
    await hooks.post(LEADS, _lead(dedup_key="k-1", subject=ref, source="rapid-test"))
    first = await hooks.lead("opinion", "k-1")
    second = await hooks.lead("rapid-test", "k-1")

    assert (await hooks.task_of(first)).id != (await hooks.task_of(second)).id
    assert second.folded_into_id is None


async def test_lead_naming_nothing_goes_to_triage(hooks: Hooks) -> None:
    answer = await hooks.post(LEADS, _lead(dedup_key="triage-1", address="某地某路"))

    assert answer.status == 202
    lead = await hooks.lead("opinion", "triage-1")
    assert lead.routing == "triage"
    assert "names no division" in lead.routing_detail["notes"][0]
    assert await hooks.count(Task) == 0
