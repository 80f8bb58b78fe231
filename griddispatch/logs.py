"""Logging set-up: key=value context in messages, phone numbers and tokens masked."""

import logging
import re

# Imported before the set-up below, because FastStream configures its logger when imported.
import faststream  # noqa: F401

# A mainland mobile number, also with its +86 or 86 country code in front.
_PHONE = re.compile(r"(?<!\d)((?:\+?86)?1[3-9]\d)(\d{4})(\d{4})(?!\d)")
# No word boundary in front: in a Bot API URL the token follows "bot" directly.
_BOT_TOKEN = re.compile(r"(\d{5,}):[A-Za-z0-9_-]{20,}")


def mask_secrets(text: str) -> str:
    """Mask mainland mobile numbers (keeping the first 3 and last 4 digits) and bot tokens."""
    text = _PHONE.sub(r"\1****\3", text)
    return _BOT_TOKEN.sub(r"\1:***", text)


class MaskingFilter(logging.Filter):
    """Rewrite each record's final message so no phone number or bot token reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_secrets(message)
        if masked != message or record.args:
            record.msg = masked
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_secrets(logging.Formatter().formatException(record.exc_info))
        return True


def configure_logging(level: str = "INFO") -> None:
    """Send logs to stderr with timestamps and the masking filter on the handler."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"),
    )
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    _route_faststream_logs()
    # Libraries that log every message or scheduler run at INFO; their warnings still show.
    for noisy in ("aiosqlite", "asyncio", "aiogram.event", "nats", "faststream", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def _route_faststream_logs() -> None:
    """Send FastStream's records to the root handler instead of its own coloured one.

    FastStream gives its "faststream" logger a handler that writes colour codes
    even into files, and stops its records from reaching the root handler with
    the masking filter.
    """
    faststream_logger = logging.getLogger("faststream")
    faststream_logger.handlers.clear()
    faststream_logger.propagate = True
