"""Working-day and working-hour arithmetic on China's official calendar and on year files.

Every date below was checked against chinese_calendar 1.11.0 (`is_workday`), which
carries the State Council's holiday notices up to 2026. `test_dates_match_package`
repeats that check, so a changed package shows up there first.
"""

import logging
from datetime import UTC, date, datetime, time
from pathlib import Path

import chinese_calendar
import pytest

from griddispatch.errors import ConfigurationError
from griddispatch.workcalendar import CHINA, WorkCalendar, parse_working_hours
from storage.escalation.policy import Escalation

# Days off that fall on weekdays, and weekend days that are working days (调休).
WEEKDAYS_OFF = [
    date(2025, 1, 28),  # Spring Festival 2025, Tuesday
    date(2025, 2, 4),  # Spring Festival 2025, Tuesday
    date(2025, 10, 1),  # National Day 2025, Wednesday
    date(2025, 10, 8),  # National Day 2025, Wednesday
    date(2026, 2, 16),  # Spring Festival 2026, Monday
    date(2026, 2, 23),  # Spring Festival 2026, Monday
    date(2026, 9, 25),  # Mid-Autumn Festival 2026, Friday
    date(2026, 10, 1),  # National Day 2026, Thursday
    date(2026, 10, 7),  # National Day 2026, Wednesday
]
MAKE_UP_DAYS = [
    date(2025, 1, 26),  # Sunday before Spring Festival 2025
    date(2025, 2, 8),  # Saturday after Spring Festival 2025
    date(2025, 9, 28),  # Sunday before National Day 2025
    date(2025, 10, 11),  # Saturday after National Day 2025
    date(2026, 2, 14),  # Saturday before Spring Festival 2026
    date(2026, 2, 28),  # Saturday after Spring Festival 2026
    date(2026, 10, 10),  # Saturday after National Day 2026
]
ORDINARY_WEEKEND = [date(2025, 9, 27), date(2025, 10, 12), date(2026, 3, 1), date(2026, 10, 11)]


def at(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """Return a moment in China Standard Time."""
    return datetime(year, month, day, hour, minute, tzinfo=CHINA)


def close_of(year: int, month: int, day: int) -> datetime:
    """Return the end of the last working period (18:00) of a day."""
    return datetime(year, month, day, 18, 0, tzinfo=CHINA)


YEAR_2027 = """\
year: 2027
source: 测试用 2027 年节假日安排
holidays: [2027-01-01]
workdays: [2027-02-20]
"""


@pytest.fixture
def calendar_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "calendars"
    folder.mkdir()
    return folder


@pytest.fixture
def calendar(calendar_dir: Path) -> WorkCalendar:
    return WorkCalendar(folder=calendar_dir)


def test_dates_match_package(calendar: WorkCalendar) -> None:
    for day in WEEKDAYS_OFF:
        assert day.weekday() < 5, day
        assert not chinese_calendar.is_workday(day), day
        assert not calendar.is_workday(day), day
    for day in MAKE_UP_DAYS:
        assert day.weekday() >= 5, day
        assert chinese_calendar.is_workday(day), day
        assert calendar.is_workday(day), day
    for day in ORDINARY_WEEKEND:
        assert not chinese_calendar.is_workday(day), day
        assert not calendar.is_workday(day), day


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        # National Day 2025: 10-01 to 10-08 off, Sunday 09-28 and Saturday 10-11 worked.
        (at(2025, 9, 26), 1, close_of(2025, 9, 28)),
        (at(2025, 9, 28), 2, close_of(2025, 9, 30)),
        (at(2025, 9, 30), 1, close_of(2025, 10, 9)),
        (at(2025, 9, 30), 3, close_of(2025, 10, 11)),
        (at(2025, 9, 30), 4, close_of(2025, 10, 13)),
        (at(2025, 10, 3), 1, close_of(2025, 10, 9)),
        # National Day 2026: 10-01 to 10-07 off, Saturday 10-10 worked.
        (at(2026, 9, 24), 1, close_of(2026, 9, 28)),
        (at(2026, 9, 30), 1, close_of(2026, 10, 8)),
        (at(2026, 9, 30), 3, close_of(2026, 10, 10)),
        (at(2026, 9, 30), 4, close_of(2026, 10, 12)),
        # Spring Festival 2025: 01-28 to 02-04 off, Sunday 01-26 and Saturday 02-08 worked.
        (at(2025, 1, 24), 1, close_of(2025, 1, 26)),
        (at(2025, 1, 24), 3, close_of(2025, 2, 5)),
        (at(2025, 1, 27), 1, close_of(2025, 2, 5)),
        (at(2025, 2, 7), 1, close_of(2025, 2, 8)),
        (at(2025, 2, 7), 2, close_of(2025, 2, 10)),
        # Spring Festival 2026: 02-15 to 02-23 off, Saturdays 02-14 and 02-28 worked.
        (at(2026, 2, 13), 1, close_of(2026, 2, 14)),
        (at(2026, 2, 13), 2, close_of(2026, 2, 24)),
        (at(2026, 2, 27), 1, close_of(2026, 2, 28)),
        (at(2026, 2, 27), 2, close_of(2026, 3, 2)),
        # The day of the start never counts, whatever the hour.
        (at(2026, 2, 13, 22, 0), 1, close_of(2026, 2, 14)),
        (at(2026, 3, 2, 7, 0), 1, close_of(2026, 3, 3)),
        # 17:00 UTC on 09-30 is 01:00 on the holiday 10-01 in China.
        (datetime(2025, 9, 30, 17, 0, tzinfo=UTC), 1, close_of(2025, 10, 9)),
    ],
)
def test_working_days_across_holidays(
    calendar: WorkCalendar, start: datetime, days: int, expected: datetime
) -> None:
    deadline = calendar.add_working_days(start, days)

    assert deadline.at == expected
    assert deadline.provisional is False


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (at(2025, 10, 11, 9, 0), close_of(2025, 10, 13)),
        (at(2026, 2, 14, 9, 0), close_of(2026, 2, 24)),
        (at(2026, 2, 28, 9, 0), close_of(2026, 3, 2)),
        (at(2026, 10, 10, 9, 0), close_of(2026, 10, 12)),
    ],
)
def test_working_days_from_make_up_saturday(
    calendar: WorkCalendar, start: datetime, expected: datetime
) -> None:
    deadline = calendar.add_working_days(start, 1)

    assert deadline.at == expected
    assert deadline.provisional is False


