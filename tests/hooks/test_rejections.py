"""Requests the hooks reject: each gets its 4xx with a clear message, and nothing is written."""

import json
from datetime import timedelta
from typing import Any

import pytest

from storage.api_tokens.service import revoke_token
from storage.hooks.models import SeenSignature
from storage.labs.models import LabSample
from storage.leads.models import Lead
from tests.hooks.support import Answer, Hooks

LEADS = "/api/v1/hooks/leads"
FARM_CODE = "92150602MANDKQ4J2L"
GOOD_LEAD = {
    "source": "opinion",
    "dedup_key": "opinion-42",
    "title": "舆情：某农场疑似违规用药",
    "subject": {"credit_code": FARM_CODE},
}
# A lead that passes authentication and then fails validation with 422, so it writes nothing.
UNTITLED_LEAD = {key: value for key, value in GOOD_LEAD.items() if key != "title"}


async def _assert_nothing_written(hooks: Hooks) -> None:
    assert await hooks.count(Lead) == 0
    assert await hooks.count(LabSample) == 0
    assert await hooks.count(SeenSignature) == 0
    assert await hooks.inbound_messages() == 0


def _assert_error(answer: Answer, status: int, code: str, *fragments: str) -> None:
    assert answer.status == status, answer.body
    assert answer.error["code"] == code
    for fragment in fragments:
        assert fragment in answer.error["message"]


async def test_unknown_token(hooks: Hooks) -> None:
    answer = await hooks.post(LEADS, GOOD_LEAD, token="gdt_not-a-real-token")

    _assert_error(answer, 401, "invalid_token", "unknown or revoked")
    await _assert_nothing_written(hooks)


async def test_revoked_token_after_cache_ttl(hooks: Hooks) -> None:
    # A 422 for the untitled lead shows that the token passed authentication.
    before_revoke = await hooks.post(LEADS, UNTITLED_LEAD)

    await revoke_token(hooks.loop.db, "monitoring")
    within_ttl = await hooks.post(LEADS, UNTITLED_LEAD)
    hooks.loop.clock.advance(timedelta(seconds=hooks.settings.token_cache_s))
    after_ttl = await hooks.post(LEADS, GOOD_LEAD)

    _assert_error(before_revoke, 422, "validation_failed", "'title' is missing")
    _assert_error(within_ttl, 422, "validation_failed", "'title' is missing")
    _assert_error(after_ttl, 401, "invalid_token", "unknown or revoked")
    await _assert_nothing_written(hooks)


async def test_signed_request_sees_revocation_at_once(hooks: Hooks) -> None:
    cached = await hooks.post(LEADS, UNTITLED_LEAD)

    await revoke_token(hooks.loop.db, "monitoring")
    signed = await hooks.post_signed(LEADS, GOOD_LEAD)

    _assert_error(cached, 422, "validation_failed", "'title' is missing")
    _assert_error(signed, 401, "invalid_signature", "matches no token")
    await _assert_nothing_written(hooks)


async def test_no_credentials(hooks: Hooks) -> None:
    answer = await hooks.post(LEADS, GOOD_LEAD, bearer=False)

    _assert_error(answer, 401, "missing_credentials", "Authorization")
    await _assert_nothing_written(hooks)


async def test_token_without_hook_scope(hooks: Hooks) -> None:
    answer = await hooks.post(LEADS, GOOD_LEAD, token=hooks.reader_token)

    _assert_error(answer, 403, "insufficient_scope", "'dashboard'", "scope 'hook'")
    await _assert_nothing_written(hooks)


async def test_signature_without_hook_scope(hooks: Hooks) -> None:
    answer = await hooks.post_signed(LEADS, GOOD_LEAD, secret=hooks.reader_secret)

    _assert_error(answer, 403, "insufficient_scope", "scope 'hook'")
    await _assert_nothing_written(hooks)


async def test_bad_signature(hooks: Hooks) -> None:
    answer = await hooks.post_signed(LEADS, GOOD_LEAD, secret="not the secret")

    _assert_error(answer, 401, "invalid_signature", "matches no token")
    await _assert_nothing_written(hooks)


