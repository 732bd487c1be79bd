"""Time for `undrift traffic`: moments (`--since 7d`, `--until 2025-03-01`), window widths (`--window 1d`), the
reference window (`--reference first|previous|MOMENT`), and the split of records into windows.

Windows are aligned to UTC, not to the first record, so that the same traffic always falls into the same windows
whoever asks and whenever: hours start on the hour, days at midnight UTC, 6-hour windows at 00, 06, 12 and 18 UTC,
and weeks on Monday.  Only windows that hold traffic are kept; the *current* window is the last of them (it may be
still filling up), the *reference* is the one it is compared with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Sequence

from ..errors import UndriftError, option
from ..store.traffic import TrafficRecord

_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
MAX_DURATION = timedelta(days=100 * 365)  # beyond it a date would leave what datetime can hold
_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
# 1970-01-05 was a Monday; it is also a whole number of hours and days after the epoch, so hours and days align as
# they do on a clock while weeks start on Monday.
_ORIGIN = datetime(1970, 1, 5, tzinfo=timezone.utc)


def parse_duration(text: str, option: str) -> timedelta:
    """`30m`, `1h`, `6h`, `1d`, `7d`, `2w` as a duration; anything else is bad input."""
    match = _DURATION.match(text or "")
    if not match or int(match.group(1)) == 0:
        raise UndriftError(f"bad {option} {text!r}: give a duration like 30m, 1h, 6h, 1d, 7d or 2w")
    try:
        duration = int(match.group(1)) * _UNITS[match.group(2)]
    except OverflowError:
        duration = timedelta.max
    if duration > MAX_DURATION:
        raise UndriftError(f"bad {option} {text!r}: at most {MAX_DURATION.days // 365} years")
    return duration


def parse_moment(text: str, option: str, now: datetime) -> datetime:
    """An age before `now` (`7d`, `12h`) or an ISO date or time (`2025-03-01`, `2025-03-01T06:00`, UTC unless an
    offset is given)."""
    if _DURATION.match(text or ""):
        return now - parse_duration(text, option)
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, AttributeError):
        raise UndriftError(f"bad {option} {text!r}: give an age like 7d or 12h, or an ISO date like 2025-03-01 "
                           "or 2025-03-01T06:00") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


@dataclass(frozen=True)
class Reference:
    """Which window the current one is compared with: the `first` window with traffic, the `previous` one (the last
    with traffic before the current), or the window that holds `moment`."""

    kind: str  # first, previous, moment
    moment: datetime | None = None
    text: str = "first"

    @classmethod
    def parse(cls, text: str | None, now: datetime) -> "Reference":
        value = (text or "first").strip()
        if value.lower() in ("first", "previous"):
            return cls(value.lower(), None, value.lower())
        return cls("moment", parse_moment(value, option("reference"), now), value)


@dataclass
class Window:
    """The records whose time falls in [start, end)."""

    start: datetime
    end: datetime
    records: list[TrafficRecord]


def window_start(moment: datetime, width: timedelta) -> datetime:
    return _ORIGIN + ((moment - _ORIGIN) // width) * width


def split_windows(records: Sequence[TrafficRecord], width: timedelta) -> list[Window]:
    """The windows that hold at least one record, oldest first."""
    windows: dict[datetime, Window] = {}
    for record in records:
        start = window_start(record.at, width)
        windows.setdefault(start, Window(start, start + width, [])).records.append(record)
    return [windows[start] for start in sorted(windows)]


def pick_reference(windows: list[Window], reference: Reference, width: timedelta) -> int | None:
    """The index of the reference window; None where `first` or `previous` has no window before the current one
    (all the traffic is in one window: nothing to compare, not an error).  A moment whose window is empty, or is the
    current one, is bad input."""
    current = len(windows) - 1
    if reference.kind in ("first", "previous"):
        if current == 0:
            return None
        return 0 if reference.kind == "first" else current - 1
    start = window_start(reference.moment, width)
    found = next((i for i, w in enumerate(windows) if w.start == start), None)
    if found is None:
        raise UndriftError(f"the reference window {start:%Y-%m-%d %H:%M} UTC (holding {reference.text}) has no "
                           f"recorded traffic in the range: pick a window that has some, or use "
                           f"{option('reference', repr('first'))}")
    if found == current:
        raise UndriftError(f"the reference window {start:%Y-%m-%d %H:%M} UTC is the current (latest) window: pick "
                           f"an earlier one, or use {option('reference', repr('first'))}")
    return found
