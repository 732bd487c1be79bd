"""When a watch is due: every fixed interval (`30m`, `6h`, `1d`) or on a cron expression (`cron: 0 6 * * *`, UTC).

The next due time is computed from the time a tick ends, so a tick that runs long is not followed at once by another
that was due while it ran; a schedule is kept as its text, so every process that reads the store agrees on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ..errors import UndriftError

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MIN_INTERVAL_S = 60  # a watch that ticks more often than a minute is a load test, not a watch
MAX_INTERVAL_S = 366 * 86400  # a watch that ticks less than once a year is a typo
_INTERVAL = re.compile(r"(?:every\s+)?(\d+)\s*([smhdw])", re.IGNORECASE)
HELP = "give an interval such as 30m, 6h or 1d, or a cron expression such as 'cron: 0 6 * * *' (UTC)"


@dataclass(frozen=True)
class Schedule:
    text: str
    interval_s: int | None = None
    cron: str | None = None

    @classmethod
    def parse(cls, text: str) -> "Schedule":
        raw = (text or "").strip()
        if raw.lower().startswith("cron:"):
            expression = raw[5:].strip()
            from croniter import croniter

            # five fields only: croniter reads a sixth as seconds, which would tick every second
            if len(expression.split()) != 5 or not croniter.is_valid(expression):
                raise UndriftError(f"bad schedule {text!r}: {expression!r} is not a five-field cron expression; {HELP}")
            schedule = cls(f"cron: {expression}", cron=expression)
            try:  # an expression that never comes round (30 February) fails here, not at every tick
                schedule.next_after(datetime.now(timezone.utc))
            except Exception:  # noqa: BLE001 - croniter raises several kinds
                raise UndriftError(f"bad schedule {text!r}: {expression!r} never falls due; {HELP}") from None
            return schedule
        match = _INTERVAL.fullmatch(raw)
        if not match:
            raise UndriftError(f"bad schedule {text!r}: {HELP}")
        seconds = int(match.group(1)) * UNITS[match.group(2).lower()]
        if seconds < MIN_INTERVAL_S:
            raise UndriftError(f"bad schedule {text!r}: watches tick at most once a minute; {HELP}")
        if seconds > MAX_INTERVAL_S:
            raise UndriftError(f"bad schedule {text!r}: watches tick at least once a year; {HELP}")
        return cls(f"{match.group(1)}{match.group(2).lower()}", interval_s=seconds)

    def next_after(self, moment: datetime) -> datetime:
        """The first due time strictly after `moment` (UTC)."""
        moment = moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        if self.interval_s is not None:
            return moment + timedelta(seconds=self.interval_s)
        from croniter import croniter

        return croniter(self.cron, moment).get_next(datetime).astimezone(timezone.utc)

    def __str__(self) -> str:
        return self.text
