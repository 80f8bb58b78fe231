"""Photo downloads over HTTP read through the configured file store: a folder or an S3 bucket."""

import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from griddispatch.clock import ManualClock
from griddispatch.nats_server import NatsServer
from griddispatch.settings import Settings
from storage.db import Database
from storage.escalation.policy import Escalation
from storage.files import FileStore, open_file_store
from storage.registry.service import import_files
from tests.api.support import Client, serving
from tests.api.test_tasks import _submitted_with_photo
from tests.harness.images import png
from tests.harness.loop import START, TEST_POLICIES
from tests.harness.s3 import ACCESS_KEY_ID, SECRET_ACCESS_KEY, S3Server, running_s3_server
from tests.storage.support import import_small_registry, small_registry_subjects, write_csv


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    with running_s3_server() as server:
        yield server


@pytest.fixture(params=["local", "s3"])
async def settings(request: pytest.FixtureRequest, tmp_path: Path, s3_server: S3Server) -> Settings:
    """Settings naming a local folder, or a fresh bucket on moto's S3 server."""
    if request.param == "local":
        return Settings(data_dir=tmp_path / "data")
    bucket = f"photos-{uuid.uuid4().hex[:12]}"
    await s3_server.create_bucket(bucket)
    return Settings(
        data_dir=tmp_path / "data",
        file_store="s3",
        s3_endpoint_url=s3_server.endpoint_url,
        s3_bucket=bucket,
        s3_access_key_id=SecretStr(ACCESS_KEY_ID),
        s3_secret_access_key=SecretStr(SECRET_ACCESS_KEY),
        s3_prefix="griddispatch/",
    )


@pytest.fixture
async def files(settings: Settings) -> AsyncIterator[FileStore]:
    """The store the bot would save photos in, opened from the same settings as the API."""
    store = open_file_store(settings)
    await store.start()
    yield store
    await store.close()


@pytest.fixture
async def api(
    nats_server: NatsServer, db: Database, settings: Settings, tmp_path: Path
) -> AsyncIterator[Client]:
    """The API alone, over NATS and a migrated database with the small registry."""
    await import_small_registry(db, tmp_path)
    header, rows = small_registry_subjects()
    reports = await import_files(db, [write_csv(tmp_path / "subjects.csv", header, rows)])
    assert reports[0].errors == []
    async with serving(
        nats_url=nats_server.url,
        db=db,
        escalation=Escalation.load(TEST_POLICIES, settings.data_dir / "calendars"),
        clock=ManualClock(START),
        settings=settings,
    ) as client:
        yield client


async def test_photo_download_reads_the_configured_store(
    api: Client, db: Database, files: FileStore
) -> None:
    submitted = await _submitted_with_photo(db, files)
    photo = (await api.get(f"/tasks/{submitted.task_id}")).data["photos"][0]

    reply = await api.get(photo["url"].removeprefix("/api/v1"), token="reader")

    assert reply.status == 200
    assert reply.headers["Content-Type"] == "image/png"
    assert reply.body == png()
    assert hashlib.sha256(reply.body).hexdigest() == photo["sha256"]


async def test_photo_missing_from_store_is_404(
    api: Client, db: Database, settings: Settings, tmp_path: Path
) -> None:
    other_settings = Settings(data_dir=tmp_path / "elsewhere")
    elsewhere = open_file_store(other_settings)
    await elsewhere.start()
    try:
        submitted = await _submitted_with_photo(db, elsewhere)
    finally:
        await elsewhere.close()
    photo = (await api.get(f"/tasks/{submitted.task_id}")).data["photos"][0]

    reply = await api.get(f"/tasks/{submitted.task_id}/photos/{photo['id']}")

    assert reply.status == 404
    assert reply.error_code == "photo_file_missing"
    assert settings.file_store in reply.data["error"]["message"]
