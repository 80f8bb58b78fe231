"""Parsing durations such as "30m", "2h", "1d12h" or "90s" given on the command line."""

import re

from griddispatch.errors import ValidationError

_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str, *, allow_zero: bool = False) -> float:
    """Return the number of seconds in `text`. Raises ValidationError naming the value."""
    compact = text.strip().lower().replace(" ", "")
    parts = _PART.findall(compact)
    if not compact or "".join(number + unit for number, unit in parts) != compact:
        raise ValidationError(
            "duration {text!r} is invalid; write it as a number with a unit s, m, h or d, "
            "for example 30m, 2h or 1d12h",
            text=text,
        )
    seconds = sum(float(number) * _UNIT_S[unit] for number, unit in parts)
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise ValidationError("duration {text!r} must be longer than zero", text=text)
    return seconds
