"""S3 settings that cannot work stop the bot at start-up with the setting to fix."""

from pathlib import Path

import pytest
from moto import settings as moto_settings
from pydantic import SecretStr

from dispatcher.up import BotEndpoint, build_component
from griddispatch.errors import ConfigurationError
from griddispatch.nats_server import free_port
from griddispatch.settings import LOCAL_BOT_TOKEN, Settings
from storage.db import Database
from storage.files import LocalFileStore, open_file_store
from storage.s3_files import S3FileStore
from tests.harness.s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, S3Server


def _s3_settings(tmp_path: Path, endpoint_url: str, bucket: str | None) -> Settings:
    return Settings(
        data_dir=tmp_path,
        file_store="s3",
        s3_endpoint_url=endpoint_url,
        s3_bucket=bucket,
        s3_region=REGION,
        s3_access_key_id=SecretStr(ACCESS_KEY_ID),
        s3_secret_access_key=SecretStr(SECRET_ACCESS_KEY),
    )


async def _start_bot(settings: Settings) -> None:
    """Build the bot as `griddispatch up` does and start it."""
    db = Database(f"sqlite+aiosqlite:///{settings.data_dir / 'unused.sqlite3'}")
    # Nothing listens on this port: start() must fail on the store before it connects.
    endpoint = BotEndpoint(LOCAL_BOT_TOKEN, f"http://127.0.0.1:{free_port()}")
    bot = build_component("bot", settings, db, nats_url="nats://127.0.0.1:1", bot=endpoint)
    try:
        await bot.start()
    finally:
        await db.dispose()


async def test_missing_bucket_stops_bot_start(tmp_path: Path, s3_server: S3Server) -> None:
    settings = _s3_settings(tmp_path, s3_server.endpoint_url, "no-such-bucket")

    with pytest.raises(ConfigurationError) as raised:
        await _start_bot(settings)

    message = str(raised.value)
    assert "'no-such-bucket' does not exist" in message
    assert "GRIDDISPATCH_S3_BUCKET" in message


async def test_unreachable_endpoint_names_setting(tmp_path: Path) -> None:
    endpoint_url = f"http://127.0.0.1:{free_port()}"
    settings = _s3_settings(tmp_path, endpoint_url, "photos")

    with pytest.raises(ConfigurationError) as raised:
        await _start_bot(settings)

    message = str(raised.value)
    assert endpoint_url in message
    assert "cannot be reached" in message
    assert "GRIDDISPATCH_S3_ENDPOINT_URL" in message


async def test_refused_credentials_name_settings(
    tmp_path: Path, s3_server: S3Server, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Switch on moto's IAM checks: the test key pair belongs to no IAM user, so the
    # server rejects it as a real S3 server rejects an unknown key.
    monkeypatch.setattr(moto_settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    settings = _s3_settings(tmp_path, s3_server.endpoint_url, bucket)

    with pytest.raises(ConfigurationError) as raised:
        await _start_bot(settings)

    message = str(raised.value)
    assert "refused the credentials" in message
    assert "GRIDDISPATCH_S3_ACCESS_KEY_ID" in message
    assert SECRET_ACCESS_KEY not in message


async def test_s3_without_bucket_setting(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, file_store="s3")

    with pytest.raises(ConfigurationError, match="GRIDDISPATCH_S3_BUCKET is not set"):
        open_file_store(settings)


async def test_key_id_without_secret(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        file_store="s3",
        s3_bucket="photos",
        s3_access_key_id=SecretStr(ACCESS_KEY_ID),
    )

    with pytest.raises(ConfigurationError, match="GRIDDISPATCH_S3_SECRET_ACCESS_KEY"):
        open_file_store(settings)


def test_store_kind_follows_setting(tmp_path: Path) -> None:
    local = open_file_store(Settings(data_dir=tmp_path))
    remote = open_file_store(_s3_settings(tmp_path, "http://127.0.0.1:9", "photos"))

    assert isinstance(local, LocalFileStore)
    assert local.root == tmp_path / "files"
    assert isinstance(remote, S3FileStore)
    assert remote.config.bucket == "photos"


def test_config_repr_hides_secret(tmp_path: Path) -> None:
    store = open_file_store(_s3_settings(tmp_path, "http://127.0.0.1:9", "photos"))

    assert isinstance(store, S3FileStore)
    assert SECRET_ACCESS_KEY not in repr(store.config)
    assert ACCESS_KEY_ID not in repr(store.config)


def test_unknown_store_kind_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDDISPATCH_FILE_STORE", "ftp")

    with pytest.raises(ValueError, match="file_store"):
        Settings(data_dir=tmp_path)
