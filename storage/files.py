"""The file store for evidence: photos and other files, kept by their SHA-256.

A local folder by default. Files are content-addressed, so storing the same
photo twice keeps one copy.
"""

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredFile:
    """Where a file went, with its hash and size."""

    key: str
    sha256: str
    size_bytes: int


class LocalFileStore:
    """Files under one folder, at `<first two hash characters>/<hash><suffix>`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, key: str) -> Path:
        """Return the local path of a stored file's key."""
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"file key {key!r} points outside the file store")
        return path

    async def put(self, data: bytes, *, suffix: str = "") -> StoredFile:
        """Store `data` and return its key; an identical file already stored is kept as is."""
        digest = hashlib.sha256(data).hexdigest()
        key = f"{digest[:2]}/{digest}{suffix}"
        await asyncio.to_thread(self._write, key, data)
        log.debug("file stored key=%s size=%d", key, len(data))
        return StoredFile(key=key, sha256=digest, size_bytes=len(data))

    def _write(self, key: str, data: bytes) -> None:
        path = self.path_of(key)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(path.suffix + ".partial")
        partial.write_bytes(data)
        partial.replace(path)

    async def get(self, key: str) -> bytes:
        """Return a stored file's bytes. Raises FileNotFoundError for an unknown key."""
        return await asyncio.to_thread(self.path_of(key).read_bytes)
