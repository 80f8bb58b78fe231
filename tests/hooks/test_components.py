"""Hooks and callbacks in the API and worker that `griddispatch up` starts."""

import json

from dispatcher.hooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_matches
from storage.callbacks.models import CallbackState
from storage.callbacks.service import attempts_of
from storage.tasks.states import TaskState
from tests.hooks.components import (
    MAX_ATTEMPTS,
    Components,
    components_fixture,  # noqa: F401 (provides the `components` fixture)
    lead_payload,
    parked_callback,
)


async def test_up_api_takes_hook_lead(components: Components) -> None:
    status, body = await components.post_lead(lead_payload("up-hook-1"))

    assert status == 202, body
    assert body["status"] == "accepted"
    assert body["dedup_key"] == "up-hook-1"
    task = await components.task_of("up-hook-1")
    assert task.state == TaskState.NEW


async def test_running_worker_delivers_callback(components: Components) -> None:
    status, body = await components.post_lead(
        lead_payload("cb-running-1", callback_url=components.receiver.url)
    )
    assert status == 202, body
    task = await components.task_of("cb-running-1")

    await components.resolve("cb-running-1")

    callback = await components.callback_becomes(task.id, CallbackState.DELIVERED)
    ((headers, raw),) = components.receiver.received
    assert signature_matches(
        components.hook_secret, headers[TIMESTAMP_HEADER], raw, headers[SIGNATURE_HEADER]
    )
    payload = json.loads(raw)
    assert payload["event"] == "resolved_by_source"
    assert payload["task_id"] == task.id
    assert payload["lead"]["dedup_key"] == "cb-running-1"
    attempts = await attempts_of(components.db, callback.id)
    assert [attempt.status_code for attempt in attempts] == [200]


async def test_running_worker_parks_failing_callback(components: Components) -> None:
    callback = await parked_callback(components, "cb-running-2")

    assert callback.attempts == MAX_ATTEMPTS
    assert callback.last_error == "HTTP 503"
    assert len(components.receiver.received) == MAX_ATTEMPTS
    attempts = await attempts_of(components.db, callback.id)
    assert [attempt.status_code for attempt in attempts] == [503] * MAX_ATTEMPTS
