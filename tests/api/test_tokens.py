"""API tokens: stored as a hash, verified, revoked; made with the command line; `griddispatch api`.

The command-line tests run `main` in a worker thread, because it calls
`asyncio.run` itself.
"""

import asyncio
import hashlib
import logging
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from dispatcher.cli.main import main
from griddispatch.errors import NotFoundError, ValidationError
from griddispatch.nats_server import NatsServer, free_port
from storage.api_tokens.models import ApiToken
from storage.api_tokens.service import create_token, revoke_token, verify_token
from storage.db import Database

STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


async def _stored(db: Database, name: str) -> ApiToken:
    async with db.reading() as session:
        record = await session.scalar(select(ApiToken).where(ApiToken.name == name))
    assert record is not None, f"token {name} is not stored"
    return record


async def test_token_is_stored_as_hash(db: Database) -> None:
    record, plaintext = await create_token(db, "centre", ["command_centre"])

    stored = await _stored(db, "centre")
    assert stored.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in (stored.token_hash, stored.token_prefix)
    assert plaintext.startswith(stored.token_prefix)
    assert stored.scopes == ["command_centre"]
    assert stored.hmac_secret is None
    assert (await verify_token(db, plaintext)) is not None
    assert record.id == stored.id


async def test_verify_rejects_other_tokens(db: Database) -> None:
    _, plaintext = await create_token(db, "centre", ["command_centre"])

    assert await verify_token(db, plaintext + "x") is None
    assert await verify_token(db, plaintext[:-1]) is None
    assert await verify_token(db, "") is None


async def test_revoked_token_fails_verification(db: Database) -> None:
    _, plaintext = await create_token(db, "centre", ["command_centre"])

    revoked = await revoke_token(db, "centre")

    assert revoked.revoked is True
    assert revoked.revoked_at is not None
    assert await verify_token(db, plaintext) is None


async def test_hmac_secret_is_kept_for_verification(db: Database) -> None:
    record, plaintext = await create_token(db, "monitor", ["hook"], with_hmac_secret=True)

    stored = await _stored(db, "monitor")
    assert record.hmac_secret is not None
    assert len(record.hmac_secret) == 64
    assert stored.hmac_secret == record.hmac_secret
    assert record.hmac_secret not in plaintext


@pytest.mark.parametrize(
    ("name", "scopes", "limits", "message"),
    [
        ("has space", ["read_only"], (1.0, 1), "token name"),
        ("x" * 33, ["read_only"], (1.0, 1), "token name"),
        ("reader", [], (1.0, 1), "at least one scope"),
        ("reader", ["admin"], (1.0, 1), "unknown scope 'admin'"),
        ("reader", ["read_only"], (0.0, 1), "rate 0.0"),
        ("reader", ["read_only"], (1.0, 0), "burst 0"),
    ],
)
async def test_invalid_token_settings_are_rejected(
    db: Database, name: str, scopes: list[str], limits: tuple[float, int], message: str
) -> None:
    rate, burst = limits
    with pytest.raises(ValidationError, match=message):
        await create_token(db, name, scopes, rate_per_s=rate, burst=burst)


async def test_token_name_is_unique(db: Database) -> None:
    await create_token(db, "centre", ["command_centre"])

    with pytest.raises(ValidationError, match="already used"):
        await create_token(db, "centre", ["read_only"])


async def test_revoking_unknown_token_names_it(db: Database) -> None:
    with pytest.raises(NotFoundError, match="'nobody'"):
        await revoke_token(db, "nobody")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Undo the handlers and levels that `main` sets through configure_logging."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str, restore_logging: None
) -> str:
    """Point the command at tmp_path and the test database."""
    monkeypatch.setenv("GRIDDISPATCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GRIDDISPATCH_DATABASE_URL", database_url)
    monkeypatch.setenv("GRIDDISPATCH_LOCALE", "en")
    return database_url


async def test_cli_creates_token_shown_once(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await asyncio.to_thread(
        main, ["tokens", "create", "centre", "--scope", "command_centre", "--hmac"]
    )

    output = capsys.readouterr().out.splitlines()
    assert code == 0
    assert "centre" in output[0]
    plaintext = output[1]
    db = Database(cli_env)
    try:
        record = await verify_token(db, plaintext)
        assert record is not None
        assert record.scopes == ["command_centre"]
        assert output[3] == record.hmac_secret
    finally:
        await db.dispose()


async def test_cli_revokes_token(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    await asyncio.to_thread(main, ["tokens", "create", "reader", "--scope", "read_only"])
    plaintext = capsys.readouterr().out.splitlines()[1]

    code = await asyncio.to_thread(main, ["tokens", "revoke", "reader"])

    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        "Token reader revoked.",
        "API processes that cached it accept it for up to 5 s more (GRIDDISPATCH_TOKEN_CACHE_S).",
    ]
    db = Database(cli_env)
    try:
        assert await verify_token(db, plaintext) is None
    finally:
        await db.dispose()


async def test_cli_revoke_without_cache(
    cli_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GRIDDISPATCH_TOKEN_CACHE_S", "0")
    await asyncio.to_thread(main, ["tokens", "create", "writer", "--scope", "read_only"])
    capsys.readouterr()

    code = await asyncio.to_thread(main, ["tokens", "revoke", "writer"])

    assert code == 0
    assert capsys.readouterr().out.splitlines() == ["Token writer revoked."]


async def test_cli_rejects_unknown_scope(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        await asyncio.to_thread(main, ["tokens", "create", "x", "--scope", "admin"])

    assert "invalid choice: 'admin'" in capsys.readouterr().err


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


async def _wait_ready(url: str, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline and process.returncode is None:
        if await asyncio.to_thread(_get, url) == 200:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"`griddispatch api` did not become ready at {url}")


async def test_api_command_serves_until_ctrl_c(
    nats_server: NatsServer, database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    environment = {key: value for key, value in os.environ.items() if not key.startswith("GRID")}
    environment.update(
        GRIDDISPATCH_DATA_DIR=str(tmp_path),
        GRIDDISPATCH_DATABASE_URL=database_url,
        GRIDDISPATCH_NATS_URL=nats_server.url,
        GRIDDISPATCH_API_PORT=str(port),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dispatcher.cli.main",
        "api",
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        await _wait_ready(f"http://127.0.0.1:{port}/api/v1/readyz", process)
        assert await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/api/v1/tasks") == 401

        process.send_signal(signal.SIGINT)
        output, _ = await asyncio.wait_for(process.communicate(), STOP_TIMEOUT_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log_text = output.decode(errors="replace")
    assert process.returncode == 0, log_text
    assert "api started" in log_text
    assert "api stopped" in log_text
    assert "Traceback" not in log_text
