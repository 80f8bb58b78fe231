"""The file store on S3-compatible object storage (AWS S3, MinIO, Ceph RGW, Aliyun OSS).

It uses aiobotocore, the asyncio port of botocore maintained under the aio-libs
organisation. aioboto3 only wraps aiobotocore in boto3's resource layer, which
this store does not need, so the client it talks through is aiobotocore's own.
Signing, retries and the AWS credential chain are botocore's.

Object names are `S3_PREFIX` followed by the store's content key, and each object
carries its SHA-256 as the `ChecksumSHA256` that S3 verifies on upload and as
`x-amz-meta-sha256`.
"""

import asyncio
import base64
import hashlib
import logging
import tempfile
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)

from griddispatch.clock import Clock, SystemClock
from griddispatch.errors import ConfigurationError, InfrastructureError
from storage.files import STREAM_CHUNK_BYTES, StoredFile, check_key, content_key

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef

    from griddispatch.settings import Settings

log = logging.getLogger(__name__)

# Streams larger than this go up as a multipart upload in parts of this size.
# S3 requires parts of at least 5 MiB, except the last one.
MULTIPART_PART_BYTES = 8 * 1024 * 1024
# Spooled streams stay in memory up to this size, then move to a temporary file.
SPOOL_MEMORY_BYTES = 2 * 1024 * 1024

