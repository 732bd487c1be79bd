"""A table as the dashboard shows it and as its CSV download writes it: built once from the API's results, so the
page and the download never disagree."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Cell:
    """A value with, for the page only, a link and a state colour (red/amber/green); the CSV has the text."""

    text: str
    href: str | None = None
    state: str | None = None

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Table:
    name: str  # the CSV file's name and the download URL's last part
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    empty: str = "nothing yet"

    def csv(self) -> str:
        """RFC 4180 CSV.  Text that a spreadsheet would run as a formula (=, +, -, @) is prefixed with `'`, as OWASP
        advises: the cells come from models and users.  Numbers are written as they are."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow([_csv_value(value) for value in row])
        return out.getvalue()


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (int, float)):
        return value
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def when(moment) -> str:
    """A time as the dashboard prints it: ISO 8601 to the second, UTC."""
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else ""


def significant(p: float | None) -> float | None:
    """A p-value to three significant digits: rounding to decimals would write a strong change's 2e-9 as 0.0."""
    return None if p is None else float(f"{p:.3g}")


def filename(text: str) -> str:
    """A download's file name from names users chose: letters, digits, dot, dash and underscore only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "download"
