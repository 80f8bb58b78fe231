"""File stores under test: a local folder and a bucket on moto's S3 server."""

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from storage.files import FileStore, LocalFileStore
from storage.s3_files import S3FileStore
from tests.harness.s3 import S3Server, running_s3_server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    with running_s3_server() as server:
        yield server


@pytest.fixture
async def bucket(s3_server: S3Server) -> str:
    """Create a bucket of its own for one test; moto keeps every bucket in one process."""
    name = f"photos-{uuid.uuid4().hex[:12]}"
    await s3_server.create_bucket(name)
    return name


@pytest.fixture(params=["local", "s3"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, s3_server: S3Server, bucket: str
) -> AsyncIterator[FileStore]:
    """A started file store of each kind."""
    started: FileStore
    if request.param == "local":
        started = LocalFileStore(tmp_path / "files")
    else:
        started = S3FileStore(s3_server.config(bucket, prefix="griddispatch/"))
    await started.start()
    yield started
    await started.close()
