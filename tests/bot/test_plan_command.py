"""/plan over the local Bot API server: this period's subjects, nearest first."""

from datetime import date

from griddispatch.geo import distance_m
from storage.plans.generate import generate_month
from tests.bot.support import GRID_INSPECTORS, bind_codes
from tests.harness.loop import Loop
from tests.plans.support import PLANS, entries, inspect_task, subjects_by_id


async def test_plan_lists_nearest_first(loop: Loop) -> None:
    inspector, user = (await bind_codes(loop, GRID_INSPECTORS[0]))[GRID_INSPECTORS[0]]
    now = loop.clock.now()
    for month in (date(2026, 1, 1), date(2026, 3, 1)):
        await generate_month(loop.db, PLANS, loop.escalation, month=month, now=now)
    mine = [
        e
        for e in await entries(loop.db)
        if e.inspector_id == inspector.id and e.period_start <= now < e.period_end
    ]
    subjects = await subjects_by_id(loop.db)
    first = mine[0]
    visited = subjects[first.subject_id]
    assert first.task_id is not None
    assert visited.latitude is not None and visited.longitude is not None
    await inspect_task(
        loop.db,
        first.task_id,
        inspector.id,
        now=now,
        location=(visited.latitude, visited.longitude),
    )

    await loop.control.send_text(user, "/plan")
    reply = await loop.chats.receives(user, "本期日常巡查")

    lines = (reply.text or "").splitlines()
    assert lines[0] == f"本期日常巡查：应查 {len(mine)} 户，已完成 1 户"
    assert lines[1] == "待查（由近及远）："
    others = [subjects[e.subject_id] for e in mine[1:]]

    def metres(subject_id: int) -> float:
        other = subjects[subject_id]
        assert other.longitude is not None and other.latitude is not None
        return distance_m(
            visited.longitude or 0, visited.latitude or 0, other.longitude, other.latitude
        )

    expected = sorted(mine[1:], key=lambda e: (metres(e.subject_id), e.due_at, e.id))
    listed = lines[2 : 2 + len(others)]
    assert [line.split("｜")[0].split(". ", 1)[1] for line in listed] == [
        subjects[e.subject_id].name for e in expected
    ]
    assert all(line.endswith(f"#{e.task_id}") for line, e in zip(listed, expected, strict=True))
    assert lines[2 + len(others)] == "已完成："
    assert lines[3 + len(others)] == f"✓ {visited.name}"


async def test_plan_without_location_uses_due_date(loop: Loop) -> None:
    _inspector, user = (await bind_codes(loop, GRID_INSPECTORS[1]))[GRID_INSPECTORS[1]]
    await generate_month(
        loop.db, PLANS, loop.escalation, month=date(2026, 3, 1), now=loop.clock.now()
    )
    await generate_month(
        loop.db, PLANS, loop.escalation, month=date(2026, 1, 1), now=loop.clock.now()
    )

    await loop.control.send_text(user, "/plan")
    reply = await loop.chats.receives(user, "本期日常巡查")

    lines = (reply.text or "").splitlines()
    assert lines[1] == "尚无上报位置，按截止时间排列。"
    assert "已完成：" not in lines


async def test_plan_for_unbound_account(loop: Loop) -> None:
    await loop.control.create_user(987654321, "访客")
    await loop.control.send_text(987654321, "/plan")

    reply = await loop.chats.receives(987654321, "尚未绑定监管员")

    assert reply.text == "此 Telegram 账号尚未绑定监管员。"
