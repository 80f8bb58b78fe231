"""The file store for evidence: photos and other files, kept by their SHA-256.

`FileStore` is the interface the bot writes through. Two stores implement it:
`LocalFileStore`, a local folder and the default, and `storage.s3_files.S3FileStore`,
a bucket of any S3-compatible object storage. `open_file_store` picks one from the
settings. Keys are content-addressed and the same in every store
(`<first two hash characters>/<hash><suffix>`), so storing the same photo twice
keeps one copy and a key recorded with one store names the same file in another.
"""

import asyncio
import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from griddispatch.clock import Clock, SystemClock
from griddispatch.errors import ConfigurationError

if TYPE_CHECKING:
    from griddispatch.settings import Settings

log = logging.getLogger(__name__)

# Bytes read from a stream at a time while it is hashed and stored.
STREAM_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class StoredFile:
    """A stored file: its key, SHA-256, size and the time it was stored (UTC)."""

    key: str
    sha256: str
    size_bytes: int
    stored_at: datetime


class FileStore(Protocol):
    """A content-addressed store of files, local or remote."""

    async def start(self) -> None:
        """Check that the store can be used; raise ConfigurationError naming the setting to fix."""

    async def close(self) -> None:
        """Release connections; the store is not used afterwards."""

    async def put(self, data: bytes, *, suffix: str = "") -> StoredFile:
        """Store `data`; an identical file already stored is kept as is."""

    async def put_stream(self, stream: BinaryIO, *, suffix: str = "") -> StoredFile:
        """Store the bytes of `stream` from its current position to its end."""

    async def get(self, key: str) -> bytes:
        """Return a stored file's bytes. Raises FileNotFoundError for an unknown key."""

    async def exists(self, key: str) -> bool:
        """Return whether a file is stored under `key`."""


def content_key(digest: str, suffix: str) -> str:
    """Return the key of a file with SHA-256 hex digest `digest` and name suffix `suffix`."""
    return f"{digest[:2]}/{digest}{suffix}"


def check_key(key: str) -> None:
    """Raise ValueError unless `key` has the shape `content_key` gives."""
    folder, _, name = key.partition("/")
    if len(folder) != 2 or not name.startswith(folder) or "/" in name or ".." in key:
        raise ValueError(
            f"file key {key!r} is not a file store key; keys look like 'ab/ab12...ef.jpg'"
        )


class LocalFileStore:
    """Files under one folder, at `<first two hash characters>/<hash><suffix>`."""

    def __init__(self, root: Path, *, clock: Clock | None = None) -> None:
        self.root = root
        self._clock: Clock = clock or SystemClock()

    def _path_of(self, key: str) -> Path:
        """Return the local path of a stored file's key."""
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"file key {key!r} points outside the file store")
        return path

    async def start(self) -> None:
        """Create the folder, or raise ConfigurationError when it cannot be written."""
        try:
            await asyncio.to_thread(self._check_writable)
        except OSError as exc:
            raise ConfigurationError(
                "the file store folder {folder} cannot be written ({exc}); fix its "
                "permissions or set GRIDDISPATCH_DATA_DIR to a writable folder",
                folder=self.root,
                exc=exc,
            ) from exc
        log.info("file store ready kind=local root=%s", self.root)

    def _check_writable(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.root, prefix=".check-"):
            pass

    async def close(self) -> None:
        """Do nothing, because a folder has no connections to release."""

    async def put(self, data: bytes, *, suffix: str = "") -> StoredFile:
        """Store `data` and return its key; an identical file already stored is kept as is."""
        digest = hashlib.sha256(data).hexdigest()
        key = content_key(digest, suffix)
        await asyncio.to_thread(self._write, key, data)
        log.debug("file stored key=%s size=%d", key, len(data))
        return StoredFile(key, digest, len(data), self._clock.now())

    def _write(self, key: str, data: bytes) -> None:
        path = self._path_of(key)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(path.suffix + ".partial")
        partial.write_bytes(data)
        partial.replace(path)

    async def put_stream(self, stream: BinaryIO, *, suffix: str = "") -> StoredFile:
        """Copy `stream` into the store chunk by chunk, hashing it on the way."""
        key, digest, size = await asyncio.to_thread(self._write_stream, stream, suffix)
        log.debug("file stored key=%s size=%d", key, size)
        return StoredFile(key, digest, size, self._clock.now())

    def _write_stream(self, stream: BinaryIO, suffix: str) -> tuple[str, str, int]:
        self.root.mkdir(parents=True, exist_ok=True)
        hasher = hashlib.sha256()
        size = 0
        handle, partial_name = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        partial = Path(partial_name)
        try:
            with os.fdopen(handle, "wb") as out:
                while chunk := stream.read(STREAM_CHUNK_BYTES):
                    hasher.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            key = content_key(hasher.hexdigest(), suffix)
            path = self._path_of(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            partial.replace(path)
        finally:
            partial.unlink(missing_ok=True)
        return key, hasher.hexdigest(), size

    async def get(self, key: str) -> bytes:
        """Return a stored file's bytes. Raises FileNotFoundError for an unknown key."""
        return await asyncio.to_thread(self._path_of(key).read_bytes)

    async def exists(self, key: str) -> bool:
        """Return whether a file is stored under `key`."""
        return await asyncio.to_thread(self._path_of(key).is_file)


def open_file_store(settings: "Settings", *, clock: Clock | None = None) -> FileStore:
    """Build the file store GRIDDISPATCH_FILE_STORE names; call `start()` before using it."""
    if settings.file_store == "local":
        return LocalFileStore(settings.files_dir, clock=clock)
    # Imported here so that processes on the local store do not load botocore.
    from storage.s3_files import S3FileStore, s3_config_from  # noqa: PLC0415

    return S3FileStore(s3_config_from(settings), clock=clock)