def test_working_days_below_one_rejected(calendar: WorkCalendar) -> None:
    with pytest.raises(ValueError, match="at least 1, got 0"):
        calendar.add_working_days(at(2026, 3, 2), 0)


@pytest.mark.parametrize(
    ("start", "hours", "expected"),
    [
        # Monday 2026-03-02, with working periods 08:30-12:00 and 14:30-18:00.
        (at(2026, 3, 2, 11, 0), 2.0, at(2026, 3, 2, 15, 30)),
        (at(2026, 3, 2, 12, 30), 1.0, at(2026, 3, 2, 15, 30)),
        (at(2026, 3, 2, 11, 45), 0.5, at(2026, 3, 2, 14, 45)),
        (at(2026, 3, 2, 7, 0), 1.0, at(2026, 3, 2, 9, 30)),
        (at(2026, 3, 2, 8, 30), 3.5, at(2026, 3, 2, 12, 0)),
        (at(2026, 3, 2, 8, 30), 7.0, at(2026, 3, 2, 18, 0)),
        (at(2026, 3, 2, 18, 30), 1.0, at(2026, 3, 3, 9, 30)),
        # Friday 2026-03-06 to Monday 2026-03-09 over an ordinary weekend.
        (at(2026, 3, 6, 17, 0), 2.0, at(2026, 3, 9, 9, 30)),
        # National Day 2025 and 2026.
        (at(2025, 9, 30, 17, 0), 4.0, at(2025, 10, 9, 11, 30)),
        (at(2026, 9, 30, 17, 30), 1.0, at(2026, 10, 8, 9, 0)),
        # Spring Festival 2025, and 2026 with its make-up Saturday 02-14.
        (at(2025, 1, 27, 16, 0), 3.0, at(2025, 2, 5, 9, 30)),
        (at(2026, 2, 13, 17, 0), 2.0, at(2026, 2, 14, 9, 30)),
        (at(2026, 2, 14, 17, 0), 2.0, at(2026, 2, 24, 9, 30)),
    ],
)
def test_working_hours(
    calendar: WorkCalendar, start: datetime, hours: float, expected: datetime
) -> None:
    deadline = calendar.add_working_hours(start, hours)

    assert deadline.at == expected
    assert deadline.provisional is False


