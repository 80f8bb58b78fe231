"""Plan periods: calendar months, quarters, halves and years in China Standard Time."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from griddispatch.workcalendar import CHINA, WorkCalendar
from storage.plans.config import Cadence

_KEY_FORMAT = {
    Cadence.MONTH: "{year}-M{index:02d}",
    Cadence.QUARTER: "{year}-Q{index}",
    Cadence.HALF: "{year}-H{index}",
    Cadence.YEAR: "{year}-Y",
}


@dataclass(frozen=True)
class Period:
    """One inspection period: [start, end) in China Standard Time, and its unique key.

    A seasonal check's key also names the check, so it never collides with
    the regular period of the same month.
    """

    key: str
    first_day: date
    months: int
    seasonal: str | None = None

    @property
    def last_day(self) -> date:
        """The last calendar day of the period."""
        return self.end_day - timedelta(days=1)

    @property
    def end_day(self) -> date:
        """The first day after the period."""
        return add_months(self.first_day, self.months)

    @property
    def start(self) -> datetime:
        """The period's first moment."""
        return datetime.combine(self.first_day, time(0), CHINA)

    @property
    def end(self) -> datetime:
        """The first moment after the period."""
        return datetime.combine(self.end_day, time(0), CHINA)

    def elapsed(self, now: datetime) -> float:
        """Return the share of the period that has passed at `now`, from 0 to 1."""
        total = (self.end - self.start).total_seconds()
        passed = (now - self.start).total_seconds()
        return min(max(passed / total, 0.0), 1.0)


def add_months(day: date, months: int) -> date:
    """Return the first day of the month `months` after the month of `day`."""
    index = day.year * 12 + (day.month - 1) + months
    return date(index // 12, index % 12 + 1, 1)


def month_of(moment: datetime) -> date:
    """Return the first day of the China Standard Time month that contains `moment`."""
    local = moment.astimezone(CHINA)
    return date(local.year, local.month, 1)


def regular_period(month: date, cadence: Cadence) -> Period | None:
    """Return the period of `cadence` that starts in `month`, or None if none starts there."""
    if (month.month - 1) % cadence.months:
        return None
    index = (month.month - 1) // cadence.months + 1
    key = _KEY_FORMAT[cadence].format(year=month.year, index=index)
    return Period(key=key, first_day=month, months=cadence.months)


def seasonal_period(month: date, name: str) -> Period:
    """Return the one-month period of the seasonal check `name` in `month`."""
    return Period(
        key=f"{month.year}-{month.month:02d}/{name}", first_day=month, months=1, seasonal=name
    )


def due_at(period: Period, calendar: WorkCalendar, *, working_days: bool) -> datetime:
    """Return when a period's inspection is due.

    With `working_days` it is the end of the period's last working day, so a
    period ending on a holiday is due before the holiday; otherwise it is the
    period's end.
    """
    if not working_days:
        return period.end
    day = period.last_day
    while day >= period.first_day:
        if calendar.is_workday(day):
            return datetime.combine(day, calendar.working_hours[-1][1], CHINA)
        day -= timedelta(days=1)
    return period.end


def release_days(period: Period, calendar: WorkCalendar, spread: float) -> list[date]:
    """Return the working days over which a period's tasks are released.

    They are the working days in the first `spread` share of the period; a
    window without a working day releases everything on the first day.
    """
    span = (period.end_day - period.first_day).days
    window = max(int(span * spread), 1)
    days = [period.first_day + timedelta(days=offset) for offset in range(window)]
    working = [day for day in days if calendar.is_workday(day)]
    return working or [period.first_day]
