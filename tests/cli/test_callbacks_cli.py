"""`griddispatch callbacks parked` and `callbacks retry` against the running components.

`main` calls `asyncio.run` itself, so the tests run it in a worker thread.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from dispatcher.cli.main import main
from griddispatch.nats_server import NatsServer
from storage.callbacks.models import CallbackState
from tests.hooks.components import MAX_ATTEMPTS, Components, parked_callback, running_components


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Undo the root handlers and level that `main` sets through configure_logging."""
    root = logging.getLogger()
    handlers = root.handlers[:]
    level = root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
async def components(
    nats_server: NatsServer,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    restore_logging: None,
) -> AsyncIterator[Components]:
    monkeypatch.setenv("GRIDDISPATCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GRIDDISPATCH_DATABASE_URL", database_url)
    monkeypatch.delenv("GRIDDISPATCH_LOCALE", raising=False)
    async with running_components(nats_server.url, database_url, tmp_path) as running:
        yield running


async def _run(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def test_parked_lists_callback(
    components: Components, capsys: pytest.CaptureFixture[str]
) -> None:
    callback = await parked_callback(components, "cli-parked-1")

    assert await _run("callbacks", "parked") == 0

    output = capsys.readouterr().out
    assert f"回调 {callback.id}：任务 {callback.task_id}" in output
    assert f"已尝试 {MAX_ATTEMPTS} 次" in output
    assert components.receiver.url in output
    assert "HTTP 503" in output
    assert "共 1 条搁置的回调" in output


async def test_retry_sends_parked_callback(
    components: Components, capsys: pytest.CaptureFixture[str]
) -> None:
    callback = await parked_callback(components, "cli-parked-2")

    assert await _run("callbacks", "retry", str(callback.id)) == 0

    assert f"回调 {callback.id} 已重新排队" in capsys.readouterr().out
    delivered = await components.callback_becomes(callback.task_id, CallbackState.DELIVERED)
    assert delivered.attempts == MAX_ATTEMPTS + 1
    assert await _run("callbacks", "parked") == 0
    assert "共 0 条搁置的回调" in capsys.readouterr().out


async def test_retry_unknown_callback_fails(
    components: Components, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _run("callbacks", "retry", "424242") == 1

    assert "未找到回调 424242" in capsys.readouterr().err
