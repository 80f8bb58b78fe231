"""Deadline specifications: clock time ("30m", "2h") or working time ("3 working days").

Clock time runs day and night. Working days and hours follow China's
official calendar and the configured working hours (`WorkCalendar`).
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from griddispatch.durations import parse_duration
from griddispatch.errors import ValidationError
from griddispatch.workcalendar import Deadline, WorkCalendar

_WORKING = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*(working\s+days?|wd|个工作日|working\s+hours?|wh|个工作小时)\s*$",
    re.IGNORECASE,
)


class DeadlineUnit(StrEnum):
    """How a deadline counts time."""

    CLOCK = "clock"
    WORKING_DAYS = "working_days"
    WORKING_HOURS = "working_hours"


@dataclass(frozen=True)
class DeadlineSpec:
    """An amount of time and how it is counted, parsed from text such as "3 working days"."""

    amount: float
    unit: DeadlineUnit
    text: str

    def resolve(self, start: datetime, calendar: WorkCalendar) -> Deadline:
        """Return the deadline this spec sets for work that starts at `start`."""
        if self.unit is DeadlineUnit.CLOCK:
            return Deadline(start + timedelta(seconds=self.amount), provisional=False)
        if self.unit is DeadlineUnit.WORKING_HOURS:
            return calendar.add_working_hours(start, self.amount)
        return calendar.add_working_days(start, int(self.amount))


def parse_deadline(text: str, *, allow_zero: bool = False) -> DeadlineSpec:
    """Parse "30m", "1d12h", "3 working days", "3wd", "3个工作日", "4 working hours" or "4wh".

    Raises ValidationError naming the value and the accepted forms.
    """
    match = _WORKING.match(text)
    if match is None:
        try:
            return DeadlineSpec(
                parse_duration(text, allow_zero=allow_zero), DeadlineUnit.CLOCK, text.strip()
            )
        except ValidationError as exc:
            if "longer than zero" in str(exc):
                raise ValidationError(
                    "deadline {text!r} must be longer than zero", text=text
                ) from None
            raise ValidationError(
                "deadline {text!r} is invalid; write clock time such as 30m or 2h, or working "
                "time such as '3 working days' (3个工作日) or '4 working hours'",
                text=text,
            ) from None
    amount = float(match.group(1))
    word = match.group(2).lower()
    if "day" in word or word in {"wd", "个工作日"}:
        if amount != int(amount) or amount < 1:
            raise ValidationError(
                "deadline {text!r} must be a whole number of working days", text=text
            )
        return DeadlineSpec(amount, DeadlineUnit.WORKING_DAYS, text.strip())
    if amount <= 0:
        raise ValidationError("deadline {text!r} must be longer than zero", text=text)
    return DeadlineSpec(amount, DeadlineUnit.WORKING_HOURS, text.strip())


def check_deadline_text(value: str, *, allow_zero: bool = False) -> str:
    """Return `value` if it parses as a deadline; raise ValueError for pydantic validators."""
    try:
        parse_deadline(value, allow_zero=allow_zero)
    except ValidationError as exc:
        raise ValueError(str(exc)) from None
    return value
