"""Duration parsing, GCJ-02 conversion, distances, and masking of secrets in logs."""

import itertools
import logging
import math
from collections.abc import Iterator

import pytest

from griddispatch.durations import parse_duration
from griddispatch.errors import ValidationError
from griddispatch.geo import distance_m, gcj02_to_wgs84, wgs84_to_gcj02
from griddispatch.logs import MaskingFilter, configure_logging, mask_secrets

PHONE = "13812345678"
MASKED_PHONE = "138****5678"
# The shape of a Bot API token: the bot id, a colon and 35 characters.
TOKEN_SECRET = "AAE" + "x7Yq-2_Lm9Pz4Rt8Kc1Vb6Nd3Hf5Jg0W"
TOKEN = f"123456789:{TOKEN_SECRET}"
EARTH_RADIUS_M = 6_371_008.8
# Points on a lattice over Ordos, about 106.7–111.5 E and 37.6–40.9 N.
ORDOS_POINTS = list(itertools.product((106.8, 108.0, 109.78, 111.4), (37.7, 38.9, 39.61, 40.8)))


class ListHandler(logging.Handler):
    """A handler that keeps each formatted record."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def masked_log() -> Iterator[tuple[logging.Logger, ListHandler]]:
    """A logger whose only handler carries the MaskingFilter, as configure_logging sets up."""
    logger = logging.getLogger("tests.unit.masking")
    handler = ListHandler()
    handler.addFilter(MaskingFilter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, handler
    logger.removeHandler(handler)
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800.0), ("1d12h", 129600.0), ("90s", 90.0), ("2h", 7200.0), (" 1H 30M ", 5400.0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5x", "", "0m", "30", "m", "-5m", "1h30", "0d0h"])
def test_parse_duration_invalid(text: str) -> None:
    with pytest.raises(ValidationError) as raised:
        parse_duration(text)

    assert f"duration {text!r}" in str(raised.value)


@pytest.mark.parametrize(("longitude", "latitude"), ORDOS_POINTS)
def test_gcj02_round_trip(longitude: float, latitude: float) -> None:
    gcj_longitude, gcj_latitude = wgs84_to_gcj02(longitude, latitude)

    back_longitude, back_latitude = gcj02_to_wgs84(gcj_longitude, gcj_latitude)

    assert abs(back_longitude - longitude) < 1e-6
    assert abs(back_latitude - latitude) < 1e-6
    # The offset is real, so the round trip is not comparing a point with itself.
    assert distance_m(longitude, latitude, gcj_longitude, gcj_latitude) > 100


def test_distance_one_degree_latitude() -> None:
    # An arc of 1 degree on a sphere of the mean Earth radius 6,371,008.8 m.
    assert distance_m(109.78, 39.0, 109.78, 40.0) == pytest.approx(111_195.08, abs=0.1)


def test_distance_quarter_equator() -> None:
    assert distance_m(0.0, 0.0, 90.0, 0.0) == pytest.approx(EARTH_RADIUS_M * math.pi / 2)


def test_distance_dongsheng_kangbashi() -> None:
    # Dongsheng to Kangbashi, checked against the spherical law of cosines.
    lon1, lat1, lon2, lat2 = 109.99, 39.82, 109.78, 39.61
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    cosine = math.sin(phi1) * math.sin(phi2) + math.cos(phi1) * math.cos(phi2) * math.cos(
        math.radians(lon2 - lon1)
    )
    expected = EARTH_RADIUS_M * math.acos(cosine)

    assert distance_m(lon1, lat1, lon2, lat2) == pytest.approx(expected, abs=0.01)


def test_distance_symmetric_and_zero() -> None:
    there = distance_m(109.78, 39.61, 109.99, 39.82)
    back = distance_m(109.99, 39.82, 109.78, 39.61)

    assert there == pytest.approx(back)
    assert distance_m(109.78, 39.61, 109.78, 39.61) == 0.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (PHONE, MASKED_PHONE),
        (f"联系电话{PHONE}。", f"联系电话{MASKED_PHONE}。"),
        (f"phone={PHONE}, again {PHONE}", f"phone={MASKED_PHONE}, again {MASKED_PHONE}"),
    ],
)
def test_mask_phone(text: str, expected: str) -> None:
    assert mask_secrets(text) == expected


def test_mask_keeps_longer_numbers() -> None:
    # 18 digits are an id or an order number, not a phone number.
    assert mask_secrets("order 138123456789012345") == "order 138123456789012345"


@pytest.mark.parametrize("prefix", ["+86", "86"])
def test_mask_phone_country_code(prefix: str) -> None:
    assert PHONE not in mask_secrets(f"contact shared: {prefix}{PHONE}")


def test_mask_bot_token() -> None:
    masked = mask_secrets(f"bot token {TOKEN} rejected")

    assert TOKEN_SECRET not in masked
    assert TOKEN_SECRET[:8] not in masked
    assert masked == "bot token 123456789:*** rejected"


def test_mask_bot_token_in_url() -> None:
    masked = mask_secrets(f"request failed: https://api.telegram.org/bot{TOKEN}/getMe")

    assert TOKEN_SECRET not in masked


def test_filter_masks_args(masked_log: tuple[logging.Logger, ListHandler]) -> None:
    logger, handler = masked_log

    logger.info("invite sent inspector=%s phone=%s", "JG0010", PHONE)

    assert handler.lines == [f"invite sent inspector=JG0010 phone={MASKED_PHONE}"]


def test_filter_masks_token_args(masked_log: tuple[logging.Logger, ListHandler]) -> None:
    logger, handler = masked_log

    logger.warning("login failed token=%s", TOKEN)

    assert handler.lines == ["login failed token=123456789:***"]


def test_filter_masks_exception(masked_log: tuple[logging.Logger, ListHandler]) -> None:
    logger, handler = masked_log

    try:
        raise ValueError(f"phone {PHONE} is not bound")
    except ValueError:
        logger.exception("binding failed")

    assert len(handler.lines) == 1
    assert PHONE not in handler.lines[0]
    assert f"ValueError: phone {MASKED_PHONE} is not bound" in handler.lines[0]


def test_faststream_records_reach_root_handler() -> None:
    root = logging.getLogger()
    touched = ["faststream", "aiosqlite", "asyncio", "aiogram.event", "nats", "apscheduler"]
    saved_root = (root.handlers[:], root.level)
    loggers = [logging.getLogger(name) for name in touched]
    saved = [(logger, logger.level, logger.propagate, logger.handlers[:]) for logger in loggers]
    try:
        configure_logging("INFO")
        faststream_logger = logging.getLogger("faststream")

        assert faststream_logger.handlers == []
        assert faststream_logger.propagate
        assert faststream_logger.getEffectiveLevel() == logging.WARNING
    finally:
        root.handlers[:], level = saved_root
        root.setLevel(level)
        for logger, level, propagate, handlers in saved:
            logger.setLevel(level)
            logger.propagate = propagate
            logger.handlers[:] = handlers
