"""China's working calendar and deadline arithmetic in working days and hours.

Working days come from the State Council's yearly holiday notice, in which
some weekend days become working days (调休). The chinese-calendar package
carries that notice up to the year it was released for; later years come
from YAML files an administrator adds to the calendar folder when the
notice is published, named `<year>.yaml`:

    year: 2027
    source: 国务院办公厅关于2027年部分节假日安排的通知
    holidays: [2027-01-01, ...]   # days off, weekdays included
    workdays: [2027-02-20, ...]   # weekend days that are working days

A year with neither falls back to Monday to Friday; deadlines computed from
it are marked provisional and recomputed once the year's file arrives.
"""

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from griddispatch.errors import ConfigurationError

log = logging.getLogger(__name__)

CHINA = ZoneInfo("Asia/Shanghai")
DEFAULT_WORKING_HOURS = ((time(8, 30), time(12, 0)), (time(14, 30), time(18, 0)))
# Safety bound for day-by-day walks: no real deadline spans more than ten years of days.
_MAX_DAYS_WALKED = 3660
_SATURDAY = 5


class YearFile(BaseModel):
    """One year's holiday notice as an administrator writes it."""

    model_config = ConfigDict(extra="forbid")

    year: int
    source: str
    holidays: list[date]
    workdays: list[date]


@dataclass
class WorkCalendar:
    """Tells working days and periods, and adds working days or hours to a moment."""

    folder: Path | None = None
    working_hours: tuple[tuple[time, time], ...] = DEFAULT_WORKING_HOURS
    _years: dict[int, YearFile] = field(default_factory=dict, init=False)
    _warned_years: set[int] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        self.reload()

    def reload(self) -> None:
        """Read every `<year>.yaml` in the folder again.

        Raises ConfigurationError on a bad file, keeping the years loaded before,
        so one bad file does not make the calendar forget the good ones.
        """
        if self.folder is None or not self.folder.is_dir():
            self._years = {}
            return
        years = {}
        for path in sorted(self.folder.glob("*.yaml")):
            year_file = _read_year_file(path)
            years[year_file.year] = year_file
        self._years = years
        log.info("working calendar files loaded years=%s", sorted(self._years))

    def is_official(self, day: date) -> bool:
        """Return whether the official calendar for `day`'s year is known."""
        return day.year in self._years or _package_covers(day.year)

    def is_workday(self, day: date) -> bool:
        """Return whether `day` is a working day in mainland China."""
        year_file = self._years.get(day.year)
        if year_file is not None:
            if day in year_file.workdays:
                return True
            return day.weekday() < _SATURDAY and day not in year_file.holidays
        if _package_covers(day.year):
            return bool(chinese_calendar.is_workday(day))
        self._warn_fallback(day.year)
        return day.weekday() < _SATURDAY

    def _warn_fallback(self, year: int) -> None:
        if year in self._warned_years:
            return
        self._warned_years.add(year)
        log.warning(
            "no official working calendar for year=%d; counting Monday to Friday and marking "
            "deadlines provisional until %s/%d.yaml is added",
            year,
            self.folder or "the calendar folder",
            year,
        )

    def _periods(self, day: date) -> list[tuple[datetime, datetime]]:
        if not self.is_workday(day):
            return []
        return [
            (datetime.combine(day, start, CHINA), datetime.combine(day, end, CHINA))
            for start, end in self.working_hours
        ]

    def add_working_hours(self, start: datetime, hours: float) -> "Deadline":
        """Return the moment `hours` of working time after `start`."""
        remaining = timedelta(hours=hours)
        moment = start.astimezone(CHINA)
        day = moment.date()
        provisional = False
        for _ in range(_MAX_DAYS_WALKED):
            provisional |= not self.is_official(day)
            for period_start, period_end in self._periods(day):
                begin = max(period_start, moment)
                if begin >= period_end:
                    continue
                available = period_end - begin
                if remaining <= available:
                    return Deadline(begin + remaining, provisional)
                remaining -= available
            day += timedelta(days=1)
        raise ValueError(f"{hours} working hours after {start} is beyond {_MAX_DAYS_WALKED} days")

    def add_working_days(self, start: datetime, days: int) -> "Deadline":
        """Return the end of the working day that is the `days`-th after the day of `start`.

        The day of `start` does not count, as in "within 3 working days of
        receipt" (3 个工作日内): a task received on Monday is due by the end of
        Thursday's working hours.
        """
        if days < 1:
            raise ValueError(f"working days must be at least 1, got {days}")
        day = start.astimezone(CHINA).date()
        provisional = not self.is_official(day)
        counted = 0
        for _ in range(_MAX_DAYS_WALKED):
            day += timedelta(days=1)
            provisional |= not self.is_official(day)
            if self.is_workday(day):
                counted += 1
                if counted == days:
                    end = datetime.combine(day, self.working_hours[-1][1], CHINA)
                    return Deadline(end, provisional)
        raise ValueError(f"{days} working days after {start} is beyond {_MAX_DAYS_WALKED} days")


@dataclass(frozen=True)
class Deadline:
    """A computed deadline, provisional when it relied on a year without an official calendar."""

    at: datetime
    provisional: bool


_PACKAGE_YEARS: set[int] = {day.year for day in chinese_calendar.constants.holidays}
PACKAGE_FIRST_YEAR: int = min(_PACKAGE_YEARS)
PACKAGE_LAST_YEAR: int = max(_PACKAGE_YEARS)


def _package_covers(year: int) -> bool:
    """Return whether the installed chinese-calendar package has data for `year`."""
    return PACKAGE_FIRST_YEAR <= year <= PACKAGE_LAST_YEAR


def _read_year_file(path: Path) -> YearFile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        year_file = YearFile.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(
            "calendar file {path} cannot be read: {error}", path=path, error=exc
        ) from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise ConfigurationError(
            "calendar file {path} is invalid: {problems}", path=path, problems=problems
        ) from exc
    if path.stem != str(year_file.year):
        raise ConfigurationError(
            "calendar file {path} says year {year}; name it {year}.yaml",
            path=path,
            year=year_file.year,
        )
    outside = [d for d in [*year_file.holidays, *year_file.workdays] if d.year != year_file.year]
    if outside:
        raise ConfigurationError(
            "calendar file {path} lists dates outside {year}: {dates}",
            path=path,
            year=year_file.year,
            dates=outside[:3],
        )
    return year_file


def parse_working_hours(text: str) -> tuple[tuple[time, time], ...]:
    """Parse "08:30-12:00,14:30-18:00" into ordered, non-overlapping working periods.

    Raises ConfigurationError naming the value when a period is malformed or out of order.
    """
    periods = []
    for part in text.split(","):
        try:
            start_text, end_text = part.strip().split("-")
            period = (time.fromisoformat(start_text.strip()), time.fromisoformat(end_text.strip()))
        except ValueError:
            raise ConfigurationError(
                "working hours {text!r} are invalid at {period!r}; "
                "write periods as HH:MM-HH:MM separated by commas",
                text=text,
                period=part.strip(),
            ) from None
        periods.append(period)
    for (start, end), following in zip(periods, [*periods[1:], None], strict=True):
        if start >= end or (following is not None and end > following[0]):
            raise ConfigurationError(
                "working hours {text!r} are invalid: periods must run forward and not overlap",
                text=text,
            )
    return tuple(periods)