def test_custom_working_hours() -> None:
    calendar = WorkCalendar(working_hours=parse_working_hours("08:00-12:00, 13:00-17:00"))

    assert calendar.working_hours == ((time(8, 0), time(12, 0)), (time(13, 0), time(17, 0)))
    assert calendar.add_working_days(at(2026, 3, 2), 1).at == at(2026, 3, 3, 17, 0)
    assert calendar.add_working_hours(at(2026, 3, 2, 11, 30), 1.0).at == at(2026, 3, 2, 13, 30)


def _fallback_warnings(caplog: pytest.LogCaptureFixture, year: int) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.levelno == logging.WARNING and f"year={year};" in record.getMessage()
    ]


def test_year_without_file_is_provisional(
    calendar: WorkCalendar, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="griddispatch.workcalendar")

    # 12-31 (Thursday) is official, and Friday 2027-01-01 counts as a working day by fallback.
    by_days = calendar.add_working_days(at(2026, 12, 30), 3)
    by_hours = calendar.add_working_hours(at(2026, 12, 31, 17, 0), 2.0)
    over_weekend = calendar.add_working_days(at(2027, 1, 8), 1)
    inside_2026 = calendar.add_working_days(at(2026, 12, 29), 1)

    assert by_days.at == close_of(2027, 1, 4)
    assert by_days.provisional is True
    assert by_hours.at == at(2027, 1, 1, 9, 30)
    assert by_hours.provisional is True
    assert over_weekend.at == close_of(2027, 1, 11)
    assert over_weekend.provisional is True
    assert inside_2026.at == close_of(2026, 12, 30)
    assert inside_2026.provisional is False
    assert len(_fallback_warnings(caplog, 2027)) == 1
    assert _fallback_warnings(caplog, 2028) == []

    into_2028 = calendar.add_working_days(at(2027, 12, 30), 3)

    assert into_2028.at == close_of(2028, 1, 4)
    assert into_2028.provisional is True
    assert len(_fallback_warnings(caplog, 2027)) == 1
    assert len(_fallback_warnings(caplog, 2028)) == 1


def test_year_file_after_reload(
    calendar: WorkCalendar, calendar_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="griddispatch.workcalendar")
    (calendar_dir / "2027.yaml").write_text(YEAR_2027, encoding="utf-8")

    before_reload = calendar.add_working_days(at(2026, 12, 30), 3)

    assert before_reload.at == close_of(2027, 1, 4)
    assert before_reload.provisional is True

    calendar.reload()
    caplog.clear()
    # The holiday 2027-01-01 no longer counts, so the third working day is Tuesday 01-05.
    after_reload = calendar.add_working_days(at(2026, 12, 30), 3)
    make_up_saturday = calendar.add_working_days(at(2027, 2, 19), 1)
    by_hours = calendar.add_working_hours(at(2026, 12, 31, 17, 0), 2.0)

    assert after_reload.at == close_of(2027, 1, 5)
    assert after_reload.provisional is False
    assert make_up_saturday.at == close_of(2027, 2, 20)
    assert make_up_saturday.provisional is False
    assert by_hours.at == at(2027, 1, 4, 9, 30)
    assert by_hours.provisional is False
    assert calendar.is_official(date(2027, 6, 1))
    assert not calendar.is_workday(date(2027, 1, 1))
    assert calendar.is_workday(date(2027, 2, 20))
    assert _fallback_warnings(caplog, 2027) == []


def test_year_file_read_at_start(calendar_dir: Path) -> None:
    (calendar_dir / "2027.yaml").write_text(YEAR_2027, encoding="utf-8")

    deadline = WorkCalendar(folder=calendar_dir).add_working_days(at(2026, 12, 30), 3)

    assert deadline.at == close_of(2027, 1, 5)
    assert deadline.provisional is False


def test_missing_folder_counts_package_years(tmp_path: Path) -> None:
    calendar = WorkCalendar(folder=tmp_path / "absent")

    assert calendar.add_working_days(at(2025, 9, 30), 1).at == close_of(2025, 10, 9)


