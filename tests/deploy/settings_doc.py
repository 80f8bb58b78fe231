"""Render docs/settings.md from `griddispatch.settings.Settings`.

    .venv/bin/python -m tests.deploy.settings_doc --write

rewrites the page. tests/deploy/test_settings_doc.py fails while the page
differs from what this module renders, or while a setting has no entry in
`USED_BY`, so the page cannot drift from the code.
"""

import argparse
import sys
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from griddispatch.settings import Settings

PAGE = Path(__file__).resolve().parents[2] / "docs" / "settings.md"
ENV_PREFIX = "GRIDDISPATCH_"

SERVICES = "dispatcher, worker, bot, api"
EVERY_PROCESS = "every command"
# Which processes read each setting: the components run by `griddispatch
# dispatcher|worker|bot|api` (and together by `up`), `up` alone, `migrate`, and the
# command line's other commands ("cli").
USED_BY: dict[str, str] = {
    "data_dir": EVERY_PROCESS,
    "database_url": EVERY_PROCESS,
    "nats_url": f"{SERVICES}, cli",
    "nats_port": "up, and cli when nats_url is empty",
    "stream_replicas": SERVICES,
    "bot_api_port": "up, cli (chat)",
    "telegram_bot_token": "bot",
    "telegram_api_url": "bot",
    "telegram_webhook_url": "bot",
    "telegram_webhook_secret": "bot",
    "api_host": "api",
    "api_port": "api",
    "webhook_host": "bot",
    "webhook_port": "bot",
    "sweep_interval_s": "worker",
    "escalation_policy_file": f"{SERVICES}, cli",
    "calendar_dir": f"{SERVICES}, cli",
    "working_hours": f"{SERVICES}, cli",
    "location_tolerance_m": "bot",
    "followup_within": "bot",
    "digest_time": "worker",
    "load_example_registry": "up",
    "hook_max_body_bytes": "api",
    "signature_max_age_s": "api",
    "token_cache_s": "api",
    "alert_label_subject": "api",
    "alert_label_grid": "api",
    "alert_label_division": "api",
    "callback_allowlist": "api, worker",
    "callback_max_attempts": "worker",
    "callback_backoff_s": "worker",
    "callback_timeout_s": "worker",
    "callback_interval_s": "worker",
    "dispatch_batch": "dispatcher",
    "limits_dir": "api",
    "plan_dir": "worker",
    "plan_cron": "worker",
    "file_store": "bot, api",
    "s3_endpoint_url": "bot, api",
    "s3_bucket": "bot, api",
    "s3_region": "bot, api",
    "s3_access_key_id": "bot, api",
    "s3_secret_access_key": "bot, api",
    "s3_prefix": "bot, api",
    "log_level": f"{SERVICES}, up",
    "locale": "cli",
}

HEADER = """\
# Settings

<!-- Generated from griddispatch/settings.py by
     `.venv/bin/python -m tests.deploy.settings_doc --write`; edit the code, not this page. -->

Every griddispatch process reads its settings from environment variables
(pydantic-settings, prefix `GRIDDISPATCH_`). Under systemd they come from the
`EnvironmentFile` `/etc/griddispatch/griddispatch.env`
([deploy/griddispatch.env.example](../deploy/griddispatch.env.example)); under
docker compose from the `environment` and `env_file` of each service
([deploy/compose.yaml](../deploy/compose.yaml)). An invalid value stops the
process at start with an error naming the setting.

"Used by" names the processes that read a setting: `dispatcher`, `worker`,
`bot` and `api` are the components (`griddispatch up` runs all four), `up`
is `griddispatch up` itself, `cli` the other commands such as `directive
send` and `tasks`, and `every command` includes `migrate`. Give a setting
the same value in every process that reads it.

| variable | type | default | used by | meaning |
| --- | --- | --- | --- | --- |
"""


def env_name(name: str, field: FieldInfo) -> str:
    """Return the environment variable that sets the field `name`."""
    alias = field.validation_alias
    if isinstance(alias, str):
        return alias
    return ENV_PREFIX + name.upper()


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if not hasattr(annotation, "__args__") else None
    return text or str(annotation).replace("typing.", "").replace("pydantic.types.", "")


def _default(field: FieldInfo) -> str:
    default = field.get_default(call_default_factory=True)
    if default is None or default == "":
        return "(empty)"
    return f"`{default}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def missing_from_used_by() -> list[str]:
    """Return the settings that `USED_BY` does not place in any process."""
    return [name for name in Settings.model_fields if name not in USED_BY]


def render() -> str:
    """Return the Markdown page listing every setting."""
    rows = []
    for name, field in Settings.model_fields.items():
        cells = [
            f"`{env_name(name, field)}`",
            _cell(_type_name(field.annotation)),
            _cell(_default(field)),
            USED_BY.get(name, "?"),
            _cell(field.description or ""),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return HEADER + "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the page, or write it to docs/settings.md with --write."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write docs/settings.md")
    args = parser.parse_args(argv)
    missing = missing_from_used_by()
    if missing:
        print(f"add these settings to USED_BY in {__file__}: {', '.join(missing)}", file=sys.stderr)
        return 1
    if args.write:
        PAGE.write_text(render(), encoding="utf-8")
    else:
        print(render(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
