"""Hook rate limits: past a token's burst, 429 with Retry-After, and earlier leads all kept."""

import json
from typing import Any

from sqlalchemy import select

from dispatcher.hooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from storage.api_tokens.service import create_token
from storage.leads.models import Lead
from storage.tasks.models import Task
from tests.hooks.support import Hooks

LEADS = "/api/v1/hooks/leads"
FARM_CODE = "92150602MANDKQ4J2L"  # 东胜区丰泽家庭农场
BURST = 4
# One request every 1,000 s: the bucket does not refill while a test runs.
SLOW_RATE_PER_S = 0.001


def _lead(index: int) -> dict[str, Any]:
    # A source of its own per lead, so that no lead folds into another's task.
    return {
        "source": f"monitor-{index}",
        "dedup_key": f"rate-{index}",
        "title": f"舆情：丰泽家庭农场第 {index} 条线索",
        "subject": {"credit_code": FARM_CODE},
    }


async def _post(
    hooks: Hooks, payload: dict[str, Any], headers: dict[str, str]
) -> tuple[int, dict[str, str], dict[str, Any]]:
    body = json.dumps(payload).encode()
    sent = {"Content-Type": "application/json", **headers}
    async with hooks.http.post(hooks.base_url + LEADS, data=body, headers=sent) as response:
        return response.status, dict(response.headers), await response.json()


async def _tasks_of(hooks: Hooks, indexes: list[int]) -> list[Task]:
    tasks = []
    for index in indexes:
        lead = await hooks.lead(f"monitor-{index}", f"rate-{index}")
        tasks.append(await hooks.task_of(lead))
    return tasks


async def test_bearer_past_burst_gets_429(hooks: Hooks) -> None:
    _, token = await create_token(
        hooks.loop.db, "slow-monitor", ["hook"], rate_per_s=SLOW_RATE_PER_S, burst=BURST
    )
    bearer = {"Authorization": f"Bearer {token}"}

    answers = [await _post(hooks, _lead(index), bearer) for index in range(BURST + 3)]

    statuses = [status for status, _, _ in answers]
    assert statuses == [202] * BURST + [429] * 3
    for _, headers, body in answers[BURST:]:
        assert int(headers["Retry-After"]) >= 1
        assert body["error"]["code"] == "rate_limited"
        assert "slow-monitor" in body["error"]["message"]
    tasks = await _tasks_of(hooks, list(range(BURST)))
    assert len({task.id for task in tasks}) == BURST
    async with hooks.loop.db.reading() as session:
        stored = set(await session.scalars(select(Lead.dedup_key)))
    assert stored == {f"rate-{index}" for index in range(BURST)}
    assert await hooks.count(Task) == BURST


async def test_signed_requests_share_token_bucket(hooks: Hooks) -> None:
    record, token = await create_token(
        hooks.loop.db,
        "slow-signer",
        ["hook"],
        rate_per_s=SLOW_RATE_PER_S,
        burst=2,
        with_hmac_secret=True,
    )
    assert record.hmac_secret is not None
    bearer = {"Authorization": f"Bearer {token}"}
    first = await _post(hooks, _lead(1), bearer)
    timestamp = str(int(hooks.loop.clock.now().timestamp()))

    def signed(payload: dict[str, Any]) -> dict[str, str]:
        body = json.dumps(payload).encode()
        assert record.hmac_secret is not None
        return {
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(record.hmac_secret, timestamp, body),
        }

    second = await _post(hooks, _lead(2), signed(_lead(2)))
    third = await _post(hooks, _lead(3), signed(_lead(3)))

    assert first[0] == 202
    assert second[0] == 202
    assert third[0] == 429
    assert int(third[1]["Retry-After"]) >= 1
    await _tasks_of(hooks, [1, 2])
    assert await hooks.count(Lead) == 2


async def test_other_token_not_limited(hooks: Hooks) -> None:
    _, slow = await create_token(
        hooks.loop.db, "slow-monitor", ["hook"], rate_per_s=SLOW_RATE_PER_S, burst=1
    )
    assert (await _post(hooks, _lead(1), {"Authorization": f"Bearer {slow}"}))[0] == 202
    assert (await _post(hooks, _lead(2), {"Authorization": f"Bearer {slow}"}))[0] == 429

    status, _, body = await _post(hooks, _lead(3), {"Authorization": f"Bearer {hooks.hook_token}"})

    assert status == 202, body
    await _tasks_of(hooks, [1, 3])
    assert await hooks.count(Lead) == 2
