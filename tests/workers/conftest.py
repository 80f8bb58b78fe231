"""Fixtures of the worker process tests: the escalation policy file and a worker launcher."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from griddispatch.nats_server import NatsServer
from tests.workers.test_worker_processes import POLICY, WorkerLauncher


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    """The test escalation policy, written to a file the workers read."""
    path = tmp_path / "escalation.yaml"
    path.write_text(POLICY, encoding="utf-8")
    return path


@pytest.fixture
async def launcher(
    database_url: str, nats_server: NatsServer, policy_file: Path, tmp_path: Path
) -> AsyncIterator[WorkerLauncher]:
    """A WorkerLauncher whose workers are stopped after the test."""
    workers = WorkerLauncher(database_url, nats_server.url, policy_file, tmp_path)
    try:
        yield workers
    finally:
        await workers.stop_all()
