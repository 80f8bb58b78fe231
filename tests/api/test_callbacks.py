"""Parked callbacks over the API: listed for readers, retried by the command centre."""

from storage.api_tokens.service import create_token
from storage.callbacks.models import CallbackState
from storage.callbacks.service import attempts_of
from tests.hooks.components import (
    MAX_ATTEMPTS,
    Components,
    components_fixture,  # noqa: F401 (provides the `components` fixture)
    parked_callback,
)

PARKED = "/callbacks/parked"


async def test_parked_listed_for_reader(components: Components) -> None:
    callback = await parked_callback(components, "api-parked-1")

    status, _, body = await components.request("GET", PARKED, token="reader")

    assert status == 200, body
    (listed,) = body["callbacks"]
    assert listed["id"] == callback.id
    assert listed["task_id"] == callback.task_id
    assert listed["state"] == "parked"
    assert listed["event"] == "resolved_by_source"
    assert listed["attempts"] == MAX_ATTEMPTS
    assert listed["last_error"] == "HTTP 503"
    assert listed["url"] == components.receiver.url
    assert listed["finished_at"] is not None


async def test_retry_delivers_parked_callback(components: Components) -> None:
    callback = await parked_callback(components, "api-parked-2")

    status, _, body = await components.request("POST", f"/callbacks/{callback.id}/retry")

    assert status == 202, body
    assert body["state"] == "pending"
    delivered = await components.callback_becomes(callback.task_id, CallbackState.DELIVERED)
    assert delivered.attempts == MAX_ATTEMPTS + 1
    attempts = await attempts_of(components.db, callback.id)
    assert [attempt.status_code for attempt in attempts] == [503] * MAX_ATTEMPTS + [200]
    status, _, body = await components.request("GET", PARKED)
    assert status == 200
    assert body["callbacks"] == []


async def test_retry_delivered_callback_conflicts(components: Components) -> None:
    callback = await parked_callback(components, "api-parked-3")
    await components.request("POST", f"/callbacks/{callback.id}/retry")
    await components.callback_becomes(callback.task_id, CallbackState.DELIVERED)

    status, _, body = await components.request("POST", f"/callbacks/{callback.id}/retry")

    assert status == 409
    assert body["error"]["code"] == "illegal_transition"
    assert "not parked" in body["error"]["message"]


async def test_retry_unknown_callback_not_found(components: Components) -> None:
    status, _, body = await components.request("POST", "/callbacks/999999/retry")

    assert status == 404
    assert "callback 999999 not found" in body["error"]["message"]


async def test_retry_needs_command_centre(components: Components) -> None:
    callback = await parked_callback(components, "api-parked-4")

    status, _, body = await components.request(
        "POST", f"/callbacks/{callback.id}/retry", token="reader"
    )

    assert status == 403
    assert body["error"]["code"] == "insufficient_scope"
    status, _, body = await components.request("GET", PARKED)
    assert [row["id"] for row in body["callbacks"]] == [callback.id]


async def test_county_token_forbidden(components: Components) -> None:
    _, token = await create_token(components.db, "dongsheng", ["command_centre", "county:150602"])
    components.tokens["county"] = token

    status, _, body = await components.request("GET", PARKED, token="county")

    assert status == 403
    assert body["error"]["code"] == "permission_denied"
    assert "county 150602" in body["error"]["message"]