@pytest.mark.parametrize(
    ("file_name", "text", "expected"),
    [
        ("2028.yaml", YEAR_2027, "says year 2027; name it 2027.yaml"),
        (
            "2027.yaml",
            "year: 2027\nsource: s\nholidays: [2026-12-31]\nworkdays: []\n",
            "lists dates outside 2027: [datetime.date(2026, 12, 31)]",
        ),
        (
            "2027.yaml",
            "year: 2027\nsource: s\nholidays: []\nworkdays: [2028-01-08]\n",
            "lists dates outside 2027",
        ),
        ("2027.yaml", "year: 2027\nholidays: []\nworkdays: []\n", "source: Field required"),
        ("2027.yaml", "year: 2027\nsource: s\nholidays: []\n", "workdays: Field required"),
        (
            "2027.yaml",
            "year: 2027\nsource: s\nholidays: [next friday]\nworkdays: []\n",
            "holidays.0:",
        ),
        (
            "2027.yaml",
            "year: 2027\nsource: s\nholidays: []\nworkdays: []\nnote: x\n",
            "note: Extra inputs are not permitted",
        ),
        ("2027.yaml", "year: [2027\n", "cannot be read"),
        ("2027.yaml", "", "is invalid"),
    ],
)
def test_bad_year_file_named(calendar_dir: Path, file_name: str, text: str, expected: str) -> None:
    path = calendar_dir / file_name
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ConfigurationError) as raised:
        WorkCalendar(folder=calendar_dir)

    assert f"calendar file {path} " in str(raised.value)
    assert expected in str(raised.value)


def test_bad_year_file_on_reload(calendar: WorkCalendar, calendar_dir: Path) -> None:
    path = calendar_dir / "2027.yaml"
    path.write_text("year: 2027\nsource: s\nholidays: []\n", encoding="utf-8")

    with pytest.raises(ConfigurationError) as raised:
        calendar.reload()

    assert str(path) in str(raised.value)
    assert "workdays" in str(raised.value)


def test_failed_reload_keeps_years(calendar_dir: Path) -> None:
    (calendar_dir / "2027.yaml").write_text(YEAR_2027, encoding="utf-8")
    calendar = WorkCalendar(folder=calendar_dir)
    # 2026.yaml sorts before 2027.yaml, so reload reads it first.
    (calendar_dir / "2026.yaml").write_text("year: 2026\nsource: s\n", encoding="utf-8")

    with pytest.raises(ConfigurationError):
        calendar.reload()

    assert calendar.is_official(date(2027, 1, 1))
    assert not calendar.is_workday(date(2027, 1, 1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("08:30-12:00,14:30", "working hours '08:30-12:00,14:30' are invalid at '14:30'"),
        ("9-12", "working hours '9-12' are invalid at '9-12'"),
        ("08:30-25:00", "working hours '08:30-25:00' are invalid at '08:30-25:00'"),
        ("08:30-12:00-14:00", "working hours '08:30-12:00-14:00' are invalid at"),
        ("", "working hours '' are invalid at ''"),
        ("12:00-08:30", "working hours '12:00-08:30' are invalid: periods must run forward"),
        ("09:00-09:00", "working hours '09:00-09:00' are invalid: periods must run forward"),
        (
            "08:30-12:30,12:00-18:00",
            "working hours '08:30-12:30,12:00-18:00' are invalid: periods must run forward",
        ),
        (
            "14:30-18:00,08:30-12:00",
            "working hours '14:30-18:00,08:30-12:00' are invalid: periods must run forward",
        ),
    ],
)
def test_bad_working_hours_named(text: str, expected: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        parse_working_hours(text)

    assert expected in str(raised.value)


def test_working_hours_parsed() -> None:
    assert parse_working_hours("08:30-12:00,14:30-18:00") == (
        (time(8, 30), time(12, 0)),
        (time(14, 30), time(18, 0)),
    )
    assert parse_working_hours("09:00-12:00,12:00-17:00") == (
        (time(9, 0), time(12, 0)),
        (time(12, 0), time(17, 0)),
    )


def test_escalation_rejects_bad_working_hours() -> None:
    with pytest.raises(ConfigurationError, match="working hours '8-17' are invalid"):
        Escalation.load(working_hours="8-17")
