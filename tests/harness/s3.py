"""A real S3-protocol server for tests: moto's standalone server on 127.0.0.1."""

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiobotocore.session import get_session
from moto.server import ThreadedMotoServer

from storage.s3_files import S3Config

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

REGION = "us-east-1"
# moto accepts any key pair unless its IAM checks are switched on.
ACCESS_KEY_ID = "test-access-key"
SECRET_ACCESS_KEY = "test-secret-key"


@dataclass(frozen=True)
class S3Server:
    """The address of a running moto server."""

    endpoint_url: str

    def config(self, bucket: str, *, prefix: str = "") -> S3Config:
        """Return the store settings for `bucket` on this server."""
        return S3Config(
            bucket=bucket,
            region=REGION,
            endpoint_url=self.endpoint_url,
            access_key_id=ACCESS_KEY_ID,
            secret_access_key=SECRET_ACCESS_KEY,
            prefix=prefix,
        )

    @asynccontextmanager
    async def client(self) -> AsyncIterator["S3Client"]:
        """Open an S3 client of this server, independent of the store under test."""
        async with get_session().create_client(
            "s3",
            region_name=REGION,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        ) as client:
            yield client

    async def create_bucket(self, bucket: str) -> None:
        """Create `bucket` on this server."""
        async with self.client() as client:
            await client.create_bucket(Bucket=bucket)


@contextmanager
def running_s3_server() -> Iterator[S3Server]:
    """Start moto's S3 server on a free port of 127.0.0.1 and stop it afterwards."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()
