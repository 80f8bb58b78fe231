"""A whole result submission with photos stored in an S3 bucket (moto's S3 server)."""

import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.results.models import InspectionResult, Photo
from storage.s3_files import S3FileStore
from tests.bot.support import (
    GRID_INSPECTORS,
    ORDOS_LATITUDE,
    ORDOS_LONGITUDE,
    acknowledge,
    bind_codes,
    directive_for,
    open_draft_at_photos,
)
from tests.harness.images import png
from tests.harness.loop import Loop, running_loop
from tests.harness.s3 import S3Server, running_s3_server

PREFIX = "evidence/"
SITE_PHOTO = png(48, 36, (10, 90, 200))
STORE_ROOM_PHOTO = png(64, 48, (200, 10, 10))


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    with running_s3_server() as server:
        yield server


@pytest.fixture
async def s3_loop(
    database_url: str, tmp_path: Path, s3_server: S3Server
) -> AsyncIterator[tuple[Loop, S3FileStore]]:
    bucket = f"photos-{uuid.uuid4().hex[:12]}"
    await s3_server.create_bucket(bucket)
    store = S3FileStore(s3_server.config(bucket, prefix=PREFIX))
    async with running_loop(database_url, tmp_path, files=store) as running:
        yield running, store


async def _submit_two_photos(loop: Loop, user: int, prompt_id: int) -> None:
    await loop.control.send_photo(user, SITE_PHOTO)
    await loop.chats.receives(user, "第 1 张")
    await loop.control.send_photo(user, STORE_ROOM_PHOTO, as_document=True, file_name="库房.png")
    await loop.chats.receives(user, "第 2 张")
    await loop.control.tap(user, prompt_id, button_text="照片已发完")
    await loop.chats.receives(user, "发送您的位置")
    await loop.chats.receives(user, "返回上一步")
    await loop.control.send_location(user, ORDOS_LATITUDE, ORDOS_LONGITUDE)
    await loop.chats.receives(user, "已收到位置")
    summary = await loop.chats.receives(user, "请核对", "照片：2 张")
    await loop.control.tap(user, summary.message_id, button_text="提交")
    await loop.chats.receives(user, "核验码")
    await loop.chats.receives(user, "检查回执")


async def _recorded_photos(loop: Loop) -> list[Photo]:
    async with loop.db.reading() as session:
        result = await session.scalar(select(InspectionResult))
        assert result is not None
        rows = await session.scalars(
            select(Photo).where(Photo.result_id == result.id).order_by(Photo.id)
        )
        return list(rows)


async def test_submission_stores_photos_in_bucket(
    s3_loop: tuple[Loop, S3FileStore], s3_server: S3Server
) -> None:
    loop, store = s3_loop
    inspector, user = (await bind_codes(loop, GRID_INSPECTORS[0]))[GRID_INSPECTORS[0]]
    await directive_for(loop, inspector, "s3-photos", "照片存储检查")
    card = await acknowledge(loop, user, await loop.chats.receives(user, "照片存储检查"))
    prompt = await open_draft_at_photos(loop, user, card, "现场检查未发现问题")

    await _submit_two_photos(loop, user, prompt.message_id)

    photos = await _recorded_photos(loop)
    assert [photo.mime_type for photo in photos] == ["image/jpeg", "image/png"]
    async with s3_server.client() as client:
        listed = await client.list_objects_v2(Bucket=store.config.bucket)
        names = sorted(item["Key"] for item in listed.get("Contents", []))
        assert names == sorted(PREFIX + photo.storage_key for photo in photos)
        for photo, sent in zip(photos, (SITE_PHOTO, STORE_ROOM_PHOTO), strict=True):
            head = await client.head_object(
                Bucket=store.config.bucket, Key=PREFIX + photo.storage_key
            )
            response = await client.get_object(
                Bucket=store.config.bucket, Key=PREFIX + photo.storage_key
            )
            async with response["Body"] as body:
                data = await body.read()
            assert data == sent
            assert photo.sha256 == hashlib.sha256(sent).hexdigest()
            assert photo.size_bytes == len(sent)
            assert head["ContentLength"] == photo.size_bytes
            assert head["Metadata"]["sha256"] == photo.sha256
