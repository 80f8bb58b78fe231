"""Bearer tokens and scopes: who gets in, who gets 401 and who gets 403."""

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from griddispatch.clock import ManualClock
from griddispatch.nats_server import NatsServer
from griddispatch.settings import DEFAULT_TOKEN_CACHE_S, Settings
from storage.api_tokens.models import ApiToken
from storage.api_tokens.service import revoke_token
from storage.db import Database
from storage.escalation.policy import Escalation
from tests.api.support import Client, serving
from tests.harness.loop import TEST_POLICIES

DIRECTIVE = {"target": {"kind": "grid", "code": "150602001001"}, "title": "检查"}


async def test_no_token_is_401(api: Client) -> None:
    reply = await api.get("/tasks", token=None)

    assert reply.status == 401
    assert reply.error_code == "missing_token"
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in reply.data["error"]["message"]


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer gdt_not-a-real-token", "gdt_no_scheme"]
)
async def test_bad_authorization_is_401(api: Client, header: str) -> None:
    reply = await api.get("/tasks", token=None, headers={"Authorization": header})

    assert reply.status == 401
    assert reply.error_code == "invalid_token"


async def test_wrong_scope_is_403(api: Client) -> None:
    reply = await api.post("/directives", json=DIRECTIVE, token="reader")

    assert reply.status == 403
    assert reply.error_code == "insufficient_scope"
    assert "command_centre" in reply.data["error"]["message"]
    assert "read_only" in reply.data["error"]["message"]


@pytest.mark.parametrize("path", ["/tasks", "/directives", "/divisions", "/inspectors"])
async def test_hook_token_cannot_read(api: Client, path: str) -> None:
    reply = await api.get(path, token="hook")

    assert reply.status == 403
    assert reply.error_code == "insufficient_scope"


@pytest.mark.parametrize("token", ["centre", "reader"])
async def test_readers_can_read(api: Client, token: str) -> None:
    reply = await api.get("/tasks", token=token)

    assert reply.status == 200


async def test_revoked_token_401_after_ttl(api: Client, db: Database, clock: ManualClock) -> None:
    assert (await api.get("/tasks", token="reader")).status == 200

    await revoke_token(db, "reader")
    within_ttl = await api.get("/tasks", token="reader")
    clock.advance(timedelta(seconds=DEFAULT_TOKEN_CACHE_S))
    after_ttl = await api.get("/tasks", token="reader")

    assert within_ttl.status == 200
    assert after_ttl.status == 401
    assert after_ttl.error_code == "invalid_token"
    assert "revoked" in after_ttl.data["error"]["message"]


async def test_revoked_token_401_without_cache(
    nats_server: NatsServer, db: Database, clock: ManualClock, tmp_path: Path
) -> None:
    async with serving(
        nats_url=nats_server.url,
        db=db,
        escalation=Escalation.load(TEST_POLICIES, tmp_path / "calendars"),
        clock=clock,
        settings=Settings(data_dir=tmp_path, token_cache_s=0),
    ) as api:
        assert (await api.get("/tasks", token="reader")).status == 200

        await revoke_token(db, "reader")
        reply = await api.get("/tasks", token="reader")

    assert reply.status == 401
    assert reply.error_code == "invalid_token"
    assert "revoked" in reply.data["error"]["message"]


async def test_use_is_recorded(api: Client, db: Database, clock: ManualClock) -> None:
    await api.get("/tasks", token="reader")

    async with db.reading() as session:
        reader = await session.scalar(select(ApiToken).where(ApiToken.name == "reader"))
        centre = await session.scalar(select(ApiToken).where(ApiToken.name == "centre"))
    assert reader is not None and centre is not None
    assert reader.last_used_at == clock.now()
    assert centre.last_used_at is None


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json"])
async def test_operations_need_no_token(api: Client, path: str) -> None:
    reply = await api.get(path, token=None)

    assert reply.status == 200


async def test_unknown_path_is_json_404(api: Client) -> None:
    reply = await api.get("/no/such/endpoint", token=None)

    assert reply.status == 404
    assert reply.error_code == "not_found"
    assert "openapi.json" in reply.data["error"]["message"]


async def test_wrong_method_is_json_405(api: Client) -> None:
    reply = await api.request("DELETE", "/tasks")

    assert reply.status == 405
    assert reply.error_code == "method_not_allowed"
    assert reply.headers["Allow"] == "GET"