async def test_body_changed_after_signing(hooks: Hooks) -> None:
    signed = json.dumps(GOOD_LEAD).encode()
    sent = json.dumps({**GOOD_LEAD, "title": "改过的标题"}).encode()

    answer = await hooks.post(LEADS, sent, bearer=False, headers=hooks.signature_headers(signed))

    _assert_error(answer, 401, "invalid_signature")
    await _assert_nothing_written(hooks)


async def test_stale_timestamp(hooks: Hooks) -> None:
    answer = await hooks.post_signed(LEADS, GOOD_LEAD, age_s=301)

    _assert_error(answer, 401, "signature_expired", "301 s", "300 s allowed")
    await _assert_nothing_written(hooks)


async def test_replayed_signature(hooks: Hooks) -> None:
    body = json.dumps(GOOD_LEAD).encode()
    headers = hooks.signature_headers(body)

    first = await hooks.post(LEADS, body, bearer=False, headers=headers)
    replay = await hooks.post(LEADS, body, bearer=False, headers=headers)

    assert first.status == 202
    _assert_error(replay, 409, "signature_replayed", "accepted before")
    await hooks.lead("opinion", "opinion-42")
    assert await hooks.count(Lead) == 1
    assert await hooks.inbound_messages() == 1
    assert await hooks.count(SeenSignature) == 1


async def test_oversized_body(hooks: Hooks) -> None:
    limit = hooks.settings.hook_max_body_bytes
    payload = {**GOOD_LEAD, "text": "超" * limit}

    answer = await hooks.post(LEADS, payload)

    _assert_error(answer, 413, "payload_too_large", f"{limit} bytes")
    await _assert_nothing_written(hooks)


async def test_oversized_chunked_body(hooks: Hooks) -> None:
    limit = hooks.settings.hook_max_body_bytes
    body = json.dumps({**GOOD_LEAD, "text": "x" * limit}).encode()

    answer = await hooks.post(LEADS, body, chunked=True)

    _assert_error(answer, 413, "payload_too_large", f"{limit} bytes")
    await _assert_nothing_written(hooks)


async def test_invalid_json(hooks: Hooks) -> None:
    answer = await hooks.post(LEADS, b'{"source": "opinion", "title": ')

    _assert_error(answer, 400, "invalid_json", "not valid JSON", "line 1")
    await _assert_nothing_written(hooks)


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"title": None}, "title", "'title' is missing"),
        ({"source": None}, "source", "'source' is missing"),
        ({"subject": {}}, "subject", "credit_code, other_id, id or name"),
        ({"severity": "catastrophic"}, "severity", "'severity' is invalid"),
        (
            {"location": {"longitude": 39.86, "latitude": 109.35}},
            "location",
            "outside China",
        ),
        (
            {"location": {"longitude": 2.35, "latitude": 48.85, "system": "wgs84"}},
            "location",
            "check that longitude comes first",
        ),
        (
            {"location": {"longitude": 109.3, "latitude": 39.8, "system": "utm"}},
            "location.system",
            "system",
        ),
    ],
)
async def test_invalid_fields(
    hooks: Hooks, change: dict[str, Any], field: str, fragment: str
) -> None:
    payload = {key: value for key, value in {**GOOD_LEAD, **change}.items() if value is not None}

    answer = await hooks.post(LEADS, payload)

    _assert_error(answer, 422, "validation_failed", fragment)
    assert answer.error["field"] == field
    await _assert_nothing_written(hooks)


async def test_lab_result_missing_fields(hooks: Hooks) -> None:
    payload = {"sample_id": "S-1", "commodity": "韭菜", "value": 0.1}

    answer = await hooks.post("/api/v1/hooks/lab-results", payload)

    _assert_error(answer, 422, "validation_failed", "'lab' is missing", "'analyte' is missing")
    await _assert_nothing_written(hooks)


async def test_lab_result_unknown_unit(hooks: Hooks) -> None:
    payload = {
        "sample_id": "S-1",
        "lab": "鄂尔多斯市农畜产品质量安全检测中心",
        "method": "GB 23200.113-2018",
        "subject": {"credit_code": FARM_CODE},
        "commodity": "韭菜",
        "analyte": "腐霉利",
        "value": 3,
        "unit": "mg/L",
    }

    answer = await hooks.post("/api/v1/hooks/lab-results", payload)

    _assert_error(answer, 422, "validation_failed", "'mg/L' is not supported")
    assert answer.error["field"] == "unit"
    await _assert_nothing_written(hooks)
