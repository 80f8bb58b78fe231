"""What every file store does, checked on the local folder and on S3 alike."""

import hashlib
import io
from datetime import datetime

import pytest

from storage.files import FileStore
from tests.harness.images import png

# Larger than one multipart part of the S3 store (8 MiB), so it goes up in two parts.
LARGE_BYTES = 9 * 1024 * 1024 + 17


async def test_put_returns_hash_size_and_time(store: FileStore) -> None:
    data = png()
    before = datetime.now().astimezone()

    stored = await store.put(data, suffix=".png")

    digest = hashlib.sha256(data).hexdigest()
    assert stored.sha256 == digest
    assert stored.size_bytes == len(data)
    assert stored.key == f"{digest[:2]}/{digest}.png"
    assert stored.stored_at >= before
    assert stored.stored_at.tzinfo is not None


async def test_get_returns_stored_bytes(store: FileStore) -> None:
    data = png(40, 30, (1, 2, 3))

    stored = await store.put(data, suffix=".png")

    assert await store.get(stored.key) == data


async def test_same_bytes_keep_one_key(store: FileStore) -> None:
    first = await store.put(b"same photo", suffix=".jpg")
    second = await store.put(b"same photo", suffix=".jpg")
    streamed = await store.put_stream(io.BytesIO(b"same photo"), suffix=".jpg")

    assert first.key == second.key
    assert streamed.key == first.key
    assert streamed.sha256 == first.sha256


async def test_exists_only_after_put(store: FileStore) -> None:
    data = b"evidence bytes"
    digest = hashlib.sha256(data).hexdigest()
    key = f"{digest[:2]}/{digest}.bin"

    assert not await store.exists(key)
    stored = await store.put(data, suffix=".bin")

    assert stored.key == key
    assert await store.exists(key)


async def test_unknown_key_raises_file_not_found(store: FileStore) -> None:
    digest = "ab" + "0" * 62

    with pytest.raises(FileNotFoundError):
        await store.get(f"ab/{digest}.jpg")


async def test_stream_reads_from_position(store: FileStore) -> None:
    stream = io.BytesIO(b"HEADERphoto bytes")
    stream.seek(len(b"HEADER"))

    stored = await store.put_stream(stream, suffix=".jpg")

    assert await store.get(stored.key) == b"photo bytes"
    assert stored.size_bytes == len(b"photo bytes")


async def test_large_stream_round_trips(store: FileStore) -> None:
    data = bytes(range(256)) * (LARGE_BYTES // 256) + b"tail"

    stored = await store.put_stream(io.BytesIO(data), suffix=".bin")

    assert stored.size_bytes == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert await store.get(stored.key) == data


async def test_key_outside_store_is_rejected(store: FileStore) -> None:
    with pytest.raises(ValueError, match="file key"):
        await store.get("../../etc/passwd")
