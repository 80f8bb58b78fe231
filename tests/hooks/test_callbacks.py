"""Status callbacks: signed, retried with back-off, parked after the limit, allowlisted."""

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from dispatcher.hooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_matches
from storage.callbacks.models import Callback, CallbackState
from storage.callbacks.service import attempts_of, parked_callbacks, parked_lines
from storage.leads.models import Lead
from storage.registry.models import Inspector, Subject
from tests.hooks.support import CALLBACK_BACKOFF_S, CALLBACK_MAX_ATTEMPTS, Hooks

LEADS = "/api/v1/hooks/leads"
FARM_CODE = "92150602MANDKQ4J2L"  # 东胜区丰泽家庭农场, inspector JG0010


async def _acknowledged_lead(hooks: Hooks, dedup_key: str) -> Lead:
    """Post a lead with the receiver as callback, and acknowledge its task in Telegram."""
    async with hooks.loop.db.reading() as session:
        subject = await session.scalar(select(Subject).where(Subject.credit_code == FARM_CODE))
        assert subject is not None and subject.inspector_id is not None
        inspector = await session.get(Inspector, subject.inspector_id)
    assert inspector is not None
    user = await hooks.loop.bind(inspector)
    payload = {
        "source": "opinion",
        "dedup_key": dedup_key,
        "title": "舆情：丰泽家庭农场韭菜疑似农残超标",
        "subject": {"credit_code": FARM_CODE},
        "callback_url": hooks.receiver.url,
    }

    answer = await hooks.post(LEADS, payload)

    assert answer.status == 202
    lead = await hooks.lead("opinion", dedup_key)
    task = await hooks.task_of(lead)
    card = await hooks.loop.chats.receives(user, "韭菜疑似农残超标")
    await hooks.loop.control.tap(user, card.message_id, button_text="签收")
    await hooks.task_state_becomes(task.id, "acknowledged")
    return lead


async def _callbacks(hooks: Hooks) -> list[Callback]:
    async with hooks.loop.db.reading() as session:
        return list(await session.scalars(select(Callback).order_by(Callback.id)))


def _request(hooks: Hooks, index: int) -> tuple[dict[str, str], dict[str, Any], bytes]:
    headers, body = hooks.receiver.received[index]
    return headers, json.loads(body), body


async def test_callback_delivered_signed(hooks: Hooks) -> None:
    lead = await _acknowledged_lead(hooks, "cb-signed")

    await hooks.deliver_until(1)

    headers, payload, body = _request(hooks, 0)
    assert signature_matches(
        hooks.hook_secret, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER]
    )
    assert not signature_matches(
        "another secret", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER]
    )
    assert payload["event"] == "acknowledged"
    assert payload["state"] == "acknowledged"
    assert payload["lead"]["dedup_key"] == "cb-signed"
    assert payload["lead"]["id"] == lead.id
    (callback,) = await _callbacks(hooks)
    assert callback.state == CallbackState.DELIVERED
    assert [attempt.status_code for attempt in await attempts_of(hooks.loop.db, callback.id)] == [
        200
    ]


async def test_callback_retried_after_500(hooks: Hooks) -> None:
    hooks.receiver.statuses = [500]
    await _acknowledged_lead(hooks, "cb-retry")

    await hooks.deliver_until(1)
    (callback,) = await _callbacks(hooks)
    assert callback.state == CallbackState.PENDING
    assert callback.last_error == "HTTP 500"
    # Not due again before the back-off has passed.
    assert await hooks.callbacks.deliver_due() == 0

    hooks.loop.clock.advance(timedelta(seconds=CALLBACK_BACKOFF_S + 1))
    await hooks.deliver_until(2)

    (callback,) = await _callbacks(hooks)
    assert callback.state == CallbackState.DELIVERED
    attempts = await attempts_of(hooks.loop.db, callback.id)
    assert [attempt.status_code for attempt in attempts] == [500, 200]
    assert _request(hooks, 0)[2] == _request(hooks, 1)[2]


async def test_callback_parked_after_limit(hooks: Hooks) -> None:
    hooks.receiver.statuses = [500] * (CALLBACK_MAX_ATTEMPTS + 2)
    await _acknowledged_lead(hooks, "cb-park")

    for attempt in range(1, CALLBACK_MAX_ATTEMPTS + 1):
        await hooks.deliver_until(attempt)
        hooks.loop.clock.advance(timedelta(hours=1))

    (callback,) = await _callbacks(hooks)
    assert callback.state == CallbackState.PARKED
    assert callback.attempts == CALLBACK_MAX_ATTEMPTS
    assert await hooks.callbacks.deliver_due() == 0
    assert len(hooks.receiver.received) == CALLBACK_MAX_ATTEMPTS
    parked = await parked_callbacks(hooks.loop.db)
    assert [row.id for row in parked] == [callback.id]
    (line,) = parked_lines(parked)
    assert f"callback {callback.id}" in line
    assert "last error: HTTP 500" in line


async def test_callback_host_not_allowed(hooks: Hooks) -> None:
    payload = {
        "source": "opinion",
        "title": "舆情：回调地址不在白名单",
        "callback_url": "https://callbacks.example.invalid/status",
    }

    answer = await hooks.post(LEADS, payload)

    assert answer.status == 422
    assert answer.error["code"] == "callback_not_allowed"
    assert answer.error["field"] == "callback_url"
    assert "callbacks.example.invalid:443" in answer.error["message"]
    assert await hooks.count(Lead) == 0
    assert await hooks.inbound_messages() == 0
