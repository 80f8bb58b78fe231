"""Runtime settings, read from `GRIDDISPATCH_*` environment variables.

The defaults run everything on one machine: SQLite and a nats-server under
the data folder, and the local Bot API server when no Telegram token is set.
"""

from datetime import time
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_NATS_PORT = 14222
DEFAULT_BOT_API_PORT = 18081
DEFAULT_HTTP_PORT = 18080
DEFAULT_DISPATCH_BATCH = 200
MAX_DISPATCH_BATCH = 500
DEFAULT_TOKEN_CACHE_S = 5.0
# The upper bound limits how long a revoked token can keep working.
MAX_TOKEN_CACHE_S = 300.0


class Settings(BaseSettings):
    """Settings of every griddispatch process."""

    model_config = SettingsConfigDict(env_prefix="GRIDDISPATCH_", extra="ignore")

    data_dir: Path = Field(
        default=Path("var"),
        description="Folder for the embedded database, JetStream files and the file store.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; empty means SQLite at DATA_DIR/griddispatch.sqlite3.",
    )
    nats_url: str | None = Field(
        default=None,
        description="External NATS server URL, or several separated by commas (the nodes of a "
        "cluster); empty means start an embedded nats-server.",
    )
    nats_port: int = Field(
        default=DEFAULT_NATS_PORT,
        description="Port of the embedded nats-server on 127.0.0.1.",
    )
    stream_replicas: int = Field(
        default=1,
        ge=1,
        le=5,
        description=(
            "Copies JetStream keeps of each stream: 1 on a single nats-server, "
            "3 on a three-node cluster."
        ),
    )
    bot_api_port: int = Field(
        default=DEFAULT_BOT_API_PORT,
        description="Port of the local Bot API server, used when no Telegram token is set.",
    )
    telegram_bot_token: SecretStr | None = Field(
        default=None,
        validation_alias="TELEGRAM_BOT_TOKEN",
        description="Telegram bot token; empty means use the local Bot API server.",
    )
    telegram_api_url: str | None = Field(
        default=None,
        description="Base URL of a Bot API server other than api.telegram.org.",
    )
    telegram_webhook_url: str | None = Field(
        default=None,
        description="Public HTTPS URL Telegram posts updates to; empty means long polling.",
    )
    telegram_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Secret Telegram sends with each update (1-256 of A-Z a-z 0-9 _ -).",
    )
    api_host: str = Field(default="127.0.0.1", description="Address the HTTP API listens on.")
    api_port: int = Field(default=DEFAULT_HTTP_PORT, description="Port the HTTP API listens on.")
    webhook_host: str = Field(default="127.0.0.1", description="Address the webhook listens on.")
    webhook_port: int = Field(default=18443, description="Port the webhook listens on.")
    sweep_interval_s: float = Field(default=15.0, gt=0, description="Seconds between sweeps.")
    escalation_policy_file: Path | None = Field(
        default=None,
        description="YAML file of escalation policies; empty means the shipped defaults.",
    )
    calendar_dir: Path | None = Field(
        default=None,
        description="Folder of <year>.yaml working calendars; empty means DATA_DIR/calendars.",
    )
    working_hours: str = Field(
        default="08:30-12:00,14:30-18:00",
        description="Working periods of a working day, Asia/Shanghai time.",
    )
    location_tolerance_m: float = Field(
        default=500.0,
        gt=0,
        description="A result this many metres or more from the subject's location is flagged.",
    )
    followup_within: str = Field(
        default="10 working days",
        description="Deadline of the follow-up task a failed inspection opens.",
    )
    plan_dir: Path | None = Field(
        default=None,
        description="Folder of inspection plan *.yaml files; empty means the shipped plans.",
    )
    plan_cron: str = Field(
        default="30 8 * * *",
        description="Crontab schedule of the inspection plan job, China Standard Time.",
    )
    digest_time: time = Field(
        default=time(8, 0), description="When daily digests go out, HH:MM China Standard Time."
    )
    load_example_registry: bool = Field(
        default=True,
        description="Load the Ordos example registry when `up` finds an empty database.",
    )
    hook_max_body_bytes: int = Field(
        default=256 * 1024, gt=0, description="Largest hook request body accepted, in bytes."
    )
    signature_max_age_s: float = Field(
        default=300.0, gt=0, description="Seconds a signed hook request stays valid."
    )
    token_cache_s: float = Field(
        default=DEFAULT_TOKEN_CACHE_S,
        description=(
            f"Seconds (0 to {MAX_TOKEN_CACHE_S:g}) an API process reuses a verified API token "
            "without reading the database; a revoked token keeps working that long. "
            "0 reads the database on every request."
        ),
    )
    alert_label_subject: str = Field(
        default="subject_credit_code",
        description="Alert label holding the subject's credit code (or other id).",
    )
    alert_label_grid: str = Field(
        default="grid_code", description="Alert label holding a grid code."
    )
    alert_label_division: str = Field(
        default="division_code", description="Alert label holding a township or grid code."
    )
    callback_allowlist: str = Field(
        default="",
        description=(
            "Comma-separated host names or host:port that hook callbacks may go to; "
            "empty means no callbacks."
        ),
    )
    callback_max_attempts: int = Field(
        default=8, gt=0, description="Failed attempts after which a callback is parked."
    )
    callback_backoff_s: float = Field(
        default=30.0, gt=0, description="Wait after the first failed callback; doubles each time."
    )
    callback_timeout_s: float = Field(
        default=10.0, gt=0, description="Seconds one callback request may take."
    )
    dispatch_batch: int = Field(
        default=DEFAULT_DISPATCH_BATCH,
        ge=1,
        le=MAX_DISPATCH_BATCH,
        description="Most directives and leads a dispatcher fetches at once and stores in one "
        "transaction; 1 fetches and stores each alone.",
    )
    callback_interval_s: float = Field(
        default=10.0, gt=0, description="Seconds between the worker's callback delivery runs."
    )
    limits_dir: Path | None = Field(
        default=None,
        description="Folder of residue limit tables; empty means the shipped tables.",
    )
    file_store: Literal["local", "s3"] = Field(
        default="local",
        description="Where photos go: 'local' (DATA_DIR/files) or 's3' (an S3-compatible bucket).",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="URL of an S3-compatible server (MinIO, Ceph, OSS); empty means AWS S3.",
    )
    s3_bucket: str | None = Field(default=None, description="Bucket photos go to; must exist.")
    s3_region: str = Field(default="us-east-1", description="Region the bucket is in.")
    s3_access_key_id: SecretStr | None = Field(
        default=None,
        description="Access key id; empty means the AWS default credential chain.",
    )
    s3_secret_access_key: SecretStr | None = Field(
        default=None, description="Secret access key that goes with S3_ACCESS_KEY_ID."
    )
    s3_prefix: str = Field(
        default="", description="Prefix put before every object key, such as 'griddispatch/'."
    )
    log_level: str = Field(default="INFO", description="Root log level.")
    locale: Literal["zh_CN", "en"] = Field(
        default="zh_CN",
        description=(
            "Language of command output and of API error messages for requests "
            "without Accept-Language: zh_CN or en."
        ),
    )

    @field_validator("token_cache_s")
    @classmethod
    def _check_token_cache(cls, seconds: float) -> float:
        if not 0 <= seconds <= MAX_TOKEN_CACHE_S:
            raise ValueError(
                f"GRIDDISPATCH_TOKEN_CACHE_S {seconds:g} is out of range; set 0 to "
                f"{MAX_TOKEN_CACHE_S:g} seconds, where 0 reads the database on every request"
            )
        return seconds

    @cached_property
    def resolved_database_url(self) -> str:
        """Return the database URL, defaulting to SQLite in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'griddispatch.sqlite3').resolve()}"

    @cached_property
    def resolved_calendar_dir(self) -> Path:
        """Return the folder of working calendar files, defaulting to DATA_DIR/calendars."""
        return self.calendar_dir or self.data_dir / "calendars"

    @cached_property
    def files_dir(self) -> Path:
        """Return the folder of the file store for photos."""
        return self.data_dir / "files"

    @cached_property
    def resolved_nats_url(self) -> str:
        """Return the NATS URL, defaulting to the embedded server's address."""
        return self.nats_url or f"nats://127.0.0.1:{self.nats_port}"


# The token the bot uses against the local Bot API server. It is not a secret:
# that server accepts any well-formed token and reaches nothing outside.
LOCAL_BOT_TOKEN = "1000000001:griddispatch-local-bot"


def describe_invalid_settings(error: ValidationError) -> str:
    """Return one line per invalid setting, naming its environment variable and value."""
    env_prefix = Settings.model_config.get("env_prefix", "")
    lines = []
    for problem in error.errors():
        name = env_prefix + "_".join(str(part) for part in problem["loc"]).upper()
        # Pydantic puts "Value error, " before the message of a validator's ValueError.
        message = problem["msg"].removeprefix("Value error, ")
        if name not in message:
            message = f"{name}={problem['input']!r} is invalid: {message}"
        lines.append(f"{message}; correct the variable in the environment")
    return "\n".join(lines)