CREDENTIAL_ERRORS = frozenset(
    {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden"}
)
MISSING_BUCKET_ERRORS = frozenset({"404", "NoSuchBucket", "NotFound"})
MISSING_KEY_ERRORS = frozenset({"404", "NoSuchKey", "NotFound"})


@dataclass(frozen=True)
class S3Config:
    """The bucket, its server and the credentials; `repr` leaves the credentials out."""

    bucket: str
    region: str
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    prefix: str = ""

    def __repr__(self) -> str:
        return (
            f"S3Config(bucket={self.bucket!r}, region={self.region!r}, "
            f"endpoint_url={self.endpoint_url!r}, prefix={self.prefix!r})"
        )


def s3_config_from(settings: "Settings") -> S3Config:
    """Read the S3 settings, or raise ConfigurationError naming the one missing."""
    if not settings.s3_bucket:
        raise ConfigurationError(
            "GRIDDISPATCH_FILE_STORE is s3 but GRIDDISPATCH_S3_BUCKET is not set; set it to the "
            "name of an existing bucket"
        )
    key_id = settings.s3_access_key_id
    secret = settings.s3_secret_access_key
    if (key_id is None) != (secret is None):
        raise ConfigurationError(
            "set both GRIDDISPATCH_S3_ACCESS_KEY_ID and GRIDDISPATCH_S3_SECRET_ACCESS_KEY, or "
            "neither to use the AWS default credential chain"
        )
    return S3Config(
        bucket=settings.s3_bucket,
        region=settings.s3_region,
        endpoint_url=settings.s3_endpoint_url or None,
        access_key_id=key_id.get_secret_value() if key_id else None,
        secret_access_key=secret.get_secret_value() if secret else None,
        prefix=settings.s3_prefix,
    )


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _sha256_header(digest: str) -> str:
    """Return a hex SHA-256 as the base64 value S3's ChecksumSHA256 takes."""
    return base64.b64encode(bytes.fromhex(digest)).decode("ascii")


class S3FileStore:
    """Files in one bucket of an S3-compatible server, at `<prefix><content key>`."""

    def __init__(self, config: S3Config, *, clock: Clock | None = None) -> None:
        self.config = config
        self._clock: Clock = clock or SystemClock()
        self._stack = AsyncExitStack()
        self._client: S3Client | None = None

    def object_name(self, key: str) -> str:
        """Return the object name of a store key, with the prefix."""
        check_key(key)
        return self.config.prefix + key

    @property
    def _s3(self) -> "S3Client":
        if self._client is None:
            raise RuntimeError("S3FileStore used before start(); call start() first")
        return self._client

    async def start(self) -> None:
        """Open the client and check the bucket with HeadBucket.

        Raises ConfigurationError naming the setting to fix when the endpoint cannot
        be reached, the credentials are refused or the bucket does not exist.
        """
        # Path-style URLs (endpoint/bucket/key) work on every S3-compatible server;
        # virtual-hosted ones need a DNS name per bucket, which local servers lack.
        addressing = "path" if self.config.endpoint_url else "auto"
        client_config = AioConfig(
            connect_timeout=5,
            read_timeout=60,
            retries={"max_attempts": 3, "mode": "standard"},
            s3={"addressing_style": addressing},
        )
        creator = get_session().create_client(
            "s3",
            region_name=self.config.region,
            endpoint_url=self.config.endpoint_url,
            aws_access_key_id=self.config.access_key_id,
            aws_secret_access_key=self.config.secret_access_key,
            config=client_config,
        )
        self._client = await self._stack.enter_async_context(creator)
        try:
            await self._check_bucket()
        except BaseException:
            await self.close()
            raise
        log.info(
            "file store ready kind=s3 endpoint=%s bucket=%s prefix=%s",
            self.config.endpoint_url or "aws",
            self.config.bucket,
            self.config.prefix,
        )

    async def _check_bucket(self) -> None:
        endpoint = self.config.endpoint_url or f"AWS S3 in {self.config.region}"
        try:
            await self._s3.head_bucket(Bucket=self.config.bucket)
        except EndpointConnectionError as exc:
            raise ConfigurationError(
                "the S3 endpoint {endpoint} cannot be reached ({exc}); check "
                "GRIDDISPATCH_S3_ENDPOINT_URL and that the server is running",
                endpoint=endpoint,
                exc=exc,
            ) from exc
        except NoCredentialsError as exc:
            raise ConfigurationError(
                "no S3 credentials were found for bucket {bucket!r}; set "
                "GRIDDISPATCH_S3_ACCESS_KEY_ID and GRIDDISPATCH_S3_SECRET_ACCESS_KEY",
                bucket=self.config.bucket,
            ) from exc
        except ClientError as exc:
            raise _bucket_error(exc, self.config.bucket, endpoint) from exc
        except BotoCoreError as exc:
            raise ConfigurationError(
                "the S3 bucket {bucket!r} at {endpoint} cannot be checked ({exc}); "
                "check GRIDDISPATCH_S3_ENDPOINT_URL, GRIDDISPATCH_S3_REGION and the credentials",
                bucket=self.config.bucket,
                endpoint=endpoint,
                exc=exc,
            ) from exc

    async def close(self) -> None:
        """Close the client's connections."""
        await self._stack.aclose()
        self._client = None

    async def put(self, data: bytes, *, suffix: str = "") -> StoredFile:
        """Upload `data` unless an object with its key is already in the bucket."""
        digest = hashlib.sha256(data).hexdigest()
        key = content_key(digest, suffix)
        if not await self.exists(key):
            await self._put_object(key, data, digest)
        log.debug("file stored key=%s size=%d", key, len(data))
        return StoredFile(key, digest, len(data), self._clock.now())

    async def _put_object(self, key: str, data: bytes, digest: str) -> None:
        try:
            await self._s3.put_object(
                Bucket=self.config.bucket,
                Key=self.object_name(key),
                Body=data,
                ChecksumSHA256=_sha256_header(digest),
                Metadata={"sha256": digest},
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._failure("upload", key, exc) from exc

    async def put_stream(self, stream: BinaryIO, *, suffix: str = "") -> StoredFile:
        """Spool `stream` while hashing it, then upload it, in parts when it is large."""
        spool, digest, size = await asyncio.to_thread(_spool, stream)
        with spool:
            key = content_key(digest, suffix)
            if await self.exists(key):
                pass
            elif size <= MULTIPART_PART_BYTES:
                data = await asyncio.to_thread(spool.read)
                await self._put_object(key, data, digest)
            else:
                await self._put_multipart(key, spool, digest)
        log.debug("file stored key=%s size=%d", key, size)
        return StoredFile(key, digest, size, self._clock.now())

    async def _put_multipart(self, key: str, spool: BinaryIO, digest: str) -> None:
        name = self.object_name(key)
        bucket = self.config.bucket
        try:
            created = await self._s3.create_multipart_upload(
                Bucket=bucket, Key=name, Metadata={"sha256": digest}
            )
            upload_id = created["UploadId"]
            try:
                parts = await self._upload_parts(name, upload_id, spool)
                await self._s3.complete_multipart_upload(
                    Bucket=bucket,
                    Key=name,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
            except BaseException:
                await self._s3.abort_multipart_upload(Bucket=bucket, Key=name, UploadId=upload_id)
                raise
        except (ClientError, BotoCoreError) as exc:
            raise self._failure("multipart upload", key, exc) from exc

    async def _upload_parts(
        self, name: str, upload_id: str, spool: BinaryIO
    ) -> list["CompletedPartTypeDef"]:
        parts: list[CompletedPartTypeDef] = []
        number = 1
        while part := await asyncio.to_thread(spool.read, MULTIPART_PART_BYTES):
            uploaded = await self._s3.upload_part(
                Bucket=self.config.bucket,
                Key=name,
                UploadId=upload_id,
                PartNumber=number,
                Body=part,
            )
            parts.append({"ETag": uploaded["ETag"], "PartNumber": number})
            number += 1
        return parts

    async def get(self, key: str) -> bytes:
        """Download a stored file. Raises FileNotFoundError for an unknown key."""
        try:
            response = await self._s3.get_object(
                Bucket=self.config.bucket, Key=self.object_name(key)
            )
            async with response["Body"] as body:
                return await body.read()
        except ClientError as exc:
            if _error_code(exc) in MISSING_KEY_ERRORS:
                raise FileNotFoundError(
                    f"file {key!r} is not in bucket {self.config.bucket!r}"
                ) from exc
            raise self._failure("download", key, exc) from exc
        except BotoCoreError as exc:
            raise self._failure("download", key, exc) from exc

    async def exists(self, key: str) -> bool:
        """Return whether an object is stored under `key`, by HeadObject."""
        try:
            await self._s3.head_object(Bucket=self.config.bucket, Key=self.object_name(key))
        except ClientError as exc:
            if _error_code(exc) in MISSING_KEY_ERRORS:
                return False
            raise self._failure("check", key, exc) from exc
        except BotoCoreError as exc:
            raise self._failure("check", key, exc) from exc
        return True

    def _failure(self, action: str, key: str, exc: Exception) -> InfrastructureError:
        log.warning(
            "file store request failed action=%s bucket=%s key=%s error=%s",
            action,
            self.config.bucket,
            key,
            exc,
        )
        return InfrastructureError(
            "S3 {action} of {key!r} in bucket {bucket!r} failed ({exc})",
            action=action,
            key=key,
            bucket=self.config.bucket,
            exc=exc,
        )


def _bucket_error(exc: ClientError, bucket: str, endpoint: str) -> ConfigurationError:
    code = _error_code(exc)
    if code in MISSING_BUCKET_ERRORS:
        return ConfigurationError(
            "the S3 bucket {bucket!r} does not exist at {endpoint}; create it or set "
            "GRIDDISPATCH_S3_BUCKET to an existing bucket",
            bucket=bucket,
            endpoint=endpoint,
        )
    if code in CREDENTIAL_ERRORS:
        return ConfigurationError(
            "the S3 server at {endpoint} refused the credentials for bucket {bucket!r} "
            "({error_code}); check GRIDDISPATCH_S3_ACCESS_KEY_ID and "
            "GRIDDISPATCH_S3_SECRET_ACCESS_KEY and that the key may use the bucket",
            endpoint=endpoint,
            bucket=bucket,
            error_code=code,
        )
    return ConfigurationError(
        "the S3 bucket {bucket!r} at {endpoint} cannot be used ({error}); check "
        "GRIDDISPATCH_S3_ENDPOINT_URL, GRIDDISPATCH_S3_REGION and GRIDDISPATCH_S3_BUCKET",
        bucket=bucket,
        endpoint=endpoint,
        error=code or exc,
    )


def _spool(stream: BinaryIO) -> tuple[BinaryIO, str, int]:
    """Copy `stream` into a temporary spool, rewound, and return it with its SHA-256 and size."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115
    hasher = hashlib.sha256()
    size = 0
    while chunk := stream.read(STREAM_CHUNK_BYTES):
        hasher.update(chunk)
        spool.write(chunk)
        size += len(chunk)
    spool.seek(0)
    return spool, hasher.hexdigest(), size  # type: ignore[return-value]
